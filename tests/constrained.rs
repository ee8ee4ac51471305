//! Constrained outputs: a `let` with an `exact` (a hard-constraint ansatz) satisfies its
//! condition to rounding and is measured, plotted and written like a net output.

use nabla::frontend::lang::{self, Loaded};
use nabla::train::accuracy::{evaluate, Grid, Reference};
use nabla::train::model::Model;
use nabla::{OptimizerKind, Options, Training};
use serde_json::json;

fn load() -> Loaded {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/poisson_hard.nabla");
    let src = std::fs::read_to_string(path).unwrap();
    lang::load(path, &src).unwrap_or_else(|d| panic!("{}", d.render()))
}

#[test]
fn a_constrained_output_vanishes_on_the_boundary_to_rounding() {
    let l = load();
    let p = &l.problem;
    assert_eq!(p.outputs(), ["n", "u"]);
    let (model, theta, _) = Model::compile(p, &Options::interp()).unwrap();
    let theta: Vec<f64> = (theta.iter().enumerate())
        .map(|(i, t)| t + 0.1 * ((i * 5 % 11) as f64 - 5.0) / 5.0)
        .collect();
    let s: Vec<f64> = (0..=50).map(|i| i as f64 / 50.0).collect();
    let walls: Vec<Vec<f64>> = (s.iter())
        .flat_map(|&v| [vec![0.0, v], vec![1.0, v], vec![v, 0.0], vec![v, 1.0]])
        .collect();
    let inside: Vec<Vec<f64>> = s[1..50].iter().map(|&v| vec![v, 1.0 - v]).collect();
    let u = l.expression("u", "u").unwrap();
    let at = |rows: Vec<Vec<f64>>| {
        let grid = Grid { rows, axes: vec![] };
        evaluate(p, &u, model.layout(), &theta, &grid).unwrap()
    };
    // x(1 - x) y(1 - y) is exactly 0 at x, y ∈ {0, 1}: the condition holds exactly.
    assert!(at(walls).iter().all(|v| *v == 0.0));
    assert!(at(inside).iter().all(|v| v.abs() > 1e-8));
}

#[test]
fn a_constrained_output_is_reported_like_a_net_output() {
    let l = load();
    let dir = tempfile::tempdir().unwrap();
    let t = Training::new(OptimizerKind::Adam).steps(20).out(dir.path());
    let run = nabla::train(&l.problem, &t).unwrap();
    let keys: Vec<&str> = run.rel_l2.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["u"]);
    assert!(run.json["rel_l2"]["u"].as_f64().unwrap() > 0.0);
    for f in ["u.svg", "u_exact.svg", "u_error.svg", "n.svg"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let history = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
    assert!(history.lines().next().unwrap().ends_with(",rel_l2.u"));
    let r = Reference::from_json(&json!({"points": [[0.5, 0.5]], "u": [1.0]}), &l.problem);
    assert_eq!(r.unwrap().values[0].0, "u");
    let bad = Reference::from_json(&json!({"points": [[0.5, 0.5]], "f": [1.0]}), &l.problem);
    assert!(bad.unwrap_err().contains("outputs: n, u"));
}
