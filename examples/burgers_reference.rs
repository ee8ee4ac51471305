//! The reference solution of `examples/burgers.nabla`, from the Cole–Hopf transform, written
//! as a `--reference` file for `nabla train`:
//!
//! ```text
//! u_t + u u_x = ν u_xx on (-1, 1) × (0, 1],  u(0, x) = -sin(πx),  u(t, ±1) = 0,  ν = 0.01/π
//! ```
//!
//! With `u = -2ν φ_x / φ`, the heat equation for `φ` gives (Basdevant et al. 1986)
//!
//! ```text
//!            ∫ sin(π(x - η)) f(x - η) exp(-η²/(4νt)) dη
//! u(t, x) = - ──────────────────────────────────────────,   f(y) = exp(-cos(πy) / (2πν)).
//!            ∫           f(x - η) exp(-η²/(4νt)) dη
//! ```
//!
//! Both integrals are taken by the trapezoidal rule on `|η| ≤ 13·√(4νt)` (the integrand is
//! analytic and decays like a Gaussian, so the rule converges geometrically), with the
//! exponents shifted by their maximum so nothing overflows: `exp(-cos/(2πν))` spans
//! `e^±50`. Beyond `13·√(4νt)` the integrand is below `e^-69` of its peak.
//!
//! Run: `cargo run --release --example burgers_reference [OUT.json]` (default
//! `examples/burgers_reference.json`): 51 × 101 points, `t` in steps of 0.02, `x` in
//! steps of 0.02.

use std::f64::consts::PI;
use std::fmt::Write;

/// The viscosity of the example.
pub const NU: f64 = 0.01 / PI;

/// Quadrature points of the trapezoidal rule.
pub const QUAD_POINTS: usize = 8001;

/// `u(t, x)` by the Cole–Hopf formula with `n` quadrature points.
pub fn burgers(t: f64, x: f64, n: usize) -> f64 {
    if t == 0.0 {
        return -(PI * x).sin();
    }
    let s2 = 4.0 * NU * t;
    let w = 13.0 * s2.sqrt();
    let exponent = |eta: f64| -(PI * (x - eta)).cos() / (2.0 * PI * NU) - eta * eta / s2;
    let etas: Vec<f64> = (0..n)
        .map(|j| -w + 2.0 * w * j as f64 / (n - 1) as f64)
        .collect();
    let peak = etas.iter().map(|&e| exponent(e)).fold(f64::MIN, f64::max);
    let (mut num, mut den) = (0.0, 0.0);
    for (j, &eta) in etas.iter().enumerate() {
        let end = if j == 0 || j == n - 1 { 0.5 } else { 1.0 };
        let k = end * (exponent(eta) - peak).exp();
        num += (PI * (x - eta)).sin() * k;
        den += k;
    }
    -num / den
}

/// The reference file: `{"points": [[t, x], ...], "u": [...]}`.
pub fn reference_json() -> String {
    let mut points = String::new();
    let mut values = String::new();
    for i in 0..=50 {
        for j in 0..=100 {
            let (t, x) = (i as f64 * 0.02, -1.0 + j as f64 * 0.02);
            let sep = if points.is_empty() { "" } else { "," };
            let _ = write!(points, "{sep}[{t:.2},{x:.2}]");
            let _ = write!(values, "{sep}{:.10e}", burgers(t, x, QUAD_POINTS));
        }
    }
    format!("{{\"points\":[{points}],\n\"u\":[{values}]}}\n")
}

#[allow(dead_code)]
fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/burgers_reference.json".into());
    if let Err(e) = std::fs::write(&out, reference_json()) {
        eprintln!("error: cannot write {out}: {e}");
        std::process::exit(1);
    }
    eprintln!("wrote {out}");
}
