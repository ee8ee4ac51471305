//! `nabla train --reference FILE` and `--error-every`: errors measured against reference
//! values equal those against the `exact` at the same points; bad reference files are
//! named with what is wrong, before any work.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{json, Value};
use std::path::Path;

const PROBLEM: &str = "problem tiny
input x in [0, 1]
net u(x) = mlp(widths = [4], act = tanh)
points inner = interior(16)
residual fit on inner = u - sin(3 * x)
exact u = sin(3 * x)
";

/// Writes the problem and a reference of `sin(3x)` on the 101-point grid the trainer uses
/// for `exact` in one dimension.
fn setup(dir: &Path) -> (String, String) {
    let problem = dir.join("tiny.nabla");
    std::fs::write(&problem, PROBLEM).unwrap();
    let xs: Vec<f64> = (0..=100).map(|i| i as f64 / 100.0).collect();
    let r = json!({
        "points": xs.iter().map(|&x| vec![x]).collect::<Vec<_>>(),
        "u": xs.iter().map(|&x| (3.0 * x).sin()).collect::<Vec<_>>(),
    });
    let reference = dir.join("ref.json");
    std::fs::write(&reference, r.to_string()).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    (s(&problem), s(&reference))
}

fn train(args: &[&str]) -> Value {
    let a = Command::cargo_bin("nabla")
        .unwrap()
        .args([
            "train",
            "--steps",
            "40",
            "--optimizer",
            "adam",
            "--lr",
            "1e-2",
            "--json",
        ])
        .args(args)
        .assert()
        .success();
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

#[test]
fn reference_errors_equal_exact_errors_at_the_same_points() {
    let dir = tempfile::tempdir().unwrap();
    let (problem, reference) = setup(dir.path());
    let out = dir.path().join("run");
    let plain = train(&[&problem]);
    let with_ref = train(&[
        &problem,
        "--reference",
        &reference,
        "--error-every",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (a, b) = (
        plain["rel_l2"]["u"].as_f64().unwrap(),
        with_ref["rel_l2"]["u"].as_f64().unwrap(),
    );
    // same seed, same steps: the same network, measured on the same points
    assert!(a > 1e-4 && (a - b).abs() <= 1e-9 * a, "{a} vs {b}");

    // the history has the error every 10 steps (and at step 0), measured in f64
    let csv = std::fs::read_to_string(out.join("history.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.last(), Some(&"rel_l2.u"));
    let measured: Vec<(usize, f64)> = lines
        .filter_map(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            let e = cols.last()?.parse().ok()?;
            Some((cols[0].parse().unwrap(), e))
        })
        .collect();
    let steps: Vec<usize> = measured.iter().map(|m| m.0).collect();
    assert_eq!(steps, [0, 9, 19, 29, 39]);
    let last = measured.last().unwrap().1;
    assert!((last - b).abs() <= 1e-9 * b, "history {last} vs report {b}");
    assert!(std::fs::read_to_string(out.join("error.svg"))
        .unwrap()
        .starts_with("<svg"));
    // milestones: the first step whose error is below each power of ten
    for m in with_ref["reached"]["u"].as_array().unwrap() {
        let (below, step) = (m["below"].as_f64().unwrap(), m["step"].as_u64().unwrap());
        let first = measured.iter().find(|e| e.1 < below).unwrap();
        assert_eq!(first.0 as u64, step);
    }
}

#[test]
fn bad_reference_files_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (problem, _) = setup(dir.path());
    let cases = [
        (
            json!({"points": [[0.1, 0.2]], "u": [1.0]}).to_string(),
            "point 0 has 2 coordinates; the problem has 1 inputs (x)",
        ),
        (
            json!({"points": [[0.1]], "v": [1.0]}).to_string(),
            "`v` is not an output of the problem (outputs: u)",
        ),
        (
            json!({"points": [[0.1], [0.2]], "u": [1.0]}).to_string(),
            "`u` has 1 values for 2 points",
        ),
        (json!({"u": [1.0]}).to_string(), "`points`"),
        (
            json!({"points": [[0.1]], "u": ["one"]}).to_string(),
            "not a finite number",
        ),
        ("{\"points\": [".to_string(), "not JSON"),
    ];
    for (k, (text, message)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{k}.json"));
        std::fs::write(&file, text).unwrap();
        let out = dir.path().join(format!("out{k}"));
        Command::cargo_bin("nabla")
            .unwrap()
            .args(["train", &problem, "--reference"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .assert()
            .failure()
            .stderr(
                predicate::str::contains(*message)
                    .and(predicate::str::contains(format!("bad{k}.json"))),
            );
        assert!(!out.exists(), "nothing is written on a bad reference");
    }
    Command::cargo_bin("nabla")
        .unwrap()
        .args(["train", &problem, "--reference", "no/such/ref.json"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no/such/ref.json"));
}
