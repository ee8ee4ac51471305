//! The residual Jacobian `J = ∂r/∂θ` (`jacobian.R`, the per-point reverse sweep): against
//! the loss gradient (`Σ_R W_R/N_R · Σᵢ 2 rᵢ Jᵢ = ∂loss/∂θ`), against f64 central
//! differences of the residuals in every parameter, across every exact derivative method,
//! and on the JIT and OpenCL against the interpreter.

mod opencl_check;

use nabla::frontend::lang;
use nabla::frontend::problem::Problem;
use nabla::ir::{DType, Method};
use nabla::train::lbfgs::LbfgsStep;
use nabla::train::lm::{GaussNewton, LeastSquares, Lm, Residuals, SystemPlan};
use nabla::train::model::Model;
use nabla::train::Objective;
use nabla::train::TrainError;
use nabla::{Backend, Options};

/// Second derivatives, a mixed partial, a trainable scalar inside the PDE (through `exp`)
/// and a weighted boundary residual: every way θ reaches a residual.
const SRC: &str = "\
input x in [0, 1]
input y in [0, 1]
param k = 0.7
net u(x, y) = mlp(widths = [6, 5], act = tanh, seed = 3)
points inner = interior(9)
points walls = boundary(6)
residual pde on inner = exp(k) * lap(u) + k^2 * d(u, x, y) - sin(pi * x) * u
residual bc on walls weight 10 = u - x * y
";

fn problem() -> Problem {
    lang::load("jac.nabla", SRC)
        .unwrap_or_else(|d| panic!("{}", d.render()))
        .problem
}

/// The least-squares form and loss gradient at the initial θ, with θ moved off zero so that
/// every bias matters.
fn at_init(model: &mut Model<'_>, theta: &[f64]) -> (LeastSquares, Vec<f64>, f64) {
    let mut grad = vec![0.0; theta.len()];
    let loss = model.eval(theta, &mut grad).unwrap();
    (model.least_squares(theta).unwrap(), grad, loss)
}

fn compiled<'p>(p: &'p Problem, opts: &Options) -> (Model<'p>, Vec<f64>) {
    let (mut m, theta, _) = Model::compile(p, opts).unwrap();
    m.add_jacobian(opts).unwrap();
    m.bind_points(5).unwrap();
    let theta: Vec<f64> = (theta.iter().enumerate())
        .map(|(i, t)| t + 0.05 * ((i * 7 % 11) as f64 - 5.0) / 5.0)
        .collect();
    (m, theta)
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = max_abs(want).max(1e-300);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{i}]: {g} vs {w} (tolerance {tol} of {scale})"
        );
    }
}

#[test]
fn jacobian_rows_sum_to_the_loss_gradient() {
    let p = problem();
    let (mut m, theta) = compiled(&p, &Options::interp());
    let (ls, grad, loss) = at_init(&mut m, &theta);
    assert_eq!(ls.cols, theta.len());
    assert_eq!(ls.r.len(), 9 + 6);
    let sq: f64 = ls.r.iter().map(|r| r * r).sum();
    assert!(
        (sq - loss).abs() <= 1e-12 * loss,
        "‖r‖² {sq} vs loss {loss}"
    );
    // ∂‖r‖²/∂θ = 2 Jᵀr
    let mut jtr = vec![0.0; ls.cols];
    for (i, r) in ls.r.iter().enumerate() {
        for (c, g) in jtr.iter_mut().enumerate() {
            *g += 2.0 * r * ls.j[i * ls.cols + c];
        }
    }
    assert_close(&jtr, &grad, 1e-12, "2Jᵀr vs grad");
}

#[test]
fn jacobian_matches_central_differences_in_every_parameter() {
    let p = problem();
    let (mut m, theta) = compiled(&p, &Options::interp());
    let (ls, _, _) = at_init(&mut m, &theta);
    let h = 1e-5;
    for c in 0..ls.cols {
        let mut t = theta.clone();
        t[c] = theta[c] + h;
        let plus = m.least_squares(&t).unwrap().r;
        t[c] = theta[c] - h;
        let minus = m.least_squares(&t).unwrap().r;
        let fd: Vec<f64> = (plus.iter().zip(&minus))
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        let col: Vec<f64> = (0..ls.r.len()).map(|i| ls.j[i * ls.cols + c]).collect();
        let scale = max_abs(&col).max(1e-3);
        for (i, (a, b)) in col.iter().zip(&fd).enumerate() {
            assert!(
                (a - b).abs() <= 1e-7 * scale.max(1.0),
                "J[{i}, {c}] = {a}, central difference {b}"
            );
        }
    }
}

#[test]
fn every_exact_method_gives_the_same_jacobian() {
    let p = problem();
    let (mut m, theta) = compiled(&p, &Options::interp());
    let want = at_init(&mut m, &theta).0;
    for method in Method::EXACT {
        let opts = Options::new(Backend::Interp, DType::F64, Some(method));
        let (mut m, _) = compiled(&p, &opts);
        let got = at_init(&mut m, &theta).0;
        assert_close(&got.j, &want.j, 1e-12, &method.name());
    }
}

fn backend_matches_interp(backend: Backend) {
    let p = problem();
    let (mut m, theta) = compiled(&p, &Options::interp());
    let want = at_init(&mut m, &theta).0;
    let (mut m, _) = compiled(&p, &Options::new(backend, DType::F64, None));
    let got = at_init(&mut m, &theta).0;
    assert_close(&got.r, &want.r, 1e-12, "r");
    assert_close(&got.j, &want.j, 1e-12, "J");
    // f32 to its rounding.
    let (mut m, _) = compiled(&p, &Options::new(backend, DType::F32, None));
    let got = at_init(&mut m, &theta).0;
    assert_close(&got.j, &want.j, 1e-4, "J in f32");
}

