//! The trainer end to end on a derivative-free problem with the interpreter: loss decrease,
//! recovered param, accuracy report, output files, stop flag, resampling.

mod train_common;

use nabla::train::layout::from_json;
use nabla::train::model::Model;
use nabla::train::optim::Objective;
use nabla::train::report::Report;
use nabla::train::run::{round_seed, train, OptimizerKind, StopReason, TrainOptions, TrainResult};
use std::sync::atomic::{AtomicBool, Ordering};
use train_common::{fd_model, regression};

fn initial_loss(model: &mut Model<'_>, theta: &[f64], seed: u64) -> f64 {
    model.bind_points(seed).unwrap();
    model.eval(theta, &mut vec![0.0; theta.len()]).unwrap()
}

/// Trains without progress reporting and without a stop flag.
fn train_quietly(model: &mut Model<'_>, theta: Vec<f64>, opts: &TrainOptions) -> TrainResult {
    train(model, theta, opts, &AtomicBool::new(false), &mut |_| {}).unwrap()
}

#[test]
fn adam_then_lbfgs_fits_the_regression_and_recovers_the_param() {
    let p = regression();
    let (mut model, theta) = fd_model(&p);
    let l0 = initial_loss(&mut model, &theta, 0);
    let mut opts = TrainOptions::new(300, OptimizerKind::AdamLbfgs);
    opts.lr = 1e-2;
    opts.adam_steps = 100;
    let r = train_quietly(&mut model, theta, &opts);
    // tolerance: a [1, 8, 1] tanh net fits sin(πx) on [0,1] to ~1e-6 in mean square
    assert!(r.last.loss < l0 * 1e-4, "loss {} from {l0}", r.last.loss);
    let a = model.layout().get(&r.theta, "a").unwrap()[0];
    assert!((a - 2.0).abs() < 1e-3, "a = {a}");
    let report = Report::new(&p, model.layout(), model.part_names(), &r, 0.0).unwrap();
    let rel = report.rel_l2();
    assert_eq!(rel.len(), 1);
    assert!(rel[0].1 < 2e-2, "rel_l2 = {}", rel[0].1);
    assert!(report.text().contains("rel_l2 u = "));
}

#[test]
fn adam_alone_decreases_the_loss() {
    let p = regression();
    let (mut model, theta) = fd_model(&p);
    let l0 = initial_loss(&mut model, &theta, 0);
    let mut opts = TrainOptions::new(200, OptimizerKind::Adam);
    opts.lr = 1e-2;
    let r = train_quietly(&mut model, theta, &opts);
    assert_eq!(r.history.len(), 200);
    assert_eq!(r.reason, StopReason::Steps);
    // tolerance: 200 Adam steps at lr 1e-2 gain at least a factor of 10 on this problem
    assert!(r.last.loss < l0 / 10.0, "loss {} from {l0}", r.last.loss);
}

#[test]
fn outputs_round_trip_and_history_has_the_documented_columns() {
    let p = regression();
    let (mut model, theta) = fd_model(&p);
    let opts = TrainOptions::new(20, OptimizerKind::Lbfgs);
    let r = train_quietly(&mut model, theta, &opts);
    let report = Report::new(&p, model.layout(), model.part_names(), &r, 0.0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    report.save(dir.path()).unwrap();

    let text = std::fs::read_to_string(dir.path().join("params.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["u"].as_array().unwrap().len(), 2);
    assert_eq!(v["u"][0]["W"].as_array().unwrap().len(), 8);
    let mut back = vec![0.0; r.theta.len()];
    from_json(&p, model.layout(), &mut back, &v).unwrap();
    assert_eq!(back, r.theta);

    let csv = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "step,loss.fit,loss.inv,loss,wall_s");
    assert_eq!(lines.len(), 1 + r.history.len());
    let row: Vec<f64> = lines[1].split(',').map(|c| c.parse().unwrap()).collect();
    assert_eq!(row.len(), 5);
    // total = fit + inv (both weights 1)
    assert!((row[3] - (row[1] + row[2])).abs() <= 1e-12 * row[3]);

    for f in ["loss.svg", "u.svg"] {
        let svg = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(svg.starts_with("<svg"), "{f}");
    }
}

#[test]
fn a_stop_request_ends_training_after_the_current_step_with_valid_results() {
    let p = regression();
    let (mut model, theta) = fd_model(&p);
    let stop = AtomicBool::new(false);
    let opts = TrainOptions::new(1000, OptimizerKind::Adam);
    let mut on_step = |rec: &nabla::train::run::StepRecord| {
        if rec.step == 6 {
            stop.store(true, Ordering::SeqCst);
        }
    };
    let r = train(&mut model, theta, &opts, &stop, &mut on_step).unwrap();
    assert_eq!(r.reason, StopReason::Interrupted);
    assert_eq!(r.history.len(), 7);
    let report = Report::new(&p, model.layout(), model.part_names(), &r, 0.0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    report.save(dir.path()).unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("params.json")).unwrap()).unwrap();
    let mut back = vec![0.0; r.theta.len()];
    from_json(&p, model.layout(), &mut back, &v).unwrap();
    assert_eq!(back, r.theta);
    assert_eq!(report.json()["steps"], 7);
}

#[test]
fn resampling_rebinds_points_with_a_new_seed_each_round() {
    let p = regression();
    let (mut model, theta) = fd_model(&p);
    let mut opts = TrainOptions::new(12, OptimizerKind::Adam);
    opts.resample = Some(5);
    opts.seed = 7;
    let r = train_quietly(&mut model, theta, &opts);
    // steps 10 and 11 ran on round 2's points: the final loss is the loss there
    let (mut fresh, _) = fd_model(&p);
    let on_round = |m: &mut Model<'_>, round| initial_loss(m, &r.theta, round_seed(7, round));
    let l2 = on_round(&mut fresh, 2);
    assert_eq!(r.last.loss, l2);
    assert_ne!(on_round(&mut fresh, 1), l2);
}

#[test]
fn json_summary_has_the_shape_of_the_cli_spec() {
    let p = regression();
    let (mut model, theta) = fd_model(&p);
    let opts = TrainOptions::new(3, OptimizerKind::Adam);
    let r = train_quietly(&mut model, theta, &opts);
    let report = Report::new(&p, model.layout(), model.part_names(), &r, 0.25).unwrap();
    let j = report.json();
    assert_eq!(j["problem"], "fit");
    assert_eq!(j["steps"], 3);
    assert_eq!(j["compile_s"], 0.25);
    assert!(j["wall_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(j["loss"].as_f64().unwrap(), r.last.loss);
    let losses = j["losses"].as_object().unwrap();
    assert_eq!(losses.keys().collect::<Vec<_>>(), ["fit", "inv"]);
    assert!(j["rel_l2"]["u"].as_f64().unwrap() > 0.0);
    assert_eq!(
        j["params"]["a"].as_f64().unwrap(),
        model.layout().get(&r.theta, "a").unwrap()[0]
    );
}
