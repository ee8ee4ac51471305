//! `nabla eval` on a Poisson problem and a multi-output inverse problem, against values
//! computed here independently: closed forms of a one-hidden-layer tanh network and of
//! its derivatives for the residuals and the loss, and f64 central finite differences of
//! that closed-form loss for the gradient.

use assert_cmd::Command;
use serde_json::{json, Value};
use std::path::Path;

/// A one-hidden-layer tanh MLP on two inputs, with `k` outputs.
#[derive(Clone)]
struct Net {
    w0: Vec<[f64; 2]>,
    b0: Vec<f64>,
    w1: Vec<Vec<f64>>,
    b1: Vec<f64>,
}

/// Value, ∂/∂x, ∂/∂y and Laplacian of output `j` at `(x, y)`:
/// `u = Σₒ W1[j,o] tanh(aₒ) + b1[j]`, `aₒ = W0[o]·(x, y) + b0[o]`,
/// `tanh' = 1 - t²`, `tanh'' = -2t(1 - t²)`.
fn eval(n: &Net, j: usize, x: f64, y: f64) -> [f64; 4] {
    let mut out = [n.b1[j], 0.0, 0.0, 0.0];
    for (o, w) in n.w0.iter().enumerate() {
        let t = (w[0] * x + w[1] * y + n.b0[o]).tanh();
        let c = n.w1[j][o];
        out[0] += c * t;
        out[1] += c * (1.0 - t * t) * w[0];
        out[2] += c * (1.0 - t * t) * w[1];
        out[3] += c * -2.0 * t * (1.0 - t * t) * (w[0] * w[0] + w[1] * w[1]);
    }
    out
}

fn net(hidden: usize, outputs: usize, salt: f64) -> Net {
    let v = |i: usize| (1.7 * i as f64 + salt).sin() * 0.9;
    Net {
        w0: (0..hidden).map(|o| [v(2 * o), v(2 * o + 1)]).collect(),
        b0: (0..hidden).map(|o| 0.3 * v(50 + o)).collect(),
        w1: (0..outputs)
            .map(|j| (0..hidden).map(|o| v(100 + 10 * j + o)).collect())
            .collect(),
        b1: (0..outputs).map(|j| 0.2 * v(200 + j)).collect(),
    }
}

fn net_json(n: &Net) -> Value {
    json!([{"W": n.w0, "b": n.b0}, {"W": n.w1, "b": n.b1}])
}

/// The parameters as one vector, in the order W0, b0, W1, b1 (row-major), and back.
fn flatten(n: &Net) -> Vec<f64> {
    let mut v: Vec<f64> = n.w0.iter().flatten().copied().collect();
    v.extend(&n.b0);
    v.extend(n.w1.iter().flatten());
    v.extend(&n.b1);
    v
}

fn unflatten(like: &Net, v: &[f64]) -> Net {
    let mut it = v.iter().copied();
    let mut n = like.clone();
    n.w0.iter_mut()
        .flatten()
        .for_each(|w| *w = it.next().unwrap());
    n.b0.iter_mut().for_each(|w| *w = it.next().unwrap());
    n.w1.iter_mut()
        .flatten()
        .for_each(|w| *w = it.next().unwrap());
    n.b1.iter_mut().for_each(|w| *w = it.next().unwrap());
    n
}

/// The gradient as JSON, flattened in the same order.
fn flatten_json(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    for layer in v.as_array().unwrap() {
        for key in ["W", "b"] {
            collect(&layer[key], &mut out);
        }
    }
    out
}

fn collect(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect(x, out)),
        x => out.push(x.as_f64().unwrap()),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    collect(v, &mut out);
    out
}

