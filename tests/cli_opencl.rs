//! `nabla eval --backend opencl` agrees with `--backend cpu` (f64, residuals, loss and
//! gradient). Needs an OpenCL platform (PoCL in CI); without one the test says it was
//! skipped, unless `NABLA_REQUIRE_OPENCL=1` makes that a failure.

mod opencl_check;

use assert_cmd::Command;
use opencl_check::opencl_available;
use serde_json::Value;

const PROBLEM: &str = "problem small
input x in [0, 1]
input y in [0, 1]
net u(x, y) = mlp(widths = [6, 6], act = tanh, seed = 2)
points inner = interior(8)
points walls = boundary(4)
residual pde on inner = -lap(u) - sin(pi * x) * y
residual bc on walls weight 10 = u - d(u, x, y)
";

const POINTS: &str = r#"{"inner": [[0.1, 0.2], [0.3, 0.9], [0.5, 0.5], [0.7, 0.1], [0.9, 0.4], [0.2, 0.8], [0.6, 0.3], [0.4, 0.6]],
 "walls": [[0.0, 0.3], [1.0, 0.7], [0.4, 0.0], [0.8, 1.0]]}"#;

fn eval(dir: &std::path::Path, backend: &str) -> Value {
    let out = Command::cargo_bin("nabla")
        .unwrap()
        .current_dir(dir)
        .args(["eval", "p.nabla", "--points", "x.json", "--grad"])
        .args(["--dtype", "f64", "--backend", backend])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

/// Every number in `a` and `b`, in the same traversal order.
fn numbers(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
        Value::Object(o) => o.values().for_each(|x| numbers(x, out)),
        _ => {}
    }
}

#[test]
fn eval_on_opencl_matches_the_cpu_backend() {
    if !opencl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.nabla"), PROBLEM).unwrap();
    std::fs::write(dir.path().join("x.json"), POINTS).unwrap();
    let (cpu, ocl) = (eval(dir.path(), "cpu"), eval(dir.path(), "opencl"));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    numbers(&cpu, &mut a);
    numbers(&ocl, &mut b);
    assert_eq!(a.len(), b.len());
    // 12 residual values, the loss and the gradient of 67 parameters.
    assert_eq!(a.len(), 12 + 1 + 67);
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-10 * scale, "cpu {x} vs opencl {y}");
    }
}
