//! `nabla dump-ir`: every stage of the pipeline prints for a real problem; DOT output is
//! one graph on stdout, or one file per graph with `--out`.

use assert_cmd::Command;
use predicates::prelude::*;

const HEAT: &str = "examples/heat1d.nabla";

fn dump(stage: &str) -> String {
    let out = Command::cargo_bin("nabla")
        .unwrap()
        .args(["dump-ir", "examples/heat1d.nabla", "--stage", stage])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// The FLOPs per point in a graph stage's header `== NAME: N nodes, F FLOPs per point ==`.
fn flops(header_of: &str) -> f64 {
    let line = header_of
        .lines()
        .find(|l| l.contains("FLOPs per point"))
        .unwrap();
    let field = line.split(", ").nth(1).unwrap();
    field.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn graph_stages_print_counts_and_simplification_does_not_add_work() {
    let ad = dump("ad");
    let simplified = dump("simplified");
    assert!(
        simplified.contains("e-graph") && simplified.contains("iterations"),
        "{simplified}"
    );
    assert!(
        flops(&simplified) <= flops(&ad),
        "simplified {} > ad {}",
        flops(&simplified),
        flops(&ad)
    );
    // The simplified graph is valid IR text: it parses back.
    let body: String = simplified
        .lines()
        .filter(|l| l.starts_with('%') || l.starts_with("output"))
        .map(|l| format!("{l}\n"))
        .collect();
    nabla::ir::text::parse(&body).unwrap();
}

#[test]
fn code_stages_print_the_schedule_clif_and_opencl_source() {
    assert!(dump("scheduled").contains("arena"));
    assert!(dump("clif").contains("function"));
    assert!(dump("opencl").contains("__kernel"));
}

/// `--stage asm` lists the machine instructions of the kernels `--stage clif` prints,
/// under the same headers, each function returning (`retq` on x86-64, `ret` on AArch64).
#[test]
fn the_asm_stage_lists_every_kernel_of_the_clif_stage() {
    let headers = |text: &str| -> Vec<String> {
        (text.lines())
            .filter(|l| l.starts_with("; kernel "))
            .map(str::to_string)
            .collect()
    };
    let (clif, asm) = (dump("clif"), dump("asm"));
    assert!(!headers(&clif).is_empty());
    assert_eq!(headers(&asm), headers(&clif));
    let functions: Vec<&str> = asm.split("; kernel ").skip(1).collect();
    for f in &functions {
        let rets = f.lines().filter(|l| {
            let op = l.split_whitespace().next().unwrap_or("");
            op == "retq" || op == "ret"
        });
        assert!(rets.count() >= 1, "a kernel without a return:\n{f}");
    }
}

fn run(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("nabla")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

/// Checks that `text` is exactly one DOT digraph: it starts with `digraph`, its braces
/// (outside quoted labels) balance and close only at the end, and nothing follows.
fn assert_one_dot_graph(text: &str) {
    assert!(
        text.starts_with("digraph nabla {\n"),
        "{}",
        &text[..text.len().min(200)]
    );
    let (mut depth, mut quoted, mut escaped) = (0i64, false, false);
    let mut closed_at = None;
    for (i, c) in text.char_indices() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, _, '"') => quoted = !quoted,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth -= 1;
                if depth == 0 {
                    assert!(closed_at.is_none(), "a second graph at byte {i}");
                    closed_at = Some(i);
                }
            }
            _ => {}
        }
        assert!(depth >= 0, "unbalanced at byte {i}");
    }
    let end = closed_at.expect("the graph is never closed");
    assert_eq!(&text[end..], "}\n", "text after the graph");
    assert!(text.contains(" -> "), "no edges");
}

