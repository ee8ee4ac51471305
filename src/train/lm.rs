//! Levenberg–Marquardt on the residual Jacobian: Gauss–Newton with adaptive damping.
//!
//! The PINN loss is a sum of squares, `L(θ) = Σ_R W_R/N_R Σᵢ r_R,ᵢ(θ)² = ‖r(θ)‖²` once each
//! residual value is scaled by `√(W_R/N_R)` ([`LeastSquares`]). Gauss–Newton replaces `L`
//! near `θ` by `‖r + Jδ‖²` (`J = ∂r/∂θ`, exact, from the compiled per-point reverse sweep)
//! and Levenberg–Marquardt damps the step:
//!
//! ```text
//! (JᵀJ + λ D) δ = −Jᵀr,    D = diag(JᵀJ) (floored at 1e-12 · its largest entry)
//! ```
//!
//! `JᵀJ` is a symmetric rank-`M` update computed once per iteration (lower half, `faer`'s
//! triangular GEMM); each trial `λ` costs one Cholesky factorisation and one loss
//! evaluation. A trial that lowers the loss is taken and `λ` shrinks by Nielsen's rule
//! `λ ← λ · max(1/3, 1 − (2ρ − 1)³)`, where `ρ` is the actual over the predicted decrease
//! (`−gᵀδ + λ δᵀDδ` for `g = Jᵀr`, from the normal equations); a trial that does not is
//! rejected and `λ ← λν`, `ν ← 2ν` (Nielsen 1999; Madsen, Nielsen & Tingleff, *Methods
//! for non-linear least squares problems*, 2004, §3.2).
//!
//! The dense `P × P` system is what limits it: memory `8P²` bytes (twice, for the damped
//! copy) and `P³/3` flops per trial. `J` itself need not be kept: a compiled objective adds
//! `JᵀJ` and `Jᵀr` up tile by tile ([`NormalEquations`]), so the number of residual values
//! costs time, not memory. [`plan_memory`] refuses sizes the machine cannot hold, before
//! any work.

use super::lbfgs::{dot, LbfgsStep};
use super::optim::{check_finite, Objective};
use super::TrainError;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Conj, Mat, MatRef, Par};

/// A loss `‖r‖²` with the Jacobian of `r`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeastSquares {
    /// The (scaled) residual values.
    pub r: Vec<f64>,
    /// `∂r/∂θ`, row-major `[r.len(), cols]`.
    pub j: Vec<f64>,
    /// `θ.len()`.
    pub cols: usize,
}

/// An objective that is a sum of squares and can give its residuals' Jacobian.
pub trait Residuals: Objective {
    /// The residuals and their Jacobian at `x`; `‖r‖²` is the objective's value.
    fn least_squares(&mut self, x: &[f64]) -> Result<LeastSquares, TrainError>;

    /// The loss `‖r‖²` at `x` and its Gauss–Newton system. By default from
    /// [`Residuals::least_squares`], keeping `J` (for `Jᵀw`); a compiled objective adds
    /// the system up tile by tile ([`NormalEquations`]), and a distributed one gathers
    /// the rows of its ranks.
    fn gauss_newton(&mut self, x: &[f64]) -> Result<(f64, GaussNewton), TrainError> {
        let ls = self.least_squares(x)?;
        let loss = ls.r.iter().map(|r| r * r).sum();
        Ok((loss, GaussNewton::keeping(ls)))
    }

    /// The residuals `r` at `x` (those of [`Residuals::least_squares`]) without their
    /// Jacobian. By default from [`Residuals::least_squares`]; a compiled objective runs
    /// its cheaper loss program.
    fn residuals(&mut self, x: &[f64]) -> Result<Vec<f64>, TrainError> {
        Ok(self.least_squares(x)?.r)
    }

    /// `Jᵀw` at `x` for one value `w` per residual value: what the geodesic correction
    /// needs from a system that did not keep `J` ([`NormalEquations`]). By default from
    /// [`Residuals::least_squares`]; a compiled objective runs its Jacobian program again,
    /// tile by tile, without keeping `J`.
    fn jacobian_transpose_times(&mut self, x: &[f64], w: &[f64]) -> Result<Vec<f64>, TrainError> {
        let ls = self.least_squares(x)?;
        if w.len() != ls.r.len() {
            let (expected, found) = (ls.r.len(), w.len());
            return Err(TrainError::GradLength { expected, found });
        }
        Ok(transpose_times(&ls.j, w, ls.cols))
    }

    /// Takes back the system of a finished iteration, so that the next can reuse its
    /// buffers (a compiled objective writes the next `J` into the last one's memory
    /// instead of touching hundreds of fresh megabytes). By default it is dropped.
    fn recycle(&mut self, gn: GaussNewton) {
        drop(gn);
    }
}

/// Levenberg–Marquardt state: the damping and its growth factor.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Lm {
    /// The damping `λ` (relative to `diag(JᵀJ)`), adapted every trial.
    pub lambda: f64,
    /// Most trial steps per iteration; when none lowers the loss, the iteration stalls.
    pub max_tries: usize,
    nu: f64,
    /// Geodesic acceleration (see [`Lm::step`]; training turns it on unless told not to,
    /// the bare state has it off).
    #[serde(default)]
    pub geodesic: bool,
}

impl Default for Lm {
    fn default() -> Lm {
        Lm {
            lambda: 1e-3,
            max_tries: 40,
            nu: 2.0,
            geodesic: false,
        }
    }
}

impl Lm {
    /// The default state, with geodesic acceleration or without.
    pub fn with_geodesic(geodesic: bool) -> Lm {
        Lm {
            geodesic,
            ..Lm::default()
        }
    }
}

/// The finite-difference step `h` of the second directional derivative (Transtrum &
/// Sethna's choice).
const GEODESIC_H: f64 = 0.1;

/// The largest ratio `2‖a‖/‖v‖` (in the `D`-norm) of an accelerated trial: beyond it the
/// second-order term is not small and the trial is rejected (Transtrum & Sethna's `α`).
const GEODESIC_ALPHA: f64 = 0.75;

/// The damped Gauss–Newton system of one iteration, `(JᵀJ + λD) δ = −Jᵀr`, held in the
/// smaller of the two spaces it can be solved in:
///
/// - parameters (`M ≥ P`): `A = JᵀJ` (`P × P`), one Cholesky of `A + λD` per trial;
/// - points (`M < P`): with `Ĵ = J D^{−½}`, the push-through identity
///   `(ĴᵀĴ + λI)⁻¹ Ĵᵀ = Ĵᵀ (ĴĴᵀ + λI)⁻¹` turns the solve into one of the `M × M` Gram
///   matrix `K = ĴĴᵀ`: `δ = −D^{−½} Ĵᵀ (K + λI)⁻¹ r`. Same step, `(M/P)³` of the
///   factorisation and `M/P` of the product.
pub struct GaussNewton {
    /// `g = Jᵀr`.
    g: Vec<f64>,
    /// Marquardt's scaling `D = diag(JᵀJ)`, floored.
    d: Vec<f64>,
    form: Form,
}

