//! Input embeddings (`periodic = [..]`, `fourier = M, sigma = S`): a periodic net and all
//! its x-derivatives match at the ends of the interval to rounding; derivatives through
//! the embeddings agree with central differences; the Fourier matrix is drawn from the
//! net's seed, written to params.json, and read back so that a trained net is evaluated
//! with the features it was trained with, by the library and by `nabla eval`.

use nabla::data::with_embeddings;
use nabla::frontend::lang::{self, Loaded};
use nabla::frontend::problem::Problem;
use nabla::train::accuracy::{evaluate, Grid};
use nabla::train::layout::Layout;
use nabla::train::model::Model;
use nabla::{OptimizerKind, Options, Training};
use serde_json::{json, Value};

fn load(name: &str) -> Loaded {
    let path = format!("{}/examples/{name}.nabla", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).unwrap();
    lang::load(&path, &src).unwrap_or_else(|d| panic!("{}", d.render()))
}

/// θ at initialisation, moved off zero so that every bias matters.
fn theta_of(problem: &Problem) -> (Layout, Vec<f64>) {
    let (model, theta, _) = Model::compile(problem, &Options::interp()).unwrap();
    let theta = (theta.iter().enumerate())
        .map(|(i, t)| t + 0.1 * ((i * 7 % 13) as f64 - 6.0) / 6.0)
        .collect();
    (model.layout().clone(), theta)
}

/// The expression `src` of the file on its evaluation grid, in f64.
fn values(l: &Loaded, problem: &Problem, src: &str, at: &(Layout, Vec<f64>)) -> Vec<f64> {
    let f = l
        .expression("test", src)
        .unwrap_or_else(|d| panic!("{}", d.render()));
    evaluate(problem, &f, &at.0, &at.1, &Grid::of(problem)).unwrap()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[test]
fn a_periodic_net_matches_at_both_ends_to_rounding() {
    let l = load("allen_cahn_periodic");
    let p = &l.problem;
    let at = theta_of(p);
    let scale = max_abs(&values(&l, p, "u", &at)).max(1.0);
    for (what, src) in [
        ("u", "u(t, -1) - u(t, 1)"),
        ("u_x", "at(d(u, x); x = -1) - at(d(u, x); x = 1)"),
        ("u_xx", "at(d(u, x, x); x = -1) - at(d(u, x, x); x = 1)"),
        (
            "u_xxx",
            "at(d(u, x, x, x); x = -1) - at(d(u, x, x, x); x = 1)",
        ),
    ] {
        let gap = max_abs(&values(&l, p, src, &at));
        let size = max_abs(&values(&l, p, &src.replace(" - ", " + "), &at));
        // tolerance: cos/sin of 2π·(x+1)/2 at x = 1 differ from x = -1 by an ulp of 2π
        assert!(
            gap <= 1e-12 * size.max(scale),
            "{what}: gap {gap:e} of {size:e}"
        );
        assert!(size > 1e-3, "{what} is not trivially zero ({size:e})");
    }
    // Without the embedding the same net is not periodic.
    let plain = load("allen_cahn");
    let at = theta_of(&plain.problem);
    let gap = max_abs(&values(&plain, &plain.problem, "u(t, -1) - u(t, 1)", &at));
    assert!(gap > 1e-3, "{gap}");
}

/// `d(u, x)` and `d(u, x, x)` through the periodic and the Fourier embedding against
/// central differences in f64.
#[test]
fn derivatives_through_embeddings_agree_with_central_differences() {
    for (name, args) in [("allen_cahn_periodic", "t, "), ("multiscale_fourier", "")] {
        let l = load(name);
        let p = &l.problem;
        let at = theta_of(p);
        let u = |dx: f64| format!("u({args}x + {dx:e})");
        let (h1, h2) = (1e-5, 1e-4);
        let fd1 = format!("({} - {}) / (2 * {h1:e})", u(h1), u(-h1));
        let fd2 = format!("({} - 2 * u + {}) / ({h2:e}^2)", u(h2), u(-h2));
        for (exact, fd, tol) in [("d(u, x)", fd1, 1e-6), ("d(u, x, x)", fd2, 1e-4)] {
            let want = values(&l, p, &fd, &at);
            let got = values(&l, p, exact, &at);
            let scale = max_abs(&got);
            // tolerance: O(h²) truncation times the third/fourth derivative's size (the
            // Fourier net has frequencies up to ~100), plus rounding 1e-16/h (first) and
            // 1e-16/h² (second), relative to the values
            let err = (got.iter().zip(&want)).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= tol * scale,
                "{name} {exact}: error {err:e} of {scale:e}"
            );
        }
    }
}

