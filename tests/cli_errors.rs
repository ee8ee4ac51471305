//! Bad input never panics and never writes: every file in `tests/lang_errors/` is run
//! through `nabla eval` (with `NAME.points.json`, `NAME.params.json` and `NAME.expr` when
//! present); each must exit non-zero, print nothing on stdout, leave no file behind, and
//! print exactly the diagnostics in `NAME.stderr`. `BLESS=1` rewrites the `.stderr` files.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lang_errors");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nabla"))
        .collect();
    v.sort();
    v
}

/// `NAME.SUFFIX` next to the case, if it exists.
fn sibling(case: &Path, suffix: &str) -> Option<PathBuf> {
    let p = case.with_extension(suffix);
    p.exists().then_some(p)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs one case in a fresh folder; returns its stderr after the checks common to all.
fn run_case(case: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::copy(case, d.join(&name)).unwrap();
    let points = sibling(case, "points.json")
        .unwrap_or_else(|| case.parent().unwrap().join("default.points.json"));
    std::fs::copy(points, d.join("points.json")).unwrap();
    let mut cmd = Command::cargo_bin("nabla").unwrap();
    cmd.current_dir(d)
        .args([
            "eval",
            &name,
            "--points",
            "points.json",
            "--backend",
            "interp",
        ])
        .args(["--output", "out.json", "--write-params", "init.json"]);
    if let Some(p) = sibling(case, "params.json") {
        std::fs::copy(p, d.join("params.json")).unwrap();
        cmd.args(["--params", "params.json"]);
    }
    if let Some(e) = sibling(case, "expr") {
        cmd.args(["--expr", std::fs::read_to_string(e).unwrap().trim_end()]);
    }
    let before = listing(d);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{name}: succeeded");
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    assert!(out.stdout.is_empty(), "{name}: wrote to stdout");
    assert_eq!(listing(d), before, "{name}: left files behind");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    stderr
}

#[test]
fn every_bad_input_is_diagnosed_with_its_location() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut mismatched = Vec::new();
    let all = cases();
    assert!(all.len() >= 15, "{} cases", all.len());
    for case in &all {
        let stderr = run_case(case);
        let name = case.file_name().unwrap().to_string_lossy();
        let located = stderr.contains(&format!("--> {name}:"))
            || stderr.contains("--> --expr")
            || stderr.contains("in points.json")
            || stderr.contains("in params.json")
            || stderr.contains("from points.json");
        assert!(located, "{name}: no location in\n{stderr}");
        let expected = case.with_extension("stderr");
        if bless {
            std::fs::write(&expected, &stderr).unwrap();
        } else if std::fs::read_to_string(&expected).ok().as_deref() != Some(stderr.as_str()) {
            mismatched.push(format!("== {name}:\n{stderr}"));
        }
    }
    assert!(
        mismatched.is_empty(),
        "stderr differs (BLESS=1 to accept):\n{}",
        mismatched.join("\n")
    );
}

