//! `examples/inverse.nabla` in Rust: k u'' + (π²/2) sin(πx) = 0 on (0,1) with k unknown,
//! and observations of u = sin(πx); training recovers k = 1/2 along with u.
//! `cargo run --release --example inverse_dsl`.
use nabla::prelude::*;
use std::f64::consts::PI;

/// The problem, declared in the order of the problem file.
pub fn problem() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("inverse");
    let x = p.input("x", [0.0, 1.0]);
    let k = p.param("k", 1.0);
    let u = p.net("u", &[x], mlp(&[20, 20]));
    let inner = p.points("inner", interior(256));
    let data = p.points("data", interior(64));
    p.residual("pde", inner, move |c| {
        c[k] * c.d(c[u], &[x, x]) + 0.5 * PI.powi(2) * (PI * c[x]).sin()
    });
    p.residual("obs", data, move |c| c[u] - (PI * c[x]).sin())
        .weight(10.0);
    p.exact(u, move |c| (PI * c[x]).sin());
    p.build()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let training = Training::new(OptimizerKind::AdamLbfgs).dtype(DType::F64);
    let run = train(&problem()?, &training)?;
    print!("{}", run.text);
    println!("k = {} (exact 0.5)", run.params_json()["k"]);
    Ok(())
}
