//! A compiled problem objective as an optimisation [`Objective`].
//!
//! [`Model`] owns the executable of `Problem::objective(.., with_grad = true)` — outputs
//! `loss`, `loss.R`, `residual.R`, `%square.R`, `grad.P` — and the [`Layout`] of its params.
//! Evaluating it binds θ leaf by leaf with [`Executable::set`], runs, and gathers `grad.P`
//! back into one vector. Collocation points are bound separately ([`Model::bind_points`])
//! and stay bound until the next resample.
//!
//! ## The loss is added up on the host
//!
//! The loss an optimizer sees is not the program's `loss` output but
//! `Σ_R W_R · (1/N_R) Σᵢ cᵢ·sqᵢ`, added up here from the per-point squares `sqᵢ` (`rᵢ²`,
//! or the `%square.R` output for sampled operators) and causal weights `cᵢ`, each sum in
//! the order of the points and in f64. The per-point values do not depend on which other
//! points a program holds, so `K` processes, each with its share of the rows, gather the
//! squares and add them in exactly that order: their loss is the one process's to the
//! bit, and so are the line searches' and Levenberg–Marquardt's decisions that rest on
//! it. (The program's own sums over points are grouped by its products and threads; the
//! gradient, summed over ranks, still is — see [`super::dist`].)

use super::causal::Causal;
use super::dist::{share, Alone, Collective};
use super::layout::Layout;
use super::lm::{GaussNewton, LeastSquares, Residuals};
use super::nonfinite::{BadResidual, NonFinite};
use super::optim::Objective;
use super::TrainError;
use crate::data::{bind_params, bind_points, bind_probes_in};
use crate::{compile, Executable, Options};
use nabla_frontend::problem::{point_weight_name, square_name, Problem};
use nabla_ir::Tensor;
use std::ops::Range;
use std::time::Instant;

/// A problem's compiled loss-and-gradient program with its parameter layout.
pub struct Model<'p> {
    problem: &'p Problem,
    exe: Box<dyn Executable>,
    layout: Layout,
    /// The output `residual.R` of every residual, in the problem's order.
    residuals: Vec<Option<usize>>,
    /// The output `%square.R` of every residual that has one (sampled operators, causal
    /// weights), in the problem's order.
    squares: Vec<Option<usize>>,
    /// Every residual's weight `W_R` in the loss of the whole problem (a rank's program
    /// has it scaled by the rank's share of the points: [`super::dist::local_problem`]).
    weights: Vec<f64>,
    /// The residual-Jacobian program, once [`Model::add_jacobian`] compiled it.
    jac: Option<JacobianProgram>,
    grads: Vec<Option<usize>>,
    last_parts: Vec<f64>,
    evals: usize,
    /// The bound points of every set (rows of inputs), to name a point in messages.
    points: Vec<(String, Vec<Vec<f64>>)>,
    /// The `(seed, step)` of the bound probe directions of sampled operators.
    probes: (u64, u64),
    /// The processes training together ([`Alone`] for one).
    comm: &'p dyn Collective,
    /// The rows of every point set this process owns, and the set's full size.
    shares: Vec<(String, Range<usize>, usize)>,
    /// Causal weights of the residuals over time ([`Model::set_causal`]).
    causal: Option<Causal>,
    /// θ of the last evaluation.
    last_x: Vec<f64>,
}

/// Point-set sizes as the problem declares them.
pub fn sizes(problem: &Problem) -> Vec<(String, usize)> {
    problem
        .point_sets
        .iter()
        .map(|s| (s.name.clone(), s.spec.len()))
        .collect()
}

/// The rows of every point set that rank `rank` of `size` owns ([`share`]), with the
/// set's full size.
fn shares_of(problem: &Problem, rank: usize, size: usize) -> Vec<(String, Range<usize>, usize)> {
    (sizes(problem).into_iter())
        .map(|(s, n)| (s, share(n, rank, size), n))
        .collect()
}