enum Form {
    /// `JᵀJ`, lower half, and `J` (row-major) when the system keeps it.
    Params(Mat<f64>, Option<Vec<f64>>),
    /// `ĴĴᵀ` (lower half), `Ĵᵀ` and `r`.
    Points {
        gram: Mat<f64>,
        jhat_t: Mat<f64>,
        r: Vec<f64>,
    },
}

impl GaussNewton {
    /// The system for `ls`, in the cheaper space.
    pub fn new(ls: &LeastSquares) -> GaussNewton {
        GaussNewton::with_form(ls, ls.r.len() < ls.cols)
    }

    /// [`GaussNewton::new`], keeping `J` for `Jᵀw` ([`Damped::solve_for`]; point space
    /// keeps it anyway, scaled, as `Ĵᵀ`).
    pub fn keeping(ls: LeastSquares) -> GaussNewton {
        let mut gn = GaussNewton::new(&ls);
        if let Form::Params(_, j) = &mut gn.form {
            *j = Some(ls.j);
        }
        gn
    }

    /// The system for `ls` in point space (`points`) or parameter space.
    pub fn with_form(ls: &LeastSquares, points: bool) -> GaussNewton {
        GaussNewton::with_form_on(ls, points, par())
    }

    /// [`GaussNewton::with_form`] with the products split `par` ways. Only the `Gram`
    /// products are split: their entries do not depend on the split, while a product with
    /// one column (`Jᵀr`) adds partial sums per thread, so it runs on one.
    fn with_form_on(ls: &LeastSquares, points: bool, par: Par) -> GaussNewton {
        let (m, p) = (ls.r.len(), ls.cols);
        let j = MatRef::from_row_major_slice(&ls.j, m, p);
        let r = MatRef::from_column_major_slice(&ls.r, m, 1);
        let mut g = Mat::<f64>::zeros(p, 1);
        faer::linalg::matmul::matmul(g.as_mut(), Accum::Replace, j.transpose(), r, 1.0, Par::Seq);
        let g: Vec<f64> = (0..p).map(|i| g[(i, 0)]).collect();
        if !points {
            let a = lower_gram(j.transpose(), par);
            let d = floored((0..p).map(|i| a[(i, i)]).collect());
            return GaussNewton {
                g,
                d,
                form: Form::Params(a, None),
            };
        }
        let mut d = vec![0.0; p];
        for row in ls.j.chunks_exact(p) {
            d.iter_mut().zip(row).for_each(|(d, v)| *d += v * v);
        }
        let d = floored(d);
        let inv: Vec<f64> = d.iter().map(|v| 1.0 / v.sqrt()).collect();
        // Ĵᵀ column by column: row i of J, scaled, is contiguous in both.
        let jhat_t = Mat::from_fn(p, m, |c, i| ls.j[i * p + c] * inv[c]);
        let gram = lower_gram(jhat_t.transpose(), par);
        let r = ls.r.clone();
        let form = Form::Points { gram, jhat_t, r };
        GaussNewton { g, d, form }
    }

    /// The `J` the system kept in parameter space ([`GaussNewton::keeping`],
    /// [`NormalEquations::finish_keeping`]), for reuse.
    pub fn into_jacobian(self) -> Option<Vec<f64>> {
        match self.form {
            Form::Params(_, j) => j,
            Form::Points { .. } => None,
        }
    }

    /// Whether the system can form `Jᵀw` itself ([`Damped::solve_for`]): it kept `J`
    /// (parameter space) or `Ĵᵀ` (point space).
    pub fn keeps_jacobian(&self) -> bool {
        !matches!(self.form, Form::Params(_, None))
    }

    /// `Jᵀr`, half the loss gradient.
    pub fn gradient(&self) -> &[f64] {
        &self.g
    }

    /// The damping scale `D`.
    pub fn scaling(&self) -> &[f64] {
        &self.d
    }

    /// `δ` solving `(JᵀJ + λD) δ = −Jᵀr`; `None` when the damped matrix is not numerically
    /// positive definite (λ too small for its rounding).
    pub fn solve(&self, lambda: f64) -> Option<Vec<f64>> {
        self.damped(lambda)?.step()
    }

    /// `−(JᵀJ + λD)⁻¹ Jᵀw` for a vector `w` of residual values (see [`Damped::solve_for`]).
    pub fn solve_for(&self, lambda: f64, w: &[f64]) -> Option<Vec<f64>> {
        self.damped(lambda)?.solve_for(w)
    }

    /// The system damped by `λ`, factored (Cholesky) once for every solve of a trial;
    /// `None` when it is not numerically positive definite (λ too small for its rounding).
    pub fn damped(&self, lambda: f64) -> Option<Damped<'_>> {
        self.damped_on(lambda, par())
    }

    /// [`GaussNewton::damped`] with the factorisation split `par` ways (its result does not
    /// depend on the split; the one-column products and triangular solves run on one
    /// thread, see [`GaussNewton::with_form_on`]).
    fn damped_on(&self, lambda: f64, par: Par) -> Option<Damped<'_>> {
        let l = match &self.form {
            Form::Params(a, _) => factor_shifted(a, |i| lambda * self.d[i], par)?,
            Form::Points { gram, .. } => factor_shifted(gram, |_| lambda, par)?,
        };
        Some(Damped { gn: self, l })
    }
}

/// The parameter-space system `JᵀJ`, `Jᵀr` added up block of rows after block of rows,
/// for a `J` too large to keep: memory `8P²` for any number of rows, where keeping `J` takes
/// `8MP`. Each block is a rank-`n` update of the lower half (`faer`'s triangular GEMM,
/// as [`GaussNewton::new`]); the finished system ([`NormalEquations::finish`]) keeps no `J`,
/// so the geodesic correction asks the objective for `Jᵀw`
/// ([`Residuals::jacobian_transpose_times`]).
pub struct NormalEquations {
    a: Mat<f64>,
    g: Vec<f64>,
}

impl NormalEquations {
    /// No rows yet, `p` parameters.
    pub fn new(p: usize) -> NormalEquations {
        NormalEquations {
            a: Mat::zeros(p, p),
            g: vec![0.0; p],
        }
    }

