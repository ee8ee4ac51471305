//! `nabla train` and `nabla bench` on the command line: flag errors and output-directory
//! errors come before any work and say what is wrong.

use assert_cmd::Command;
use predicates::prelude::*;

fn nabla() -> Command {
    Command::cargo_bin("nabla").unwrap()
}

const POISSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/poisson2d.nabla");

#[test]
fn unknown_optimizer_lists_the_choices() {
    nabla()
        .args(["train", POISSON, "--optimizer", "sgd"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("sgd").and(predicate::str::contains("adam+lbfgs")));
}

#[test]
fn bad_dtype_backend_and_derivs_are_rejected() {
    for (flag, value) in [
        ("--dtype", "f16"),
        ("--backend", "tpu"),
        ("--derivs", "symbolic"),
    ] {
        nabla()
            .args(["train", POISSON, flag, value])
            .assert()
            .failure()
            .stderr(predicate::str::contains(value));
    }
}

#[test]
fn non_numeric_steps_and_zero_resample_are_rejected() {
    nabla()
        .args(["train", POISSON, "--steps", "many"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--steps"));
    nabla()
        .args(["train", POISSON, "--resample", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--resample"));
}

#[test]
fn learning_rate_decay_outside_zero_one_is_rejected() {
    for bad in ["0", "1.5", "-0.1"] {
        nabla()
            .args(["train", POISSON, &format!("--lr-decay={bad}")])
            .assert()
            .failure()
            .stderr(predicate::str::contains("--lr-decay must be in (0, 1]"));
    }
}

#[test]
fn non_positive_learning_rate_is_rejected() {
    nabla()
        .args(["train", POISSON, "--lr=-1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--lr must be a positive number"));
}

#[test]
fn unwritable_out_is_an_error_before_training_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = file.join("run");
    nabla()
        .args(["train", POISSON, "--out"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot write").and(predicate::str::contains("run")));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_missing_problem_file_is_named() {
    nabla()
        .args(["train", "no/such/problem.nabla"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no/such/problem.nabla"));
}

#[test]
fn bench_rejects_unknown_methods_and_dtypes() {
    nabla()
        .args(["bench", POISSON, "--methods", "auto,magic"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown method `magic`"));
    nabla()
        .args(["bench", POISSON, "--dtypes", "f16"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown dtype `f16`"));
}

#[test]
fn sigint_stops_training_cleanly_and_still_writes_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let heat = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/heat1d.nabla");
    let bin = assert_cmd::cargo::cargo_bin("nabla");
    let child = std::process::Command::new(bin)
        .args([
            "train",
            heat,
            "--steps",
            "1000000",
            "--optimizer",
            "adam",
            "--json",
        ])
        .arg("--out")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = j["steps"].as_u64().unwrap();
    assert!(steps < 1_000_000);
    let params = std::fs::read_to_string(dir.path().join("params.json")).unwrap();
    let p: serde_json::Value = serde_json::from_str(&params).unwrap();
    assert_eq!(p["u"].as_array().unwrap().len(), 3);
    let csv = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, 1 + steps);
}
