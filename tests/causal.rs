//! Causal training (`--causal`): the weighted loss on the compiled program, its
//! least-squares form for Levenberg–Marquardt and the chunk weights agree with each other
//! and with the definition; the CLI reports the weights and refuses what cannot work; a
//! causal run resumes bit for bit.

use assert_cmd::Command;
use nabla::frontend::problem::Problem;
use nabla::train::causal::{Causal, CausalSpec};
use nabla::train::lm::GaussNewton;
use nabla::train::model::Model;
use nabla::train::Objective;
use nabla::{OptimizerKind, Options, Training};
use predicates::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A small heat problem: the PDE over (t, x), the initial condition on t = 0.
const HEAT: &str = "problem tinyheat
input t in [0, 1]
input x in [0, 1]
net u(t, x) = mlp(widths = [6, 6], act = tanh, seed = 0)
points inner = interior(60)
points start = face(t = 0, 20)
residual pde on inner = d(u, t) - 0.1 * d(u, x, x)
residual ic on start weight 10 = u - sin(pi * x)
exact u = exp(-0.1 * pi^2 * t) * sin(pi * x)
";

fn load(text: &str) -> Problem {
    let l = nabla::frontend::lang::load("p.nabla", text);
    l.unwrap_or_else(|d| panic!("{}", d.render())).problem
}

fn spec(eps: f64, chunks: usize) -> CausalSpec {
    CausalSpec {
        eps,
        chunks,
        time: "t".into(),
    }
}

fn interp() -> Options {
    Options::interp()
}

/// Relative difference of two numbers.
fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn only_residuals_over_time_are_weighted() {
    let c = Causal::new(&load(HEAT), &spec(1.0, 8), 0).unwrap();
    assert_eq!(c.residuals(), ["pde"]);
    assert_eq!(c.weights(), [1.0; 8]);
}

#[test]
fn the_weighted_loss_its_least_squares_form_and_the_chunk_weights_agree() {
    let p = load(HEAT);
    let causal = Causal::new(&p, &spec(2.0, 4), 0).unwrap();
    let weighted = causal.weighted(&p);
    // the same problem without weights: the unweighted residuals
    let (mut plain, theta, _) = Model::compile(&p, &interp()).unwrap();
    plain.add_jacobian(&interp()).unwrap();
    plain.bind_points(0).unwrap();
    let unweighted = plain.least_squares(&theta).unwrap();
    let (mut model, _, _) = Model::compile(&weighted, &interp()).unwrap();
    model.add_jacobian(&interp()).unwrap();
    model.bind_points(0).unwrap();
    model.set_causal(causal.clone()).unwrap();
    // least squares weighs at θ: the weights of the definition from these residuals
    let ls = model.least_squares(&theta).unwrap();
    let rows = &p.sample(0)[0].1;
    let s = (1.0 / 60.0_f64).sqrt();
    let r: Vec<f64> = unweighted.r[..60].iter().map(|v| v / s).collect();
    let squares: Vec<f64> = r.iter().map(|v| v * v).collect();
    let mut expected = causal.clone();
    expected
        .update(&[(&squares, rows)], &nabla::train::dist::Alone)
        .unwrap();
    let got = model.causal().unwrap();
    for (a, b) in got.weights().iter().zip(expected.weights()) {
        assert!(
            rel(*a, *b) < 1e-13,
            "{:?} vs {:?}",
            got.weights(),
            expected.weights()
        );
    }
    assert!(
        got.min_weight() < 0.9,
        "weights that weigh: {:?}",
        got.weights()
    );
    // rows: √c of the point's chunk times the plain row; the initial condition unchanged
    let c = expected.point_weights(rows);
    for (i, ci) in c.iter().enumerate() {
        let want = ci.sqrt() * unweighted.r[i];
        assert!(rel(ls.r[i], want) < 1e-13, "row {i}: {} vs {want}", ls.r[i]);
        for k in 0..ls.cols {
            let (a, b) = (
                ls.j[i * ls.cols + k],
                ci.sqrt() * unweighted.j[i * ls.cols + k],
            );
            assert!((a - b).abs() <= 1e-13 * b.abs().max(1e-3), "J[{i}, {k}]");
        }
    }
    assert_eq!(ls.r[60..], unweighted.r[60..]);
    // the compiled loss with the bound weights is the least-squares loss ‖r̃‖², and its
    // gradient is 2 J̃ᵀ r̃
    let mut g = vec![0.0; theta.len()];
    let loss = model.eval(&theta, &mut g).unwrap();
    let ls_loss: f64 = ls.r.iter().map(|v| v * v).sum();
    assert!(rel(loss, ls_loss) < 1e-12, "{loss} vs {ls_loss}");
    for (k, gk) in g.iter().enumerate() {
        let jr: f64 = (0..ls.r.len())
            .map(|i| 2.0 * ls.j[i * ls.cols + k] * ls.r[i])
            .sum();
        assert!(
            (gk - jr).abs() <= 1e-10 * jr.abs().max(1e-6),
            "grad {k}: {gk} vs {jr}"
        );
    }
    // the weights from the compiled loss's own squares are the same
    let before = model.causal().unwrap().weights().to_vec();
    assert!(model.refresh_causal().unwrap());
    for (a, b) in model.causal().unwrap().weights().iter().zip(&before) {
        assert!(
            rel(*a, *b) < 1e-13,
            "weights from the loss program: {a} vs {b}"
        );
    }
    // and against central differences of the weighted loss (weights held fixed)
    for k in [0, 7, theta.len() - 1] {
        let h = 1e-6;
        let (mut up, mut down) = (theta.clone(), theta.clone());
        up[k] += h;
        down[k] -= h;
        let mut scratch = vec![0.0; theta.len()];
        let fd = (model.eval(&up, &mut scratch).unwrap()
            - model.eval(&down, &mut scratch).unwrap())
            / (2.0 * h);
        assert!(
            (g[k] - fd).abs() <= 1e-6 * fd.abs().max(1e-3),
            "fd {k}: {} vs {fd}",
            g[k]
        );
    }
}