    /// Adds the rows `j` (`[r.len(), p]` row-major) of residual values `r`:
    /// `JᵀJ += jᵀj`, `Jᵀr += jᵀr`.
    pub fn add(&mut self, j: &[f64], r: &[f64]) -> Result<(), TrainError> {
        let p = self.g.len();
        if j.len() != r.len() * p {
            let (expected, found) = (r.len() * p, j.len());
            return Err(TrainError::GradLength { expected, found });
        }
        let b = MatRef::from_row_major_slice(j, r.len(), p);
        let (lower, full) = (BlockStructure::TriangularLower, BlockStructure::Rectangular);
        let a = self.a.as_mut();
        triangular::matmul(
            a,
            lower,
            Accum::Add,
            b.transpose(),
            full,
            b,
            full,
            1.0,
            par(),
        );
        let jtr = transpose_times(j, r, p);
        self.g.iter_mut().zip(jtr).for_each(|(g, v)| *g += v);
        Ok(())
    }

    /// The Gauss–Newton system of the rows added.
    pub fn finish(self) -> GaussNewton {
        self.finish_keeping(None)
    }

    /// The system of the rows added, keeping `j`, the same rows as one `J` (row-major,
    /// `P` columns), for `Jᵀw` ([`Damped::solve_for`]).
    pub fn finish_keeping(self, j: Option<Vec<f64>>) -> GaussNewton {
        let p = self.g.len();
        let d = floored((0..p).map(|i| self.a[(i, i)]).collect());
        GaussNewton {
            g: self.g,
            d,
            form: Form::Params(self.a, j),
        }
    }
}

/// One trial's damped system, `JᵀJ + λD` (parameter space) or `ĴĴᵀ + λI` (point space),
/// with its Cholesky factor: the step and the geodesic correction of a trial share it.
pub struct Damped<'a> {
    gn: &'a GaussNewton,
    /// The lower Cholesky factor.
    l: Mat<f64>,
}

impl Damped<'_> {
    /// The step `δ = −(JᵀJ + λD)⁻¹ Jᵀr`.
    pub fn step(&self) -> Option<Vec<f64>> {
        match &self.gn.form {
            Form::Params(..) => self.solve_with(&self.gn.g, None),
            Form::Points { r, .. } => self.solve_with(&[], Some(r)),
        }
    }

    /// `−(JᵀJ + λD)⁻¹ Jᵀw` for a vector `w` of residual values (the step is `w = r`);
    /// `None` when, in parameter space, the system did not keep `J`
    /// ([`GaussNewton::keeping`]).
    pub fn solve_for(&self, w: &[f64]) -> Option<Vec<f64>> {
        match &self.gn.form {
            Form::Params(_, j) => {
                let jtw = transpose_times(j.as_deref()?, w, self.gn.g.len());
                self.solve_with(&jtw, None)
            }
            Form::Points { .. } => self.solve_with(&[], Some(w)),
        }
    }

    /// `−(JᵀJ + λD)⁻¹ u` for `u = Jᵀw` formed elsewhere (by the objective, for a system
    /// that did not keep `J`); parameter space only (`None` in point space).
    pub fn solve_given(&self, jtw: &[f64]) -> Option<Vec<f64>> {
        match &self.gn.form {
            Form::Params(..) if jtw.len() == self.gn.g.len() => self.solve_with(jtw, None),
            _ => None,
        }
    }

    /// The damped solve with `Jᵀw` given (parameter space) or `w` (point space).
    fn solve_with(&self, jtw: &[f64], w: Option<&[f64]>) -> Option<Vec<f64>> {
        let (p, d) = (self.gn.g.len(), &self.gn.d);
        let x = match (&self.gn.form, w) {
            (Form::Params(..), _) => solve_factored(&self.l, Mat::from_fn(p, 1, |i, _| -jtw[i])),
            (Form::Points { .. }, None) => return None,
            (Form::Points { jhat_t, .. }, Some(r)) => {
                let y = solve_factored(&self.l, Mat::from_fn(r.len(), 1, |i, _| r[i]));
                let mut x = Mat::<f64>::zeros(p, 1);
                let (acc, jt) = (Accum::Replace, jhat_t.as_ref());
                faer::linalg::matmul::matmul(x.as_mut(), acc, jt, y.as_ref(), -1.0, Par::Seq);
                Mat::from_fn(p, 1, |i, _| x[(i, 0)] / d[i].sqrt())
            }
        };
        let x: Vec<f64> = (0..p).map(|i| x[(i, 0)]).collect();
        x.iter().all(|v| v.is_finite()).then_some(x)
    }
}

/// `Jᵀw` for `J` row-major with `p` columns, row by row in order (one thread).
fn transpose_times(j: &[f64], w: &[f64], p: usize) -> Vec<f64> {
    let mut out = vec![0.0; p];
    for (row, wi) in j.chunks_exact(p.max(1)).zip(w) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += v * wi);
    }
    out
}

/// Every core (rayon's pool). Everything split this way gives the same bits for any
/// number of threads (tested), so a run does not depend on the cores it gets — and `K`
/// processes, each forming the system of the gathered rows with its share of the cores,
/// hold one process's bits.
fn par() -> Par {
    Par::rayon(0)
}

/// `B Bᵀ`, lower half (faer's triangular GEMM: half the flops of a full product).
fn lower_gram(b: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    let n = b.nrows();
    let mut a = Mat::<f64>::zeros(n, n);
    let (lower, full) = (BlockStructure::TriangularLower, BlockStructure::Rectangular);
    triangular::matmul(
        a.as_mut(),
        lower,
        Accum::Replace,
        b,
        full,
        b.transpose(),
        full,
        1.0,
        par,
    );
    a
}

/// The lower Cholesky factor of `A + diag(shift)` (`A` by its lower half), factored
/// `par` ways; `None` when it is not numerically positive definite.
fn factor_shifted(a: &Mat<f64>, shift: impl Fn(usize) -> f64, par: Par) -> Option<Mat<f64>> {
    let mut l = a.clone();
    for i in 0..l.nrows() {
        l[(i, i)] += shift(i);
    }
    let scratch = llt::factor::cholesky_in_place_scratch::<f64>(l.nrows(), par, Default::default());
    let mut buf = MemBuffer::new(scratch);
    let stack = MemStack::new(&mut buf);
    llt::factor::cholesky_in_place(
        l.as_mut(),
        Default::default(),
        par,
        stack,
        Default::default(),
    )
    .ok()?;
    Some(l)
}

