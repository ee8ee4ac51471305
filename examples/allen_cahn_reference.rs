//! The reference solution of `examples/allen_cahn.nabla`, computed the way the standard
//! Allen–Cahn data set for PINNs was made — Fourier pseudo-spectral in x, ETDRK4 in t —
//! and written as a `--reference` file for `nabla train`:
//!
//! ```text
//! u_t = ε u_xx + 5u − 5u³ on x in [−1, 1) periodic, t in (0, 1],  u(0, x) = x² cos(πx),  ε = 1e-4
//! ```
//!
//! In Fourier space (`N` points `x_j = −1 + 2j/N`, wavenumbers `k = π m`) the stiff linear
//! part `L = −εk²` is integrated exactly and the nonlinear part `N(v) = F(5u − 5u³)` by
//! the fourth-order exponential time-differencing Runge–Kutta scheme of Cox & Matthews
//! (2002), with its coefficients evaluated by contour integrals (32 points on a unit circle
//! around each `hL`) as Kassam & Trefethen (2005) do to avoid cancellation:
//!
//! ```text
//! a = E₂v + Q N(v)             E = e^{hL}, E₂ = e^{hL/2}, Q = h·⟨(e^{z/2} − 1)/z⟩
//! b = E₂v + Q N(a)
//! c = E₂a + Q (2N(b) − N(v))
//! v ← E v + f₁ N(v) + 2 f₂ (N(a) + N(b)) + f₃ N(c)   (f₁, f₂, f₃: Kassam & Trefethen (2.5))
//! ```
//!
//! Values off the grid come from the Fourier series itself (spectral interpolation).
//! `tests/allen_cahn_reference.rs` checks convergence in the time step and the resolution,
//! the PDE residual, and that the committed file is what this program writes.
//!
//! Run: `cargo run --release --example allen_cahn_reference [OUT.json]` (default
//! `examples/allen_cahn_reference.json`): 21 × 101 points, `t` in steps of 0.05, `x` in
//! steps of 0.02, from `N = 512` and `h = 1e-4`.

use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;
use std::f64::consts::PI;
use std::fmt::Write;

/// ε of the example.
pub const EPS: f64 = 1e-4;

/// The solver: resolution, time step and the ETDRK4 coefficients for them.
pub struct Solver {
    n: usize,
    h: f64,
    k: Vec<f64>,
    e: Vec<f64>,
    e2: Vec<f64>,
    q: Vec<f64>,
    f: [Vec<f64>; 3],
}

/// `u(0, x)`.
pub fn initial(x: f64) -> f64 {
    x * x * (PI * x).cos()
}

impl Solver {
    /// ETDRK4 on `n` Fourier modes (even) with time step `h`.
    pub fn new(n: usize, h: f64) -> Solver {
        let k: Vec<f64> = (0..n)
            .map(|m| {
                let m = if m <= n / 2 {
                    m as f64
                } else {
                    m as f64 - n as f64
                };
                PI * m
            })
            .collect();
        let l: Vec<f64> = k.iter().map(|k| -EPS * k * k).collect();
        // Kassam & Trefethen's contour means, one per mode.
        let mean = |z: f64, g: &dyn Fn(Complex64) -> Complex64| -> f64 {
            let m = 32;
            let s: Complex64 = (1..=m)
                .map(|j| {
                    let r = Complex64::from_polar(1.0, PI * (j as f64 - 0.5) / m as f64);
                    g(Complex64::new(z, 0.0) + r)
                })
                .sum();
            (s / m as f64).re
        };
        let coef = |g: &dyn Fn(Complex64) -> Complex64| -> Vec<f64> {
            l.iter().map(|li| h * mean(h * li, g)).collect()
        };
        let q = coef(&|z| ((z / 2.0).exp() - 1.0) / z);
        let f1 = coef(&|z| (-4.0 - z + z.exp() * (4.0 - 3.0 * z + z * z)) / z.powi(3));
        let f2 = coef(&|z| (2.0 + z + z.exp() * (-2.0 + z)) / z.powi(3));
        let f3 = coef(&|z| (-4.0 - 3.0 * z - z * z + z.exp() * (4.0 - z)) / z.powi(3));
        Solver {
            n,
            h,
            e: l.iter().map(|li| (h * li).exp()).collect(),
            e2: l.iter().map(|li| (h * li / 2.0).exp()).collect(),
            k,
            q,
            f: [f1, f2, f3],
        }
    }

