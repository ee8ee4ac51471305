//! `examples/burgers.nabla` in Rust: u_t + u u_x = (0.01/π) u_xx on (0,1] × (−1,1),
//! u(0, x) = −sin(πx), u(t, ±1) = 0, with the error measured against the spectral
//! reference `examples/burgers_reference.json`. `cargo run --release --example burgers_dsl
//! [STEPS]` (run from the repository root).
use nabla::prelude::*;
use std::f64::consts::PI;

/// The problem, declared in the order of the problem file.
pub fn problem() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("burgers");
    let t = p.input("t", [0.0, 1.0]);
    let x = p.input("x", [-1.0, 1.0]);
    let nu = 0.01 / PI;
    let u = p.net("u", &[t, x], mlp(&[20; 8]));
    let inner = p.points("inner", interior(10000));
    let start = p.points("start", face(t, 0.0, 256));
    let sides = p.points("sides", face(x, -1.0, 128) + face(x, 1.0, 128));
    p.residual("pde", inner, move |c| {
        c.d(c[u], &[t]) + c[u] * c.d(c[u], &[x]) - nu * c.d(c[u], &[x, x])
    });
    p.residual("ic", start, move |c| c[u] + (PI * c[x]).sin());
    p.residual("bc", sides, move |c| c[u]);
    p.build()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut training = Training::new(OptimizerKind::AdamLbfgs).progress(Progress::Every(100));
    training.steps = std::env::args().nth(1).map(|s| s.parse()).transpose()?;
    training.reference = Some("examples/burgers_reference.json".into());
    let run = train(&problem()?, &training)?;
    print!("{}", run.text);
    Ok(())
}