fn run_eval(dir: &Path, src: &str, params: &Value, points: &Value, extra: &[&str]) -> Value {
    std::fs::write(dir.join("p.nabla"), src).unwrap();
    std::fs::write(dir.join("params.json"), params.to_string()).unwrap();
    std::fs::write(dir.join("points.json"), points.to_string()).unwrap();
    let files = ["--params", "params.json", "--points", "points.json"];
    let (ok, out, err) = nabla(dir, &[&["eval", "p.nabla"][..], &files, extra].concat());
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

/// Central differences of `f` at `v`, step `h` per coordinate.
fn fd_grad(f: impl Fn(&[f64]) -> f64, v: &[f64], h: f64) -> Vec<f64> {
    (0..v.len())
        .map(|i| {
            let (mut a, mut b) = (v.to_vec(), v.to_vec());
            a[i] += h;
            b[i] -= h;
            (f(&a) - f(&b)) / (2.0 * h)
        })
        .collect()
}

const POISSON: &str = "problem poisson2d
input x in [0, 1]
input y in [0, 1]
net u(x, y) = mlp(widths = [4], act = tanh)
let f = 2 * pi^2 * sin(pi * x) * sin(pi * y)
points inner = interior(64)
points walls = boundary(16)
residual pde on inner = -lap(u) - f
residual bc on walls weight 10 = u
exact u = sin(pi * x) * sin(pi * y)
";

const INNER: [[f64; 2]; 3] = [[0.1, 0.2], [0.5, 0.5], [0.83, 0.31]];
const WALLS: [[f64; 2]; 2] = [[0.0, 0.3], [0.7, 1.0]];

/// Residuals and loss of [`POISSON`] in closed form.
fn poisson(n: &Net) -> (Vec<f64>, Vec<f64>, f64) {
    poisson_at(n, &INNER, &WALLS)
}

/// [`poisson`] at any points.
fn poisson_at(n: &Net, inner: &[[f64; 2]], walls: &[[f64; 2]]) -> (Vec<f64>, Vec<f64>, f64) {
    use std::f64::consts::PI;
    let pde: Vec<f64> = inner
        .iter()
        .map(|&[x, y]| -eval(n, 0, x, y)[3] - 2.0 * PI * PI * (PI * x).sin() * (PI * y).sin())
        .collect();
    let bc: Vec<f64> = walls.iter().map(|&[x, y]| eval(n, 0, x, y)[0]).collect();
    let ms = |r: &[f64]| r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64;
    let loss = ms(&pde) + 10.0 * ms(&bc);
    (pde, bc, loss)
}

#[test]
fn poisson_residuals_loss_and_gradient() {
    let dir = tempfile::tempdir().unwrap();
    let n = net(4, 1, 0.3);
    let params = json!({"u": net_json(&n)});
    let points = json!({"inner": INNER, "walls": WALLS});
    let (pde, bc, loss) = poisson(&n);
    let fd = fd_grad(|v| poisson(&unflatten(&n, v)).2, &flatten(&n), 1e-6);
    for backend in ["interp", "cpu"] {
        let out = run_eval(
            dir.path(),
            POISSON,
            &params,
            &points,
            &["--grad", "--backend", backend],
        );
        close(&floats(&out["residuals"]["pde"]), &pde, 1e-12, backend);
        close(&floats(&out["residuals"]["bc"]), &bc, 1e-12, backend);
        close(&[out["loss"].as_f64().unwrap()], &[loss], 1e-12, backend);
        close(&flatten_json(&out["grad"]["u"]), &fd, 1e-6, backend);
        assert_eq!(out["exprs"], json!({}));
    }
}

/// `n` points of `[0, 1]²` spread by an irrational rotation (no randomness to seed).
fn spread(n: usize, salt: f64) -> Vec<[f64; 2]> {
    let frac = |v: f64| v - v.floor();
    (0..n)
        .map(|i| {
            [
                frac(salt + 0.754_877_666 * i as f64),
                frac(0.569_840_290 * i as f64),
            ]
        })
        .collect()
}

/// Many points: the residuals, loss and gradient run in tiles of a few hundred points
/// (as training runs them) and an expression in chunks of 16,384; every value is still
/// the closed form's.
#[test]
fn many_points_run_in_tiles_and_chunks_with_the_closed_forms_values() {
    let dir = tempfile::tempdir().unwrap();
    let n = net(4, 1, 0.7);
    let (inner, walls, grid) = (spread(3000, 0.1), spread(700, 0.3), spread(40_000, 0.5));
    let params = json!({"u": net_json(&n)});
    let points = json!({"inner": inner, "walls": walls, "v": grid});
    let (pde, bc, loss) = poisson_at(&n, &inner, &walls);
    let fd = fd_grad(
        |v| poisson_at(&unflatten(&n, v), &inner, &walls).2,
        &flatten(&n),
        1e-6,
    );
    let extra = ["--grad", "--backend", "cpu", "--expr", "v=u"];
    let out = run_eval(dir.path(), POISSON, &params, &points, &extra);
    close(&floats(&out["residuals"]["pde"]), &pde, 1e-12, "pde");
    close(&floats(&out["residuals"]["bc"]), &bc, 1e-12, "bc");
    close(&[out["loss"].as_f64().unwrap()], &[loss], 1e-12, "loss");
    close(&flatten_json(&out["grad"]["u"]), &fd, 1e-6, "grad");
    let u: Vec<f64> = grid.iter().map(|&[x, y]| eval(&n, 0, x, y)[0]).collect();
    close(&floats(&out["exprs"]["v"]), &u, 1e-12, "expr");
}

/// A sampled Laplacian with one ±1 direction per point is `lap u ± 2 u_xy`: at 20,000
/// copies of one point (two chunks of an expression) every value is one of those two,
/// and the second chunk's directions are its own, not the first chunk's again.
#[test]
fn sampled_expressions_draw_every_rows_own_direction_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let n = net(4, 1, 0.2);
    let params = json!({"u": net_json(&n)});
    let copies = vec![[0.3, 0.6]; 20_000];
    let points = json!({"inner": INNER, "walls": WALLS, "s": copies, "l": [[0.3, 0.6]]});
    let extra = ["--expr", "s=lap(u; sample = 1)", "--expr", "l=lap(u)"];
    let out = run_eval(dir.path(), POISSON, &params, &points, &extra);
    let (s, lap) = (floats(&out["exprs"]["s"]), floats(&out["exprs"]["l"])[0]);
    assert_eq!(s.len(), 20_000);
    let spread = (s[0] - lap).abs();
    assert!(spread > 1e-6, "u_xy is not zero here: {spread}");
    for v in &s {
        assert!(
            ((v - lap).abs() - spread).abs() <= 1e-9 * spread,
            "{v} vs {lap} ± {spread}"
        );
    }
    let same = (0..20_000 - 16_384)
        .filter(|&j| s[j] == s[16_384 + j])
        .count();
    assert!(
        same < 2200,
        "{same} of 3616 rows repeat the first chunk's directions"
    );
    assert!(
        same > 1400,
        "{same} of 3616: the signs are not drawn independently"
    );
}