/// `(L Lᵀ)⁻¹ rhs` for a lower Cholesky factor `L`, on one thread (see
/// [`GaussNewton::with_form_on`]).
fn solve_factored(l: &Mat<f64>, mut rhs: Mat<f64>) -> Mat<f64> {
    let mut none = MemBuffer::new(StackReq::EMPTY);
    let stack = MemStack::new(&mut none);
    llt::solve::solve_in_place_with_conj(l.as_ref(), Conj::No, rhs.as_mut(), Par::Seq, stack);
    rhs
}

/// A scaling vector with every entry at least 1e-12 of its largest, so parameters the
/// residuals do not see still get a positive definite system.
fn floored(d: Vec<f64>) -> Vec<f64> {
    let floor = 1e-12 * d.iter().fold(0.0f64, |m, v| m.max(*v)).max(1e-300);
    d.into_iter().map(|v| v.max(floor)).collect()
}

impl Lm {
    /// One iteration from `x`: the Jacobian at `x`, then damped Gauss–Newton trials until
    /// one lowers the loss (then `x` moves there) or `max_tries` are spent (`Stalled`, `x`
    /// unchanged and evaluated last).
    ///
    /// With [`Lm::geodesic`] each trial adds half the geodesic acceleration to the step
    /// `v` (Transtrum & Sethna, *Improvements to the Levenberg–Marquardt algorithm for
    /// nonlinear least-squares minimization*, 2012): the residuals' second derivative
    /// along `v`, `r_vv ≈ (r(x + hv) − 2r(x) + r(x − hv))/h²` (two residual evaluations,
    /// `h = 0.1`), gives `a = −(JᵀJ + λD)⁻¹ Jᵀ r_vv` (`Jᵀ r_vv` from the kept `J` or, for
    /// a system added up by tiles, from the objective), the correction that keeps the step
    /// on the curved manifold of the residuals instead of its tangent; the trial is `v + a/2`,
    /// and is rejected like a failed one when `2‖a‖ > 0.75‖v‖` (`D`-norms: the expansion
    /// would not be valid). The gain ratio that adapts `λ` is measured on the model's
    /// prediction for `v`.
    pub fn step(
        &mut self,
        f: &mut impl Residuals,
        x: &mut Vec<f64>,
    ) -> Result<LbfgsStep, TrainError> {
        let (loss, gn) = f.gauss_newton(x)?;
        let step = self.trials(f, x, loss, &gn);
        f.recycle(gn);
        step
    }

    /// The trials of [`Lm::step`] on the system `gn` at `x`, where the loss is `loss`.
    fn trials(
        &mut self,
        f: &mut impl Residuals,
        x: &mut Vec<f64>,
        loss: f64,
        gn: &GaussNewton,
    ) -> Result<LbfgsStep, TrainError> {
        let (g, d) = (gn.gradient(), gn.scaling());
        check_finite(loss, g)?;
        if g.iter().all(|v| *v == 0.0) {
            return Ok(LbfgsStep::Converged(loss));
        }
        // the residuals at x, from the program the accelerated trials evaluate
        let r0 = match self.geodesic {
            true => Some(f.residuals(x)?),
            false => None,
        };
        let mut grad = vec![0.0; x.len()];
        for _ in 0..self.max_tries {
            // one factorisation per trial, for the step and its acceleration
            let Some(damped) = gn.damped(self.lambda) else {
                self.reject();
                continue;
            };
            let Some(v) = damped.step() else {
                self.reject();
                continue;
            };
            let delta = match &r0 {
                None => v.clone(),
                Some(r0) => match self.accelerated(f, &damped, x, &v, r0)? {
                    Some(delta) => delta,
                    None => {
                        self.reject();
                        continue;
                    }
                },
            };
            let trial: Vec<f64> = x.iter().zip(&delta).map(|(a, b)| a + b).collect();
            let f_new = f.eval(&trial, &mut grad)?;
            if f_new.is_finite() && f_new < loss {
                let dd: f64 = (v.iter().zip(d)).map(|(v, w)| v * v * w).sum();
                let predicted = -dot(g, &v) + self.lambda * dd;
                self.accept((loss - f_new) / predicted);
                *x = trial;
                return Ok(LbfgsStep::Moved(f_new));
            }
            self.reject();
        }
        let f0 = f.eval(x, &mut grad)?;
        Ok(LbfgsStep::Stalled(f0))
    }

    /// The accelerated step `v + a/2` of [`Lm::step`], or `None` when the acceleration is
    /// too large against `v` (or cannot be formed).
    fn accelerated(
        &self,
        f: &mut impl Residuals,
        damped: &Damped,
        x: &[f64],
        v: &[f64],
        r0: &[f64],
    ) -> Result<Option<Vec<f64>>, TrainError> {
        let gn = damped.gn;
        let rvv = second_derivative_along(f, x, v, r0)?;
        if !rvv.iter().all(|v| v.is_finite()) {
            return Ok(None);
        }
        let a = match gn.keeps_jacobian() {
            true => damped.solve_for(&rvv),
            false => {
                let jtw = f.jacobian_transpose_times(x, &rvv)?;
                damped.solve_given(&jtw)
            }
        };
        let Some(a) = a else {
            return Ok(None);
        };
        let d = gn.scaling();
        let norm = |u: &[f64]| {
            (u.iter().zip(d))
                .map(|(u, d)| u * u * d)
                .sum::<f64>()
                .sqrt()
        };
        let ratio = 2.0 * norm(&a) / norm(v);
        // (a NaN ratio is no acceleration either)
        if ratio.is_nan() || ratio > GEODESIC_ALPHA {
            return Ok(None);
        }
        Ok(Some(v.iter().zip(&a).map(|(v, a)| v + 0.5 * a).collect()))
    }

    /// Nielsen's update after a step with gain ratio `rho`.
    fn accept(&mut self, rho: f64) {
        let shrink = (1.0 - (2.0 * rho - 1.0).powi(3)).max(1.0 / 3.0);
        self.lambda = (self.lambda * shrink).max(1e-15);
        self.nu = 2.0;
    }

    fn reject(&mut self) {
        self.lambda = (self.lambda * self.nu).min(1e16);
        self.nu *= 2.0;
    }
}

