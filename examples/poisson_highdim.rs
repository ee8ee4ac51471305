//! Poisson in D dimensions, exact against sampled Laplacian: `-Δu = (5π²/4) u` on
//! `[-1, 1]^D` with `u = x ↦ D^(-1/2) Σᵢ sin(π xᵢ) cos(π xᵢ₊₁ / 2)` (indices cyclic) on the
//! boundary. Each term couples two coordinates (a two-body solution, as in the stochastic
//! Taylor estimator's paper), every term is odd in its first coordinate, so the solution's
//! mean over the box is zero and relative errors measure the solution, not a constant.
//!
//! `cargo run --release --example poisson_highdim -- D [K] [SECONDS] [OUT_DIR]`: D inputs,
//! the Laplacian sampled with K directions per point (`0` or omitted: exact), Adam for
//! SECONDS of training (default 60), results in OUT_DIR when given.
use nabla::prelude::*;
use std::f64::consts::PI;

/// The problem in `d` dimensions; `sample = 0` takes the exact Laplacian, `K > 0` the
/// estimate from K Rademacher directions per point (`lap(u; sample = K)` in a file).
pub fn problem(d: usize, sample: usize) -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new(&format!("poisson_{d}d"));
    let xs: Vec<Input> = (0..d)
        .map(|i| p.input(&format!("x{i}"), [-1.0, 1.0]))
        .collect();
    let u = p.net("u", &xs, mlp(&[128, 128, 128]));
    let scale = 1.0 / (d as f64).sqrt();
    let pairs: Vec<(Input, Input)> = (0..d).map(|i| (xs[i], xs[(i + 1) % d])).collect();
    let ue = p.define("ue", move |c| {
        let terms = pairs
            .iter()
            .map(|&(a, b)| (PI * c[a]).sin() * (0.5 * PI * c[b]).cos());
        terms.reduce(|s, t| s + t).unwrap() * scale
    });
    let inner = p.points("inner", interior(256));
    let walls = p.points("walls", boundary(128));
    p.residual("pde", inner, move |c| {
        let lap = if sample > 0 {
            c.lap_sampled(c[u], sample)
        } else {
            c.lap(c[u])
        };
        lap + 1.25 * PI * PI * c[ue]
    });
    p.residual("bc", walls, move |c| c[u] - c[ue]).weight(10.0);
    p.exact(u, move |c| c[ue]);
    p.build()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize| std::env::args().nth(i);
    let d: usize = arg(1).map_or(Ok(100), |s| s.parse())?;
    let sample: usize = arg(2).map_or(Ok(0), |s| s.parse())?;
    let seconds: f64 = arg(3).map_or(Ok(60.0), |s| s.parse())?;
    let steps: usize = std::env::var("STEPS").map_or(Ok(1_000_000), |s| s.parse())?;
    let mut training = Training::new(OptimizerKind::Adam)
        .steps(steps)
        .max_time(seconds)
        .resample(100)
        .progress(Progress::Every(200));
    training.error_every = Some(200);
    training.out = arg(4).map(Into::into);
    let run = train(&problem(d, sample)?, &training)?;
    let steps = run.result.history.len();
    let per_step = 1e3 * run.result.wall_s / steps.max(1) as f64;
    println!(
        "{steps} steps in {:.1} s ({per_step:.1} ms per step), compile {:.2} s",
        run.result.wall_s, run.compile_s
    );
    print!("{}", run.text);
    Ok(())
}
