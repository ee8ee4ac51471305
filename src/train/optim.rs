//! First-order optimisation: the [`Objective`] interface and Adam.
//!
//! Optimizers work on one flat parameter vector `θ ∈ ℝⁿ` (see [`super::layout`] for how
//! named tensors map to it). They are stepped one iteration at a time by the caller, so
//! the training loop keeps control between steps: progress, stop requests, resampling.

use super::nonfinite::NonFinite;
use super::TrainError;

/// A differentiable scalar function of a flat parameter vector.
pub trait Objective {
    /// Evaluates `f(x)` and writes `∇f(x)` into `grad` (same length as `x`).
    fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, TrainError>;
}

/// Any closure `FnMut(x, grad) -> f` is an objective (used for test functions).
impl<F: FnMut(&[f64], &mut [f64]) -> f64> Objective for F {
    fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
        Ok(self(x, grad))
    }
}

/// Adam (Kingma & Ba 2015) with bias correction:
///
/// ```text
/// m ← β₁ m + (1-β₁) g          v ← β₂ v + (1-β₂) g²
/// m̂ = m / (1-β₁ᵗ)              v̂ = v / (1-β₂ᵗ)
/// θ ← θ - lr · m̂ / (√v̂ + ε)
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to `√v̂` so a zero gradient gives a zero step.
    pub eps: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    /// Adam for `n` parameters with the usual constants (β₁ = 0.9, β₂ = 0.999, ε = 1e-8).
    pub fn new(n: usize, lr: f64) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// Whether the moments are those of `n` parameters.
    pub fn fits(&self, n: usize) -> bool {
        self.m.len() == n && self.v.len() == n
    }

    /// Why this state is not one Adam reaches (a checkpoint edited by hand), if it is
    /// not: a negative step count, decays outside `[0, 1)`, a learning rate or `ε` that is
    /// not positive, moments that are not finite or a second moment below zero.
    pub fn insane(&self) -> Option<String> {
        let decay = |b: f64| (0.0..1.0).contains(&b);
        let positive = |x: f64| x > 0.0 && x.is_finite();
        let (b1, b2, lr, eps) = (self.beta1, self.beta2, self.lr, self.eps);
        if self.t < 0 || !decay(b1) || !decay(b2) || !positive(lr) || !positive(eps) {
            return Some(format!(
                "Adam at step {} with beta1 {b1}, beta2 {b2}, lr {lr}, eps {eps}",
                self.t
            ));
        }
        let moments = self.m.iter().all(|x| x.is_finite())
            && self.v.iter().all(|x| x.is_finite() && *x >= 0.0);
        (!moments).then(|| "Adam's moments are not finite, or a second moment is negative".into())
    }

    /// Number of updates made so far.
    pub fn steps(&self) -> i32 {
        self.t
    }

    /// One update of `x` with the gradient `g` taken at `x`.
    pub fn update(&mut self, x: &mut [f64], g: &[f64]) {
        self.t = self.t.saturating_add(1);
        let c1 = 1.0 - self.beta1.powi(self.t);
        let c2 = 1.0 - self.beta2.powi(self.t);
        for i in 0..x.len() {
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g[i];
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g[i] * g[i];
            let (mh, vh) = (self.m[i] / c1, self.v[i] / c2);
            x[i] -= self.lr * mh / (vh.sqrt() + self.eps);
        }
    }

    /// Evaluates the objective at `x` and updates `x`; returns the loss before the update.
    pub fn step(&mut self, obj: &mut dyn Objective, x: &mut [f64]) -> Result<f64, TrainError> {
        let mut g = vec![0.0; x.len()];
        let f = obj.eval(x, &mut g)?;
        check_finite(f, &g)?;
        self.update(x, &g);
        Ok(f)
    }
}

/// A non-finite loss or gradient stops training with an error rather than corrupting the
/// parameters. The error holds the loss only; the training loop adds the step, the
/// residuals and the points ([`super::model::Model::diagnose`]).
pub(crate) fn check_finite(f: f64, g: &[f64]) -> Result<(), TrainError> {
    if f.is_finite() && g.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(TrainError::NonFinite(Box::new(NonFinite {
            loss: f,
            ..NonFinite::default()
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f(x) = Σ cᵢ (xᵢ - aᵢ)²`, minimum 0 at `a`.
    fn quadratic(x: &[f64], g: &mut [f64]) -> f64 {
        let a = [1.0, -2.0, 0.5];
        let c = [1.0, 10.0, 0.1];
        let mut f = 0.0;
        for i in 0..3 {
            f += c[i] * (x[i] - a[i]).powi(2);
            g[i] = 2.0 * c[i] * (x[i] - a[i]);
        }
        f
    }

    #[test]
    fn adam_first_step_moves_each_coordinate_by_lr() {
        // With bias correction, m̂ = g and v̂ = g² after one step: the step is lr·sign(g).
        let mut adam = Adam::new(2, 0.1);
        let mut x = [1.0, -1.0];
        adam.update(&mut x, &[3.0, -0.002]);
        assert!((x[0] - 0.9).abs() < 1e-6 && (x[1] + 0.9).abs() < 1e-4);
    }

    #[test]
    fn adam_minimises_an_ill_conditioned_quadratic() {
        let mut adam = Adam::new(3, 0.05);
        let mut x = [0.0; 3];
        let mut f = 0.0;
        let mut obj = quadratic;
        for _ in 0..3000 {
            f = adam.step(&mut obj, &mut x).unwrap();
        }
        // tolerance: Adam with a constant lr hovers within ~lr of the minimum
        assert!(f < 1e-3, "f = {f}");
        assert!((x[0] - 1.0).abs() < 0.05 && (x[1] + 2.0).abs() < 0.05);
    }

    #[test]
    fn adam_reports_non_finite_losses() {
        let mut adam = Adam::new(1, 0.1);
        let mut obj = |_: &[f64], g: &mut [f64]| {
            g[0] = 1.0;
            f64::NAN
        };
        let mut x = [0.0];
        assert!(matches!(
            adam.step(&mut obj, &mut x),
            Err(TrainError::NonFinite(e)) if e.loss.is_nan()
        ));
        assert_eq!(x[0], 0.0);
    }
}