#[test]
fn f32_and_finite_difference_evaluation_stay_close_to_f64() {
    let dir = tempfile::tempdir().unwrap();
    let n = net(4, 1, 0.3);
    let params = json!({"u": net_json(&n)});
    let points = json!({"inner": INNER, "walls": WALLS});
    let (pde, _, loss) = poisson(&n);
    let out = run_eval(dir.path(), POISSON, &params, &points, &["--dtype", "f32"]);
    close(&floats(&out["residuals"]["pde"]), &pde, 1e-4, "f32");
    let out = run_eval(dir.path(), POISSON, &params, &points, &["--derivs", "fd"]);
    close(&[out["loss"].as_f64().unwrap()], &[loss], 1e-5, "fd");
}

/// `--threads N` changes how the CPU backend splits the work, not the numbers: with 1, 2 and
/// 3 threads on 4096 points the loss and gradient agree with the f64 interpreter's; 0
/// threads is refused by name.
#[test]
fn thread_counts_give_the_interpreters_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let n = net(4, 1, 0.3);
    let params = json!({"u": net_json(&n)});
    let grid: Vec<[f64; 2]> = (0..4096)
        .map(|i| [(i % 64) as f64 / 63.0, (i / 64) as f64 / 63.0])
        .collect();
    let points = json!({"inner": grid, "walls": WALLS});
    let run = |extra: &[&str]| {
        let out = run_eval(
            dir.path(),
            POISSON,
            &params,
            &points,
            &[&["--grad"], extra].concat(),
        );
        let loss = out["loss"].as_f64().unwrap();
        (loss, flatten_json(&out["grad"]["u"]))
    };
    let (loss, grad) = run(&["--backend", "interp"]);
    for t in ["1", "2", "3"] {
        let (l, g) = run(&["--threads", t]);
        close(&[l], &[loss], 1e-12, t);
        close(&g, &grad, 1e-10, t);
    }
    let (ok, _, err) = nabla(
        dir.path(),
        &[
            "eval",
            "p.nabla",
            "--points",
            "points.json",
            "--threads",
            "0",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("expected a whole number of threads from 1 to 1024, found `0`"),
        "{err}"
    );
}

