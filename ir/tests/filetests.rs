//! File tests: every `tests/filetests/<folder>/*.ir` at the repository root.
//!
//! A file is a header line `test <kind>`, then IR text (with `; set NAME = [v, ...]` lines
//! binding inputs and params, `; set precision = f32` and `; set tolerance = 1e-9` where
//! they matter), then a trailing expectation block that starts with the line `; expect:`
//! and holds the expected output, each line behind `; `. Kinds:
//!
//! - `test parse`: the graph printed back, or `error: line:col: message`.
//! - `test verify-error`: `verify: <error>` from the verifier on the text as written
//!   (`parse_unchecked`), and `parse: <error>` from the checked parser.
//! - `test run`: `run: NAME = [v, ...]` per output from the interpreter (numbers compared
//!   with a relative tolerance, 1e-12 unless set), or `error: ...`.
//!
//! Line numbers in messages are the file's. `BLESS=1 cargo test -p nabla-ir --test
//! filetests` rewrites the expectation blocks with what the code now produces; otherwise a
//! mismatch fails with a line diff.

use nabla_ir::interp::{eval_outputs, Env};
use nabla_ir::{text, verify, DType, Graph, Op, Tensor};
use std::fs;
use std::path::{Path, PathBuf};

const MARKER: &str = "; expect:";

