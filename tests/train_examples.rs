//! Every example problem trains through the CLI (a few steps, JIT, f32) and produces the
//! documented JSON and output files; the inverse problem recovers its parameter.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nabla"))
        .collect();
    v.sort();
    v
}

/// Runs `nabla train FILE ARGS --json --out DIR`; returns the JSON and the directory.
fn train(file: &Path, args: &[&str]) -> (Value, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let a = Command::cargo_bin("nabla")
        .unwrap()
        .arg("train")
        .arg(file)
        .args(args)
        .arg("--json")
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let stdout = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    (serde_json::from_str(&stdout).unwrap(), out)
}

/// Residual names and exact outputs, read from the file's own lines.
fn declared(src: &str, keyword: &str) -> Vec<String> {
    src.lines()
        .filter_map(|l| l.trim().strip_prefix(keyword))
        .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn every_example_trains_and_writes_its_outputs() {
    let files = examples();
    assert!(files.len() >= 9, "{files:?}");
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        let (j, out) = train(&file, &["--steps", "3"]);
        let name = file.file_stem().unwrap().to_str().unwrap();
        assert_eq!(j["problem"], name, "{}", file.display());
        assert!(j["loss"].as_f64().unwrap().is_finite(), "{name}: {j}");
        let losses: Vec<&String> = j["losses"].as_object().unwrap().keys().collect();
        assert_eq!(
            losses,
            declared(&src, "residual ").iter().collect::<Vec<_>>(),
            "{name}"
        );
        let rel: Vec<&String> = j["rel_l2"].as_object().unwrap().keys().collect();
        assert_eq!(
            rel,
            declared(&src, "exact ").iter().collect::<Vec<_>>(),
            "{name}"
        );
        let csv = std::fs::read_to_string(out.path().join("history.csv")).unwrap();
        assert_eq!(
            csv.lines().count(),
            1 + j["steps"].as_u64().unwrap() as usize,
            "{name}"
        );
        let params = std::fs::read_to_string(out.path().join("params.json")).unwrap();
        assert!(serde_json::from_str::<Value>(&params).unwrap().is_object());
        assert!(out.path().join("loss.svg").exists(), "{name}");
    }
}

#[test]
fn the_inverse_problem_recovers_its_parameter() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/inverse.nabla");
    let args = ["--steps", "150", "--dtype", "f64", "--lr", "1e-2"];
    let (j, out) = train(&file, &args);
    let k = j["params"]["k"].as_f64().unwrap();
    // tolerance: the true k is 1/2; 150 steps of adam+lbfgs reach it to ~1e-5
    assert!((k - 0.5).abs() < 1e-3, "k = {k}");
    assert!(j["rel_l2"]["u"].as_f64().unwrap() < 1e-3, "{j}");
    let p: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("params.json")).unwrap())
            .unwrap();
    assert_eq!(p["k"].as_f64().unwrap(), k);
    assert_eq!(p["u"].as_array().unwrap().len(), 3);
    for f in ["u.svg", "loss.svg"] {
        assert!(out.path().join(f).exists(), "{f}");
    }
}

#[test]
fn two_dimensional_problems_get_heat_maps() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/poisson2d.nabla");
    let (_, out) = train(&file, &["--steps", "2"]);
    for f in ["u.svg", "u_exact.svg", "u_error.svg"] {
        let svg = std::fs::read_to_string(out.path().join(f)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<rect"), "{f}");
    }
}