#[test]
fn the_fourier_matrix_comes_from_the_seed_and_goes_to_params_json() {
    let l = load("multiscale_fourier");
    let net = &l.problem.nets[0];
    let b = net.fourier_matrix().unwrap();
    assert_eq!(b.shape.dims(), [64, 1]);
    assert_eq!(
        net.mlp.widths[0], 128,
        "cosines and sines of 64 frequencies"
    );
    // sigma = 5: the sample standard deviation of 64 normals lies within 25% of it with
    // probability ≈ 0.99.
    let sd = (b.data.iter().map(|x| x * x).sum::<f64>() / 64.0).sqrt();
    assert!((3.75..6.25).contains(&sd), "{sd}");
    let mut other = net.clone();
    other.seed += 1;
    assert_ne!(other.fourier_matrix().unwrap(), b);
    let trained = nabla::train(
        &l.problem,
        &Training::new(OptimizerKind::Adam)
            .steps(5)
            .seed(3)
            .dtype(nabla::ir::DType::F64),
    )
    .unwrap();
    let json = trained.params_json();
    let stored = json["u.fourier"].as_array().unwrap();
    assert_eq!((stored.len(), stored[0].as_array().unwrap().len()), (64, 1));
    let seeded = trained.problem.nets[0].fourier_matrix().unwrap();
    assert_eq!(stored[7][0].as_f64().unwrap(), seeded.data[7]);
    assert_ne!(
        seeded, b,
        "--seed 3 draws other frequencies than the file's seed 0"
    );
}

/// The net trained with `--seed 3` evaluated from its params.json with the file (seed 0):
/// by the library (`with_embeddings`) and by `nabla eval`, equal to the trained net itself.
#[test]
fn a_trained_fourier_net_is_evaluated_with_its_own_features() {
    let l = load("multiscale_fourier");
    let t = Training::new(OptimizerKind::Adam)
        .steps(5)
        .seed(3)
        .dtype(nabla::ir::DType::F64);
    let trained = nabla::train(&l.problem, &t).unwrap();
    let json = trained.params_json();
    let truth = values(
        &l,
        &trained.problem,
        "u",
        &(trained.layout.clone(), trained.result.theta.clone()),
    );
    let restored = with_embeddings(&l.problem, &json).unwrap();
    let theta = trained.result.theta.clone();
    let again = values(&l, &restored, "u", &(trained.layout.clone(), theta.clone()));
    assert_eq!(truth, again);
    let unseeded = values(&l, &l.problem, "u", &(trained.layout.clone(), theta));
    assert!(
        max_abs(
            &unseeded
                .iter()
                .zip(&truth)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>()
        ) > 1e-3
    );

    // The same through `nabla eval --params`.
    let dir = tempfile::tempdir().unwrap();
    let params = dir.path().join("params.json");
    std::fs::write(&params, serde_json::to_string(&json).unwrap()).unwrap();
    let grid = Grid::of(&l.problem).rows;
    let points = dir.path().join("points.json");
    let pts = json!({"inner": grid, "ends": [[0.0], [1.0]], "uu": grid});
    std::fs::write(&points, pts.to_string()).unwrap();
    let written = dir.path().join("written.json");
    let out = assert_cmd::Command::cargo_bin("nabla")
        .unwrap()
        .arg("eval")
        .arg(format!(
            "{}/examples/multiscale_fourier.nabla",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args([
            "--dtype",
            "f64",
            "--backend",
            "interp",
            "--expr",
            "uu=u",
            "--grad",
            "--write-params",
            written.to_str().unwrap(),
            "--params",
        ])
        .arg(&params)
        .arg("--points")
        .arg(&points)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<f64> = (v["exprs"]["uu"].as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(got, truth);
    // The parameters written back keep the features; a gradient has none.
    let back = std::fs::read_to_string(&written).unwrap();
    let back: Value = serde_json::from_str(&back).unwrap();
    assert_eq!(back["u.fourier"], json["u.fourier"]);
    assert!(v["grad"].get("u.fourier").is_none(), "{}", v["grad"]);

    // A matrix of the wrong shape is an error naming the key and both shapes.
    let mut bad = json.clone();
    bad["u.fourier"] = json!([[1.0, 2.0]]);
    let e = with_embeddings(&l.problem, &bad).err().unwrap().to_string();
    assert!(
        e.contains("`u.fourier` has shape [1,2], net `u` needs [64,1]"),
        "{e}"
    );
}