/// The number of points set `name` declares.
fn size_of_set(problem: &Problem, name: &str) -> Option<usize> {
    let set = problem.point_sets.iter().find(|s| s.name == name)?;
    Some(set.spec.len())
}

/// The problem with every net's initialisation seed offset by `seed` (`--seed`).
pub fn reseeded(problem: &Problem, seed: u64) -> Problem {
    let mut p = problem.clone();
    for n in &mut p.nets {
        n.seed = n.seed.wrapping_add(seed);
    }
    p
}

impl<'p> Model<'p> {
    /// Traces and compiles the objective with its gradient; returns the model, the initial
    /// θ and the compile time in seconds.
    pub fn compile(
        problem: &'p Problem,
        opts: &Options,
    ) -> Result<(Model<'p>, Vec<f64>, f64), TrainError> {
        Model::compile_on(problem, problem, opts, &Alone)
    }

    /// [`Model::compile`] for one of the processes of `comm`: `problem` is the rank's
    /// [`super::dist::local_problem`] of `whole`, the program is compiled for the rank's
    /// share of every point set, and every evaluation gathers the per-point squares and
    /// sums the gradient over the ranks (see [`super::dist`]).
    pub fn compile_on(
        problem: &'p Problem,
        whole: &Problem,
        opts: &Options,
        comm: &'p dyn Collective,
    ) -> Result<(Model<'p>, Vec<f64>, f64), TrainError> {
        let t0 = Instant::now();
        let shares = shares_of(problem, comm.rank(), comm.size());
        let obj = problem.objective(&local_sizes(&shares), opts.dtype, true)?;
        let exe = compile(&obj.graph, opts)?;
        let secs = t0.elapsed().as_secs_f64();
        let (mut m, theta) = Model::from_executable(problem, exe, &obj.init)?;
        if whole.residuals.len() != problem.residuals.len() {
            return Err(TrainError::Options(format!(
                "a process's problem has {} residuals, the whole problem {}",
                problem.residuals.len(),
                whole.residuals.len()
            )));
        }
        m.weights = whole.residuals.iter().map(|r| r.weight).collect();
        m.comm = comm;
        m.shares = shares;
        Ok((m, theta, secs))
    }

    /// Whether `flag` is set on any of the processes training together.
    pub fn any(&self, flag: bool) -> Result<bool, TrainError> {
        self.comm.any(flag)
    }

    /// Compiles the residual-Jacobian program (`residual.R`, `jacobian.R.P`) next to the
    /// loss, for the Gauss–Newton methods ([`Model::least_squares`]); binds the current
    /// points to it. Returns the compile time in seconds.
    pub fn add_jacobian(&mut self, opts: &Options) -> Result<f64, TrainError> {
        let rows: usize = (self.problem.residuals.iter())
            .filter_map(|r| size_of_set(self.problem, &r.points))
            .sum();
        if self.comm.size() == 1 {
            super::lm::check_memory(self.layout.len(), rows)?;
        } else {
            let mine: usize = (self.problem.residuals.iter())
                .filter_map(|r| Some(self.rows_of(&r.points)?.0.len()))
                .sum();
            let local = self.comm.local_size();
            super::lm::check_memory_shared(self.layout.len(), rows, mine, local)?;
        }
        let t0 = Instant::now();
        let sizes = local_sizes(&self.shares);
        let obj = (self.problem).jacobian_objective(&sizes, opts.dtype)?;
        let mut exe = compile(&obj.graph, opts)?;
        let names = exe.output_names();
        let find = |n: String| {
            let i = names.iter().position(|o| *o == n);
            i.ok_or(TrainError::MissingOutput(n))
        };
        let mut outputs = Vec::new();
        for r in &self.problem.residuals {
            let ri = find(format!("residual.{}", r.name))?;
            let blocks = (self.layout.names())
                .map(|p| find(format!("jacobian.{}.{p}", r.name)))
                .collect::<Result<Vec<_>, _>>()?;
            outputs.push((ri, blocks));
        }
        for (set, rows) in &self.points {
            bind_points(exe.as_mut(), self.problem, set, rows)?;
        }
        let rows = |set: &str| self.rows_of(set);
        bind_probes_in(exe.as_mut(), self.probes.0, self.probes.1, &rows)?;
        self.jac = Some(JacobianProgram { exe, outputs });
        Ok(t0.elapsed().as_secs_f64())
    }