    /// The Fourier coefficients `v(t)` for each time in `times` (ascending, from 0).
    pub fn solve(&self, times: &[f64]) -> Vec<Vec<Complex64>> {
        let mut planner = FftPlanner::new();
        let fwd = planner.plan_fft_forward(self.n);
        let inv = planner.plan_fft_inverse(self.n);
        let mut v: Vec<Complex64> = (0..self.n)
            .map(|j| Complex64::new(initial(-1.0 + 2.0 * j as f64 / self.n as f64), 0.0))
            .collect();
        fwd.process(&mut v);
        // N(v) = F(5u − 5u³), u = F⁻¹v.
        let nonlinear = |v: &[Complex64]| -> Vec<Complex64> {
            let mut u = v.to_vec();
            inv.process(&mut u);
            let mut w: Vec<Complex64> = (u.iter())
                .map(|c| {
                    let u = c.re / self.n as f64;
                    Complex64::new(5.0 * u - 5.0 * u * u * u, 0.0)
                })
                .collect();
            fwd.process(&mut w);
            w
        };
        let mut out = Vec::new();
        let mut t = 0.0;
        for &target in times {
            let steps = ((target - t) / self.h).round() as usize;
            for _ in 0..steps {
                v = self.step(&v, &nonlinear);
            }
            t += steps as f64 * self.h;
            out.push(v.clone());
        }
        out
    }

    fn step(&self, v: &[Complex64], nl: &dyn Fn(&[Complex64]) -> Vec<Complex64>) -> Vec<Complex64> {
        let nv = nl(v);
        let a: Vec<Complex64> = (0..self.n)
            .map(|i| self.e2[i] * v[i] + self.q[i] * nv[i])
            .collect();
        let na = nl(&a);
        let b: Vec<Complex64> = (0..self.n)
            .map(|i| self.e2[i] * v[i] + self.q[i] * na[i])
            .collect();
        let nb = nl(&b);
        let c: Vec<Complex64> = (0..self.n)
            .map(|i| self.e2[i] * a[i] + self.q[i] * (2.0 * nb[i] - nv[i]))
            .collect();
        let nc = nl(&c);
        let [f1, f2, f3] = &self.f;
        (0..self.n)
            .map(|i| {
                self.e[i] * v[i] + f1[i] * nv[i] + 2.0 * f2[i] * (na[i] + nb[i]) + f3[i] * nc[i]
            })
            .collect()
    }

    /// `∂ᵖu/∂xᵖ` at `x` from the coefficients `v` (the Fourier series, `p` = 0, 1, 2).
    pub fn eval(&self, v: &[Complex64], x: f64, p: i32) -> f64 {
        let s: Complex64 = (0..self.n)
            .map(|m| {
                // The Nyquist mode of a real field is its cosine: take half at ±k.
                let k = self.k[m];
                let w = if m == self.n / 2 { 0.5 } else { 1.0 };
                let d = Complex64::new(0.0, k).powi(p);
                let phase = Complex64::from_polar(1.0, k * (x + 1.0));
                let nyq = if m == self.n / 2 {
                    Complex64::from_polar(1.0, -k * (x + 1.0)) * Complex64::new(0.0, -k).powi(p)
                } else {
                    Complex64::new(0.0, 0.0)
                };
                w * v[m] * (d * phase + nyq)
            })
            .sum();
        s.re / self.n as f64
    }
}

/// The reference file: `{"points": [[t, x], ...], "u": [...]}`.
pub fn reference_json() -> String {
    let solver = Solver::new(512, 1e-4);
    let times: Vec<f64> = (0..=20).map(|i| i as f64 * 0.05).collect();
    let vs = solver.solve(&times);
    let mut points = String::new();
    let mut values = String::new();
    for (t, v) in times.iter().zip(&vs) {
        for j in 0..=100 {
            let x = -1.0 + j as f64 * 0.02;
            let sep = if points.is_empty() { "" } else { "," };
            let _ = write!(points, "{sep}[{t:.2},{x:.2}]");
            let _ = write!(values, "{sep}{:.10e}", solver.eval(v, x, 0));
        }
    }
    format!("{{\"points\":[{points}],\n\"u\":[{values}]}}\n")
}

#[allow(dead_code)]
fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/allen_cahn_reference.json".into());
    if let Err(e) = std::fs::write(&out, reference_json()) {
        eprintln!("error: cannot write {out}: {e}");
        std::process::exit(1);
    }
    eprintln!("wrote {out}");
}