#[test]
fn the_jit_computes_the_interpreters_jacobian() {
    backend_matches_interp(Backend::Cranelift);
}

#[test]
fn opencl_computes_the_interpreters_jacobian() {
    if opencl_check::opencl_available() {
        backend_matches_interp(Backend::OpenCl);
    }
}

/// `Jᵀw` from a kept `J`, row by row.
fn transpose_times(ls: &LeastSquares, w: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; ls.cols];
    for (row, wi) in ls.j.chunks_exact(ls.cols).zip(w) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += v * wi);
    }
    out
}

/// [`SRC`] with more residual values (90) than parameters (60): parameter space.
fn tall() -> Problem {
    let src = SRC
        .replace("interior(9)", "interior(60)")
        .replace("boundary(6)", "boundary(30)");
    lang::load("tall.nabla", &src)
        .unwrap_or_else(|d| panic!("{}", d.render()))
        .problem
}

#[test]
fn the_system_added_up_over_tiles_is_the_one_from_the_whole_jacobian() {
    let p = tall();
    let opts = Options::new(Backend::Cranelift, DType::F64, None);
    let (mut m, theta) = compiled(&p, &opts);
    assert!(m.tiling().tiles > 1, "several tiles to add up");
    // parameter space is added up by tiles, keeping a small J; point space (fewer values)
    // takes the whole J
    assert_eq!(m.system_plan(), Some(SystemPlan::Tiles { keep_j: true }));
    let short = problem();
    let plan = compiled(&short, &opts).0.system_plan();
    assert_eq!(plan, Some(SystemPlan::Whole));
    let ls = m.least_squares(&theta).unwrap();
    assert!(ls.r.len() >= ls.cols);
    let whole = GaussNewton::keeping(ls.clone());
    let sq: f64 = ls.r.iter().map(|r| r * r).sum();
    for keep_j in [false, true] {
        let (loss, added) = m.tiled_gauss_newton(&theta, keep_j).unwrap();
        assert!((loss - sq).abs() <= 1e-13 * sq, "loss {loss} vs ‖r‖² {sq}");
        assert_close(added.gradient(), whole.gradient(), 1e-13, "Jᵀr");
        assert_close(added.scaling(), whole.scaling(), 1e-13, "D");
        for lambda in [1e-3, 1.0] {
            let (a, b) = (added.solve(lambda).unwrap(), whole.solve(lambda).unwrap());
            assert_close(&a, &b, 1e-9, &format!("step at λ = {lambda}"));
        }
        assert_eq!(added.keeps_jacobian(), keep_j);
        // the rows kept are J's, to the bit
        assert_eq!(added.into_jacobian(), keep_j.then(|| ls.j.clone()));
    }
    // Jᵀw tile by tile
    let w: Vec<f64> = (0..ls.r.len())
        .map(|i| ((i * 5 % 7) as f64 - 3.0) / 3.0)
        .collect();
    let got = m.jacobian_transpose_times(&theta, &w).unwrap();
    assert_close(&got, &transpose_times(&ls, &w), 1e-13, "Jᵀw");
    let short = m.jacobian_transpose_times(&theta, &w[1..]);
    assert!(
        matches!(short, Err(TrainError::GradLength { .. })),
        "{short:?}"
    );
}

#[test]
fn lm_trains_the_same_by_every_plan() {
    let p = tall();
    let opts = Options::new(Backend::Cranelift, DType::F64, None);
    let plans = [
        SystemPlan::Whole,
        SystemPlan::Tiles { keep_j: true },
        SystemPlan::Tiles { keep_j: false },
    ];
    let mut models: Vec<(Model<'_>, Vec<f64>)> = (plans.iter())
        .map(|plan| {
            let (mut m, theta) = compiled(&p, &opts);
            m.set_system_plan(*plan).unwrap();
            let (_, gn) = Residuals::gauss_newton(&mut m, &theta).unwrap();
            let keeps = *plan != SystemPlan::Tiles { keep_j: false };
            assert_eq!(gn.keeps_jacobian(), keeps, "{plan:?}");
            (m, theta)
        })
        .collect();
    let theta = models[0].1.clone();
    let start = models[0].0.loss(&theta).unwrap();
    for geodesic in [false, true] {
        // the same steps to rounding, with and without the acceleration (Jᵀ r_vv from
        // a kept J or from one more pass over the tiles)
        let mut lms: [Lm; 3] = std::array::from_fn(|_| Lm::with_geodesic(geodesic));
        let mut xs: Vec<Vec<f64>> = models.iter().map(|(_, t)| t.clone()).collect();
        let mut last = start;
        for it in 0..10 {
            let mut moved = Vec::new();
            for ((lm, (m, _)), x) in lms.iter_mut().zip(&mut models).zip(&mut xs) {
                moved.push(lm.step(m, x).unwrap());
            }
            for (x, plan) in xs.iter().zip(&plans) {
                let what = format!("{plan:?}, geodesic {geodesic}, step {it}");
                assert_close(x, &xs[0], 1e-7, &what);
            }
            if let LbfgsStep::Moved(f) = moved[2] {
                assert!(f < last, "{f} after {last}");
                last = f;
            }
        }
        assert!(last < 0.1 * start, "geodesic {geodesic}: {start} → {last}");
    }
}