    /// Wraps an executable whose outputs are those of `Problem::objective` with gradient;
    /// `init` names the params in θ order with their initial values.
    pub fn from_executable(
        problem: &'p Problem,
        exe: Box<dyn Executable>,
        init: &[(String, Tensor)],
    ) -> Result<(Model<'p>, Vec<f64>), TrainError> {
        let layout = Layout::new(init);
        let names = exe.output_names();
        let find = |n: &str| names.iter().position(|o| o == n);
        let residuals: Vec<Option<usize>> = (problem.residuals.iter())
            .map(|r| find(&format!("residual.{}", r.name)))
            .collect();
        let squares = (problem.residuals.iter())
            .map(|r| find(&square_name(&r.name)))
            .collect();
        if let Some(k) = residuals.iter().position(Option::is_none) {
            let name = &problem.residuals[k].name;
            return Err(TrainError::MissingOutput(format!("residual.{name}")));
        }
        let grads = layout.names().map(|p| find(&format!("grad.{p}"))).collect();
        let theta = layout.flatten(init);
        let model = Model {
            problem,
            exe,
            layout,
            residuals,
            squares,
            weights: problem.residuals.iter().map(|r| r.weight).collect(),
            jac: None,
            grads,
            last_parts: Vec::new(),
            evals: 0,
            points: Vec::new(),
            probes: (0, 0),
            comm: &Alone,
            shares: shares_of(problem, 0, 1),
            causal: None,
            last_x: Vec::new(),
        };
        Ok((model, theta))
    }

