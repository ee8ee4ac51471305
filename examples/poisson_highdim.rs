//! Poisson in D dimensions, exact against sampled Laplacian, in the setting of the stochastic
//! Taylor derivative estimator's paper (Shi et al., 2024): the unit ball, the boundary
//! condition built into the ansatz `u = (1 − ‖x‖²)·n(x)`, and the two-body solution
//!
//! `u* = (1 − ‖x‖²)·g`, `g = D^(-1/2) Σᵢ sin(xᵢ + xᵢ₊₁)` (indices cyclic),
//!
//! so `Δu* = −2D g − 4 D^(-1/2) Σᵢ sᵢ cos sᵢ − 2(1 − ‖x‖²) g` with `sᵢ = xᵢ + xᵢ₊₁`. Every
//! term couples two coordinates, and `u*` is odd, so its mean over the ball is zero and a
//! relative error measures the solution, not a constant.
//!
//! `cargo run --release --example poisson_highdim -- D [K] [SECONDS] [OUT_DIR]`: D inputs,
//! the Laplacian sampled with K Rademacher directions per point (`0` or omitted: the exact
//! Laplacian), Adam for SECONDS of training (default 60), results in OUT_DIR when given.
//! `STEPS=N` stops after N steps; `LR_DECAY=F` decays Adam's learning rate to F times its
//! start over those steps.
use nabla::prelude::*;

/// The problem in `d` dimensions; `sample = 0` takes the exact Laplacian, `K > 0` the
/// estimate from K directions per point (`lap(u; sample = K)` in a file).
pub fn problem(d: usize, sample: usize) -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new(&format!("poisson_{d}d"));
    let xs: Vec<Input> = (0..d)
        .map(|i| p.input(&format!("x{i}"), [-1.0, 1.0]))
        .collect();
    let ball = p.domain("ball", &xs, ball(&vec![0.0; d], 1.0));
    let n = p.net("n", &xs, mlp(&[128, 128, 128]));
    let scale = 1.0 / (d as f64).sqrt();
    let ys = xs.clone();
    let phi = p.define("phi", move |c| 1.0 - sum(ys.iter().map(|&x| c[x] * c[x])));
    let s: Vec<(Input, Input)> = (0..d).map(|i| (xs[i], xs[(i + 1) % d])).collect();
    let pairs = s.clone();
    let g = p.define("g", move |c| {
        sum(pairs.iter().map(|&(a, b)| (c[a] + c[b]).sin())) * scale
    });
    let u = p.define("u", move |c| c[phi] * c[n]);
    let lap_exact = p.define("lap_exact", move |c| {
        let h = sum(s.iter().map(|&(a, b)| (c[a] + c[b]) * (c[a] + c[b]).cos()));
        -2.0 * d as f64 * c[g] - 4.0 * scale * h - 2.0 * c[phi] * c[g]
    });
    let inner = p.points("inner", interior_of(ball, 256));
    p.residual("pde", inner, move |c| {
        let lap = if sample > 0 {
            c.lap_sampled(c[u], sample)
        } else {
            c.lap(c[u])
        };
        lap - c[lap_exact]
    });
    p.exact(u, move |c| c[phi] * c[g]);
    p.build()
}

/// The sum of traced terms.
fn sum<'g>(terms: impl Iterator<Item = Var<'g>>) -> Var<'g> {
    terms.reduce(|a, b| a + b).expect("at least one term")
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
        .resample(1)
        .progress(Progress::Every(200));
    training.error_every = Some(200);
    training.lr_decay = std::env::var("LR_DECAY").map_or(Ok(1.0), |s| s.parse())?;
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
