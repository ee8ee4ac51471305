//! L-BFGS with a strong-Wolfe line search (Nocedal & Wright, *Numerical Optimization*,
//! 2nd ed., Algorithms 7.4, 3.5 and 3.6).
//!
//! Implemented here rather than taken from `argmin`: argmin's cost and gradient traits take
//! `&self`, while a compiled objective mutates its bound buffers on every evaluation, and
//! argmin's executor owns the iteration loop, while training must stop cleanly on request,
//! resample points between iterations and report progress per iteration. The algorithm is
//! short; the tests check it on the Rosenbrock function and on quadratics, where its
//! behaviour is known exactly.
//!
//! - Direction: `d = -H g` by the two-loop recursion over the last `m` pairs
//!   `sₖ = xₖ₊₁ - xₖ`, `yₖ = gₖ₊₁ - gₖ`, with `H₀ = (sᵀy / yᵀy) I` from the newest pair.
//!   Pairs with `sᵀy ≤ 0` (curvature not positive) are skipped, keeping `H` positive
//!   definite.
//! - Step length `α`: the first that satisfies the strong Wolfe conditions
//!   `φ(α) ≤ φ(0) + c₁ α φ'(0)` and `|φ'(α)| ≤ c₂ |φ'(0)|` for `φ(α) = f(x + α d)`,
//!   found by bracketing (doubling `α`) then zooming with safeguarded cubic interpolation.
//!   In single precision the curvature condition can be unreachable below the noise of the
//!   gradient; a zoom that runs out of evaluations then accepts its best point if that point
//!   decreased `f` (sufficient decrease holds for it by construction).

use super::optim::{check_finite, Objective};
use super::TrainError;
use std::collections::VecDeque;

/// What one L-BFGS iteration achieved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LbfgsStep {
    /// Moved to a point with the loss given.
    Moved(f64),
    /// The gradient vanished (to `gtol`): nothing left to do. Loss at the current point.
    Converged(f64),
    /// No step along the L-BFGS or the steepest-descent direction decreased the loss
    /// (typically at the floating-point noise floor). Loss at the current, unchanged point.
    Stalled(f64),
}

impl LbfgsStep {
    /// The loss at the point the iteration ended on.
    pub fn loss(self) -> f64 {
        match self {
            LbfgsStep::Moved(f) | LbfgsStep::Converged(f) | LbfgsStep::Stalled(f) => f,
        }
    }
}

/// L-BFGS state: curvature pairs and the loss and gradient at the current point.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Lbfgs {
    /// Number of `(s, y)` pairs kept.
    pub memory: usize,
    /// Sufficient-decrease constant `c₁`.
    pub c1: f64,
    /// Curvature constant `c₂`.
    pub c2: f64,
    /// Most function evaluations one line search may use.
    pub max_evals: usize,
    /// Converged when `‖g‖∞ ≤ gtol`.
    pub gtol: f64,
    pairs: VecDeque<Pair>,
    current: Option<(f64, Vec<f64>)>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
    rho: f64,
}

/// A trial point of the line search: step, loss, gradient, directional derivative.
#[derive(Clone, Debug)]
pub(super) struct Trial {
    pub a: f64,
    pub f: f64,
    pub g: Vec<f64>,
    pub dg: f64,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Lbfgs::new(50)
    }
}

impl Lbfgs {
    /// L-BFGS keeping `memory` pairs, `c₁ = 1e-4`, `c₂ = 0.9`, 25 evaluations per search.
    pub fn new(memory: usize) -> Lbfgs {
        Lbfgs {
            memory,
            c1: 1e-4,
            c2: 0.9,
            max_evals: 25,
            gtol: 1e-12,
            pairs: VecDeque::new(),
            current: None,
        }
    }

    /// Whether every stored vector has `n` entries.
    pub fn fits(&self, n: usize) -> bool {
        let pairs = (self.pairs.iter()).all(|p| p.s.len() == n && p.y.len() == n);
        pairs && self.current.as_ref().is_none_or(|(_, g)| g.len() == n)
    }