const STOKES: &str = "problem inverse
input x in [0, 1]
input y in [0, 1]
param mu = 0.5
net flow(x, y) -> (u, v) = mlp(widths = [3], act = tanh, seed = 1)
points inner = interior(100)
points edge = face(y = 0, 10)
residual mom on inner = d(u, x) - mu * v^2
residual edge on edge weight 2 = u(x, 1 - x) - at(d(v, y); y = x^2)
";

/// Residuals and loss of [`STOKES`] in closed form (`inner` at [`INNER`], `edge` at
/// [`WALLS`]).
fn stokes(n: &Net, mu: f64) -> (Vec<f64>, Vec<f64>, f64) {
    let mom: Vec<f64> = INNER
        .iter()
        .map(|&[x, y]| eval(n, 0, x, y)[1] - mu * eval(n, 1, x, y)[0].powi(2))
        .collect();
    let edge: Vec<f64> = WALLS
        .iter()
        .map(|&[x, _]| eval(n, 0, x, 1.0 - x)[0] - eval(n, 1, x, x * x)[2])
        .collect();
    let ms = |r: &[f64]| r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64;
    (mom.clone(), edge.clone(), ms(&mom) + 2.0 * ms(&edge))
}

#[test]
fn multi_output_inverse_problem_with_param_gradient_and_expressions() {
    let dir = tempfile::tempdir().unwrap();
    let n = net(3, 2, 1.1);
    let mu = 0.7;
    let params = json!({"flow": net_json(&n), "mu": mu});
    let points = json!({"inner": INNER, "edge": WALLS, "q": [[0.25, 0.5]]});
    let (mom, edge, loss) = stokes(&n, mu);
    let mut theta = flatten(&n);
    theta.push(mu);
    let f = |v: &[f64]| stokes(&unflatten(&n, v), v[v.len() - 1]).2;
    let fd = fd_grad(f, &theta, 1e-6);
    let extra = ["--grad", "--expr", "q=lap(v) + d(u, x, y)"];
    let out = run_eval(dir.path(), STOKES, &params, &points, &extra);
    close(&floats(&out["residuals"]["mom"]), &mom, 1e-12, "mom");
    close(&floats(&out["residuals"]["edge"]), &edge, 1e-12, "edge");
    close(&[out["loss"].as_f64().unwrap()], &[loss], 1e-12, "loss");
    let mut grad = flatten_json(&out["grad"]["flow"]);
    grad.push(out["grad"]["mu"].as_f64().unwrap());
    close(&grad, &fd, 1e-6, "grad");
    // u_xy of the closed form by central differences of u_x in y.
    let (x, y, h) = (0.25, 0.5, 1e-5);
    let uxy = (eval(&n, 0, x, y + h)[1] - eval(&n, 0, x, y - h)[1]) / (2.0 * h);
    let want = eval(&n, 1, x, y)[3] + uxy;
    close(&floats(&out["exprs"]["q"]), &[want], 1e-8, "expr");
}

