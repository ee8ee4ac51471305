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
    eval_with(dir, backend, "auto")
}

fn eval_with(dir: &std::path::Path, backend: &str, derivs: &str) -> Value {
    let out = Command::cargo_bin("nabla")
        .unwrap()
        .current_dir(dir)
        .args(["eval", "p.nabla", "--points", "x.json", "--grad"])
        .args(["--dtype", "f64", "--backend", backend, "--derivs", derivs])
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

/// A Laplacian over 16 inputs expands with stacked tangents (`[16, N, width]` values,
/// broadcasts along the leading axis): OpenCL and the f64 interpreter agree with the CPU
/// backend on its residuals, loss and gradient, and the residuals are those of f64
/// central differences of the network (`--derivs fd`, no AD at all).
#[test]
fn a_stacked_laplacian_agrees_on_every_backend() {
    if !opencl_available() {
        return;
    }
    let d = 16;
    let names: Vec<String> = (1..=d).map(|i| format!("x{i}")).collect();
    let mut problem = String::from("problem stacked\n");
    for n in &names {
        problem += &format!("input {n} in [-1, 1]\n");
    }
    let args = names.join(", ");
    let r2 = (names.iter().map(|n| format!("{n}^2")))
        .collect::<Vec<_>>()
        .join(" + ");
    problem += &format!("net n({args}) = mlp(widths = [8, 8], act = tanh, seed = 3)\n");
    problem += &format!("let u = (1 - ({r2}) / {d}) * n\n");
    problem += "points inner = interior(5)\nresidual pde on inner = lap(u) - sin(x1) * x2\n";
    let rows: Vec<String> = (0..5)
        .map(|p| {
            let xs: Vec<String> = (0..d)
                .map(|i| format!("{:.3}", ((p * d + i) as f64 * 0.37).sin() * 0.9))
                .collect();
            format!("[{}]", xs.join(", "))
        })
        .collect();
    let points = format!("{{\"inner\": [{}]}}", rows.join(", "));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.nabla"), problem).unwrap();
    std::fs::write(dir.path().join("x.json"), points).unwrap();
    let mut all: Vec<Vec<f64>> = Vec::new();
    for backend in ["cpu", "opencl", "interp"] {
        let mut v = Vec::new();
        numbers(&eval(dir.path(), backend), &mut v);
        all.push(v);
    }
    // 5 residual values, the loss and the gradient of 217 parameters
    assert_eq!(all[0].len(), 5 + 1 + 217);
    let scale = all[0].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for other in &all[1..] {
        for (x, y) in all[0].iter().zip(other) {
            assert!((x - y).abs() <= 1e-10 * scale, "cpu {x} vs {y}");
        }
    }
    // step ε^(1/4) ≈ 1.2e-4: truncation ~1e-8 and rounding ~1e-8 per direction
    let (mut fd, mut exact) = (Vec::new(), Vec::new());
    numbers(&eval_with(dir.path(), "cpu", "fd")["residuals"], &mut fd);
    numbers(&eval(dir.path(), "cpu")["residuals"], &mut exact);
    assert_eq!(fd.len(), 5);
    for (x, y) in exact.iter().zip(&fd) {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "stacked {x} vs fd {y}"
        );
    }
}

/// [`PROBLEM`] with 96 + 32 points of its own sampling: enough for the batch to be cut
/// into several tiles.
fn tiled_problem() -> String {
    let p = (PROBLEM.replace("interior(8)", "interior(96)")).replace("boundary(4)", "boundary(32)");
    assert!(p.contains("interior(96)") && p.contains("boundary(32)"));
    p
}

/// `nabla bench --backend opencl` (f64, the compiler's methods, one repetition) with
/// `--device-memory budget`.
fn bench(dir: &std::path::Path, budget: &str) -> Command {
    let mut cmd = Command::cargo_bin("nabla").unwrap();
    cmd.current_dir(dir)
        .args([
            "bench",
            "p.nabla",
            "--backend",
            "opencl",
            "--methods",
            "auto",
        ])
        .args(["--dtypes", "f64", "--reps", "1", "--device-memory", budget]);
    cmd
}

/// [`bench`]'s JSON row.
fn bench_row(dir: &std::path::Path, budget: &str) -> Value {
    let out = bench(dir, budget)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["results"][0].clone()
}

/// A batch whose programs need more device memory than the run may take
/// (`--device-memory`) is cut into tiles that fit, run in turn on the device, with the
/// f64 interpreter's values; a budget below one point per tile is an error that names
/// the sizes, and `train` then writes nothing.
#[test]
fn a_batch_larger_than_the_device_memory_runs_in_tiles_that_fit() {
    if !opencl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.nabla"), tiled_problem()).unwrap();
    // about 60 kB in one tile, 4–5 kB in tiles of one wall point each (PoCL)
    let whole = bench_row(dir.path(), "1M");
    let cut = bench_row(dir.path(), "20K");
    assert_eq!(whole["tiles"], 1, "{whole}");
    let tiles = cut["tiles"].as_u64().unwrap();
    assert!((2..=32).contains(&tiles), "{cut}");
    assert!(32 % tiles == 0, "an even cut of 96 and 32 points: {cut}");
    for row in [&whole, &cut] {
        for err in ["residual_rel_err", "grad_rel_err"] {
            let e = row[err].as_f64().unwrap();
            assert!(e <= 1e-12, "{err} {e} against the f64 interpreter: {row}");
        }
    }
    let out = Command::cargo_bin("nabla")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "train",
            "p.nabla",
            "--backend",
            "opencl",
            "--device-memory",
            "2K",
        ])
        .args(["--steps", "2", "--out", "run"])
        .assert()
        .failure()
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("do not fit on"), "{err}");
    assert!(err.contains("where a model may take 2.0 KiB"), "{err}");
    assert!(!dir.path().join("run").exists(), "nothing written");
    // `bench` with no row that fits prints the table with each row's error, and fails
    let out = bench(dir.path(), "2K")
        .assert()
        .failure()
        .get_output()
        .clone();
    let (table, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(table.contains("do not fit on"), "{table}");
    assert!(err.contains("no row could be measured"), "{err}");
}

/// `--device-memory` takes sizes (`512M`, `2G`, bytes) and says what it expected
/// otherwise; `eval` has no such flag (its tiles take the default share of the device).
#[test]
fn device_memory_sizes_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.nabla"), PROBLEM).unwrap();
    std::fs::write(dir.path().join("x.json"), POINTS).unwrap();
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("nabla")
            .unwrap()
            .current_dir(dir.path())
            .args(args)
            .assert()
            .failure()
            .get_output()
            .clone();
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let bad = run(&["bench", "p.nabla", "--device-memory", "12X"]);
    assert!(
        bad.contains("expected a memory size such as 512M, 2G"),
        "{bad}"
    );
    let tiny = run(&["train", "p.nabla", "--device-memory", "100"]);
    assert!(tiny.contains("(at least 1K), found `100`"), "{tiny}");
    let eval = run(&[
        "eval",
        "p.nabla",
        "--points",
        "x.json",
        "--device-memory",
        "1G",
    ]);
    assert!(
        eval.contains("unexpected argument '--device-memory' found"),
        "{eval}"
    );
}
