//! The residual Jacobian `J = ∂r/∂θ` (`jacobian.R`, the per-point reverse sweep): against
//! the loss gradient (`Σ_R W_R/N_R · Σᵢ 2 rᵢ Jᵢ = ∂loss/∂θ`), against f64 central
//! differences of the residuals in every parameter, across every exact derivative method,
//! and on the JIT and OpenCL against the interpreter.

mod opencl_check;

use nabla::frontend::lang;
use nabla::frontend::problem::Problem;
use nabla::ir::{DType, Method};
use nabla::train::lm::LeastSquares;
use nabla::train::model::Model;
use nabla::train::Objective;
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