/// `eval --jacobian` (`cli.md`, extensions): every `G_i` against central differences of
/// the closed-form residual value, and `Σ_R W_R/N_R Σᵢ 2 rᵢ Gᵢ` against `grad`.
#[test]
fn residual_jacobians_match_central_differences_and_sum_to_the_gradient() {
    let dir = tempfile::tempdir().unwrap();
    let n = net(3, 2, 1.1);
    let mu = 0.7;
    let params = json!({"flow": net_json(&n), "mu": mu});
    let points = json!({"inner": INNER, "edge": WALLS});
    let mut theta = flatten(&n);
    theta.push(mu);
    let flat = |g: &Value| {
        let mut v = flatten_json(&g["flow"]);
        v.push(g["mu"].as_f64().unwrap());
        v
    };
    for backend in ["interp", "cpu"] {
        let extra = ["--grad", "--jacobian", "--backend", backend];
        let out = run_eval(dir.path(), STOKES, &params, &points, &extra);
        let mut sum = vec![0.0; theta.len()];
        for (set, weight, part) in [("mom", 1.0, 0), ("edge", 2.0, 1)] {
            let rows = out["jacobian"][set].as_array().unwrap();
            let r = floats(&out["residuals"][set]);
            assert_eq!(rows.len(), r.len(), "{set}: one G per residual value");
            for (i, g) in rows.iter().enumerate() {
                let g = flat(g);
                let value = |v: &[f64]| {
                    let (mom, edge, _) = stokes(&unflatten(&n, v), v[v.len() - 1]);
                    [mom, edge][part][i]
                };
                close(
                    &g,
                    &fd_grad(value, &theta, 1e-6),
                    1e-6,
                    &format!("{backend} {set}[{i}]"),
                );
                let c = weight / r.len() as f64 * 2.0 * r[i];
                sum.iter_mut().zip(&g).for_each(|(s, gi)| *s += c * gi);
            }
        }
        let mut grad = flatten_json(&out["grad"]["flow"]);
        grad.push(out["grad"]["mu"].as_f64().unwrap());
        close(
            &sum,
            &grad,
            1e-12,
            &format!("{backend}: Σ 2 W/N r G vs grad"),
        );
    }
}

/// A folder holding the Stokes problem (`p.nabla`) and points for it (`points.json`).
fn stokes_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.nabla"), STOKES).unwrap();
    let points = json!({"inner": INNER, "edge": WALLS});
    std::fs::write(dir.path().join("points.json"), points.to_string()).unwrap();
    dir
}

/// `nabla eval` of [`stokes_dir`]'s problem and points on the interpreter.
const STOKES_EVAL: [&str; 6] = [
    "eval",
    "p.nabla",
    "--points",
    "points.json",
    "--backend",
    "interp",
];

#[test]
fn written_initialisation_is_the_default_and_round_trips() {
    let dir = stokes_dir();
    let d = dir.path();
    let eval = |args: &[&str]| {
        let (ok, out, err) = nabla(d, &[&STOKES_EVAL[..], args].concat());
        assert!(ok, "{err}");
        if out.is_empty() {
            return Value::Null;
        }
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let a = eval(&["--write-params", "init.json", "--output", "a.json"]);
    assert_eq!(a, Value::Null, "with --output nothing goes to stdout");
    let b = eval(&["--params", "init.json"]);
    let a: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("a.json")).unwrap()).unwrap();
    assert_eq!(a, b);
    let init: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("init.json")).unwrap()).unwrap();
    assert_eq!(init["mu"], json!(0.5));
    // Layer 0 of flow maps 2 inputs to 3 units: W is 3 rows of 2; biases start at zero.
    let w0 = init["flow"][0]["W"].as_array().unwrap();
    assert_eq!((w0.len(), w0[0].as_array().unwrap().len()), (3, 2));
    assert_eq!(init["flow"][1]["b"], json!([0.0, 0.0]));
}