#[test]
fn filetests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/filetests");
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let files = ir_files(&root);
    let mut failures = Vec::new();
    for path in &files {
        if let Err(msg) = run_file(path, bless) {
            failures.push(format!("{}:\n{msg}", path.display()));
        }
    }
    for kind in ["parse", "verify-error", "run"] {
        let n = files.iter().filter(|p| header(p) == kind).count();
        assert!(n > 0, "no `test {kind}` files under {}", root.display());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The `*.ir` files one folder down, sorted.
fn ir_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let dirs = fs::read_dir(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    for dir in dirs.flatten().filter(|d| d.path().is_dir()) {
        for f in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            if f.path().extension().is_some_and(|e| e == "ir") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

fn header(path: &Path) -> String {
    let src = fs::read_to_string(path).unwrap_or_default();
    split(&src).map(|s| s.kind.to_string()).unwrap_or_default()
}

/// A file cut into its parts.
struct Parts<'a> {
    kind: &'a str,
    /// Everything before the expectation block, with the header line blanked so that line
    /// numbers stay the file's.
    input: String,
    /// The text before the marker, verbatim (kept when blessing).
    head: &'a str,
    /// The expected output lines, `; ` removed.
    expected: Vec<String>,
}

fn split(src: &str) -> Result<Parts<'_>, String> {
    let first = src.lines().next().unwrap_or("");
    let kind = first
        .strip_prefix("test ")
        .ok_or("the first line must be `test <kind>`")?
        .trim();
    let cut = marker_offset(src).unwrap_or(src.len());
    let head = &src[..cut];
    let input = head[first.len()..].to_string();
    let expected = src[cut..]
        .lines()
        .skip(1)
        .map(|l| {
            l.strip_prefix("; ")
                .unwrap_or(l.trim_start_matches(';'))
                .to_string()
        })
        .collect();
    Ok(Parts {
        kind,
        input,
        head,
        expected,
    })
}

/// The byte offset of the first line that is the marker (trailing spaces allowed).
fn marker_offset(src: &str) -> Option<usize> {
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        if line.trim_end() == MARKER {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

fn run_file(path: &Path, bless: bool) -> Result<(), String> {
    let src = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let parts = split(&src)?;
    let actual = check(parts.kind, &parts.input)?;
    let actual: Vec<String> = actual.lines().map(String::from).collect();
    if matches(parts.kind, &parts.input, &parts.expected, &actual) {
        return Ok(());
    }
    if bless {
        return fs::write(path, blessed(parts.head, &actual)).map_err(|e| e.to_string());
    }
    Err(diff(&parts.expected, &actual))
}

fn blessed(head: &str, actual: &[String]) -> String {
    let mut out = head.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(MARKER);
    out.push('\n');
    for l in actual {
        out.push_str(if l.is_empty() { ";" } else { "; " });
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The output of one file's kind on its input.
fn check(kind: &str, input: &str) -> Result<String, String> {
    match kind {
        "parse" => Ok(check_parse(input)),
        "verify-error" => Ok(check_verify_error(input)),
        "run" => Ok(check_run(input)),
        _ => Err(format!("unknown test kind `{kind}`")),
    }
}

fn check_parse(input: &str) -> String {
    match text::parse(input) {
        Ok(g) => text::print(&g),
        Err(e) => format!("error: {e}"),
    }
}

fn check_verify_error(input: &str) -> String {
    let verified = match text::parse_unchecked(input) {
        Ok(g) => match verify(&g) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        },
        Err(e) => format!("syntax error {e}"),
    };
    let parsed = match text::parse(input) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    format!("verify: {verified}\nparse: {parsed}")
}

fn check_run(input: &str) -> String {
    let result = text::parse(input)
        .map_err(|e| e.to_string())
        .and_then(|g| run_graph(&g, input));
    result.unwrap_or_else(|e| format!("error: {e}"))
}

fn run_graph(g: &Graph, input: &str) -> Result<String, String> {
    let prec = match setting(input, "precision") {
        Some("f32") => DType::F32,
        Some("f64") | None => DType::F64,
        Some(p) => return Err(format!("unknown precision `{p}`")),
    };
    let env = bindings(g, input)?;
    let outs = eval_outputs(g, &env, prec).map_err(|e| e.to_string())?;
    let lines: Vec<String> = outs
        .iter()
        .map(|(name, t)| format!("run: {name} = {}", numbers(&t.data)))
        .collect();
    Ok(lines.join("\n"))
}

fn numbers(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", parts.join(", "))
}

/// The value of `; set KEY = VALUE`.
fn setting<'a>(input: &'a str, key: &str) -> Option<&'a str> {
    sets(input).find(|(k, _)| *k == key).map(|(_, v)| v)
}

fn sets(input: &str) -> impl Iterator<Item = (&str, &str)> {
    input.lines().filter_map(|l| {
        let (k, v) = l.strip_prefix("; set ")?.split_once('=')?;
        Some((k.trim(), v.trim()))
    })
}

/// Tensors for the `input` and `param` leaves named by `; set NAME = [...]`, shaped as
/// the leaf is.
fn bindings(g: &Graph, input: &str) -> Result<Env, String> {
    let mut env = Env::new();
    for (name, value) in sets(input).filter(|(_, v)| v.starts_with('[')) {
        let shape = g
            .ids()
            .find_map(|i| match g.op(i) {
                Op::Input { name: n, shape, .. } | Op::Param { name: n, shape, .. }
                    if n == name =>
                {
                    Some(shape.clone())
                }
                _ => None,
            })
            .ok_or(format!("`set {name}`: no input or param of that name"))?;
        let data = parse_list(value)?;
        let t = Tensor::try_new(shape.clone(), data)
            .ok_or(format!("`set {name}`: wrong number of values for {shape}"))?;
        env.insert(name.to_string(), t);
    }
    Ok(env)
}

fn parse_list(s: &str) -> Result<Vec<f64>, String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or(format!("expected `[v, ...]`, found `{s}`"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(|_| format!("bad number `{t}`")))
        .collect()
}

/// Whether the output matches: numerically within tolerance for `run` lines, exactly
/// otherwise.
fn matches(kind: &str, input: &str, expected: &[String], actual: &[String]) -> bool {
    if kind != "run" {
        return expected == actual;
    }
    let tol: f64 = setting(input, "tolerance")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1e-12);
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(e, a)| e == a || run_lines_close(e, a, tol))
}

fn run_lines_close(e: &str, a: &str, tol: f64) -> bool {
    let (Some((en, ev)), Some((an, av))) = (e.split_once(" = "), a.split_once(" = ")) else {
        return false;
    };
    let (Ok(ev), Ok(av)) = (parse_list(ev), parse_list(av)) else {
        return false;
    };
    en == an
        && ev.len() == av.len()
        && ev.iter().zip(&av).all(|(x, y)| {
            (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= tol * x.abs().max(1.0)
        })
}

/// A line diff (longest common subsequence): `-` expected only, `+` actual only.
fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::from("--- expected\n+++ actual\n");
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out += &format!("  {}\n", expected[i]);
            (i, j) = (i + 1, j + 1);
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out += &format!("- {}\n", expected[i]);
            i += 1;
        } else {
            out += &format!("+ {}\n", actual[j]);
            j += 1;
        }
    }
    out + "(run with BLESS=1 to accept the actual output)"
}