    /// The parameter layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The problem.
    pub fn problem(&self) -> &'p Problem {
        self.problem
    }

    /// Residual names, in the order of [`Model::last_parts`].
    pub fn part_names(&self) -> Vec<String> {
        self.problem
            .residuals
            .iter()
            .map(|r| r.name.clone())
            .collect()
    }

    /// `loss.R` (unweighted mean square) of every residual at the last evaluation.
    pub fn last_parts(&self) -> &[f64] {
        &self.last_parts
    }

    /// Number of loss-and-gradient evaluations so far.
    pub fn evals(&self) -> usize {
        self.evals
    }

    /// Samples every point set with `seed` and binds the coordinates (`SET.INPUT`), and
    /// the probe directions of sampled operators for step 0 of a run seeded `seed`.
    pub fn bind_points(&mut self, seed: u64) -> Result<(), TrainError> {
        let mut points = self.problem.sample(seed);
        for (set, rows) in &mut points {
            if let Some((range, _)) = self.rows_of(set) {
                *rows = rows.drain(range).collect();
            }
        }
        self.points = points;
        for (set, rows) in &self.points {
            bind_points(self.exe.as_mut(), self.problem, set, rows)?;
            if let Some(j) = &mut self.jac {
                bind_points(j.exe.as_mut(), self.problem, set, rows)?;
            }
        }
        self.bind_probes(seed, 0)?;
        self.bind_causal()
    }

    /// Weights the residuals over time as `causal` says ([`super::causal`]); the model
    /// must have been compiled from `causal.weighted(problem)`. Binds its weights.
    pub fn set_causal(&mut self, causal: Causal) -> Result<(), TrainError> {
        self.causal = Some(causal);
        self.bind_causal()
    }

    /// The causal weighting, if the model has one.
    pub fn causal(&self) -> Option<&Causal> {
        self.causal.as_ref()
    }

    /// Sets the causal chunk weights (a resumed run's) and binds them; `false` when the
    /// model has no causal weighting or another number of chunks.
    pub fn restore_causal(&mut self, weights: &[f64]) -> Result<bool, TrainError> {
        let set = self.causal.as_mut().and_then(|c| c.set_weights(weights));
        self.bind_causal()?;
        Ok(set.is_some())
    }

    /// Recomputes the causal weights from the residuals of the last evaluation and binds
    /// them; `false` (and nothing done) without causal weighting.
    pub fn refresh_causal(&mut self) -> Result<bool, TrainError> {
        let Some(c) = &self.causal else {
            return Ok(false);
        };
        let names = c.residuals().to_vec();
        let outputs = self.exe.output_names();
        let mut squares = Vec::new();
        for name in &names {
            let want = square_name(name);
            let out = outputs.iter().position(|o| *o == want);
            let out = out.ok_or(TrainError::MissingOutput(want))?;
            squares.push(self.exe.output(out));
        }
        self.update_causal(&names, &squares)?;
        Ok(true)
    }

    /// [`Model::refresh_causal`] from the residuals at `theta`, evaluating there first
    /// unless the last evaluation was there.
    pub fn refresh_causal_at(&mut self, theta: &[f64]) -> Result<bool, TrainError> {
        if self.causal.is_some() && self.last_x != theta {
            let mut g = vec![0.0; theta.len()];
            self.eval(theta, &mut g)?;
        }
        self.refresh_causal()
    }

    /// New causal weights from the per-point squares of the weighted residuals (`names`,
    /// in order) at this process's rows; binds them.
    fn update_causal(&mut self, names: &[String], values: &[Vec<f64>]) -> Result<(), TrainError> {
        let sets = (names.iter())
            .map(|n| {
                Ok(self.problem.residuals[self.residual_index(n)?]
                    .points
                    .as_str())
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        let Some(c) = &mut self.causal else {
            return Ok(());
        };
        let pairs: Vec<_> = (values.iter().zip(sets))
            .map(|(v, set)| (&v[..], rows_named(&self.points, set)))
            .collect();
        c.update(&pairs, self.comm)?;
        self.bind_causal()
    }

    /// Binds every weighted residual's per-point weights: its chunk's weight at each
    /// bound row.
    fn bind_causal(&mut self) -> Result<(), TrainError> {
        let Some(c) = &self.causal else {
            return Ok(());
        };
        // (before the points are bound there is nothing to weigh)
        for r in &self.problem.residuals {
            let rows = rows_named(&self.points, &r.points);
            if c.residuals().contains(&r.name) && !rows.is_empty() {
                let w = c.point_weights(rows);
                self.exe.set(&point_weight_name(&r.name), &w)?;
            }
        }
        Ok(())
    }

    /// The per-row weight of residual `k`'s values in the least-squares form (`√c` of
    /// its causal weights), `None` when it is not weighted.
    fn row_weights(&self, k: usize) -> Option<Vec<f64>> {
        let c = self.causal_weights(k)?;
        Some(c.into_iter().map(f64::sqrt).collect())
    }

    /// The causal weight `c` of each of residual `k`'s rows on this process, `None` when
    /// it is not weighted.
    fn causal_weights(&self, k: usize) -> Option<Vec<f64>> {
        let c = self.causal.as_ref()?;
        let r = &self.problem.residuals[k];
        (c.residuals().contains(&r.name))
            .then(|| c.point_weights(rows_named(&self.points, &r.points)))
    }

    fn residual_index(&self, name: &str) -> Result<usize, TrainError> {
        (self.problem.residuals.iter())
            .position(|r| r.name == name)
            .ok_or_else(|| missing_residual(name))
    }

    /// Draws the probe directions of the sampled operators (`lap(E; sample = K)`) for
    /// step `step` of a run seeded `seed`, in both programs. Returns whether there are any,
    /// that is whether the loss is an estimate that changes with every draw.
    pub fn bind_probes(&mut self, seed: u64, step: u64) -> Result<bool, TrainError> {
        self.probes = (seed, step);
        let shares = &self.shares;
        let rows = |set: &str| rows_in(shares, set);
        let any = bind_probes_in(self.exe.as_mut(), seed, step, &rows)?;
        if let Some(j) = &mut self.jac {
            bind_probes_in(j.exe.as_mut(), seed, step, &rows)?;
        }
        Ok(any)
    }

    /// The rows of set `set` this process owns and the set's full size.
    fn rows_of(&self, set: &str) -> Option<(Range<usize>, usize)> {
        rows_in(&self.shares, set)
    }

    /// This process's rank among those training together (0 for one process).
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// Whether [`Model::add_jacobian`] has compiled the residual-Jacobian program.
    pub fn has_jacobian(&self) -> bool {
        self.jac.is_some()
    }

    /// The loss at `theta` as a least-squares problem: every residual value scaled by
    /// `√(W_R/N_R)`, so that `loss = ‖r‖²`, and the Jacobian of those scaled values,
    /// `J: [M, P]` row-major (`M` = all residual values, `P` = `θ.len()`).
    pub fn least_squares(&mut self, theta: &[f64]) -> Result<LeastSquares, TrainError> {
        let p = self.layout.len();
        let Some(jac) = &mut self.jac else {
            return Err(TrainError::MissingOutput(
                "jacobian (see Model::add_jacobian)".into(),
            ));
        };
        bind_params(jac.exe.as_mut(), self.layout.split(theta))?;
        jac.exe.run()?;
        let values: Vec<Vec<f64>> = (jac.outputs.iter())
            .map(|(ri, _)| jac.exe.output(*ri))
            .collect();
        // causal weights from the residuals at θ, for this step's loss and its trials
        if let Some(c) = &self.causal {
            let names = c.residuals().to_vec();
            // (the Jacobian program traces each residual once: r², also for sampled ones)
            let picked = (names.iter())
                .map(|n| {
                    Ok(values[self.residual_index(n)?]
                        .iter()
                        .map(|r| r * r)
                        .collect())
                })
                .collect::<Result<Vec<_>, TrainError>>()?;
            self.update_causal(&names, &picked)?;
        }
        let (r, scales) = self.scaled(&values)?;
        let Some(jac) = &self.jac else {
            return Err(TrainError::MissingOutput("jacobian".into()));
        };
        // J, block by block: the rows of residual R, the columns of param P.
        let mut j = vec![0.0; r.len() * p];
        let widths: Vec<usize> = self.layout.split(theta).map(|(_, v)| v.len()).collect();
        let mut row0 = 0;
        for ((_, blocks), scale) in jac.outputs.iter().zip(scales) {
            let rows = scale.len();
            let mut col0 = 0;
            for (&bi, &w) in blocks.iter().zip(&widths) {
                let block = jac.exe.output(bi);
                if block.len() != rows * w {
                    let (expected, found) = (rows * w, block.len());
                    return Err(TrainError::GradLength { expected, found });
                }
                for (i, src) in block.chunks_exact(w.max(1)).enumerate() {
                    let dst = &mut j[(row0 + i) * p + col0..][..w];
                    let s = scale[i];
                    dst.iter_mut().zip(src).for_each(|(d, v)| *d = s * v);
                }
                col0 += w;
            }
            row0 += rows;
        }
        Ok(LeastSquares { r, j, cols: p })
    }

    /// Residual values (this process's rows of every residual, in the problem's order)
    /// scaled as in [`Model::least_squares`]: by `√(W_R/N_R)` times `√c` of their causal
    /// weights. Returns the values and every residual's row scales.
    #[allow(clippy::type_complexity)]
    fn scaled(&self, values: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<Vec<f64>>), TrainError> {
        let mut r = Vec::new();
        let mut scales = Vec::new();
        for (k, (decl, ri)) in self.problem.residuals.iter().zip(values).enumerate() {
            // the whole problem's W_R/N_R, the same bits on every rank
            let n = self.rows_of(&decl.points).map_or(ri.len(), |(_, n)| n);
            let s = (self.weights[k] / n.max(1) as f64).sqrt();
            let rows = match self.row_weights(k) {
                Some(w) if w.len() == ri.len() => w.into_iter().map(|c| s * c).collect(),
                Some(w) => {
                    return Err(TrainError::Options(format!(
                        "causal weights: {} for the {} values of residual `{}`",
                        w.len(),
                        ri.len(),
                        decl.name
                    )))
                }
                None => vec![s; ri.len()],
            };
            r.extend(ri.iter().zip(&rows).map(|(v, s)| s * v));
            scales.push(rows);
        }
        Ok((r, scales))
    }

    /// The scaled residual values of [`Model::least_squares`] at `theta`, from the loss
    /// program (no Jacobian), of every process in one process's order.
    pub fn residual_values(&mut self, theta: &[f64]) -> Result<Vec<f64>, TrainError> {
        self.run_at(theta)?;
        let values = (0..self.problem.residuals.len())
            .map(|k| {
                let i = self.residuals[k];
                let i = i.ok_or_else(|| missing_residual(&self.problem.residuals[k].name))?;
                Ok(self.exe.output(i))
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        let (r, _) = self.scaled(&values)?;
        if self.comm.size() == 1 {
            return Ok(r);
        }
        let blocks: Vec<Vec<(&[f64], usize)>> = self
            .by_residual(&r, 1)
            .into_iter()
            .map(|b| vec![(b, 1)])
            .collect();
        Ok(self
            .gather_by_residual(&blocks)?
            .into_iter()
            .flatten()
            .flatten()
            .collect())
    }

    /// Why the loss or gradient at `theta` is not finite: evaluates there again and names
    /// every residual with a value that is not finite (with a point where it is not) and
    /// every param whose gradient is not.
    pub fn diagnose(&mut self, theta: &[f64]) -> Result<NonFinite, TrainError> {
        let mut g = vec![0.0; theta.len()];
        let loss = self.eval(theta, &mut g)?;
        let residuals = (0..self.residuals.len())
            .filter_map(|k| self.bad_residual(k))
            .collect();
        let grads = (self.layout.split(&g))
            .filter(|(_, v)| v.iter().any(|x| !x.is_finite()))
            .map(|(name, _)| name.to_string())
            .collect();
        Ok(NonFinite {
            loss,
            residuals,
            grads,
            ..NonFinite::default()
        })
    }

    /// Residual `k` at the last evaluation, if its values are not all finite.
    fn bad_residual(&self, k: usize) -> Option<BadResidual> {
        let decl = &self.problem.residuals[k];
        let values = self.exe.output(self.residuals[k]?);
        let mean_square = self.last_parts.get(k).copied().unwrap_or(f64::NAN);
        let rows = (self.points.iter())
            .find(|(s, _)| *s == decl.points)
            .map_or(&[][..], |(_, r)| &r[..]);
        let names = (decl.name.as_str(), decl.points.as_str());
        BadResidual::find(names, &values, mean_square, rows, &self.problem.inputs)
    }
}

/// The compiled residual Jacobians and, per residual, the output indices of `residual.R`
/// and of `jacobian.R.P` for every param `P` in layout order.
struct JacobianProgram {
    exe: Box<dyn Executable>,
    outputs: Vec<(usize, Vec<usize>)>,
}

impl Objective for Model<'_> {
    fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
        self.run_at(x)?;
        let mut off = 0;
        for ((_, vals), gi) in self.layout.split(x).zip(&self.grads) {
            let dst = &mut grad[off..off + vals.len()];
            match gi {
                Some(i) => copy_grad(dst, &self.exe.output(*i))?,
                None => dst.fill(0.0),
            }
            off += vals.len();
        }
        let loss = self.loss_from_squares()?;
        if self.comm.size() > 1 {
            self.comm.sum(grad)?;
        }
        Ok(loss)
    }
}

impl Model<'_> {
    /// Runs the loss program at `x` (this process's rows; no exchange).
    fn run_at(&mut self, x: &[f64]) -> Result<(), TrainError> {
        bind_params(self.exe.as_mut(), self.layout.split(x))?;
        self.exe.run()?;
        self.evals += 1;
        if self.causal.is_some() {
            self.last_x.clear();
            self.last_x.extend_from_slice(x);
        }
        Ok(())
    }

    /// The loss `Σ_R W_R · (1/N_R) Σᵢ cᵢ·sqᵢ` of the last run, and every residual's
    /// `loss.R = (1/N_R) Σᵢ sqᵢ` into [`Model::last_parts`], from the per-point squares of
    /// every rank in the order of one process's points (see the [module](self)).
    fn loss_from_squares(&mut self) -> Result<f64, TrainError> {
        // this rank's rows: per residual its squares and (causal) its weighted squares
        let mut mine = Vec::new();
        for k in 0..self.problem.residuals.len() {
            let sq = self.squares_of(k)?;
            let weighted: Option<Vec<f64>> =
                (self.causal_weights(k)).map(|c| c.iter().zip(&sq).map(|(c, s)| c * s).collect());
            mine.push([Some(sq), weighted]);
        }
        let blocks: Vec<Vec<(&[f64], usize)>> = (mine.iter())
            .map(|b| b.iter().flatten().map(|v| (&v[..], 1)).collect())
            .collect();
        let all = self.gather_by_residual(&blocks)?;
        let mut loss = 0.0;
        self.last_parts.clear();
        for (blocks, w) in all.iter().zip(&self.weights) {
            let sq = &blocks[0];
            let n = sq.len().max(1) as f64;
            let part = sq.iter().sum::<f64>() / n;
            let weighted = match blocks.get(1) {
                Some(cs) => cs.iter().sum::<f64>() / n,
                None => part,
            };
            self.last_parts.push(part);
            loss += w * weighted;
        }
        Ok(loss)
    }

    /// Residual `k`'s per-point squares at this process's rows in the last run.
    fn squares_of(&self, k: usize) -> Result<Vec<f64>, TrainError> {
        if let Some(i) = self.squares[k] {
            return Ok(self.exe.output(i));
        }
        let i =
            self.residuals[k].ok_or_else(|| missing_residual(&self.problem.residuals[k].name))?;
        Ok(self.exe.output(i).iter().map(|r| r * r).collect())
    }

    /// Every rank's per-residual blocks, gathered in one exchange and put in one
    /// process's point order: `blocks[k]` are residual `k`'s blocks at this process's
    /// rows, each with `width` values per row; returns every block over all ranks' rows
    /// (rank 0's, then rank 1's, ...).
    fn gather_by_residual(
        &self,
        blocks: &[Vec<(&[f64], usize)>],
    ) -> Result<Vec<Vec<Vec<f64>>>, TrainError> {
        let size = self.comm.size();
        let rows = |k: usize, rank: usize| {
            let set = &self.problem.residuals[k].points;
            self.rows_of(set)
                .map_or(0, |(_, n)| share(n, rank, size).len())
        };
        for (k, bs) in blocks.iter().enumerate() {
            for (b, width) in bs {
                let expected = rows(k, self.comm.rank()) * width;
                if b.len() != expected {
                    return Err(TrainError::GradLength {
                        expected,
                        found: b.len(),
                    });
                }
            }
        }
        let mine: Vec<f64> = (blocks.iter().flatten())
            .flat_map(|(b, _)| b.iter().copied())
            .collect();
        let all = self.comm.gather(&mine)?;
        let mut out: Vec<Vec<Vec<f64>>> =
            blocks.iter().map(|b| vec![Vec::new(); b.len()]).collect();
        let mut at = 0;
        for rank in 0..size {
            for (k, bs) in blocks.iter().enumerate() {
                for (dst, (_, width)) in out[k].iter_mut().zip(bs) {
                    let n = rows(k, rank) * width;
                    let src = all.get(at..at + n).ok_or(TrainError::GradLength {
                        expected: at + n,
                        found: all.len(),
                    })?;
                    dst.extend_from_slice(src);
                    at += n;
                }
            }
        }
        Ok(out)
    }

    /// `v` (this process's rows of every residual in turn, `width` values per row) cut
    /// into its residuals' pieces.
    fn by_residual<'v>(&self, v: &'v [f64], width: usize) -> Vec<&'v [f64]> {
        let mut at = 0;
        (self.problem.residuals.iter())
            .map(|decl| {
                let rows = self.rows_of(&decl.points).map_or(0, |(r, _)| r.len());
                let n = (rows * width).min(v.len() - at);
                at += n;
                &v[at - n..at]
            })
            .collect()
    }

    /// The residuals and Jacobian rows of every rank, in the order of one process: for
    /// each residual, rank 0's rows, then rank 1's, ...
    fn gather_rows(&self, ls: LeastSquares) -> Result<LeastSquares, TrainError> {
        let p = ls.cols;
        let (r, j) = (self.by_residual(&ls.r, 1), self.by_residual(&ls.j, p));
        let blocks: Vec<Vec<(&[f64], usize)>> = r
            .iter()
            .zip(&j)
            .map(|(r, j)| vec![(*r, 1), (*j, p)])
            .collect();
        let all = self.gather_by_residual(&blocks)?;
        let (mut r, mut j) = (Vec::new(), Vec::new());
        for b in all {
            r.extend_from_slice(&b[0]);
            j.extend_from_slice(&b[1]);
        }
        Ok(LeastSquares { r, j, cols: p })
    }
}