/// `weighted` compiled for the interpreter with its Jacobian program, the seed-0 points
/// bound and `causal`'s weights set: the model and its starting parameters.
fn jacobian_model<'p>(weighted: &'p Problem, causal: &Causal) -> (Model<'p>, Vec<f64>) {
    let (mut m, theta, _) = Model::compile(weighted, &interp()).unwrap();
    m.add_jacobian(&interp()).unwrap();
    m.bind_points(0).unwrap();
    m.set_causal(causal.clone()).unwrap();
    (m, theta)
}

#[test]
fn a_streamed_system_weighs_as_the_kept_one() {
    // the streamed system takes its weights from the loss program's residuals at θ, the
    // kept one from the Jacobian program's: the same numbers to rounding
    let p = load(HEAT);
    let causal = Causal::new(&p, &spec(2.0, 4), 0).unwrap();
    let weighted = causal.weighted(&p);
    let model = || jacobian_model(&weighted, &causal);
    let (mut kept, theta) = model();
    let (mut streamed, _) = model();
    let ls = kept.least_squares(&theta).unwrap();
    let whole = GaussNewton::keeping(ls.clone());
    let (loss, added) = streamed.tiled_gauss_newton(&theta, false).unwrap();
    let (a, b) = (kept.causal().unwrap(), streamed.causal().unwrap());
    assert!(
        a.min_weight() < 0.9,
        "weights that weigh: {:?}",
        a.weights()
    );
    for (a, b) in a.weights().iter().zip(b.weights()) {
        assert!(rel(*a, *b) < 1e-13, "weight {a} vs {b}");
    }
    let sq: f64 = ls.r.iter().map(|v| v * v).sum();
    assert!(rel(loss, sq) < 1e-13, "{loss} vs {sq}");
    for (a, b) in added.gradient().iter().zip(whole.gradient()) {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1e-6),
            "Jᵀr: {a} vs {b}"
        );
    }
    // (the solve amplifies rounding by the system's condition: compared on the step's scale)
    let (a, b) = (added.solve(1e-3).unwrap(), whole.solve(1e-3).unwrap());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (a, b) in a.iter().zip(&b) {
        assert!(
            (a - b).abs() <= 1e-9 * scale,
            "step: {a} vs {b} (of {scale})"
        );
    }
}

#[test]
fn new_points_are_weighed_by_their_own_residuals() {
    // evaluated at θ, then new points (a resample) and the system at the same θ: the
    // weights must come from the new points' residuals, as the whole-J plan's do
    let p = load(HEAT);
    let causal = Causal::new(&p, &spec(2.0, 4), 0).unwrap();
    let weighted = causal.weighted(&p);
    let model = || jacobian_model(&weighted, &causal);
    let (mut tiled, theta) = model();
    let (mut whole, _) = model();
    let mut g = vec![0.0; theta.len()];
    tiled.eval(&theta, &mut g).unwrap();
    let before = tiled.causal().unwrap().weights().to_vec();
    for m in [&mut tiled, &mut whole] {
        m.bind_points(7).unwrap();
    }
    let ls = whole.least_squares(&theta).unwrap();
    let (_, added) = tiled.tiled_gauss_newton(&theta, false).unwrap();
    let (a, b) = (tiled.causal().unwrap(), whole.causal().unwrap());
    assert!(
        (a.weights().iter().zip(&before)).any(|(a, b)| rel(*a, *b) > 1e-6),
        "new points weigh differently: {:?} vs {before:?}",
        a.weights()
    );
    for (a, b) in a.weights().iter().zip(b.weights()) {
        assert!(rel(*a, *b) < 1e-13, "weight {a} vs {b}");
    }
    let whole = GaussNewton::keeping(ls);
    for (a, b) in added.gradient().iter().zip(whole.gradient()) {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1e-6),
            "Jᵀr: {a} vs {b}"
        );
    }
}