/// The residuals' second directional derivative `r_vv` at `x` along `v` (`r0 = r(x)`), by
/// the central quotient `r_vv ≈ (r(x + hv) − 2r + r(x − hv))/h²` with `h = 0.1`: from
/// `r(x ± hv) = r ± hJv + (h²/2) r_vv ± (h³/6) r_vvv + O(h⁴)`, exact to `O(h²)` with two
/// residual evaluations and no `J` (Transtrum & Sethna's one-sided form,
/// `(2/h)((r(x + hv) − r)/h − Jv)`, is `O(h)` and needs `Jv`).
fn second_derivative_along(
    f: &mut impl Residuals,
    x: &[f64],
    v: &[f64],
    r0: &[f64],
) -> Result<Vec<f64>, TrainError> {
    let h = GEODESIC_H;
    let at = |s: f64| -> Vec<f64> { x.iter().zip(v).map(|(x, v)| x + s * v).collect() };
    let (ahead, behind) = (f.residuals(&at(h))?, f.residuals(&at(-h))?);
    if ahead.len() != r0.len() || behind.len() != r0.len() {
        return Err(TrainError::GradLength {
            expected: r0.len(),
            found: ahead.len().min(behind.len()),
        });
    }
    Ok((ahead.iter().zip(r0).zip(&behind))
        .map(|((a, r), b)| (a - 2.0 * r + b) / (h * h))
        .collect())
}

/// Bytes the dense method needs for `p` parameters and `m` residual values: `J` and its
/// scaled copy, and the `k × k` system (`k = min(p, m)`, see [`GaussNewton`]) with its
/// damped copy.
pub fn bytes_needed(p: usize, m: usize) -> u64 {
    let k = p.min(m) as u64;
    8 * (2 * k * k + 2 * m as u64 * p as u64)
}

/// Refuses a Jacobian and Gauss–Newton system (see [`bytes_needed`]) that the machine's
/// available memory (`/proc/meminfo`) cannot hold with room to spare, naming the sizes and
/// the methods that need no such system.
pub fn check_memory(p: usize, m: usize) -> Result<(), TrainError> {
    let k = p.min(m);
    let what = format!("lm needs the {m} x {p} Jacobian and a dense {k} x {k} Gauss-Newton system");
    check_bytes(&what, bytes_needed(p, m), p)
}

/// How `lm` forms its Gauss–Newton system ([`plan_memory`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SystemPlan {
    /// From the whole `J` ([`GaussNewton::keeping`]): point space (`M < P`), where `J` is
    /// smaller than the `P × P` matrix would be.
    #[default]
    Whole,
    /// Added up tile by tile in parameter space ([`NormalEquations`]), each tile's rows
    /// still in cache; with `keep_j` the scaled rows are kept as `J` too, so that `Jᵀw`
    /// costs one product instead of another pass of the Jacobian program. The ranks of a
    /// distributed run gather `J`'s rows and add them up over one process's tiles, to hold
    /// one process's bits.
    Tiles { keep_j: bool },
}

/// The size of `J` (bytes) up to which [`SystemPlan::Tiles`] keeps it: a kept `J` saves
/// each accelerated trial a pass of the Jacobian program (0.11 s of a 2–3 s step on
/// Burgers, M = 10 000, P = 3021), and past a gigabyte its memory matters more.
pub const KEEP_J_BYTES: u64 = 1 << 30;

/// How `lm` holds a problem of `p` parameters and `m` residual values whose tiles have at
/// most `tile_rows` rows: point space from the whole `J` when `m < p`; otherwise the
/// parameter-space system added up by tiles, keeping `J` when it is at most
/// [`KEEP_J_BYTES`] and fits. An error when the machine cannot hold even the `P × P`
/// system ([`check_memory`], [`bytes_streamed`]). Adding up by tiles takes no longer than
/// the product of a whole `J` (`cargo bench --bench jacobian`), and without `J` the
/// number of residual values costs time, not memory.
pub fn plan_memory(p: usize, m: usize, tile_rows: usize) -> Result<SystemPlan, TrainError> {
    plan_memory_with(p, m, tile_rows, available_memory())
}

/// [`plan_memory`] on a machine with `avail` bytes of memory available (`None`: unknown,
/// nothing refused).
fn plan_memory_with(
    p: usize,
    m: usize,
    tile_rows: usize,
    avail: Option<u64>,
) -> Result<SystemPlan, TrainError> {
    if m < p {
        let what = format!("lm needs the {m} x {m} point-space system and the {m} x {p} Jacobian");
        return check_bytes_with(&what, bytes_needed(p, m), p, avail).map(|_| SystemPlan::Whole);
    }
    let (j_bytes, streamed) = (8 * m as u64 * p as u64, bytes_streamed(p, tile_rows));
    let what = |kept: &str| {
        format!("lm adds a dense {p} x {p} Gauss-Newton system up over tiles of the {m} x {p} Jacobian{kept}")
    };
    let keep = check_bytes_with(&what(", kept"), streamed + j_bytes, p, avail);
    if j_bytes <= KEEP_J_BYTES && keep.is_ok() {
        return Ok(SystemPlan::Tiles { keep_j: true });
    }
    check_bytes_with(&what(""), streamed, p, avail)?;
    Ok(SystemPlan::Tiles { keep_j: false })
}

/// Bytes of the system added up tile by tile: `JᵀJ` and its damped copy, and one tile's
/// rows of `J` twice (the program's outputs and their scaled copy).
pub fn bytes_streamed(p: usize, tile_rows: usize) -> u64 {
    8 * (2 * p as u64 * p as u64 + 2 * tile_rows as u64 * p as u64)
}

/// [`check_memory`] for one of `local` processes of a distributed run on this machine
/// that owns `mine` of the `m` residual values: each holds its rows of `J` and, gathered,
/// the whole `J` with the system, as one process does (see `Model::gauss_newton`).
pub fn check_memory_shared(
    p: usize,
    m: usize,
    mine: usize,
    local: usize,
) -> Result<(), TrainError> {
    let one = bytes_needed(p, m) + 8 * mine as u64 * p as u64;
    let what = format!(
        "lm needs about {:.1} GiB on each of the {local} processes of this machine for the \
         Jacobian and the Gauss-Newton system",
        gib(one)
    );
    check_bytes(&what, one.saturating_mul(local.max(1) as u64), p)
}

/// Refuses `need` bytes (for `what`, a method's dense matrices over `p` parameters) when
/// they exceed 80% of the available memory.
pub fn check_bytes(what: &str, need: u64, p: usize) -> Result<(), TrainError> {
    check_bytes_with(what, need, p, available_memory())
}

/// [`check_bytes`] with `avail` bytes available (`None`: unknown, nothing refused).
fn check_bytes_with(what: &str, need: u64, p: usize, avail: Option<u64>) -> Result<(), TrainError> {
    let Some(avail) = beyond_memory(need, avail) else {
        return Ok(());
    };
    Err(TrainError::Memory(format!(
        "{what}: {:.1} GiB, and {:.1} GiB of memory is available; train with lbfgs or \
         adam+lbfgs, which need memory linear in the {p} parameters",
        gib(need),
        gib(avail)
    )))
}