#[test]
fn dot_on_stdout_is_one_graph_and_everything_else_goes_to_stderr() {
    // Without --stage: the simplified graph, the one that is compiled.
    let out = run(&["dump-ir", HEAT, "--format", "dot"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert_one_dot_graph(&stdout);
    assert!(
        stderr.contains("simplified: ") && stderr.contains("FLOPs per point"),
        "{stderr}"
    );
    assert!(stderr.contains("e-graph"), "{stderr}");
    // Each graph stage alone, and one --expr.
    for stage in ["traced", "ad", "simplified"] {
        let out = run(&["dump-ir", HEAT, "--format", "dot", "--stage", stage]);
        assert!(out.status.success());
        assert_one_dot_graph(&String::from_utf8_lossy(&out.stdout));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("{stage}: ")), "{stderr}");
    }
    let out = run(&["dump-ir", HEAT, "--format", "dot", "--expr", "ut=d(u, t)"]);
    assert!(out.status.success());
    assert_one_dot_graph(&String::from_utf8_lossy(&out.stdout));
}

#[test]
fn dot_with_out_writes_one_file_per_graph_and_stage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("ir");
    let d_arg = d.to_str().unwrap();
    let two_exprs = ["--expr", "ut=d(u, t)", "--expr", "u0=u"];
    let out = run(&[
        &["dump-ir", HEAT, "--format", "dot", "--out", d_arg][..],
        &two_exprs,
    ]
    .concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty());
    let mut files: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let want = [
        "u0.ad.dot",
        "u0.simplified.dot",
        "u0.traced.dot",
        "ut.ad.dot",
        "ut.simplified.dot",
        "ut.traced.dot",
    ];
    assert_eq!(files, want);
    for f in &files {
        assert_one_dot_graph(&std::fs::read_to_string(d.join(f)).unwrap());
        assert!(
            stderr.contains(&format!("wrote {}", d.join(f).display())),
            "{stderr}"
        );
    }
}

#[test]
fn text_with_out_writes_every_stage_in_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["dump-ir", HEAT, "--out", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    // A graph stage's file is IR text that parses back.
    nabla::ir::text::parse(&read("simplified.ir")).unwrap();
    assert!(read("scheduled.txt").contains("arena"));
    assert!(read("clif.clif").contains("function"));
    assert!(read("asm.s").contains("; kernel 0"));
    assert!(read("opencl.cl").contains("__kernel"));
}

#[test]
fn dot_of_source_text_or_of_several_graphs_on_stdout_is_a_usage_error() {
    Command::cargo_bin("nabla")
        .unwrap()
        .args(["dump-ir", HEAT, "--format", "dot", "--stage", "clif"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "error: --stage clif is source text, not a graph; --format dot applies to the \
             stages traced, ad and simplified\n",
        ));
    let two_exprs = ["--expr", "a=u", "--expr", "b=d(u, t)"];
    Command::cargo_bin("nabla")
        .unwrap()
        .args(["dump-ir", HEAT, "--format", "dot"])
        .args(two_exprs)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "--format dot writes one graph to standard output, and 2 --expr give 2; write \
             one file per graph with --out DIR",
        ));
}

/// A hidden weight's gradient is a sum of products — one per jet component the weight
/// multiplies and per residual — formed in place: the heat example's `[32, 32]` weight
/// is written by one product and added to by the others (`+=`), and no kernel stores it.
#[test]
fn a_weights_gradient_is_one_product_written_and_the_others_added() {
    let text = dump("scheduled");
    let decl = (text.lines())
        .find(|l| l.contains("= output grad.u.1.W [32,32]"))
        .expect("the hidden weight's gradient is an output");
    let buf = decl.split_whitespace().next().unwrap();
    let products = |how: &str| {
        let pattern = format!(": {buf} {how} ");
        (text.lines())
            .filter(|l| l.contains(" matmul ") && l.contains(&pattern))
            .count()
    };
    assert_eq!(products("="), 1, "{text}");
    assert!(products("+=") >= 3, "{text}");
    assert!(!text.contains(&format!("store {buf}[")), "{text}");
}
