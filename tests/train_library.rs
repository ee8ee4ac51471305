//! `nabla::train` from Rust is `nabla train` on the command line: with the same flags it
//! writes the same parameters and history, and it reports the same errors.
#![cfg(feature = "cli")]

use assert_cmd::Command;
use nabla::frontend::lang;
use nabla::frontend::problem::Problem;
use nabla::train::TrainError;
use nabla::{train, train::fit::train_with, OptimizerKind, Progress, Training};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const ODE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ode.nabla");

fn ode() -> Problem {
    let src = std::fs::read_to_string(ODE).unwrap();
    lang::load(ODE, &src).unwrap().problem
}

/// history.csv without the wall-time column.
fn history_without_time(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let wall = header.iter().position(|h| *h == "wall_s").unwrap();
    let drop_wall = |l: &str| {
        let cols: Vec<&str> = l
            .split(',')
            .enumerate()
            .filter(|(i, _)| *i != wall)
            .map(|c| c.1)
            .collect();
        cols.join(",")
    };
    std::iter::once(drop_wall(&header.join(",")))
        .chain(lines.map(drop_wall))
        .collect()
}

#[test]
fn the_library_trains_as_the_cli_does() {
    let tmp = tempfile::tempdir().unwrap();
    let (cli, lib) = (tmp.path().join("cli"), tmp.path().join("lib"));
    Command::cargo_bin("nabla")
        .unwrap()
        .args(["train", ODE, "--steps", "120", "--seed", "3", "--out"])
        .arg(&cli)
        .assert()
        .success();
    let t = Training::new(OptimizerKind::AdamLbfgs)
        .steps(120)
        .seed(3)
        .out(&lib);
    let run = train(&ode(), &t).unwrap();
    assert_eq!(run.result.history.len(), 120);
    let params = |d: &Path| std::fs::read_to_string(d.join("params.json")).unwrap();
    assert_eq!(params(&cli), params(&lib));
    assert_eq!(history_without_time(&cli), history_without_time(&lib));
    assert_eq!(
        serde_json::to_string(&run.params_json()).unwrap(),
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&params(&lib)).unwrap())
            .unwrap()
    );
}

#[test]
fn every_step_is_seen_and_a_stop_request_is_honoured() {
    let problem = ode();
    let mut seen = 0;
    let t = Training::new(OptimizerKind::Adam)
        .steps(30)
        .progress(Progress::Every(10));
    let run = train_with(&problem, &t, &mut |_| seen += 1).unwrap();
    assert_eq!(seen, 30);
    assert!(run.result.last.loss < run.result.history[0].loss);
    let mut stopped = t.clone();
    stopped.stop = Some(Arc::new(AtomicBool::new(true)));
    let run = train(&problem, &stopped).unwrap();
    assert!(run.result.history.is_empty());
    assert_eq!(
        run.result.reason,
        nabla::train::run::StopReason::Interrupted
    );
}

#[test]
fn options_the_cli_refuses_are_refused() {
    let base = || Training::new(OptimizerKind::AdamLbfgs).steps(10);
    let cases = [
        (base().lr(0.0), "learning rate"),
        (base().lr(f64::NAN), "learning rate"),
        (base().max_time(-1.0), "time limit"),
        (
            Training::new(OptimizerKind::Adam).adam_steps(3),
            "one-phase",
        ),
        (base().geodesic(false), "Levenberg-Marquardt"),
        (base().resample(0), "resampling (--resample) every 0 steps"),
        (
            Training {
                error_every: Some(0),
                ..base()
            },
            "error measurements",
        ),
        (
            base().out("/nonexistent-never-written").checkpoint_every(0),
            "checkpoints",
        ),
    ];
    for (t, what) in cases {
        match train(&ode(), &t) {
            Err(TrainError::Options(msg)) => assert!(msg.contains(what), "{msg}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("trained with {t:?}"),
        }
    }
}

#[test]
fn more_adam_steps_than_steps_is_an_error_before_any_work() {
    let mut t = Training::new(OptimizerKind::AdamLbfgs).steps(10);
    t.adam_steps = Some(20);
    let tmp = tempfile::tempdir().unwrap();
    t.out = Some(tmp.path().join("never"));
    match train(&ode(), &t) {
        Err(TrainError::Options(msg)) => assert!(msg.contains("20") && msg.contains("10"), "{msg}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("trained"),
    }
    assert!(!tmp.path().join("never").exists());
}

/// θ of another length than the parameters is an error, not a slice out of range (a
/// shorter one panicked, a longer one had values no parameter took).
#[test]
fn a_theta_of_the_wrong_length_is_refused() {
    use nabla::train::model::Model;
    use nabla::train::optim::Objective;
    use nabla::train::run::{train as run_train, TrainOptions};
    let problem = ode();
    let (mut m, theta, _) = Model::compile(&problem, &nabla::Options::interp()).unwrap();
    m.bind_points(0).unwrap();
    let mut g = vec![0.0; theta.len()];
    for wrong in [&theta[..5], &[theta.clone(), vec![0.5]].concat()[..]] {
        let e = m.eval(wrong, &mut g).expect_err("refused").to_string();
        let want = format!(
            "θ has {} values, the model's parameters {}",
            wrong.len(),
            theta.len()
        );
        assert!(e.contains(&want), "{e}");
    }
    let opts = TrainOptions::new(3, OptimizerKind::Adam);
    let stop = AtomicBool::new(false);
    let e = run_train(&mut m, theta[..4].to_vec(), &opts, &stop, &mut |_| {});
    assert!(e
        .expect_err("refused")
        .to_string()
        .contains("θ has 4 values"));
}