    /// Forgets the curvature pairs and the cached loss: call it when the objective changes
    /// (new collocation points).
    pub fn reset(&mut self) {
        self.pairs.clear();
        self.current = None;
    }

    /// One iteration from `x`; `x` is updated in place when the iteration moves.
    /// On return the objective was last evaluated at the returned `x`.
    pub fn step(
        &mut self,
        obj: &mut dyn Objective,
        x: &mut [f64],
    ) -> Result<LbfgsStep, TrainError> {
        let (f0, g0) = match start(&mut self.current, obj, x, self.gtol)? {
            Ok(at) => at,
            Err(converged) => return Ok(converged),
        };
        if let Some((d, t)) = self.search(obj, x, f0, &g0)? {
            return Ok(self.accept(x, &g0, &d, t));
        }
        stall(&mut self.current, obj, x)
    }

    /// A line search along the L-BFGS direction, then, if that fails with curvature pairs
    /// in memory, along steepest descent with the memory cleared. Returns the direction
    /// and the accepted trial.
    fn search(
        &mut self,
        obj: &mut dyn Objective,
        x: &[f64],
        f0: f64,
        g0: &[f64],
    ) -> Result<Option<(Vec<f64>, Trial)>, TrainError> {
        let d = self.direction(g0);
        let a0 = if self.pairs.is_empty() {
            (1.0 / norm1(g0)).min(1.0)
        } else {
            1.0
        };
        if let Some(t) = self.line_search(obj, x, f0, g0, &d, a0)? {
            return Ok(Some((d, t)));
        }
        if self.pairs.is_empty() {
            return Ok(None);
        }
        self.pairs.clear();
        let d: Vec<f64> = g0.iter().map(|v| -v).collect();
        let t = self.line_search(obj, x, f0, g0, &d, (1.0 / norm1(g0)).min(1.0))?;
        Ok(t.map(|t| (d, t)))
    }

    /// Moves `x` by the accepted step `α d` and stores the new curvature pair.
    fn accept(&mut self, x: &mut [f64], g0: &[f64], d: &[f64], t: Trial) -> LbfgsStep {
        let s: Vec<f64> = d.iter().map(|di| t.a * di).collect();
        for (xi, si) in x.iter_mut().zip(&s) {
            *xi += si;
        }
        let y: Vec<f64> = t.g.iter().zip(g0).map(|(a, b)| a - b).collect();
        self.push_pair(s, y);
        self.current = Some((t.f, t.g));
        LbfgsStep::Moved(t.f)
    }

    fn push_pair(&mut self, s: Vec<f64>, y: Vec<f64>) {
        let sy = dot(&s, &y);
        if !sy.is_finite() || sy <= 1e-10 * dot(&y, &y) || self.memory == 0 {
            return;
        }
        if self.pairs.len() == self.memory {
            self.pairs.pop_front();
        }
        self.pairs.push_back(Pair {
            s,
            y,
            rho: 1.0 / sy,
        });
    }

