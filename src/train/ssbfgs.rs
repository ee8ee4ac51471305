//! Self-scaled BFGS: a dense inverse-Hessian approximation with Oren–Luenberger scaling
//! and the strong-Wolfe line search of [`super::lbfgs`].
//!
//! Where L-BFGS keeps a few curvature pairs, this keeps the whole `P × P` matrix `H ≈
//! ∇²L⁻¹`, so curvature learnt early is never forgotten; the self-scaling factor `τ`
//! shrinks the old `H` when the newest pair says the scale is off, the remedy for BFGS's
//! slow recovery from an ill-scaled start that makes it worth having on PINN losses
//! (Kiyani, Shukla, Urbán, Darbon & Karniadakis 2025, arXiv 2501.16371; Al-Baali 1998).
//! With `s = x⁺ − x`, `y = g⁺ − g`, `ρ = 1/(yᵀs)`:
//!
//! ```text
//! H⁺ = (H − ρ (H y sᵀ + s yᵀH)) / τ + ρ (1 + ρ yᵀH y / τ) s sᵀ
//! hₖ = ρ yᵀH y,  bₖ = −α ρ sᵀg,  τ = hₖ at the first update, min(1, 1/bₖ) after
//! ```
//!
//! the Broyden family's `θ = 0` member (BFGS) with the scaling of the self-scaled Broyden
//! methods (α: the accepted step length). `τ = 1` is plain BFGS. Memory is `8P²` bytes and
//! each update `O(P²)`, so it suits the same sizes as [`super::lm`], whose memory check it
//! shares.

use super::lbfgs::{dot, norm1, stall, start, LbfgsStep, Trial, Wolfe};
use super::optim::Objective;
use super::TrainError;

/// Self-scaled BFGS state: `H` (row-major, symmetric) and the loss and gradient at the
/// current point.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Ssbfgs {
    /// Sufficient-decrease constant `c₁`.
    pub c1: f64,
    /// Curvature constant `c₂`.
    pub c2: f64,
    /// Most function evaluations one line search may use.
    pub max_evals: usize,
    h: Vec<f64>,
    n: usize,
    updated: bool,
    current: Option<(f64, Vec<f64>)>,
}

impl Ssbfgs {
    /// The method for `n` parameters from `H = I`, `c₁ = 1e-4`, `c₂ = 0.9`, 25
    /// evaluations per search.
    pub fn new(n: usize) -> Ssbfgs {
        let mut s = Ssbfgs {
            c1: 1e-4,
            c2: 0.9,
            max_evals: 25,
            h: Vec::new(),
            n,
            updated: false,
            current: None,
        };
        s.reset();
        s
    }

    /// Whether the state is that of `n` parameters.
    pub fn fits(&self, n: usize) -> bool {
        let current = self.current.as_ref().is_none_or(|(_, g)| g.len() == n);
        self.n == n && self.h.len() == n * n && current
    }

    /// Back to `H = I`, forgetting the cached loss (new collocation points).
    pub fn reset(&mut self) {
        self.h = vec![0.0; self.n * self.n];
        (0..self.n).for_each(|i| self.h[i * self.n + i] = 1.0);
        self.updated = false;
        self.current = None;
    }

    /// One iteration from `x`: direction `−H g`, a strong-Wolfe search along it (along
    /// `−g` from `H = I` when that fails), the update. `x` moves when the search succeeds;
    /// the objective was last evaluated at the returned `x`.
    pub fn step(
        &mut self,
        obj: &mut dyn Objective,
        x: &mut [f64],
    ) -> Result<LbfgsStep, TrainError> {
        let (f0, g0) = match start(&mut self.current, obj, x, 0.0)? {
            Ok(at) => at,
            Err(converged) => return Ok(converged),
        };
        let wolfe = Wolfe {
            c1: self.c1,
            c2: self.c2,
            max_evals: self.max_evals,
        };
        for _ in 0..2 {
            let mut d = self.direction(&g0);
            if dot(&d, &g0) >= 0.0 {
                self.reset();
                d = g0.iter().map(|v| -v).collect();
            }
            let a0 = if self.updated {
                1.0
            } else {
                (1.0 / norm1(&g0)).min(1.0)
            };
            if let Some(t) = wolfe.search(obj, x, (f0, &g0), &d, a0)? {
                return Ok(self.accept(x, &g0, &d, t));
            }
            if !self.updated {
                break;
            }
            self.reset();
        }
        stall(&mut self.current, obj, x)
    }