/// The bytes available when `need` exceeds 80% of `avail` (the rest is left to the
/// system and the run's other buffers); `None` when it fits or `avail` is unknown.
pub fn beyond_memory(need: u64, avail: Option<u64>) -> Option<u64> {
    avail.filter(|&a| need as f64 > 0.8 * a as f64)
}

/// GiB in `bytes`, as memory errors state them.
pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// The memory this machine has available now (`MemAvailable` of `/proc/meminfo`), where
/// the system says.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `r(x) = A x − b` for a fixed 5 × 3 `A`: a linear least-squares problem.
    struct Linear;

    const A: [[f64; 3]; 5] = [
        [1.0, 2.0, 0.5],
        [0.0, 1.0, -1.0],
        [3.0, 0.0, 1.0],
        [1.0, 1.0, 1.0],
        [-2.0, 0.5, 0.0],
    ];
    const B: [f64; 5] = [1.0, -2.0, 0.5, 3.0, 1.0];

    fn residuals(x: &[f64]) -> Vec<f64> {
        A.iter().zip(B).map(|(row, b)| dot(row, x) - b).collect()
    }

    impl Objective for Linear {
        fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
            let r = residuals(x);
            for (c, g) in grad.iter_mut().enumerate() {
                *g = 2.0 * (0..5).map(|i| r[i] * A[i][c]).sum::<f64>();
            }
            Ok(dot(&r, &r))
        }
    }

    impl Residuals for Linear {
        fn least_squares(&mut self, x: &[f64]) -> Result<LeastSquares, TrainError> {
            Ok(LeastSquares {
                r: residuals(x),
                j: A.iter().flatten().copied().collect(),
                cols: 3,
            })
        }
    }

    /// The normal equations' solution, by Cramer's rule on `AᵀA x = Aᵀb`.
    fn exact() -> Vec<f64> {
        let mut m = [[0.0; 3]; 3];
        let mut v = [0.0; 3];
        for (row, b) in A.iter().zip(B) {
            for i in 0..3 {
                v[i] += row[i] * b;
                for j in 0..3 {
                    m[i][j] += row[i] * row[j];
                }
            }
        }
        let det = |m: &[[f64; 3]; 3]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let d = det(&m);
        (0..3)
            .map(|k| {
                let mut mk = m;
                for i in 0..3 {
                    mk[i][k] = v[i];
                }
                det(&mk) / d
            })
            .collect()
    }

    #[test]
    fn a_linear_problem_is_solved_in_one_step_as_the_damping_vanishes() {
        let mut lm = Lm {
            lambda: 1e-12,
            ..Lm::default()
        };
        let mut x = vec![0.3, -0.2, 0.1];
        let step = lm.step(&mut Linear, &mut x).unwrap();
        assert!(matches!(step, LbfgsStep::Moved(_)));
        for (got, want) in x.iter().zip(exact()) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        // At the minimum the gradient is Aᵀr = 0 to rounding: no step lowers the loss.
        let r = residuals(&x);
        let g: Vec<f64> = (0..3)
            .map(|c| (0..5).map(|i| r[i] * A[i][c]).sum())
            .collect();
        assert!(g.iter().all(|v| v.abs() < 1e-9), "{g:?}");
    }

    /// [`Linear`], keeping what [`Residuals::recycle`] gives back.
    #[derive(Default)]
    struct Recycling {
        returned: Vec<Option<Vec<f64>>>,
    }

    impl Objective for Recycling {
        fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
            Linear.eval(x, grad)
        }
    }

    impl Residuals for Recycling {
        fn least_squares(&mut self, x: &[f64]) -> Result<LeastSquares, TrainError> {
            Linear.least_squares(x)
        }
        fn recycle(&mut self, gn: GaussNewton) {
            self.returned.push(gn.into_jacobian());
        }
    }

    #[test]
    fn every_iteration_gives_its_jacobian_back_for_reuse() {
        let (mut f, mut lm) = (Recycling::default(), Lm::default());
        let mut x = vec![0.3, -0.2, 0.1];
        for _ in 0..3 {
            lm.step(&mut f, &mut x).unwrap();
        }
        let j: Vec<f64> = A.iter().flatten().copied().collect();
        assert_eq!(f.returned, vec![Some(j); 3]);
    }

    /// Rosenbrock as least squares: `r = (10(y − x²), 1 − x)`, minimum 0 at (1, 1).
    struct Rosenbrock;

    impl Objective for Rosenbrock {
        fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
            let (a, b) = (10.0 * (x[1] - x[0] * x[0]), 1.0 - x[0]);
            grad[0] = 2.0 * (a * -20.0 * x[0] - b);
            grad[1] = 2.0 * a * 10.0;
            Ok(a * a + b * b)
        }
    }

    impl Residuals for Rosenbrock {
        fn least_squares(&mut self, x: &[f64]) -> Result<LeastSquares, TrainError> {
            Ok(LeastSquares {
                r: vec![10.0 * (x[1] - x[0] * x[0]), 1.0 - x[0]],
                j: vec![-20.0 * x[0], 10.0, -1.0, 0.0],
                cols: 2,
            })
        }
    }

    #[test]
    fn rosenbrock_converges_from_the_classic_start() {
        let mut lm = Lm::default();
        let mut x = vec![-1.2, 1.0];
        let mut last = f64::INFINITY;
        for _ in 0..100 {
            match lm.step(&mut Rosenbrock, &mut x).unwrap() {
                LbfgsStep::Moved(f) => {
                    assert!(f < last, "the loss must decrease: {f} after {last}");
                    last = f;
                }
                _ => break,
            }
        }
        assert!(
            (x[0] - 1.0).abs() < 1e-8 && (x[1] - 1.0).abs() < 1e-8,
            "{x:?}"
        );
    }

    /// Iterations until Rosenbrock's minimum is reached from the classic start.
    fn rosenbrock_iterations(mut lm: Lm) -> usize {
        let mut x = vec![-1.2, 1.0];
        for it in 1..=200 {
            match lm.step(&mut Rosenbrock, &mut x).unwrap() {
                LbfgsStep::Moved(_) => {}
                _ => panic!("stopped at {x:?} after {it} iterations"),
            }
            if (x[0] - 1.0).abs() < 1e-8 && (x[1] - 1.0).abs() < 1e-8 {
                return it;
            }
        }
        panic!("not converged: {x:?}")
    }

    #[test]
    fn geodesic_acceleration_reaches_rosenbrocks_minimum_in_fewer_iterations() {
        // the curved valley is what the acceleration is for (Transtrum & Sethna 2012)
        let plain = rosenbrock_iterations(Lm::default());
        let geodesic = rosenbrock_iterations(Lm::with_geodesic(true));
        assert!(
            geodesic < plain,
            "{geodesic} iterations with, {plain} without"
        );
    }

    #[test]
    fn the_acceleration_is_the_exact_second_order_correction_for_quadratic_residuals() {
        // Rosenbrock's residuals are quadratic, so the difference quotient is exact:
        // r_vv = (−20 v₀², 0), and a = −(JᵀJ + λD)⁻¹ Jᵀ r_vv, solved here by hand (2 × 2)
        let x = [-1.2, 1.0];
        let ls = Rosenbrock.least_squares(&x).unwrap();
        for points in [false, true] {
            let gn = match points {
                false => GaussNewton::keeping(ls.clone()),
                true => GaussNewton::with_form(&ls, true),
            };
            let lambda = 10.0;
            let v = gn.solve(lambda).unwrap();
            let lm = Lm {
                lambda,
                ..Lm::with_geodesic(true)
            };
            let r0 = ls.r.clone();
            let damped = gn.damped(lambda).unwrap();
            let got = lm
                .accelerated(&mut Rosenbrock, &damped, &x, &v, &r0)
                .unwrap();
            let rvv = [-20.0 * v[0] * v[0], 0.0];
            let jm = |i: usize, c: usize| ls.j[i * 2 + c];
            let d = gn.scaling();
            let a11 = jm(0, 0) * jm(0, 0) + jm(1, 0) * jm(1, 0) + lambda * d[0];
            let a12 = jm(0, 0) * jm(0, 1) + jm(1, 0) * jm(1, 1);
            let a22 = jm(0, 1) * jm(0, 1) + jm(1, 1) * jm(1, 1) + lambda * d[1];
            let b = [
                -(jm(0, 0) * rvv[0] + jm(1, 0) * rvv[1]),
                -(jm(0, 1) * rvv[0] + jm(1, 1) * rvv[1]),
            ];
            let det = a11 * a22 - a12 * a12;
            let a = [
                (a22 * b[0] - a12 * b[1]) / det,
                (a11 * b[1] - a12 * b[0]) / det,
            ];
            let norm = |u: &[f64]| (u[0] * u[0] * d[0] + u[1] * u[1] * d[1]).sqrt();
            let want: Option<Vec<f64>> = (2.0 * norm(&a) / norm(&v) <= GEODESIC_ALPHA)
                .then(|| vec![v[0] + 0.5 * a[0], v[1] + 0.5 * a[1]]);
            let (got, want) = (got.expect("accepted"), want.expect("small enough"));
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-9 * w.abs().max(1e-3),
                    "{points}: {g} vs {w}"
                );
            }
            // and the correction is not negligible: it changes the step
            assert!(
                (got[0] - v[0]).abs() > 1e-6 * v[0].abs(),
                "{got:?} vs {v:?}"
            );
        }
    }

    /// [`Rosenbrock`] whose system is added up row by row ([`NormalEquations`]), keeping
    /// no `J`: the accelerated trials ask it for `Jᵀw`.
    struct Streamed;

    impl Objective for Streamed {
        fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
            Rosenbrock.eval(x, grad)
        }
    }

    impl Residuals for Streamed {
        fn least_squares(&mut self, x: &[f64]) -> Result<LeastSquares, TrainError> {
            Rosenbrock.least_squares(x)
        }
        fn gauss_newton(&mut self, x: &[f64]) -> Result<(f64, GaussNewton), TrainError> {
            let ls = Rosenbrock.least_squares(x)?;
            let mut sum = NormalEquations::new(2);
            for (row, r) in ls.j.chunks_exact(2).zip(&ls.r) {
                sum.add(row, &[*r])?;
            }
            Ok((dot(&ls.r, &ls.r), sum.finish()))
        }
    }

    #[test]
    fn a_system_added_up_by_rows_solves_as_the_whole_one() {
        let mut rng = nabla_ir::testing::Rng::new(8);
        let (m, p) = (300, 70);
        let ls = LeastSquares {
            r: rng.vec(m, -1.0, 1.0),
            j: (0..m * p)
                .map(|k| rng.uniform(-1.0, 1.0) * (1.0 + (k % p) as f64))
                .collect(),
            cols: p,
        };
        let whole = GaussNewton::keeping(ls.clone());
        // blocks of uneven sizes, one of them empty
        let mut sum = NormalEquations::new(p);
        let mut at = 0;
        for n in [1, 0, 64, 100, 135] {
            sum.add(&ls.j[at * p..(at + n) * p], &ls.r[at..at + n])
                .unwrap();
            at += n;
        }
        assert_eq!(at, m);
        let added = sum.finish();
        assert!(whole.keeps_jacobian() && !added.keeps_jacobian());
        let close = |a: &[f64], b: &[f64], what: &str| {
            for (a, b) in a.iter().zip(b) {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "{what}: {a} vs {b}"
                );
            }
        };
        close(added.gradient(), whole.gradient(), "Jᵀr");
        close(added.scaling(), whole.scaling(), "D");
        for lambda in [1e-6, 1e-2, 10.0] {
            close(
                &added.solve(lambda).unwrap(),
                &whole.solve(lambda).unwrap(),
                "step",
            );
        }
        // a block whose J and r disagree in length is an error, not a short sum
        let err = NormalEquations::new(p).add(&ls.j[..p + 1], &ls.r[..1]);
        assert!(matches!(err, Err(TrainError::GradLength { .. })), "{err:?}");
        // without J the system cannot form Jᵀw itself
        let damped = added.damped(1e-3).unwrap();
        assert!(damped.solve_for(&ls.r).is_none());
        close(
            &damped.solve_given(added.gradient()).unwrap(),
            &damped.step().unwrap(),
            "solve_given(Jᵀr) is the step",
        );
    }

    #[test]
    fn without_j_the_acceleration_comes_from_the_objective_and_is_the_same() {
        // Rosenbrock's residuals are quadratic: the central quotient is exact too, so the
        // accelerated step equals the one from the kept J to rounding
        let x = [-1.2, 1.0];
        let lambda = 10.0;
        let lm = Lm {
            lambda,
            ..Lm::with_geodesic(true)
        };
        let ls = Rosenbrock.least_squares(&x).unwrap();
        let kept = GaussNewton::keeping(ls.clone());
        let (_, added) = Streamed.gauss_newton(&x).unwrap();
        let v = kept.solve(lambda).unwrap();
        let want = (lm.accelerated(
            &mut Rosenbrock,
            &kept.damped(lambda).unwrap(),
            &x,
            &v,
            &ls.r,
        ))
        .unwrap()
        .expect("accepted");
        let got = (lm.accelerated(&mut Streamed, &added.damped(lambda).unwrap(), &x, &v, &ls.r))
            .unwrap()
            .expect("accepted");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-10 * w.abs().max(1e-3), "{g} vs {w}");
        }
        // and training through the added-up system reaches the minimum
        let (mut lm, mut x) = (Lm::with_geodesic(true), vec![-1.2, 1.0]);
        for _ in 0..100 {
            if !matches!(lm.step(&mut Streamed, &mut x).unwrap(), LbfgsStep::Moved(_)) {
                break;
            }
        }
        assert!(
            (x[0] - 1.0).abs() < 1e-8 && (x[1] - 1.0).abs() < 1e-8,
            "{x:?}"
        );
    }

    /// A 4 × 7 Jacobian (fewer residuals than parameters) with uneven column scales.
    fn wide() -> LeastSquares {
        let mut rng = nabla_ir::testing::Rng::new(11);
        let j: Vec<f64> = (0..28)
            .map(|k| rng.uniform(-1.0, 1.0) * (1.0 + (k % 7) as f64))
            .collect();
        let r = rng.vec(4, -1.0, 1.0);
        LeastSquares { r, j, cols: 7 }
    }

    #[test]
    fn the_step_has_the_same_bits_on_any_number_of_threads() {
        // what lets K processes, each with its share of the cores, hold one process's bits;
        // sizes past faer's block and recursion thresholds so that the splits happen
        let mut rng = nabla_ir::testing::Rng::new(5);
        for (m, p) in [(300, 260), (260, 300)] {
            let ls = LeastSquares {
                r: rng.vec(m, -1.0, 1.0),
                j: rng.vec(m * p, -1.0, 1.0),
                cols: p,
            };
            let step = |threads: usize| {
                let gn = GaussNewton::with_form_on(&ls, m < p, Par::rayon(threads));
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let x = gn
                    .damped_on(1e-3, Par::rayon(threads))
                    .unwrap()
                    .step()
                    .unwrap();
                (bits(gn.gradient()), bits(gn.scaling()), bits(&x))
            };
            let one = step(1);
            for threads in [2, 3, 4] {
                assert!(one == step(threads), "{m} x {p} on {threads} threads");
            }
            // and the step solves the damped system
            let gn = GaussNewton::with_form(&ls, m < p);
            let x = gn.solve(1e-3).unwrap();
            let d = gn.scaling();
            let j = |i: usize, c: usize| ls.j[i * p + c];
            let jx: Vec<f64> = (0..m)
                .map(|i| (0..p).map(|c| j(i, c) * x[c]).sum())
                .collect();
            for c in 0..p {
                let lhs: f64 = (0..m).map(|i| j(i, c) * jx[i]).sum::<f64>() + 1e-3 * d[c] * x[c];
                let rhs = -gn.gradient()[c];
                assert!(
                    (lhs - rhs).abs() <= 1e-8 * (1.0 + rhs.abs()),
                    "{lhs} vs {rhs}"
                );
            }
        }
    }

    #[test]
    fn point_and_parameter_space_give_the_same_step() {
        let ls = wide();
        let (params, points) = (
            GaussNewton::with_form(&ls, false),
            GaussNewton::with_form(&ls, true),
        );
        for (a, b) in params.scaling().iter().zip(points.scaling()) {
            assert!((a - b).abs() <= 1e-14 * a, "D: {a} vs {b}");
        }
        for lambda in [1e-6, 1e-2, 1.0, 1e3] {
            let (a, b) = (params.solve(lambda).unwrap(), points.solve(lambda).unwrap());
            let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-8 * scale, "λ {lambda}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn an_underdetermined_linear_problem_is_fitted_exactly_in_point_space() {
        let ls = wide();
        let delta = GaussNewton::new(&ls).solve(1e-12).unwrap();
        // r + Jδ = 0: with fewer equations than unknowns the Gauss–Newton step fits them all.
        for i in 0..4 {
            let row = &ls.j[i * 7..(i + 1) * 7];
            let res = ls.r[i] + dot(row, &delta);
            assert!(res.abs() < 1e-8, "row {i}: {res}");
        }
    }

    #[test]
    fn a_system_too_large_for_memory_is_refused_with_the_alternatives() {
        let err = check_memory(10_000_000, 1_000_000).unwrap_err().to_string();
        assert!(err.contains("1000000 x 10000000 Jacobian"), "{err}");
        assert!(
            err.contains("dense 1000000 x 1000000 Gauss-Newton"),
            "{err}"
        );
        assert!(err.contains("lbfgs or adam+lbfgs"), "{err}");
        check_memory(100, 1000).unwrap();
        // the same system on each of 4 processes of one machine: 4 times the memory
        let e = check_memory_shared(60_000, 200_000, 50_000, 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("each of the 4 processes"), "{e}");
        check_memory_shared(100, 1000, 500, 2).unwrap();
    }

    #[test]
    fn a_parameter_space_system_is_added_up_by_tiles() {
        // on a machine with 16 GiB available: more values than parameters are added up by
        // tiles, keeping a J up to a gigabyte
        let plan = |p, m| plan_memory_with(p, m, 256, Some(16 << 30));
        let tiles = |keep_j| SystemPlan::Tiles { keep_j };
        assert_eq!(plan(100, 1000).unwrap(), tiles(true));
        assert_eq!(plan(3000, 40_000).unwrap(), tiles(true));
        // a 24 GB J is not kept: the system takes 2 × 72 MB and a tile
        assert_eq!(plan(3000, 1_000_000).unwrap(), tiles(false));
        assert_eq!(
            bytes_streamed(3000, 256),
            8 * (2 * 3000 * 3000 + 2 * 256 * 3000)
        );
        // a J that would fit alone but not with the system is dropped too
        let tight = plan_memory_with(3000, 40_000, 256, Some(1 << 30)).unwrap();
        assert_eq!(tight, tiles(false));
        // fewer: point space from the whole J
        assert_eq!(plan(1000, 100).unwrap(), SystemPlan::Whole);
        // a P × P system the machine cannot hold is refused, saying what it tried
        let e = plan(100_000, 10_000_000).unwrap_err().to_string();
        assert!(e.contains("adds a dense 100000 x 100000"), "{e}");
        assert!(e.contains("lbfgs or adam+lbfgs"), "{e}");
        let e = plan(1_000_000, 100_000).unwrap_err().to_string();
        assert!(e.contains("100000 x 100000 point-space system"), "{e}");
        // and on a machine that does not say, nothing is refused
        let any = plan_memory_with(100_000, 10_000_000, 256, None).unwrap();
        assert_eq!(any, tiles(false));
    }
}