    /// `-H g` by the two-loop recursion; steepest descent when that is not a descent
    /// direction (which positive curvature pairs rule out, except through rounding).
    fn direction(&mut self, g: &[f64]) -> Vec<f64> {
        let mut q: Vec<f64> = g.to_vec();
        let mut alpha = vec![0.0; self.pairs.len()];
        for (k, p) in self.pairs.iter().enumerate().rev() {
            alpha[k] = p.rho * dot(&p.s, &q);
            axpy(&mut q, -alpha[k], &p.y);
        }
        if let Some(p) = self.pairs.back() {
            let gamma = dot(&p.s, &p.y) / dot(&p.y, &p.y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for (k, p) in self.pairs.iter().enumerate() {
            let beta = p.rho * dot(&p.y, &q);
            axpy(&mut q, alpha[k] - beta, &p.s);
        }
        q.iter_mut().for_each(|v| *v = -*v);
        if dot(&q, g) < 0.0 {
            return q;
        }
        self.pairs.clear();
        g.iter().map(|v| -v).collect()
    }

    fn line_search(
        &self,
        obj: &mut dyn Objective,
        x: &[f64],
        f0: f64,
        g0: &[f64],
        d: &[f64],
        a0: f64,
    ) -> Result<Option<Trial>, TrainError> {
        let w = Wolfe {
            c1: self.c1,
            c2: self.c2,
            max_evals: self.max_evals,
        };
        w.search(obj, x, (f0, g0), d, a0)
    }
}

/// The strong-Wolfe line search's constants (shared with [`super::ssbfgs`]).
pub(super) struct Wolfe {
    pub c1: f64,
    pub c2: f64,
    pub max_evals: usize,
}

impl Wolfe {
    /// Algorithm 3.5: bracket a step along `d` from `x` (loss and gradient `at`) that
    /// satisfies the strong Wolfe conditions, starting at `a0`, then zoom.
    pub(super) fn search(
        &self,
        obj: &mut dyn Objective,
        x: &[f64],
        at: (f64, &[f64]),
        d: &[f64],
        a0: f64,
    ) -> Result<Option<Trial>, TrainError> {
        let (f0, g0) = at;
        let dg0 = dot(g0, d);
        let zero = Trial {
            a: 0.0,
            f: f0,
            g: g0.to_vec(),
            dg: dg0,
        };
        let mut ls = Search {
            obj,
            x,
            d,
            f0,
            dg0,
            c1: self.c1,
            c2: self.c2,
            evals: 0,
            max: self.max_evals,
        };
        let mut prev = zero;
        let mut a = a0;
        while ls.evals < ls.max {
            let t = ls.trial(a)?;
            if !ls.armijo(&t) || (prev.a > 0.0 && t.f >= prev.f) {
                return ls.zoom(prev, t);
            }
            if ls.curvature(&t) {
                return Ok(Some(t));
            }
            if t.dg >= 0.0 {
                return ls.zoom(t, prev);
            }
            prev = t;
            a *= 2.0;
        }
        Ok(decreased(prev, f0))
    }
}

/// The state of one line search along `d` from `x`.
struct Search<'a> {
    obj: &'a mut dyn Objective,
    x: &'a [f64],
    d: &'a [f64],
    f0: f64,
    dg0: f64,
    c1: f64,
    c2: f64,
    evals: usize,
    max: usize,
}

impl Search<'_> {
    /// Evaluates `φ(a)` and `φ'(a)`. A non-finite loss (the step left the region where the
    /// objective is defined) counts as a failed sufficient-decrease test, not an error.
    fn trial(&mut self, a: f64) -> Result<Trial, TrainError> {
        self.evals += 1;
        let xa: Vec<f64> = self.x.iter().zip(self.d).map(|(x, d)| x + a * d).collect();
        let mut g = vec![0.0; xa.len()];
        let f = self.obj.eval(&xa, &mut g)?;
        let ok = check_finite(f, &g).is_ok();
        let f = if ok { f } else { f64::INFINITY };
        let dg = if ok { dot(&g, self.d) } else { f64::NAN };
        Ok(Trial { a, f, g, dg })
    }

    /// `φ(a) ≤ φ(0) + c₁ a φ'(0)`, and `φ(a) < φ(0)` strictly: for tiny steps the right
    /// side rounds to `φ(0)`, and a step that does not decrease `f` is no progress.
    fn armijo(&self, t: &Trial) -> bool {
        t.f <= self.f0 + self.c1 * t.a * self.dg0 && t.f < self.f0
    }

    /// `|φ'(a)| ≤ c₂ |φ'(0)|`.
    fn curvature(&self, t: &Trial) -> bool {
        t.dg.abs() <= -self.c2 * self.dg0
    }