    /// `−H g`.
    fn direction(&self, g: &[f64]) -> Vec<f64> {
        (self.h.chunks_exact(self.n))
            .map(|row| -dot(row, g))
            .collect()
    }

    fn accept(&mut self, x: &mut [f64], g0: &[f64], d: &[f64], t: Trial) -> LbfgsStep {
        let s: Vec<f64> = d.iter().map(|di| t.a * di).collect();
        x.iter_mut().zip(&s).for_each(|(xi, si)| *xi += si);
        let y: Vec<f64> = t.g.iter().zip(g0).map(|(a, b)| a - b).collect();
        self.update(&s, &y, t.a, g0);
        self.current = Some((t.f, t.g));
        LbfgsStep::Moved(t.f)
    }

    /// The self-scaled update with the pair `(s, y)` from step length `alpha` at gradient
    /// `g`; skipped when the curvature `yᵀs` is not safely positive.
    fn update(&mut self, s: &[f64], y: &[f64], alpha: f64, g: &[f64]) {
        let inner = dot(y, s);
        if !inner.is_finite() || inner <= 1e-10 * dot(y, y) {
            return;
        }
        let rho = 1.0 / inner;
        let hy: Vec<f64> = self.h.chunks_exact(self.n).map(|row| dot(row, y)).collect();
        let yhy = dot(y, &hy);
        let hk = yhy * rho;
        let bk = -alpha * rho * dot(s, g);
        let tau = if self.updated {
            (1.0 / bk).min(1.0)
        } else {
            hk
        };
        if !(tau.is_finite() && tau > 0.0) {
            return;
        }
        let c = rho * (1.0 + rho * yhy / tau);
        for (i, row) in self.h.chunks_exact_mut(self.n).enumerate() {
            for (j, hij) in row.iter_mut().enumerate() {
                let cross = rho * (hy[i] * s[j] + s[i] * hy[j]);
                *hij = (*hij - cross) / tau + c * s[i] * s[j];
            }
        }
        self.updated = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock in `n` dimensions: `Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)²`, minimum at 1.
    fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
        g.fill(0.0);
        let mut f = 0.0;
        for i in 0..x.len() - 1 {
            let (a, b) = (x[i + 1] - x[i] * x[i], 1.0 - x[i]);
            f += 100.0 * a * a + b * b;
            g[i] += -400.0 * a * x[i] - 2.0 * b;
            g[i + 1] += 200.0 * a;
        }
        f
    }

    #[test]
    fn rosenbrock_converges_to_the_minimum() {
        let mut x = vec![-1.2, 1.0, -1.2, 1.0, -1.2, 1.0];
        let mut opt = Ssbfgs::new(x.len());
        let mut f = rosenbrock;
        let mut last = f64::INFINITY;
        for _ in 0..500 {
            match opt.step(&mut f, &mut x).unwrap() {
                LbfgsStep::Moved(v) => {
                    assert!(v < last, "the loss must decrease: {v} after {last}");
                    last = v;
                }
                _ => break,
            }
        }
        assert!(x.iter().all(|v| (v - 1.0).abs() < 1e-6), "{x:?}");
    }

    #[test]
    fn a_quadratic_is_minimised_in_at_most_n_plus_one_steps() {
        // f = ½ xᵀA x − bᵀx with A = diag(1, 10, 100): BFGS with exact-enough searches
        // recovers A⁻¹ on an n-dimensional quadratic in about n steps.
        let a = [1.0, 10.0, 100.0];
        let b = [1.0, 2.0, 3.0];
        let mut f = |x: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for i in 0..3 {
                g[i] = a[i] * x[i] - b[i];
                v += 0.5 * a[i] * x[i] * x[i] - b[i] * x[i];
            }
            v
        };
        let mut x = vec![0.0; 3];
        let mut opt = Ssbfgs::new(3);
        for _ in 0..20 {
            if !matches!(opt.step(&mut f, &mut x).unwrap(), LbfgsStep::Moved(_)) {
                break;
            }
        }
        for i in 0..3 {
            assert!((x[i] - b[i] / a[i]).abs() < 1e-8, "{x:?}");
        }
    }
}