fn nabla_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("nabla")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// A point set that no residual uses is a warning on stderr, located with a caret; the
/// command still runs and its output is unchanged.
#[test]
fn an_unused_point_set_is_a_warning_and_the_command_still_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let src = "input x in [0, 1]\nnet u(x) = mlp(widths = [4])\npoints inner = interior(8)\n\
               points spare = boundary(2)\nresidual pde on inner = d(u, x) - 1\n";
    std::fs::write(d.join("p.nabla"), src).unwrap();
    std::fs::write(d.join("points.json"), r#"{"inner": [[0.25], [0.5]]}"#).unwrap();
    let out = nabla_in(d, &["eval", "p.nabla", "--points", "points.json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr,
        "warning: point set `spare` is not used by any residual\n \
         --> p.nabla:4:8\n  |\n4 | points spare = boundary(2)\n  |        ^^^^^ remove it, \
         or evaluate a residual on it: `residual NAME on spare = EXPR`\n\n"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["residuals"]["pde"].as_array().unwrap().len(), 2);
}

/// Without residuals there is no loss: `train`, `eval` and `bench` refuse the file with a
/// located error; `dump-ir` refuses to dump the (empty) objective but shows `--expr`
/// expressions of it.
#[test]
fn a_file_without_residuals_is_an_error_except_for_dump_ir_expressions() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let src = "input x in [0, 1]\nnet u(x) = mlp(widths = [4])\npoints inner = interior(8)\n";
    std::fs::write(d.join("p.nabla"), src).unwrap();
    std::fs::write(d.join("points.json"), r#"{"inner": [[0.25]]}"#).unwrap();
    let commands: [&[&str]; 4] = [
        &["train", "p.nabla", "--steps", "1"],
        &["eval", "p.nabla", "--points", "points.json"],
        &["bench", "p.nabla", "--reps", "1"],
        &["dump-ir", "p.nabla", "--stage", "traced"],
    ];
    for args in commands {
        let out = nabla_in(d, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            stderr.starts_with(
                "error: the problem has no residuals: its loss is 0, with nothing to train or \
                 evaluate\n --> p.nabla:3:27\n"
            ),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("`residual pde on inner = EXPR`"),
            "{stderr}"
        );
    }
    let out = nabla_in(
        d,
        &[
            "dump-ir",
            "p.nabla",
            "--expr",
            "ux=d(u, x)",
            "--stage",
            "ad",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("==== --expr ux ====\n== ad: "),
        "{stdout}"
    );
}

/// Standard output on a full disk (`/dev/full`): every command fails with a message and
/// status 1 instead of panicking in `println!`.
#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let src = "input x in [0, 1]\nnet u(x) = mlp(widths = [4])\npoints inner = interior(8)\n\
               residual pde on inner = d(u, x) - 1\n";
    std::fs::write(d.join("p.nabla"), src).unwrap();
    std::fs::write(d.join("points.json"), r#"{"inner": [[0.25], [0.5]]}"#).unwrap();
    let commands: [&[&str]; 6] = [
        &["eval", "p.nabla", "--points", "points.json"],
        &["train", "p.nabla", "--steps", "2"],
        &["train", "p.nabla", "--steps", "2", "--json"],
        &["bench", "p.nabla", "--methods", "auto", "--reps", "1"],
        &[
            "bench",
            "p.nabla",
            "--methods",
            "auto",
            "--reps",
            "1",
            "--json",
        ],
        &["dump-ir", "p.nabla", "--stage", "traced"],
    ];
    for args in commands {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full (Linux)");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nabla"))
            .current_dir(d)
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("error: cannot write to standard output: No space left on device"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A residual of `calls` nested `tanh(…)` calls around a sum of `terms` terms.
fn tall_problem(calls: usize, terms: usize) -> String {
    let sum = vec!["u"; terms].join(" + ");
    let expr = format!("{}{sum}{}", "tanh(".repeat(calls), ")".repeat(calls));
    format!(
        "input x in [0, 1]\nnet u(x) = mlp(widths = [4])\npoints inner = interior(8)\n\
         residual r on inner = {expr}\n"
    )
}

/// Loads `src` (a problem over `x` with a set `inner`), traces its loss and gradient at 8
/// points, compiles them for the CPU and runs them: every stage, on this thread's stack.
fn compile_and_run(src: &str) {
    use nabla::ir::DType;
    let p = nabla::frontend::lang::load("tall.nabla", src)
        .unwrap_or_else(|d| panic!("{}", d.render()))
        .problem;
    let sizes = vec![("inner".to_string(), 8)];
    let obj = p.objective(&sizes, DType::F64, true).unwrap();
    let opts = nabla::Options::new(nabla::Backend::Cranelift, DType::F64, None);
    let mut exe = nabla::compile(&obj.graph, &opts).unwrap();
    for (name, t) in &obj.init {
        exe.set(name, &t.data).unwrap();
    }
    let x: Vec<f64> = (0..8).map(|i| i as f64 / 8.0).collect();
    exe.set("inner.x", &x).unwrap();
    exe.run().unwrap();
}

/// The tallest expression the parser accepts goes through every stage — checks, tracing,
/// derivatives, the simplifier, Cranelift — on a 2 MB thread stack (the test harness's);
/// one level more or a sum of 100,000 terms is a located error, and so is nesting deeper
/// than `MAX_NESTING` (16,000 parentheses): these overflowed the stack.
#[test]
fn expressions_are_as_deep_as_every_stage_can_take_and_no_deeper() {
    use nabla::frontend::lang;
    use nabla::frontend::lang::ast::{MAX_HEIGHT, MAX_NESTING};
    let max = MAX_HEIGHT as usize;
    // the sum of n terms is n high and each call adds one: exactly MAX_HEIGHT
    let nest = MAX_NESTING as usize;
    compile_and_run(&tall_problem(nest - 1, max - nest + 1));
    let tall = format!("error: this expression is more than {max} levels deep\n --> tall.nabla:4:");
    let deep = format!(
        "error: this expression nests parentheses, calls or signs {nest} or more deep\n \
         --> tall.nabla:4:"
    );
    let parens = |n: usize| format!("{}u{}", "(".repeat(n), ")".repeat(n));
    for (src, error) in [
        (tall_problem(nest - 1, max - nest + 2), &tall),
        (tall_problem(0, 100_000), &tall),
        (tall_problem(nest, 1), &deep),
        (
            tall_problem(1, 1).replace("tanh(u)", &parens(16_000)),
            &deep,
        ),
    ] {
        let d = lang::load("tall.nabla", &src).err().expect("refused");
        let text = d.render();
        let head = &text[..text.len().min(300)];
        assert!(text.starts_with(error.as_str()), "{head}");
    }
}

/// A chain of `n` lets, each one more than the last, and a residual of the last.
fn let_chain(n: usize) -> String {
    let mut src = String::from(
        "input x in [0, 1]\nnet u(x) = mlp(widths = [4])\npoints inner = interior(8)\nlet a0 = u\n",
    );
    for i in 1..n {
        src += &format!("let a{i} = a{} + 1\n", i - 1);
    }
    src + &format!("residual r on inner = a{}\n", n - 1)
}

/// Lets count as deep as the expressions they stand for: a chain as high as the tallest
/// expression goes through every stage on a 2 MB stack, one more is an error at the let
/// that passes the limit, and so is a chain of 100,000 (which overflowed the stack while
/// the file was checked, after 50 s: the cycle search recursed, once per let). A cycle of
/// 3000 lets is one error, not one per let, each listing all of them.
#[test]
fn let_chains_are_as_deep_as_expressions_and_cycles_are_reported_once() {
    use nabla::frontend::lang;
    use nabla::frontend::lang::ast::MAX_HEIGHT;
    let max = MAX_HEIGHT as usize;
    compile_and_run(&let_chain(max));
    let error = format!(
        "error: let `a{max}` is more than {max} levels deep with the lets it uses written \
         out ({})\n    --> chain.nabla:{}:",
        max + 1,
        max + 4
    );
    for n in [max + 1, 100_000] {
        let text = lang::load("chain.nabla", &let_chain(n))
            .err()
            .expect("refused")
            .render();
        assert!(text.starts_with(&error), "{}", &text[..text.len().min(300)]);
        assert_eq!(text.matches("error:").count(), 1, "one error");
    }
    let cycle = let_chain(3000).replace("let a0 = u", "let a0 = a2999");
    let text = lang::load("cycle.nabla", &cycle)
        .err()
        .expect("refused")
        .render();
    assert!(
        text.starts_with("error: let `a0` refers to itself"),
        "{}",
        &text[..300]
    );
    assert_eq!(text.matches("error:").count(), 1, "one error");
    assert!(text.contains("cycle: a0 -> a2999 -> a2998 -> "));
    assert!(text.contains(" -> a1 -> a0"));
}