    /// Algorithm 3.6: shrink `[lo, hi]` (`lo` satisfies sufficient decrease and has the
    /// lower loss) until a step satisfies both conditions.
    fn zoom(&mut self, mut lo: Trial, mut hi: Trial) -> Result<Option<Trial>, TrainError> {
        while self.evals < self.max {
            let a = interpolate(&lo, &hi);
            if (a - lo.a).abs() <= 1e-16 * lo.a.abs().max(1.0) {
                break;
            }
            let t = self.trial(a)?;
            if !self.armijo(&t) || t.f >= lo.f {
                hi = t;
                continue;
            }
            if self.curvature(&t) {
                return Ok(Some(t));
            }
            if t.dg * (hi.a - lo.a) >= 0.0 {
                hi = lo;
            }
            lo = t;
        }
        Ok(decreased(lo, self.f0))
    }
}

/// The best point of a search that ran out of evaluations, if it moved and decreased `f`.
fn decreased(t: Trial, f0: f64) -> Option<Trial> {
    (t.a > 0.0 && t.f < f0).then_some(t)
}

/// The minimiser of the cubic through `(lo.a, lo.f, lo.dg)` and `(hi.a, hi.f, hi.dg)`
/// (Nocedal & Wright eq. 3.59), kept at least a tenth of the interval away from its ends;
/// bisection when the cubic has no minimiser there.
fn interpolate(lo: &Trial, hi: &Trial) -> f64 {
    let (a, b) = (lo.a, hi.a);
    let bisect = 0.5 * (a + b);
    if !hi.f.is_finite() || !hi.dg.is_finite() {
        return bisect;
    }
    let d1 = lo.dg + hi.dg - 3.0 * (lo.f - hi.f) / (a - b);
    let disc = d1 * d1 - lo.dg * hi.dg;
    if disc < 0.0 {
        return bisect;
    }
    let d2 = (b - a).signum() * disc.sqrt();
    let c = b - (b - a) * (hi.dg + d2 - d1) / (hi.dg - lo.dg + 2.0 * d2);
    let (lo_end, hi_end) = (a.min(b), a.max(b));
    let margin = 0.1 * (hi_end - lo_end);
    if c.is_finite() && c >= lo_end + margin && c <= hi_end - margin {
        c
    } else {
        bisect
    }
}

/// The loss and gradient at `x` that an iteration starts from (`current`, cached by the
/// last iteration, or evaluated); `Err(Converged)` when the gradient vanished (to `gtol`),
/// with them cached again.
pub(super) type Start = Result<(f64, Vec<f64>), LbfgsStep>;

pub(super) fn start(
    current: &mut Option<(f64, Vec<f64>)>,
    obj: &mut dyn Objective,
    x: &[f64],
    gtol: f64,
) -> Result<Start, TrainError> {
    let (f0, g0) = match current.take() {
        Some(c) => c,
        None => eval(obj, x)?,
    };
    if g0.iter().all(|v| v.abs() <= gtol) {
        *current = Some((f0, g0));
        return Ok(Err(LbfgsStep::Converged(f0)));
    }
    Ok(Ok((f0, g0)))
}

/// No step from `x` decreased the loss: evaluates there again (the search left the
/// objective's state elsewhere), caches it and reports the stall.
pub(super) fn stall(
    current: &mut Option<(f64, Vec<f64>)>,
    obj: &mut dyn Objective,
    x: &[f64],
) -> Result<LbfgsStep, TrainError> {
    let (f, g) = eval(obj, x)?;
    *current = Some((f, g));
    Ok(LbfgsStep::Stalled(f))
}

pub(super) fn eval(obj: &mut dyn Objective, x: &[f64]) -> Result<(f64, Vec<f64>), TrainError> {
    let mut g = vec![0.0; x.len()];
    let f = obj.eval(x, &mut g)?;
    check_finite(f, &g)?;
    Ok((f, g))
}

pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(super) fn norm1(a: &[f64]) -> f64 {
    a.iter().map(|v| v.abs()).sum()
}

