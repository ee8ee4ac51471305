//! Poisson on a plate with holes, from Rust: -Δu = 2π² sin(πx) sin(πy) on the unit
//! square minus four disks (the setting of PINNacle's "Poisson 2d-C"), u = sin(πx) sin(πy)
//! on the outer sides and on every hole. Points are sampled uniformly in the plate and
//! uniformly by length on its boundary (the four circles and the square's sides).
//! `cargo run --release --example poisson_holes_dsl [OUT_DIR]`.
use nabla::prelude::*;
use std::f64::consts::PI;

/// The problem.
pub fn problem() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("poisson_holes");
    let x = p.input("x", [0.0, 1.0]);
    let y = p.input("y", [0.0, 1.0]);
    let holes = [[0.3, 0.3], [0.7, 0.3], [0.3, 0.7], [0.7, 0.7]].map(|c| disk(c, 0.1));
    let plate = holes
        .into_iter()
        .fold(rect([0.0, 1.0], [0.0, 1.0]), |s, h| s - h);
    let d = p.domain("plate", &[x, y], plate);
    let u = p.net("u", &[x, y], mlp(&[32, 32]));
    let ue = p.define("ue", move |c| (PI * c[x]).sin() * (PI * c[y]).sin());
    let inner = p.points("inner", interior_of(d, 1024));
    let walls = p.points("walls", boundary_of(d, 512));
    p.residual("pde", inner, move |c| {
        -c.lap(c[u]) - 2.0 * PI.powi(2) * c[ue]
    });
    p.residual("bc", walls, move |c| c[u] - c[ue]).weight(10.0);
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