#[test]
fn a_causal_run_resumes_bit_for_bit() {
    let p = load(HEAT);
    for (opt, steps, at, resample) in [
        (OptimizerKind::Adam, 20, 8, None),
        (OptimizerKind::Adam, 20, 8, Some(3)),
        (OptimizerKind::Lm, 8, 3, None),
        (OptimizerKind::AdamLm, 12, 5, Some(4)),
        (OptimizerKind::Lbfgs, 12, 5, None),
    ] {
        let t = Training {
            resample,
            ..Training::new(opt)
                .steps(steps)
                .dtype(nabla::ir::DType::F64)
                .causal(1.0)
        };
        let whole = nabla::train(&p, &t).unwrap();
        let mins: Vec<f64> = whole
            .result
            .history
            .iter()
            .filter_map(|r| r.causal)
            .collect();
        assert!(
            mins.len() == steps || opt == OptimizerKind::Lbfgs,
            "{opt:?}: {mins:?}"
        );
        assert_eq!(
            mins.len(),
            whole.result.history.len(),
            "a weight in every record"
        );
        assert!(mins.iter().all(|w| *w > 0.0 && *w <= 1.0), "{mins:?}");
        let dir = tempfile::tempdir().unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let first = t.clone().out(dir.path()).checkpoint_every(2).stop(flag);
        nabla::train::fit::train_with(&p, &first, &mut |r| {
            if r.step == at {
                f.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
        let resumed = nabla::train(&p, &t.clone().resume(dir.path())).unwrap();
        let bits = |h: &[nabla::train::run::StepRecord]| -> Vec<(u64, Option<u64>)> {
            (h.iter())
                .map(|r| (r.loss.to_bits(), r.causal.map(f64::to_bits)))
                .collect()
        };
        assert_eq!(
            bits(&resumed.result.history),
            bits(&whole.result.history),
            "{opt:?}, resample {resample:?}"
        );
        // a run without --causal does not continue it
        let plain = Training { causal: None, ..t };
        let err = nabla::train(&p, &plain.resume(dir.path())).err().unwrap();
        assert!(err.to_string().contains("--causal"), "{err}");
    }
}

fn nabla() -> Command {
    Command::cargo_bin("nabla").unwrap()
}

#[test]
fn the_cli_records_the_smallest_weight() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("heat.nabla");
    std::fs::write(&file, HEAT).unwrap();
    let out = dir.path().join("run");
    nabla()
        .arg("train")
        .arg(&file)
        .args(["--optimizer", "adam", "--steps", "15", "--causal", "5"])
        .args(["--causal-chunks", "8", "--dtype", "f64", "--out"])
        .arg(&out)
        .assert()
        .success();
    let csv = std::fs::read_to_string(out.join("history.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "causal_min")
        .expect("a causal_min column");
    let mins: Vec<f64> = (csv.lines().skip(1))
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert_eq!(mins.len(), 15);
    assert!(mins.iter().all(|w| *w > 0.0 && *w < 1.0), "{mins:?}");
}

/// A problem with nothing to train (a residual of the inputs alone) is weighted as any
/// other: its first weights come from an evaluation at the empty θ (which was taken for
/// "evaluated there already" and ended in an internal error about a missing output).
#[test]
fn nothing_to_train_is_weighted_from_its_first_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.nabla");
    let src = "input x in [0, 1]\npoints p = interior(4)\nresidual r on p = x\n";
    std::fs::write(&file, src).unwrap();
    let out = nabla()
        .arg("train")
        .arg(&file)
        .args(["--steps", "3", "--causal", "1", "--causal-time", "x"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    // the weighted loss is below the unweighted mean square of r = x (weights ≤ 1)
    let number = |key: &str| -> f64 {
        let at = stdout.find(key).unwrap_or_else(|| panic!("{stdout}")) + key.len();
        stdout[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (loss, part) = (number("loss = "), number("r = "));
    assert!(loss > 0.0 && loss < part, "{stdout}");
}

#[test]
fn causal_training_without_time_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = |text: &str, flags: &[&str]| {
        let file = dir.path().join("p.nabla");
        std::fs::write(&file, text).unwrap();
        nabla()
            .arg("train")
            .arg(&file)
            .args(["--steps", "2"])
            .args(flags)
            .assert()
            .failure()
    };
    let poisson = HEAT.replace("input t in [0, 1]", "input y in [0, 1]");
    let poisson = poisson
        .replace("d(u, t)", "d(u, y)")
        .replace("t = 0", "y = 0");
    let poisson = poisson
        .replace("* t)", "* y)")
        .replace("u(t, x)", "u(y, x)");
    run(&poisson, &["--causal", "1"]).stderr(predicate::str::contains(
        "the problem has no input `t` (its inputs: y, x); name the time input with \
         --causal-time",
    ));
    let start_only = HEAT.replace("residual pde on inner", "residual pde on start");
    run(&start_only, &["--causal", "1"])
        .stderr(predicate::str::contains("no residual's points vary in `t`"));
    run(HEAT, &["--causal", "0"]).stderr(predicate::str::contains("--causal"));
    run(HEAT, &["--causal", "1", "--causal-chunks", "0"])
        .stderr(predicate::str::contains("--causal-chunks"));
    run(HEAT, &["--causal-chunks", "8"]).stderr(predicate::str::contains("--causal <EPS>"));
}