/// `--output` and `--write-params` are written both or neither: a result that cannot be
/// written (a folder in its place) leaves no parameters file behind, and one file named
/// for both is a usage error (status 2) rather than the parameters silently replaced.
#[test]
fn eval_writes_both_files_or_neither() {
    let dir = stokes_dir();
    let d = dir.path();
    std::fs::create_dir(d.join("taken")).unwrap();
    let run = |extra: &[&str]| {
        Command::cargo_bin("nabla")
            .unwrap()
            .current_dir(d)
            .args(STOKES_EVAL)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--write-params", "init.json", "--output", "taken"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("writing taken"), "{err}");
    assert!(
        !d.join("init.json").exists(),
        "no parameters without the result"
    );
    for other in ["same.json", "./same.json", "taken/../same.json"] {
        let out = run(&["--write-params", "same.json", "--output", other]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{other}: {err}");
        let both = format!("--output and --write-params both name {other}");
        assert!(err.contains(&both), "{err}");
        assert!(!d.join("same.json").exists());
    }
}

/// `--output /dev/stdout` writes to standard output as it is: appended to a file the
/// shell appends to (`>> log.json`), not a new file renamed over it.
#[cfg(unix)]
#[test]
fn output_to_standard_output_appends_where_it_goes() {
    let dir = stokes_dir();
    let log = dir.path().join("log.json");
    std::fs::write(&log, "old\n").unwrap();
    let appended = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("nabla"))
        .current_dir(dir.path())
        .args(STOKES_EVAL)
        .args(["--output", "/dev/stdout"])
        .stdout(appended)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    assert_eq!(first, "old", "{text}");
    let v: Value = serde_json::from_str(rest).unwrap();
    assert!(v["loss"].as_f64().is_some(), "{rest}");
}

fn nabla(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("nabla")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), s(&out.stdout), s(&out.stderr))
}

#[test]
fn dump_ir_prints_the_traced_and_expanded_graphs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.nabla"), POISSON).unwrap();
    let (ok, out, _) = nabla(dir.path(), &["dump-ir", "p.nabla", "--stage", "traced"]);
    assert!(ok);
    assert!(out.starts_with("== traced: "), "{out}");
    assert!(out.contains("laplacian"), "{out}");
    assert!(out.contains("input \"inner.x\" : f64[64,1]"), "{out}");
    let (ok, out, _) = nabla(dir.path(), &["dump-ir", "p.nabla", "--stage", "ad"]);
    assert!(ok);
    assert!(
        out.contains("FLOPs per point") && !out.contains("laplacian"),
        "{out}"
    );
    let (ok, out, err) = nabla(
        dir.path(),
        &[
            "dump-ir",
            "p.nabla",
            "--expr",
            "g=d(u, x)",
            "--format",
            "dot",
            "--stage",
            "traced",
        ],
    );
    assert!(ok);
    // DOT on stdout is the graph alone; its header goes to stderr.
    assert!(
        out.starts_with("digraph nabla {\n") && out.ends_with("}\n"),
        "{out}"
    );
    let nodes = (out.lines())
        // A graph node's line starts with its id (`out0` lines are the outputs).
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .filter(|l| !l.contains(" -> "))
        .count();
    assert_eq!(err, format!("--expr g: traced: {nodes} nodes\n"));
}

#[test]
fn help_shows_examples() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["eval", "dump-ir"] {
        let (ok, out, _) = nabla(dir.path(), &[cmd, "--help"]);
        assert!(
            ok && out.contains("Example") && out.contains(&format!("nabla {cmd} ")),
            "{out}"
        );
    }
}

/// Points inside the unit square / the Burgers box, a few per set.
fn example_points(name: &str) -> Value {
    match name {
        "poisson2d" => json!({"inner": INNER, "walls": WALLS}),
        "burgers" => json!({
            "inner": [[0.2, -0.5], [0.7, 0.3], [0.9, 0.95]],
            "start": [[0.0, -0.25], [0.0, 0.6]],
            "sides": [[0.4, -1.0], [0.8, 1.0]],
        }),
        _ => json!({"inner": INNER}),
    }
}