/// The bound rows of point set `set` (none when it is not bound).
fn rows_named<'a>(points: &'a [(String, Vec<Vec<f64>>)], set: &str) -> &'a [Vec<f64>] {
    (points.iter())
        .find(|(s, _)| s == set)
        .map_or(&[][..], |(_, r)| &r[..])
}

fn missing_residual(name: &str) -> TrainError {
    TrainError::MissingOutput(format!("residual.{name}"))
}

/// The rows of set `set` in `shares` and the set's full size.
fn rows_in(shares: &[(String, Range<usize>, usize)], set: &str) -> Option<(Range<usize>, usize)> {
    let (_, range, n) = shares.iter().find(|(s, _, _)| s == set)?;
    Some((range.clone(), *n))
}

/// The point-set sizes of one rank's program.
fn local_sizes(shares: &[(String, Range<usize>, usize)]) -> Vec<(String, usize)> {
    (shares.iter())
        .map(|(s, range, _)| (s.clone(), range.len()))
        .collect()
}

impl Residuals for Model<'_> {
    fn least_squares(&mut self, x: &[f64]) -> Result<LeastSquares, TrainError> {
        Model::least_squares(self, x)
    }

    /// The system of every rank's rows: a rank of a distributed run gathers the whole
    /// `J` and `r` in one process's row order and forms the system as one process does,
    /// so that it holds the same bits (the `M·P²` product is not split between ranks; the
    /// program that computes `J` is).
    fn gauss_newton(&mut self, x: &[f64]) -> Result<(f64, GaussNewton), TrainError> {
        let mut ls = Model::least_squares(self, x)?;
        if self.comm.size() > 1 {
            ls = self.gather_rows(ls)?;
        }
        let loss = ls.r.iter().map(|r| r * r).sum();
        Ok((loss, GaussNewton::keeping(ls)))
    }

    fn residuals(&mut self, x: &[f64]) -> Result<Vec<f64>, TrainError> {
        self.residual_values(x)
    }
}

fn copy_grad(dst: &mut [f64], g: &[f64]) -> Result<(), TrainError> {
    if g.len() != dst.len() {
        return Err(TrainError::GradLength {
            expected: dst.len(),
            found: g.len(),
        });
    }
    dst.copy_from_slice(g);
    Ok(())
}