/// `y += a x`.
fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    y.iter_mut().zip(x).for_each(|(yi, xi)| *yi += a * xi);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock in n dimensions: `Σ 100 (xᵢ₊₁ - xᵢ²)² + (1 - xᵢ)²`, minimum 0 at `1`.
    fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
        g.iter_mut().for_each(|v| *v = 0.0);
        let mut f = 0.0;
        for i in 0..x.len() - 1 {
            let (a, b) = (x[i + 1] - x[i] * x[i], 1.0 - x[i]);
            f += 100.0 * a * a + b * b;
            g[i] += -400.0 * a * x[i] - 2.0 * b;
            g[i + 1] += 200.0 * a;
        }
        f
    }

    fn run(obj: &mut dyn Objective, x: &mut [f64], iters: usize) -> (LbfgsStep, usize) {
        let mut opt = Lbfgs::new(10);
        let mut last = LbfgsStep::Moved(f64::NAN);
        for k in 0..iters {
            last = opt.step(obj, x).unwrap();
            if !matches!(last, LbfgsStep::Moved(_)) {
                return (last, k);
            }
        }
        (last, iters)
    }

    #[test]
    fn rosenbrock_2d_from_the_classic_start() {
        let mut x = [-1.2, 1.0];
        let mut obj = rosenbrock;
        let (last, iters) = run(&mut obj, &mut x, 200);
        // tolerance: the minimiser is (1, 1); L-BFGS reaches it to ~1e-8 in < 100 iterations
        assert!(last.loss() < 1e-14, "{last:?} after {iters}");
        assert!(
            (x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6,
            "{x:?}"
        );
        assert!(iters < 100, "{iters} iterations");
    }

    #[test]
    fn rosenbrock_10d() {
        let mut x = [0.0; 10];
        let mut obj = rosenbrock;
        let (last, _) = run(&mut obj, &mut x, 500);
        assert!(last.loss() < 1e-12, "{last:?}");
        assert!(x.iter().all(|v| (v - 1.0).abs() < 1e-5), "{x:?}");
    }

    #[test]
    fn quadratic_converges_in_at_most_n_plus_a_few_iterations() {
        // f = ½ xᵀ A x - bᵀx with A = diag(1..=8): BFGS with exact-enough line searches
        // terminates in about n iterations on a quadratic.
        let mut obj = |x: &[f64], g: &mut [f64]| {
            let mut f = 0.0;
            for i in 0..x.len() {
                let a = (i + 1) as f64;
                g[i] = a * x[i] - 1.0;
                f += 0.5 * a * x[i] * x[i] - x[i];
            }
            f
        };
        let mut x = [0.0; 8];
        let (_, _) = run(&mut obj, &mut x, 30);
        for (i, v) in x.iter().enumerate() {
            assert!((v - 1.0 / (i + 1) as f64).abs() < 1e-8, "x[{i}] = {v}");
        }
    }

    #[test]
    fn every_accepted_step_satisfies_sufficient_decrease() {
        let mut x = [-1.2, 1.0, 0.5, -0.3];
        let mut obj = rosenbrock;
        let mut opt = Lbfgs::new(5);
        let mut prev = rosenbrock(&x, &mut [0.0; 4]);
        for _ in 0..50 {
            if let LbfgsStep::Moved(f) = opt.step(&mut obj, &mut x).unwrap() {
                assert!(f < prev, "{f} >= {prev}");
                prev = f;
            }
        }
    }

    #[test]
    fn zero_gradient_is_converged_and_does_not_move() {
        let mut obj = |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * x[0];
            x[0] * x[0]
        };
        let mut x = [0.0];
        assert_eq!(
            Lbfgs::new(3).step(&mut obj, &mut x).unwrap(),
            LbfgsStep::Converged(0.0)
        );
    }

    #[test]
    fn a_noisy_flat_objective_stalls_without_moving() {
        // f is constant up to noise that no step can beat: the search must give up.
        let mut calls = 0u32;
        let mut obj = |_: &[f64], g: &mut [f64]| {
            calls += 1;
            g[0] = 1.0;
            1.0 + if calls.is_multiple_of(2) { 1e-9 } else { 0.0 }
        };
        let mut x = [3.0];
        let r = Lbfgs::new(3).step(&mut obj, &mut x).unwrap();
        assert!(matches!(r, LbfgsStep::Stalled(_)), "{r:?}");
        assert_eq!(x[0], 3.0);
    }
}
