//! `examples/poisson2d.nabla` in Rust: -Δu = 2π² sin(πx) sin(πy) on (0,1)², u = 0 on the
//! boundary, trained as `nabla train` trains the file. `cargo run --release --example
//! poisson_dsl [OUT_DIR]`.
use nabla::prelude::*;
use std::f64::consts::PI;

/// The problem, declared in the order of the problem file.
pub fn problem() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("poisson2d");
    let x = p.input("x", [0.0, 1.0]);
    let y = p.input("y", [0.0, 1.0]);
    let u = p.net("u", &[x, y], mlp(&[32, 32]).act(Act::Tanh).seed(0));
    let f = p.define("f", move |c| {
        2.0 * PI.powi(2) * (PI * c[x]).sin() * (PI * c[y]).sin()
    });
    let inner = p.points("inner", interior(1024));
    let walls = p.points("walls", boundary(256));
    p.residual("pde", inner, move |c| -c.lap(c[u]) - c[f]);
    p.residual("bc", walls, move |c| c[u]).weight(10.0);
    p.exact(u, move |c| (PI * c[x]).sin() * (PI * c[y]).sin());
    p.build()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut training = Training::new(OptimizerKind::AdamLbfgs).progress(Progress::Every(500));
    training.out = std::env::args().nth(1).map(Into::into);
    let run = train(&problem()?, &training)?;
    print!("{}", run.text);
    Ok(())
}
