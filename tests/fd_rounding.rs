//! Rounding in a finite-difference Laplacian's parameter gradient, through the JIT.
//!
//! The stencil's terms are `h⁻²` times the Laplacian's size; a weight's gradient adds
//! them up in one product over every shifted point of every collocation point. With the
//! centre among the stacked points and the stack point-major, the running sums of that
//! product cancel point by point; with the centre apart (the other layout, kept where the
//! residual also uses `u` at the centre), they cancel only when the centre's own product
//! is added at the end. `gemm` adds in the element type, so in f32 the difference shows:
//! here the gradient in f32 is compared with the same stencil (the same step) in f64, so
//! that only rounding is measured, not the stencil's truncation.

use nabla::frontend::lang;
use nabla::frontend::problem::Problem;
use nabla::ir::{DType, Method, Num};
use nabla::train::accuracy::rel_l2;
use nabla::train::model::{Batch, Model};
use nabla::train::Objective;
use nabla::{Backend, Options};

/// B1's network and Laplacian on 1024 points, with `extra` added to the residual.
fn problem(extra: &str) -> Problem {
    let src = format!(
        "problem fd_rounding
input x1 in [0, 1]
input x2 in [0, 1]
net u(x1, x2) = mlp(widths = [64, 64, 64], act = tanh, seed = 0)
let f = -2 * pi^2 * sin(pi * x1) * sin(pi * x2)
points inner = interior(1024)
residual pde on inner = lap(u) - f{extra}
"
    );
    lang::load("fd_rounding.nabla", &src)
        .unwrap_or_else(|d| panic!("{}", d.render()))
        .problem
}

/// The loss's gradient at the initial params, by central differences of step `h`.
fn gradient(p: &Problem, dtype: DType, h: f64) -> Vec<f64> {
    let fd = Some(Method::FiniteDiff(Some(Num::new(h))));
    let opts = Options::new(Backend::Cranelift, dtype, fd);
    let (mut model, theta, _) = Model::compile_for(p, &Batch::of(p), &opts).unwrap();
    model.bind_points(0).unwrap();
    let mut g = vec![0.0; theta.len()];
    model.eval(&theta, &mut g).unwrap();
    g
}

/// The f32 gradient's error against f64 at the f32 default step `ε^(1/4)`.
fn rounding(p: &Problem) -> f64 {
    let h = 1.86e-2;
    rel_l2(&gradient(p, DType::F32, h), &gradient(p, DType::F64, h))
}

/// Measured: 2.2e-4 with the centre among the points (about what the residuals' own
/// rounding in f32 gives), 3.7e-3 with it apart (`lap(u) − f + u/1000`: `u` has another
/// use, so the stencil keeps `u` at the centre as its own evaluation).
#[test]
fn a_laplacians_gradient_in_f32_rounds_point_by_point() {
    let together = rounding(&problem(""));
    let apart = rounding(&problem(" + u / 1000"));
    assert!(together < 6e-4, "centre among the points: {together:.2e}");
    assert!(
        apart > 5.0 * together,
        "centre apart: {apart:.2e}, together {together:.2e}"
    );
}

/// Every residual of `p` (all on its one point set) at its initial params and seed-0
/// points, with `derivs`, in f64.
fn residuals(p: &Problem, derivs: Option<Method>) -> Vec<Vec<f64>> {
    let n = p.point_sets[0].spec.len();
    let opts = Options::new(Backend::Cranelift, DType::F64, derivs);
    let (mut model, theta, _) = Model::compile_for(p, &Batch::of(p), &opts).unwrap();
    model.bind_points(0).unwrap();
    let mut g = vec![0.0; theta.len()];
    model.eval(&theta, &mut g).unwrap();
    let all = model.last_residuals();
    all.chunks(n).map(<[f64]>::to_vec).collect()
}

/// Mixed and nested derivatives by central differences at the default step agree with
/// the exact ones: each operator of a nest takes the step for the nest's total order.
/// With steps for their own orders, `d(u, y, x, y)` was off by 12× its size and
/// `d(u, x, x, y, y)` came out 0 (the inner stencil's rounding divided by every step).
#[test]
fn nested_stencils_take_the_step_of_the_whole_nest() {
    let src = "problem nest
input x in [0, 1]
input y in [0, 1]
net u(x, y) = mlp(widths = [5, 4], act = tanh, seed = 3)
points p = interior(16)
residual m2 on p = d(u, x, y)
residual m3 on p = d(u, y, x, y)
residual m4 on p = d(u, x, x, y, y)
residual ll on p = lap(lap(u))
";
    let p = lang::load("nest.nabla", src).unwrap().problem;
    let exact = residuals(&p, None);
    let fd = residuals(&p, Some(Method::FiniteDiff(None)));
    for (k, (e, f)) in exact.iter().zip(&fd).enumerate() {
        let size = e.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = e
            .iter()
            .zip(f)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(size > 1e-3, "residual {k}: {e:?}");
        assert!(
            err < 1e-3 * size,
            "residual {k}: error {err:.2e} of {size:.2e}"
        );
    }
}