/// The specification's examples evaluate, with their seeded initialisation, to the same
/// residuals, loss and gradient on the JIT as on the f64 interpreter.
#[test]
fn specification_examples_evaluate_alike_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["poisson2d", "burgers", "stokes_inverse"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("frontend/tests/lang_examples/{name}.nabla"));
        std::fs::copy(src, d.join("p.nabla")).unwrap();
        std::fs::write(d.join("points.json"), example_points(name).to_string()).unwrap();
        let run = |backend: &str| {
            let (ok, out, err) = nabla(
                d,
                &[
                    "eval",
                    "p.nabla",
                    "--points",
                    "points.json",
                    "--grad",
                    "--backend",
                    backend,
                ],
            );
            assert!(ok, "{name} on {backend}: {err}");
            serde_json::from_str::<Value>(&out).unwrap()
        };
        let (a, b) = (run("interp"), run("cpu"));
        let (fa, fb) = (floats(&a), floats(&b));
        assert!(fa.iter().all(|v| v.is_finite()) && fa.len() > 10, "{name}");
        close(&fb, &fa, 1e-9, name);
    }
}

/// Every problem file of the repository (examples and benchmark objectives) loads without
/// warnings, has residuals, and its objective with gradient traces to a graph that
/// verifies.
#[test]
fn every_problem_file_of_the_repository_loads_and_traces() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["examples", "benches/problems"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for path in entries.map(|e| e.unwrap().path()) {
            if path.extension().is_none_or(|e| e != "nabla") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            let l = nabla::frontend::lang::load(&path.display().to_string(), &src)
                .unwrap_or_else(|d| panic!("{}", d.render()));
            assert_eq!(l.warnings.render_errors(), "", "{}", path.display());
            l.require_residuals().unwrap();
            let p = &l.problem;
            let sizes: Vec<(String, usize)> =
                p.point_sets.iter().map(|s| (s.name.clone(), 4)).collect();
            let obj = p.objective(&sizes, nabla::ir::DType::F64, true).unwrap();
            nabla::ir::verify(&obj.graph).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n > 0, "no problem files found");
}

/// An `--expr` may not take a name the problem already gives a meaning (it would stand
/// beside it: `inner` beside the point set's points, `pde` beside the residual).
#[test]
fn expression_names_are_new_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.nabla"), POISSON).unwrap();
    let points = r#"{"inner": [[0.1, 0.2]], "walls": [[0.0, 0.3]], "g": [[0.5, 0.5]]}"#;
    std::fs::write(dir.path().join("x.json"), points).unwrap();
    for (name, what) in [
        ("x", "an input of the problem"),
        ("u", "a network output of the problem"),
        ("f", "a let of the problem"),
        ("inner", "a point set of the problem"),
        ("pde", "a residual of the problem"),
    ] {
        let expr = format!("{name}=lap(u)");
        let (ok, out, err) = nabla(
            dir.path(),
            &["eval", "p.nabla", "--points", "x.json", "--expr", &expr],
        );
        assert!(!ok && out.is_empty(), "{name}: {out}");
        let want = format!("error: --expr `{expr}`: `{name}` is {what}; choose a new name\n");
        assert_eq!(err, want);
    }
    let (ok, _, err) = nabla(
        dir.path(),
        &[
            "eval", "p.nabla", "--points", "x.json", "--expr", "g=lap(u)",
        ],
    );
    assert!(ok, "{err}");
    // two of one name: said so, not that the name is malformed
    let (ok, _, err) = nabla(
        dir.path(),
        &[
            "eval", "p.nabla", "--points", "x.json", "--expr", "g=lap(u)", "--expr", "g=u",
        ],
    );
    assert!(!ok);
    let want = "error: --expr `g=u`: another --expr is named `g`; give each its own name\n";
    assert_eq!(err, want);
}
