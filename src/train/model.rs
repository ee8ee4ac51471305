//! A compiled problem objective as an optimisation [`Objective`].
//!
//! [`Model`] owns the executables of `Problem::objective(.., with_grad = true)` — outputs
//! `loss`, `loss.R`, `residual.R`, `%square.R`, `grad.P` — one per tile shape, and the
//! [`Layout`] of the params. The points are cut into tiles ([`Tiling`], see
//! [`super::dist`]); evaluating runs every tile's program (binding θ leaf by leaf with
//! [`Executable::set`], and the tile's points, probe directions and causal weights),
//! appends the per-point values in tile order and adds the tiles' gradients over a fixed
//! binary tree ([`TreeSum`]). With two or more threads and tiles of enough work, there
//! are as many one-thread copies of each program as threads, and the threads (this one
//! and a [`Pool`] kept across runs) claim whole tiles and a free copy each; the order of
//! addition stays the tiles'. Collocation points are bound separately
//! ([`Model::bind_points`]) and stay bound until the next resample. `nabla bench` runs
//! the same model ([`Model::compile_for`]: a [`Batch`] of the first rows, with or
//! without the gradient).
//!
//! ## The loss is added up on the host
//!
//! The loss an optimizer sees is not the program's `loss` output but
//! `Σ_R W_R · (1/N_R) Σᵢ cᵢ·sqᵢ`, added up here from the per-point squares `sqᵢ` (`rᵢ²`,
//! or the `%square.R` output for sampled operators) and causal weights `cᵢ`, each sum in
//! the order of the points and in f64. A point's values come from its tile's program,
//! which is the same in every process, so `K` processes, each with its tiles, gather the
//! squares and add them in exactly that order: their loss is the one process's to the
//! bit, and so is their gradient (the tiles' gradients are added over the same tree in
//! every process: [`Collective::combine_parts`]).

use super::causal::Causal;
use super::dist::{
    aim_for_width, combine_blocks, tile_aim, tile_blocks, Alone, Block, Collective, Tiling, TreeSum,
};
use super::layout::Layout;
use super::lm::{GaussNewton, LeastSquares, NormalEquations, Residuals, SystemPlan};
use super::nonfinite::{BadResidual, NonFinite};
use super::optim::Objective;
use super::TrainError;
use crate::data::{bind_params, bind_points, bind_probes_in};
use crate::{compile, Executable, Lowered, Options};
use nabla_backends::cranelift::Pool;
use nabla_frontend::problem::{point_weight_name, square_name, Problem, ResidualDecl};
use nabla_ir::Tensor;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Instant;

/// A problem's compiled loss-and-gradient program with its parameter layout.
pub struct Model<'p> {
    problem: &'p Problem,
    /// The outputs of the loss program of every distinct tile shape (rows of every set).
    programs: Vec<Outputs>,
    /// The threads that run tiles, each with its copy of every tile shape's program.
    workers: Vec<Worker>,
    /// The threads that run the tiles with this one (this process's pool for as many
    /// threads, taken by the first run with two or more workers).
    pool: Option<std::sync::Arc<Pool>>,
    /// This process's tiles, in the order of the points.
    tiles: Vec<Tile>,
    /// How the points are cut into tiles and dealt to processes.
    tiling: Tiling,
    /// The rows of every set in each distinct tile shape (what each program is for).
    shapes: Vec<Vec<(String, usize)>>,
    layout: Layout,
    /// Every residual's weight `W_R` in the loss of the whole problem (a tile's program
    /// has it scaled by the tile's share of the points: [`tile_problem`]).
    weights: Vec<f64>,
    /// The residual-Jacobian program, once [`Model::add_jacobian`] compiled it.
    jac: Option<JacobianProgram>,
    /// Every residual's values at this process's rows in the last run.
    values: Vec<Vec<f64>>,
    /// Every residual's `%square.R` at this process's rows in the last run, where the
    /// program has that output (sampled operators, causal weights).
    squares: Vec<Option<Vec<f64>>>,
    /// The gradient of the last run, as the sums of the maximal blocks of this process's
    /// tiles ([`TreeSum`]), left to right: to be added with every other process's.
    grads: Vec<Vec<f64>>,
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
    /// θ of the last evaluation (`None`: none since the points or directions changed).
    last_x: Option<Vec<f64>>,
}

/// Point-set sizes as the problem declares them.
pub fn sizes(problem: &Problem) -> Vec<(String, usize)> {
    problem
        .point_sets
        .iter()
        .map(|s| (s.name.clone(), s.spec.len()))
        .collect()
}

/// The rows of every point set that rank `rank` owns under `tiling`, with the set's
/// full size.
fn shares_of(
    all: &[(String, usize)],
    tiling: &Tiling,
    rank: usize,
) -> Vec<(String, Range<usize>, usize)> {
    (all.iter())
        .map(|(s, n)| (s.clone(), tiling.rank_rows(*n, rank), *n))
        .collect()
}

/// The programs of a rank's tiles: one per distinct tile shape (`shapes`), copied for
/// every worker thread, and the tiles with the index of their program.
struct TilePrograms {
    programs: Vec<Outputs>,
    workers: Vec<Worker>,
    shapes: Vec<Vec<(String, usize)>>,
    tiles: Vec<Tile>,
    init: Vec<(String, Tensor)>,
}

/// What the programs of a model are compiled for: the rows of every point set, and
/// whether they compute the gradient (a loss-only model's gradient is zero).
#[derive(Clone, Debug)]
pub struct Batch {
    /// Every point set's rows, in declaration order.
    pub sizes: Vec<(String, usize)>,
    /// Whether the programs compute `grad.P`.
    pub grad: bool,
}

impl Batch {
    /// Every point set as the problem declares it, with the gradient: what training runs.
    pub fn of(problem: &Problem) -> Batch {
        Batch {
            sizes: sizes(problem),
            grad: true,
        }
    }
}

/// Compiles the loss programs of rank `rank`'s tiles under `tiling` (`batch`: every set's
/// size and whether to compute the gradient; `weights`: the whole problem's residual
/// weights).
fn compile_tiles(
    problem: &Problem,
    weights: &[f64],
    batch: &Batch,
    tiling: Tiling,
    rank: usize,
    opts: &Options,
) -> Result<TilePrograms, TrainError> {
    let all = &batch.sizes[..];
    let mine = tiling.tiles_of(rank);
    let tiles = mine.len();
    let mut copies: Option<(usize, Options)> = None;
    let mut c = TilePrograms {
        programs: Vec::new(),
        workers: Vec::new(),
        shapes: Vec::new(),
        tiles: Vec::new(),
        init: Vec::new(),
    };
    for t in mine {
        let rows: Vec<(String, Range<usize>)> = (all.iter())
            .map(|(s, n)| (s.clone(), tiling.tile_rows(*n, t)))
            .collect();
        let shape: Vec<(String, usize)> = rows.iter().map(|(s, r)| (s.clone(), r.len())).collect();
        let program = match c.shapes.iter().position(|s| *s == shape) {
            Some(p) => p,
            None => {
                let tp = tile_problem(problem, weights, &shape, all);
                let obj = tp.objective(&shape, opts.dtype, batch.grad)?;
                let lowered = Lowered::new(&obj.graph, opts)?;
                // the first tile's program decides how the tiles run (they differ by a row)
                let (threads, copy_opts) =
                    copies.get_or_insert_with(|| tile_threads(opts, tiles, lowered.flops()));
                if c.workers.is_empty() {
                    c.workers = (0..*threads).map(|_| Worker::default()).collect();
                }
                let exes = lowered.generate(copy_opts, *threads)?;
                let layout = Layout::new(&obj.init);
                c.programs.push(Outputs::new(
                    problem,
                    &shape,
                    &layout,
                    exes[0].as_ref(),
                    batch.grad,
                )?);
                for (w, exe) in c.workers.iter_mut().zip(exes) {
                    w.exes.push(exe);
                    w.bound.push(None);
                }
                c.shapes.push(shape);
                c.init = obj.init;
                c.programs.len() - 1
            }
        };
        c.tiles.push(Tile::new(program, rows));
    }
    Ok(c)
}

/// The CPU's tiling of `batch` for `ranks` processes: tiles of [`tile_aim`] rows of the
/// largest set, or of fewer where the first such tile's program holds stacked values
/// wider than the cache wants ([`aim_for_width`], measured on the expansion of its
/// derivatives). Every rank traces the same problem, so every rank gets the same tiling.
fn cpu_tiling(
    problem: &Problem,
    weights: &[f64],
    batch: &Batch,
    ranks: usize,
    opts: &Options,
) -> Result<Tiling, TrainError> {
    let counts: Vec<usize> = batch.sizes.iter().map(|(_, n)| *n).collect();
    let aim = tile_aim(opts.dtype);
    let tiling = Tiling::aiming(&counts, ranks, aim);
    // the most rows of every set a tile holds: every residual is in this program
    let shape: Vec<(String, usize)> = (batch.sizes.iter())
        .map(|(s, n)| (s.clone(), n.div_ceil(tiling.tiles.max(1))))
        .collect();
    let rows = shape.iter().map(|s| s.1).max().unwrap_or(0).max(1);
    let tp = tile_problem(problem, weights, &shape, &batch.sizes);
    let obj = tp.objective(&shape, opts.dtype, batch.grad)?;
    let Some(widest) = compile::widest_value(&obj.graph, opts) else {
        return Ok(tiling);
    };
    let narrower = aim_for_width(opts.dtype, widest.div_ceil(rows));
    Ok(match narrower < aim {
        true => Tiling::aiming(&counts, ranks, narrower),
        false => tiling,
    })
}

/// Refuses a residual weight the programs cannot hold in `dtype` (beyond f32's range, it
/// is infinite in an f32 program: the gradient is NaN where the loss, added up on the
/// host in f64, looks finite).
fn check_weights(problem: &Problem, dtype: nabla_ir::DType) -> Result<(), TrainError> {
    let most = match dtype {
        nabla_ir::DType::F32 => f32::MAX as f64,
        nabla_ir::DType::F64 => f64::MAX,
    };
    match problem.residuals.iter().find(|r| r.weight.abs() > most) {
        Some(r) => Err(TrainError::Options(format!(
            "residual `{}` has weight {:e}, beyond the range of {dtype} ({most:.1e}): \
             train with --dtype f64, or scale the residual instead",
            r.name, r.weight
        ))),
        None => Ok(()),
    }
}

/// `problem` as the program of a tile with `rows` rows of every set (of `whole`'s sizes)
/// computes it: every residual's weight `W_R` (`weights`) scaled by the tile's fraction
/// `n_R,t / N_R` of its set, so that the tile's loss is exactly its part of
/// `Σ_R W_R/N_R Σᵢ rᵢ²` and the tiles' gradients add up to the gradient; a residual on
/// a set of which the tile has no rows is left out ([`in_tile`]).
pub(super) fn tile_problem(
    problem: &Problem,
    weights: &[f64],
    rows: &[(String, usize)],
    whole: &[(String, usize)],
) -> Problem {
    let mut p = problem.clone();
    for (r, w) in p.residuals.iter_mut().zip(weights) {
        if let (Some(part), Some(all)) = (
            rows_in_shape(rows, &r.points),
            rows_in_shape(whole, &r.points),
        ) {
            r.weight = w * (part as f64 / all.max(1) as f64);
        }
    }
    in_tile(&p, rows)
}

/// `problem` without the residuals on a set of which a tile of `rows` rows of every set
/// has none: a set smaller than the number of tiles (an interval's two ends, an initial
/// condition at one point) has rows in some tiles only, and a term over no points adds
/// nothing to the loss and its gradient (where its mean would divide 0 by 0).
pub(super) fn in_tile(problem: &Problem, rows: &[(String, usize)]) -> Problem {
    let mut p = problem.clone();
    p.residuals.retain(|r| !leaves_out(rows, r));
    p
}

/// Whether the program of a tile of `shape` leaves residual `r` out ([`in_tile`]): the
/// tile has no rows of its set.
fn leaves_out(shape: &[(String, usize)], r: &ResidualDecl) -> bool {
    rows_in_shape(shape, &r.points) == Some(0)
}

/// The rows of set `set` in a tile shape (`None`: the shape does not name it).
fn rows_in_shape(shape: &[(String, usize)], set: &str) -> Option<usize> {
    shape.iter().find(|(s, _)| s == set).map(|(_, n)| *n)
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

    /// [`Model::compile`] for one of the processes of `comm`: `problem` is `whole` as the
    /// rank trains it (with causal weights, if any); the points are cut into tiles
    /// ([`Tiling`]), one program is compiled per distinct tile shape, and every evaluation
    /// runs the rank's tiles, gathers the per-point squares and adds the tiles' gradients
    /// over all ranks over one tree (see [`super::dist`]).
    pub fn compile_on(
        problem: &'p Problem,
        whole: &Problem,
        opts: &Options,
        comm: &'p dyn Collective,
    ) -> Result<(Model<'p>, Vec<f64>, f64), TrainError> {
        Model::compile_batch(problem, whole, &Batch::of(whole), opts, comm)
    }

    /// [`Model::compile`] for `batch`'s rows of every point set (binding a seed's sample
    /// binds its first rows) and, where `batch.grad` is false, programs without the
    /// gradient: what `nabla bench` times.
    pub fn compile_for(
        problem: &'p Problem,
        batch: &Batch,
        opts: &Options,
    ) -> Result<(Model<'p>, Vec<f64>, f64), TrainError> {
        Model::compile_batch(problem, problem, batch, opts, &Alone)
    }

    /// [`Model::compile_on`] for `batch`.
    fn compile_batch(
        problem: &'p Problem,
        whole: &Problem,
        batch: &Batch,
        opts: &Options,
        comm: &'p dyn Collective,
    ) -> Result<(Model<'p>, Vec<f64>, f64), TrainError> {
        let t0 = Instant::now();
        if whole.residuals.len() != problem.residuals.len() {
            return Err(TrainError::Options(format!(
                "a process's problem has {} residuals, the whole problem {}",
                problem.residuals.len(),
                whole.residuals.len()
            )));
        }
        let weights: Vec<f64> = whole.residuals.iter().map(|r| r.weight).collect();
        check_weights(whole, opts.dtype)?;
        let tiling = match opts.backend {
            // a GPU wants whole batches: one tile per process, unless that does not fit
            crate::Backend::OpenCl => {
                super::device_tiles::opencl_tiling(problem, &weights, batch, comm, opts)?
            }
            _ => cpu_tiling(problem, &weights, batch, comm.size(), opts)?,
        };
        let c = compile_tiles(problem, &weights, batch, tiling, comm.rank(), opts)?;
        let secs = t0.elapsed().as_secs_f64();
        let shares = shares_of(&batch.sizes, &tiling, comm.rank());
        let (programs, workers, init) = (c.programs, c.workers, c.init);
        let (tiles, shapes) = (c.tiles, c.shapes);
        let mut m = Model::with_programs(problem, programs, workers, &init);
        (m.tiles, m.tiling, m.shares, m.shapes) = (tiles, tiling, shares, shapes);
        m.weights = weights;
        m.comm = comm;
        let theta = m.layout.flatten(&init);
        Ok((m, theta, secs))
    }

    /// Whether `flag` is set on any of the processes training together.
    pub fn any(&self, flag: bool) -> Result<bool, TrainError> {
        self.comm.any(flag)
    }

    /// Compiles the residual-Jacobian program (`residual.R`, `jacobian.R.P`) next to the
    /// loss, for the Gauss–Newton methods ([`Model::least_squares`]); binds the current
    /// points to it, and chooses how `lm` forms its system (`lm::plan_memory`: added up
    /// tile by tile in parameter space, [`Model::tiled_gauss_newton`]). Returns the
    /// compile time in seconds.
    pub fn add_jacobian(&mut self, opts: &Options) -> Result<f64, TrainError> {
        let rows: usize = (self.problem.residuals.iter())
            .filter_map(|r| Some(self.rows_of(&r.points)?.1))
            .sum();
        let mut plan = SystemPlan::Whole;
        if self.comm.size() == 1 {
            // every residual's rows of a tile (two on one set count twice)
            let tile_rows = (self.tiles.iter())
                .map(|t| {
                    (self.problem.residuals.iter())
                        .filter_map(|r| t.rows.iter().find(|(s, _)| *s == r.points))
                        .map(|(_, rows)| rows.len())
                        .sum::<usize>()
                })
                .max()
                .unwrap_or(0);
            plan = super::lm::plan_memory(self.layout.len(), rows, tile_rows)?;
        } else {
            let mine: usize = (self.problem.residuals.iter())
                .filter_map(|r| Some(self.rows_of(&r.points)?.0.len()))
                .sum();
            let local = self.comm.local_size();
            super::lm::check_memory_shared(self.layout.len(), rows, mine, local)?;
            // as one process decides (it holds the whole J here anyway)
            if rows >= self.layout.len() {
                plan = SystemPlan::Tiles { keep_j: true };
            }
        }
        let t0 = Instant::now();
        let mut jac = JacobianProgram::default();
        for shape in &self.shapes {
            let obj = in_tile(self.problem, shape).jacobian_objective(shape, opts.dtype)?;
            let exe = compile(&obj.graph, opts)?;
            jac.outputs
                .push(self.jacobian_outputs(exe.as_ref(), shape)?);
            jac.binds
                .push(exe.bindings().iter().map(|b| b.name.clone()).collect());
            jac.exes.push(exe);
            jac.bound.push(None);
        }
        jac.plan = plan;
        self.jac = Some(jac);
        Ok(t0.elapsed().as_secs_f64())
    }

    /// The outputs `residual.R` and `jacobian.R.P` (every param `P` in layout order) of
    /// every residual in the Jacobian program of a tile of `shape`; `None` for a residual
    /// on a set the tile has no rows of, which the program leaves out ([`in_tile`]).
    fn jacobian_outputs(
        &self,
        exe: &dyn Executable,
        shape: &[(String, usize)],
    ) -> Result<Vec<Option<JacobianOutputs>>, TrainError> {
        let get = |n: String| find(exe, &n).ok_or(TrainError::MissingOutput(n));
        let mut outputs = Vec::new();
        for r in &self.problem.residuals {
            if leaves_out(shape, r) {
                outputs.push(None);
                continue;
            }
            let ri = get(format!("residual.{}", r.name))?;
            let blocks = (self.layout.names())
                .map(|p| get(format!("jacobian.{}.{p}", r.name)))
                .collect::<Result<Vec<_>, _>>()?;
            outputs.push(Some((ri, blocks)));
        }
        Ok(outputs)
    }

    /// Wraps an executable whose outputs are those of `Problem::objective` with gradient;
    /// `init` names the params in θ order with their initial values. The program holds
    /// every point: one tile.
    pub fn from_executable(
        problem: &'p Problem,
        exe: Box<dyn Executable>,
        init: &[(String, Tensor)],
    ) -> Result<(Model<'p>, Vec<f64>), TrainError> {
        let program = Outputs::new(
            problem,
            &sizes(problem),
            &Layout::new(init),
            exe.as_ref(),
            true,
        )?;
        let worker = Worker {
            exes: vec![exe],
            bound: vec![None],
            spare: None,
        };
        let mut model = Model::with_programs(problem, vec![program], vec![worker], init);
        let rows = (sizes(problem).into_iter())
            .map(|(s, n)| (s, 0..n))
            .collect();
        model.tiles = vec![Tile::new(0, rows)];
        model.shapes = vec![sizes(problem)];
        let theta = model.layout.flatten(init);
        Ok((model, theta))
    }

    /// A model of `programs` run by `workers`, with no tiles yet, alone, on one tile's
    /// shares.
    fn with_programs(
        problem: &'p Problem,
        programs: Vec<Outputs>,
        workers: Vec<Worker>,
        init: &[(String, Tensor)],
    ) -> Model<'p> {
        let layout = Layout::new(init);
        let mut model = Model {
            problem,
            programs,
            workers,
            pool: None,
            tiles: Vec::new(),
            tiling: Tiling::per_rank(1),
            shapes: Vec::new(),
            layout,
            weights: problem.residuals.iter().map(|r| r.weight).collect(),
            jac: None,
            values: Vec::new(),
            squares: Vec::new(),
            grads: Vec::new(),
            last_parts: Vec::new(),
            evals: 0,
            points: Vec::new(),
            probes: (0, 0),
            comm: &Alone,
            shares: Vec::new(),
            causal: None,
            last_x: None,
        };
        model.shares = shares_of(&sizes(problem), &Tiling::per_rank(1), 0);
        model
    }

    /// How the points are cut into tiles and dealt to processes.
    pub fn tiling(&self) -> Tiling {
        self.tiling
    }

    /// The copies of every program that run tiles side by side (1: the tiles run one
    /// after the other, each on all the threads).
    pub fn copies(&self) -> usize {
        self.workers.len()
    }

    /// The number of loss programs: one per distinct tile shape.
    pub fn programs(&self) -> usize {
        self.programs.len()
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
        check_sample_memory(self.problem, super::lm::available_memory())?;
        let points = self.problem.sample(seed);
        self.bind_given_points(points, seed)
    }

    /// Binds `points` instead of a sample — every point set's rows (inputs in declaration
    /// order, then a boundary set's normals), at least as many as the programs take — and
    /// the probe directions of sampled operators for step 0 of a run seeded `seed`: what
    /// `nabla eval` evaluates at.
    pub fn bind_given_points(
        &mut self,
        mut points: crate::data::PointSets,
        seed: u64,
    ) -> Result<(), TrainError> {
        for (set, rows) in &mut points {
            if let Some((range, _)) = self.rows_of(set) {
                if range.end > rows.len() {
                    return Err(TrainError::Options(format!(
                        "point set `{set}` has {} points, the programs take {}",
                        rows.len(),
                        range.end
                    )));
                }
                *rows = rows.drain(range).collect();
            }
        }
        self.points = points;
        // the last evaluation was of other points: nothing may be refreshed from it
        self.last_x = None;
        for t in 0..self.tiles.len() {
            let (problem, rows) = (self.problem, self.tile_points(t));
            self.record(t, |exe| {
                (rows.iter()).try_for_each(|(set, rows)| bind_points(exe, problem, set, rows))
            })?;
        }
        self.bind_probes(seed, 0)?;
        self.bind_causal()
    }

    /// Tile `t`'s rows of every bound point set.
    fn tile_points(&self, t: usize) -> Vec<(String, Vec<Vec<f64>>)> {
        (self.points.iter())
            .map(|(set, rows)| {
                let mine = self.rows_of(set).map_or(0..0, |(r, _)| r);
                let tile = (self.tiles[t].rows.iter()).find(|(s, _)| s == set);
                let range = tile.map_or(0..0, |(_, r)| r.start - mine.start..r.end - mine.start);
                (set.clone(), rows.get(range).unwrap_or_default().to_vec())
            })
            .collect()
    }

    /// Runs `bind` on tile `t`'s program and keeps what it binds as the tile's own
    /// leaves, set again whenever the program runs another tile first.
    fn record<R>(
        &mut self,
        t: usize,
        bind: impl FnOnce(&mut dyn Executable) -> Result<R, crate::RunError>,
    ) -> Result<R, TrainError> {
        let tile = &mut self.tiles[t];
        let p = tile.program;
        let Some((first, others)) = self.workers.split_first_mut() else {
            return Err(TrainError::MissingOutput("a program to bind to".into()));
        };
        let mut rec = Recorder {
            exe: first.exes[p].as_mut(),
            set: Vec::new(),
        };
        let out = bind(&mut rec);
        let set = rec.set;
        // the first worker holds tile t's new leaves only if it held the tile's others
        if first.bound[p] != Some(t) {
            first.bound[p] = None;
        }
        for w in others {
            if w.bound[p] == Some(t) {
                w.bound[p] = None;
            }
        }
        if let Some(j) = &mut self.jac {
            if j.bound[p] == Some(t) {
                j.bound[p] = None;
            }
        }
        for (name, values) in set {
            tile.leaves.put(name, values);
        }
        Ok(out?)
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
        let mut squares = Vec::new();
        for name in &names {
            let k = self.residual_index(name)?;
            // (none where this process's tiles hold no row of the residual's set)
            let none = self.values.get(k).is_some_and(|v| v.is_empty());
            let sq = self.squares.get(k).cloned().flatten();
            let sq = sq.or_else(|| none.then(Vec::new));
            squares.push(sq.ok_or_else(|| TrainError::MissingOutput(square_name(name)))?);
        }
        self.update_causal(&names, &squares)?;
        Ok(true)
    }

    /// [`Model::refresh_causal`] from the residuals at `theta`, evaluating there first
    /// unless the last evaluation was there.
    pub fn refresh_causal_at(&mut self, theta: &[f64]) -> Result<bool, TrainError> {
        if self.causal.is_some() && self.last_x.as_deref() != Some(theta) {
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
        let mut leaves = Vec::new();
        for t in 0..self.tiles.len() {
            let points = self.tile_points(t);
            let mut mine = Vec::new();
            for r in &self.problem.residuals {
                let rows = rows_named(&points, &r.points);
                if c.residuals().contains(&r.name) && !rows.is_empty() {
                    mine.push((point_weight_name(&r.name), c.point_weights(rows)));
                }
            }
            leaves.push(mine);
        }
        for (t, mine) in leaves.into_iter().enumerate() {
            self.record(t, |exe| {
                (mine.iter()).try_for_each(|(name, w)| exe.set(name, w))
            })?;
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
        let mut any = false;
        for t in 0..self.tiles.len() {
            let tile: Vec<(String, Range<usize>, usize)> = (self.tiles[t].rows.iter())
                .map(|(s, r)| {
                    (
                        s.clone(),
                        r.clone(),
                        rows_in(&self.shares, s).map_or(0, |x| x.1),
                    )
                })
                .collect();
            let rows = |set: &str| rows_in(&tile, set);
            any |= self.record(t, |exe| bind_probes_in(exe, seed, step, &rows))?;
        }
        if any {
            // the last evaluation was of other probes
            self.last_x = None;
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
        check_theta(theta.len(), p)?;
        let rows = self.residual_rows();
        let jac = self.jac.as_mut().ok_or_else(no_jacobian)?;
        let mut j = std::mem::take(&mut jac.spare);
        let values = jac.run(&self.tiles, &self.layout, theta, &rows, &mut j)?;
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
        // every row of J scaled as its residual value
        for (row, s) in j.chunks_exact_mut(p.max(1)).zip(scales.iter().flatten()) {
            row.iter_mut().for_each(|v| *v *= s);
        }
        Ok(LeastSquares { r, j, cols: p })
    }

    /// How `lm` forms its system: chosen by [`Model::add_jacobian`] from the sizes
    /// (`lm::plan_memory`); `None` before the Jacobian program is compiled.
    pub fn system_plan(&self) -> Option<SystemPlan> {
        self.jac.as_ref().map(|j| j.plan)
    }

    /// Forms `lm`'s system by `plan` from now on, whatever [`Model::add_jacobian`] chose.
    /// A distributed run gathers `J`'s rows and keeps them under either plan
    /// ([`Model::tiled_gauss_newton`]).
    pub fn set_system_plan(&mut self, plan: SystemPlan) -> Result<(), TrainError> {
        let jac = self.jac.as_mut().ok_or_else(no_jacobian)?;
        jac.plan = plan;
        Ok(())
    }

    /// The loss `‖r‖²` at `theta` and its Gauss–Newton system in parameter space, added up
    /// tile by tile ([`NormalEquations`]): each tile's rows of `J`, scaled as in
    /// [`Model::least_squares`], are added to `JᵀJ` and `Jᵀr` while they are in cache, and
    /// kept as `J` only with `keep_j` (otherwise memory is `8P²` and one tile's rows
    /// instead of `8MP`). The scales must be known before the first tile, so causal
    /// weights come from the loss program's residuals at `theta`
    /// ([`Model::refresh_causal_at`], as for the other optimizers) rather than the
    /// Jacobian program's: for a sampled operator the chunk means are then of `r·r′`, the
    /// estimate the loss uses, where the whole-`J` plan takes `r²`. A distributed run
    /// gathers `J` and keeps it whatever `keep_j` says ([`Model::gathered_gauss_newton`]).
    pub fn tiled_gauss_newton(
        &mut self,
        theta: &[f64],
        keep_j: bool,
    ) -> Result<(f64, GaussNewton), TrainError> {
        if self.comm.size() > 1 {
            return self.gathered_gauss_newton(theta);
        }
        self.refresh_causal_at(theta)?;
        let (rows, p) = (self.residual_rows(), self.layout.len());
        let (scales, starts) = (self.all_row_scales(&rows)?, firsts(&rows));
        let widths: Vec<usize> = self.layout.sizes().map(|(_, w)| w).collect();
        let (tiles, layout) = (&self.tiles, &self.layout);
        let jac = self.jac.as_mut().ok_or_else(no_jacobian)?;
        let mut kept = std::mem::take(&mut jac.spare);
        kept.clear();
        if keep_j {
            kept.resize(rows.iter().sum::<usize>() * p, 0.0);
        }
        let mut sum = NormalEquations::new(p);
        let (mut loss, mut tile, mut r) = (0.0, Vec::new(), Vec::new());
        jac.each_block(tiles, layout, theta, &rows, |b| {
            let n = b.values.len();
            let s = &scales[b.residual][b.first..][..n];
            let j = match keep_j {
                true => &mut kept[(starts[b.residual] + b.first) * p..][..n * p],
                false => {
                    tile.clear();
                    tile.resize(n * p, 0.0);
                    &mut tile[..]
                }
            };
            copy_columns(b.exe, b.blocks, &widths, j, p)?;
            for (row, s) in j.chunks_exact_mut(p.max(1)).zip(s) {
                row.iter_mut().for_each(|v| *v *= s);
            }
            r.clear();
            r.extend(b.values.iter().zip(s).map(|(v, s)| v * s));
            loss += r.iter().map(|v| v * v).sum::<f64>();
            sum.add(j, &r)
        })?;
        Ok((loss, sum.finish_keeping(keep_j.then_some(kept))))
    }

    /// [`Model::tiled_gauss_newton`] on a rank of a distributed run: this process's rows
    /// of `J` and `r`, scaled as there, are gathered in one process's row order and added
    /// up over one process's tiles, block by block in the order of its tile loop, so that
    /// every rank holds the bits one process computes (with `J` kept, which every rank
    /// holds here anyway).
    fn gathered_gauss_newton(&mut self, theta: &[f64]) -> Result<(f64, GaussNewton), TrainError> {
        self.refresh_causal_at(theta)?;
        let (rows, p) = (self.residual_rows(), self.layout.len());
        let scales = self.all_row_scales(&rows)?;
        let jac = self.jac.as_mut().ok_or_else(no_jacobian)?;
        let mut j = std::mem::take(&mut jac.spare);
        let values = jac.run(&self.tiles, &self.layout, theta, &rows, &mut j)?;
        let (scales, values) = (scales.iter().flatten(), values.iter().flatten());
        for (row, s) in j.chunks_exact_mut(p.max(1)).zip(scales.clone()) {
            row.iter_mut().for_each(|v| *v *= s);
        }
        let r = values.zip(scales).map(|(v, s)| v * s).collect();
        let ls = self.gather_rows(LeastSquares { r, j, cols: p })?;
        // every residual's rows in one process: N_R each, one residual after the other
        let sizes: Vec<usize> = (self.problem.residuals.iter())
            .map(|r| self.rows_of(&r.points).map_or(0, |(_, n)| n))
            .collect();
        let starts = firsts(&sizes);
        let (mut sum, mut loss) = (NormalEquations::new(p), 0.0);
        for t in 0..self.tiling.tiles {
            for (&n, &start) in sizes.iter().zip(&starts) {
                let rows = self.tiling.tile_rows(n, t);
                let at = start + rows.start..start + rows.end;
                let r = ls.r.get(at.clone()).ok_or(TrainError::GradLength {
                    expected: at.end,
                    found: ls.r.len(),
                })?;
                let j =
                    ls.j.get(at.start * p..at.end * p)
                        .ok_or(TrainError::GradLength {
                            expected: at.end * p,
                            found: ls.j.len(),
                        })?;
                loss += r.iter().map(|v| v * v).sum::<f64>();
                sum.add(j, r)?;
            }
        }
        Ok((loss, sum.finish_keeping(Some(ls.j))))
    }

    /// `Jᵀw` at `theta` for one `w` per scaled residual value, in the order of
    /// [`Model::least_squares`] (rows scaled as there, with the current causal weights),
    /// tile by tile without keeping `J`. One process only.
    pub fn jacobian_transpose_times(
        &mut self,
        theta: &[f64],
        w: &[f64],
    ) -> Result<Vec<f64>, TrainError> {
        if self.comm.size() > 1 {
            return Err(TrainError::Options(
                "Jᵀw tile by tile is for one process (a distributed run gathers J)".into(),
            ));
        }
        let (rows, p) = (self.residual_rows(), self.layout.len());
        if w.len() != rows.iter().sum::<usize>() {
            let (expected, found) = (rows.iter().sum(), w.len());
            return Err(TrainError::GradLength { expected, found });
        }
        let (scales, starts) = (self.all_row_scales(&rows)?, firsts(&rows));
        let widths: Vec<usize> = self.layout.sizes().map(|(_, w)| w).collect();
        let (tiles, layout) = (&self.tiles, &self.layout);
        let jac = self.jac.as_mut().ok_or_else(no_jacobian)?;
        let (mut out, mut j) = (vec![0.0; p], Vec::new());
        jac.each_block(tiles, layout, theta, &rows, |b| {
            let n = b.values.len();
            let s = &scales[b.residual][b.first..][..n];
            let wk = &w[starts[b.residual] + b.first..][..n];
            j.clear();
            j.resize(n * p, 0.0);
            copy_columns(b.exe, b.blocks, &widths, &mut j, p)?;
            for ((row, s), w) in j.chunks_exact(p.max(1)).zip(s).zip(wk) {
                let c = s * w;
                out.iter_mut().zip(row).for_each(|(o, v)| *o += c * v);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// [`Model::row_scales`] of every residual, `rows[k]` values each.
    fn all_row_scales(&self, rows: &[usize]) -> Result<Vec<Vec<f64>>, TrainError> {
        (rows.iter().enumerate())
            .map(|(k, &n)| self.row_scales(k, n))
            .collect()
    }

    /// Residual values (this process's rows of every residual, in the problem's order)
    /// scaled as in [`Model::least_squares`]: by `√(W_R/N_R)` times `√c` of their causal
    /// weights. Returns the values and every residual's row scales.
    #[allow(clippy::type_complexity)]
    fn scaled(&self, values: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<Vec<f64>>), TrainError> {
        let mut r = Vec::new();
        let mut scales = Vec::new();
        for (k, ri) in values.iter().enumerate() {
            let rows = self.row_scales(k, ri.len())?;
            r.extend(ri.iter().zip(&rows).map(|(v, s)| s * v));
            scales.push(rows);
        }
        Ok((r, scales))
    }

    /// The scales of [`Model::scaled`] for the `len` values of residual `k` on this
    /// process: `√(W_R/N_R)` times `√c` of their causal weights.
    fn row_scales(&self, k: usize, len: usize) -> Result<Vec<f64>, TrainError> {
        let decl = &self.problem.residuals[k];
        // the whole problem's W_R/N_R, the same bits on every rank
        let n = self.rows_of(&decl.points).map_or(len, |(_, n)| n);
        let s = (self.weights[k] / n.max(1) as f64).sqrt();
        match self.row_weights(k) {
            Some(w) if w.len() == len => Ok(w.into_iter().map(|c| s * c).collect()),
            Some(w) => Err(TrainError::Options(format!(
                "causal weights: {} for the {} values of residual `{}`",
                w.len(),
                len,
                decl.name
            ))),
            None => Ok(vec![s; len]),
        }
    }

    /// The number of rows of every residual on this process.
    fn residual_rows(&self) -> Vec<usize> {
        (self.problem.residuals.iter())
            .map(|r| self.rows_of(&r.points).map_or(0, |(rows, _)| rows.len()))
            .collect()
    }

    /// The scaled residual values of [`Model::least_squares`] at `theta`, from the loss
    /// program (no Jacobian), of every process in one process's order.
    pub fn residual_values(&mut self, theta: &[f64]) -> Result<Vec<f64>, TrainError> {
        self.run_at(theta)?;
        let (r, _) = self.scaled(&self.values)?;
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

    /// The loss at `theta` (the gradient, where the programs compute one, is not
    /// combined): what a model compiled for the loss only ([`Model::compile_for`]) gives.
    pub fn loss(&mut self, theta: &[f64]) -> Result<f64, TrainError> {
        self.run_at(theta)?;
        self.loss_from_squares()
    }

    /// Every residual's values at this process's rows in the last evaluation, residual
    /// after residual (unscaled, unlike [`Model::residual_values`]).
    pub fn last_residuals(&self) -> Vec<f64> {
        self.values.concat()
    }

    /// [`Model::last_residuals`], one list per residual.
    pub fn last_residuals_each(&self) -> &[Vec<f64>] {
        &self.values
    }

    /// Why the loss or gradient at `theta` is not finite: evaluates there again and names
    /// every residual with a value that is not finite (with a point where it is not) and
    /// every param whose gradient is not.
    pub fn diagnose(&mut self, theta: &[f64]) -> Result<NonFinite, TrainError> {
        let mut g = vec![0.0; theta.len()];
        let loss = self.eval(theta, &mut g)?;
        let residuals = (0..self.problem.residuals.len())
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
        let values = self.values.get(k)?;
        let mean_square = self.last_parts.get(k).copied().unwrap_or(f64::NAN);
        let rows = (self.points.iter())
            .find(|(s, _)| *s == decl.points)
            .map_or(&[][..], |(_, r)| &r[..]);
        let names = (decl.name.as_str(), decl.points.as_str());
        BadResidual::find(names, values, mean_square, rows, &self.problem.inputs)
    }
}

/// The output indices of one tile shape's loss program: `residual.R` and `%square.R`
/// of every residual, `grad.P` of every param (layout order).
struct Outputs {
    /// `None` for a residual the program leaves out: the tile has no rows of its set.
    residuals: Vec<Option<usize>>,
    squares: Vec<Option<usize>>,
    grads: Vec<Option<usize>>,
    /// Whether the program computes the gradient (a loss-only program's tiles give an
    /// empty one).
    with_grad: bool,
}

impl Outputs {
    /// Finds the outputs of `problem`'s residuals and, `with_grad`, of the gradients of
    /// `layout`'s params in `exe`, the program of a tile of `shape` (the rows of every
    /// set): every residual on a set the tile has rows of must be there.
    fn new(
        problem: &Problem,
        shape: &[(String, usize)],
        layout: &Layout,
        exe: &dyn Executable,
        with_grad: bool,
    ) -> Result<Outputs, TrainError> {
        let mut p = Outputs {
            residuals: Vec::new(),
            squares: Vec::new(),
            grads: (layout.names())
                .map(|n| find(exe, &format!("grad.{n}")))
                .collect(),
            with_grad,
        };
        for r in &problem.residuals {
            let i = find(exe, &format!("residual.{}", r.name));
            if i.is_none() && !leaves_out(shape, r) {
                return Err(missing_residual(&r.name));
            }
            p.residuals.push(i);
            p.squares.push(find(exe, &square_name(&r.name)));
        }
        Ok(p)
    }

    /// What the last run of `exe` gives: residual values, squares and the gradient
    /// ([`Outputs::gradient`]; empty for a loss-only program).
    fn read(
        &self,
        exe: &dyn Executable,
        layout: &Layout,
        (n, spare): (usize, Option<Vec<f64>>),
    ) -> Result<TileOut, TrainError> {
        let values = (self.residuals.iter())
            .map(|i| i.map_or_else(Vec::new, |i| exe.output(i)))
            .collect();
        let squares = self
            .squares
            .iter()
            .map(|i| i.map(|i| exe.output(i)))
            .collect();
        let grad = match self.with_grad {
            true => self.gradient(exe, layout, n, spare)?,
            false => Vec::new(),
        };
        Ok(TileOut {
            values,
            squares,
            grad,
        })
    }

    /// The gradient of the last run of `exe`: `n` values in layout order, 0 for a param
    /// the loss does not depend on; written over `spare` where it has `n` values.
    fn gradient(
        &self,
        exe: &dyn Executable,
        layout: &Layout,
        n: usize,
        spare: Option<Vec<f64>>,
    ) -> Result<Vec<f64>, TrainError> {
        let mut grad = spare
            .filter(|v| v.len() == n)
            .unwrap_or_else(|| vec![0.0; n]);
        let mut at = 0;
        for ((_, len), gi) in layout.sizes().zip(&self.grads) {
            let dst = grad.get_mut(at..at + len).ok_or(TrainError::GradLength {
                expected: at + len,
                found: n,
            })?;
            match gi {
                Some(i) => exe.output_into(*i, dst).map_err(grad_length)?,
                None => dst.fill(0.0),
            }
            at += len;
        }
        Ok(grad)
    }
}

/// A gradient output of another length than its param as [`TrainError::GradLength`].
fn grad_length(e: crate::RunError) -> TrainError {
    match e {
        crate::RunError::OutputLength {
            expected, found, ..
        } => TrainError::GradLength { expected, found },
        e => e.into(),
    }
}

/// The position of output `name` of `exe`.
fn find(exe: &dyn Executable, name: &str) -> Option<usize> {
    exe.output_names().iter().position(|o| o == name)
}

/// One thread's executables: a copy of every tile shape's program, and the tile whose
/// leaves each has bound (`None`: none, or a mix).
#[derive(Default)]
struct Worker {
    exes: Vec<Box<dyn Executable>>,
    bound: Vec<Option<usize>>,
    /// A vector the next tile's gradient is written over ([`TreeSum::spare`]).
    spare: Option<Vec<f64>>,
}

impl Worker {
    /// Runs tile `t` (of `tiles`) and reads what it gives, binding the tile's leaves
    /// first unless they are bound.
    fn run(
        &mut self,
        t: usize,
        tiles: &[Tile],
        programs: &[Outputs],
        layout: &Layout,
        n: usize,
    ) -> Result<TileOut, TrainError> {
        let tile = &tiles[t];
        let (p, exe) = (tile.program, &mut self.exes[tile.program]);
        if self.bound[p] != Some(t) {
            for (name, values) in tile.leaves.iter() {
                exe.set(name, values)?;
            }
            self.bound[p] = Some(t);
        }
        exe.run()?;
        programs[p].read(exe.as_ref(), layout, (n, self.spare.take()))
    }
}

/// What one run of one tile gives.
struct TileOut {
    values: Vec<Vec<f64>>,
    squares: Vec<Option<Vec<f64>>>,
    grad: Vec<f64>,
}

/// The static FLOPs of one tile's program below which tiles run one after the other:
/// starting the threads of a run costs tens of microseconds, more than such a tile's
/// work (the ODE example's tiles of 50 points, 0.11 MFLOP each, ran 5× slower side by
/// side). What counts is the work, not the rows: a 100-dimensional Laplacian's tile of
/// 64 points is over a GFLOP.
const PARALLEL_TILE_FLOPS: f64 = 2e6;

/// The threads that run a process's `tiles` (each a program of `flops` static FLOPs)
/// and the options of the programs' copies: tiles run on one thread each, several at
/// once, when there are at least two tiles of [`PARALLEL_TILE_FLOPS`] and two threads (a
/// tile keeps one core busy; splitting each of its steps between cores costs more than
/// it saves). Otherwise one copy runs the tiles in turn with all the threads, and the
/// OpenCL backend runs them on its device.
fn tile_threads(opts: &Options, tiles: usize, flops: f64) -> (usize, Options) {
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let small = flops < PARALLEL_TILE_FLOPS;
    if opts.backend == crate::Backend::OpenCl || tiles < 2 || threads < 2 || small {
        return (1, opts.clone());
    }
    let mut one = opts.clone();
    one.threads = Some(1);
    (threads.min(tiles), one)
}

/// Runs `tiles` (with their `programs`' outputs, gradients of `n` values in `layout`)
/// on this thread and the `pool`'s workers at once, each thread claiming the next tile
/// and a free copy of the programs among `workers` (a thread holds one copy at a time and
/// there are as many copies as threads), and takes the outputs into `taken` in tile
/// order (a tile that finishes early waits for those before it). A worker that the OS
/// has not scheduled by the time the last tile is claimed is not waited for.
fn side_by_side(
    pool: &Pool,
    workers: &mut [Worker],
    (tiles, programs, layout): (&[Tile], &[Outputs], &Layout),
    n: usize,
    taken: Taken,
) -> Result<Taken, TrainError> {
    let copies: Vec<Mutex<&mut Worker>> = workers.iter_mut().map(Mutex::new).collect();
    let state = Mutex::new((0, BTreeMap::new(), taken, None));
    let failed = AtomicBool::new(false);
    pool.for_each(tiles.len(), &|t| {
        if failed.load(Ordering::Relaxed) {
            return;
        }
        let mut copy = free_copy(&copies);
        let out = copy.run(t, tiles, programs, layout, n);
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        let (ready, waiting, taken, first_error) = &mut *st;
        match out {
            Ok(o) => {
                waiting.insert(t, o);
                while let Some(o) = waiting.remove(ready) {
                    taken.take(o);
                    *ready += 1;
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
                failed.store(true, Ordering::Relaxed);
            }
        }
        // for the copy's next tile (it holds at most one)
        if copy.spare.is_none() {
            copy.spare = taken.grads.spare();
        }
    });
    let (_, _, taken, failed) = state.into_inner().unwrap_or_else(|e| e.into_inner());
    match failed {
        Some(e) => Err(e),
        None => Ok(taken),
    }
}

/// A copy of the programs no other thread holds (one is always free: each thread holds
/// at most one, and there are as many as threads).
fn free_copy<'a, 'w>(copies: &'a [Mutex<&'w mut Worker>]) -> MutexGuard<'a, &'w mut Worker> {
    loop {
        for c in copies {
            match c.try_lock() {
                Ok(g) => return g,
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        std::hint::spin_loop();
    }
}

/// The tiles' outputs, taken in tile order: residual values and squares appended, the
/// gradients added up over the tiles' tree as far as this process's tiles go.
struct Taken {
    values: Vec<Vec<f64>>,
    squares: Vec<Option<Vec<f64>>>,
    grads: TreeSum,
    /// The index of the next tile among all of them.
    next: usize,
}

impl Taken {
    fn take(&mut self, out: TileOut) {
        for (k, v) in out.values.into_iter().enumerate() {
            self.values[k].extend(v);
        }
        for (k, sq) in out.squares.into_iter().enumerate() {
            if let Some(sq) = sq {
                self.squares[k].get_or_insert_with(Vec::new).extend(sq);
            }
        }
        self.grads.push(self.next, out.grad);
        self.next += 1;
    }
}

/// One tile of this process's points: its program, its rows of every set (of the whole
/// set's numbering) and the leaves bound for it (points, probe directions, causal
/// weights), which are set again whenever its program ran another tile.
struct Tile {
    program: usize,
    rows: Vec<(String, Range<usize>)>,
    leaves: Leaves,
}

impl Tile {
    fn new(program: usize, rows: Vec<(String, Range<usize>)>) -> Tile {
        Tile {
            program,
            rows,
            leaves: Leaves::default(),
        }
    }
}

/// The leaves bound for a tile, in the order first bound, found by name through an
/// index: a sampled 1000-D problem binds ~10⁴ (points and probe directions) per tile
/// every step, and a search of the list for each cost that problem 0.1 s per tile.
#[derive(Default)]
struct Leaves {
    list: Vec<(String, Vec<f64>)>,
    index: HashMap<String, usize>,
}

impl Leaves {
    /// Sets leaf `name` to `values`, adding it if new.
    fn put(&mut self, name: String, values: Vec<f64>) {
        match self.index.get(&name) {
            Some(&i) => self.list[i].1 = values,
            None => {
                self.index.insert(name.clone(), self.list.len());
                self.list.push((name, values));
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &Vec<f64>)> {
        self.list.iter().map(|(n, v)| (n, v))
    }
}

/// An executable that keeps a copy of every leaf set through it.
struct Recorder<'e> {
    exe: &'e mut dyn Executable,
    set: Vec<(String, Vec<f64>)>,
}

impl Executable for Recorder<'_> {
    fn bindings(&self) -> &[nabla_backends::Binding] {
        self.exe.bindings()
    }
    fn output_names(&self) -> Vec<String> {
        self.exe.output_names()
    }
    fn dtype(&self) -> nabla_ir::DType {
        self.exe.dtype()
    }
    fn set(&mut self, name: &str, values: &[f64]) -> Result<(), crate::RunError> {
        self.exe.set(name, values)?;
        self.set.push((name.to_string(), values.to_vec()));
        Ok(())
    }
    fn run(&mut self) -> Result<(), crate::RunError> {
        self.exe.run()
    }
    fn output(&self, index: usize) -> Vec<f64> {
        self.exe.output(index)
    }
    fn output_into(&self, index: usize, dst: &mut [f64]) -> Result<(), crate::RunError> {
        self.exe.output_into(index, dst)
    }
}

/// One residual's outputs in a Jacobian program: `residual.R` and its blocks
/// `jacobian.R.P`, one per param in layout order.
type JacobianOutputs = (usize, Vec<usize>);

/// The residual-Jacobian programs, one per tile shape (like the loss programs), run one
/// tile after the other with the tiles' leaves; per shape and residual the output indices
/// of `residual.R` and of `jacobian.R.P` for every param `P` in layout order, and the
/// tile each has bound.
#[derive(Default)]
struct JacobianProgram {
    exes: Vec<Box<dyn Executable>>,
    /// Per program, every residual's `residual.R` and Jacobian blocks (`None`: left out
    /// of that tile shape's program).
    outputs: Vec<Vec<Option<JacobianOutputs>>>,
    bound: Vec<Option<usize>>,
    /// The leaves each program binds: the tiles' leaves it does not (causal weights) are
    /// skipped (a sampled 1000-D problem has ~10⁴ leaves).
    binds: Vec<HashSet<String>>,
    /// The memory of the last `J`, given back by the optimizer ([`Residuals::recycle`]).
    spare: Vec<f64>,
    /// How the Gauss–Newton system is formed ([`Model::add_jacobian`]).
    plan: SystemPlan,
}

impl JacobianProgram {
    /// Runs every tile at `theta`: every residual's values at this process's rows (`rows[k]`
    /// of residual `k`, the tiles' rows one after the other), and into `j` their Jacobian,
    /// `[Σ rows, P]` row-major (the rows of residual 0, then 1, ...; the columns of every
    /// param in layout order), copied from the programs' blocks as each tile ends.
    fn run(
        &mut self,
        tiles: &[Tile],
        layout: &Layout,
        theta: &[f64],
        rows: &[usize],
        j: &mut Vec<f64>,
    ) -> Result<Vec<Vec<f64>>, TrainError> {
        let p = layout.len();
        let widths: Vec<usize> = layout.sizes().map(|(_, w)| w).collect();
        let starts = firsts(rows);
        j.clear();
        j.resize(rows.iter().sum::<usize>() * p, 0.0);
        self.each_block(tiles, layout, theta, rows, |b| {
            let dst = &mut j[(starts[b.residual] + b.first) * p..][..b.values.len() * p];
            copy_columns(b.exe, b.blocks, &widths, dst, p)
        })
    }

    /// Runs every tile at `theta` and hands `block` each residual's piece of each tile,
    /// in tile order (the rows of residual `k` arrive in order, `rows[k]` in all); returns
    /// every residual's values. Nothing of `J` is kept beyond the tile.
    fn each_block(
        &mut self,
        tiles: &[Tile],
        layout: &Layout,
        theta: &[f64],
        rows: &[usize],
        mut block: impl FnMut(TileBlock<'_>) -> Result<(), TrainError>,
    ) -> Result<Vec<Vec<f64>>, TrainError> {
        for exe in &mut self.exes {
            bind_params(exe.as_mut(), layout.split(theta))?;
        }
        let mut values: Vec<Vec<f64>> = rows.iter().map(|&n| Vec::with_capacity(n)).collect();
        for (t, tile) in tiles.iter().enumerate() {
            let (prog, exe) = (tile.program, &mut self.exes[tile.program]);
            if self.bound[prog] != Some(t) {
                for (name, v) in tile.leaves.iter() {
                    if self.binds[prog].contains(name) {
                        exe.set(name, v)?;
                    }
                }
                self.bound[prog] = Some(t);
            }
            exe.run()?;
            for (k, out) in self.outputs[prog].iter().enumerate() {
                let Some((ri, bs)) = out else {
                    continue;
                };
                let first = values[k].len();
                values[k].extend(exe.output(*ri));
                if values[k].len() > rows[k] {
                    let (expected, found) = (rows[k], values[k].len());
                    return Err(TrainError::GradLength { expected, found });
                }
                let (exe, blocks) = (exe.as_ref(), &bs[..]);
                let values = &values[k][first..];
                block(TileBlock {
                    residual: k,
                    first,
                    values,
                    exe,
                    blocks,
                })?;
            }
        }
        if let Some((v, &n)) = values.iter().zip(rows).find(|(v, n)| v.len() != **n) {
            let (expected, found) = (n, v.len());
            return Err(TrainError::GradLength { expected, found });
        }
        Ok(values)
    }
}

/// One residual's piece of one tile of a Jacobian program's run: its values (unscaled) at
/// the residual's rows `first..first + values.len()`, and the program with the output
/// indices of its Jacobian blocks (one per param, layout order).
struct TileBlock<'a> {
    residual: usize,
    first: usize,
    values: &'a [f64],
    exe: &'a dyn Executable,
    blocks: &'a [usize],
}

/// The first row of every residual's rows when they follow each other (`rows[k]` each).
fn firsts(rows: &[usize]) -> Vec<usize> {
    (rows.iter())
        .scan(0, |next, n| Some(std::mem::replace(next, *next + n)))
        .collect()
}

/// Copies the Jacobian blocks `blocks` (one output per param, `[n, width]` row-major) of
/// `exe` side by side into `dst`, `n` rows of `p` columns.
fn copy_columns(
    exe: &dyn Executable,
    blocks: &[usize],
    widths: &[usize],
    dst: &mut [f64],
    p: usize,
) -> Result<(), TrainError> {
    let n = dst.len() / p.max(1);
    let mut col0 = 0;
    for (&b, &w) in blocks.iter().zip(widths) {
        let block = exe.output(b);
        if block.len() != n * w {
            let (expected, found) = (n * w, block.len());
            return Err(TrainError::GradLength { expected, found });
        }
        for (src, row) in block
            .chunks_exact(w.max(1))
            .zip(dst.chunks_exact_mut(p.max(1)))
        {
            row[col0..col0 + w].copy_from_slice(src);
        }
        col0 += w;
    }
    Ok(())
}

impl Objective for Model<'_> {
    fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
        if self.programs.iter().any(|p| !p.with_grad) {
            return Err(TrainError::Options(
                "the model was compiled without the gradient (Batch::grad is false): \
                 evaluate it with Model::loss"
                    .into(),
            ));
        }
        self.run_at(x)?;
        let loss = self.loss_from_squares()?;
        let n = grad.len();
        let (tiling, size) = (self.tiling, self.comm.size());
        // every rank's blocks of tiles, in rank order: the labels of the parts it sends
        let blocks: Vec<Block> = (0..size)
            .flat_map(|rank| tile_blocks(tiling.tiles_of(rank)))
            .collect();
        let combine = |parts: &[&[f64]]| {
            let n = parts.first().map_or(0, |p| p.len());
            combine_blocks(&blocks, parts, tiling.tiles, n)
        };
        let sum = if size == 1 {
            let parts: Vec<&[f64]> = self.grads.iter().map(|g| &g[..]).collect();
            combine(&parts)
        } else {
            self.comm.combine_parts(&self.grads, n, &combine)?
        };
        copy_grad(grad, &sum)?;
        Ok(loss)
    }
}

impl Model<'_> {
    /// Runs the loss program of every tile of this process at `x` and keeps the residual
    /// values, squares and gradients (no exchange): the tiles' gradients are added up the
    /// tiles' tree as they come ([`TreeSum`]). With several workers the tiles run at once,
    /// each claimed by the next free thread, and are taken in tile order all the same.
    fn run_at(&mut self, x: &[f64]) -> Result<(), TrainError> {
        check_theta(x.len(), self.layout.len())?;
        for w in &mut self.workers {
            for exe in &mut w.exes {
                bind_params(exe.as_mut(), self.layout.split(x))?;
            }
        }
        let k = self.problem.residuals.len();
        let first = self.tiling.tiles_of(self.comm.rank()).start;
        let mut taken = Taken {
            values: vec![Vec::new(); k],
            squares: vec![None; k],
            grads: TreeSum::default(),
            next: first,
        };
        let (tiles, programs, layout) = (&self.tiles[..], &self.programs[..], &self.layout);
        if let [one] = &mut self.workers[..] {
            for t in 0..tiles.len() {
                taken.take(one.run(t, tiles, programs, layout, x.len())?);
                one.spare = taken.grads.spare();
            }
        } else {
            let n = x.len();
            let pool = self
                .pool
                .get_or_insert_with(|| Pool::shared(self.workers.len()));
            taken = side_by_side(pool, &mut self.workers, (tiles, programs, layout), n, taken)?;
        }
        self.grads = taken.grads.blocks().into_iter().map(|(_, g)| g).collect();
        (self.values, self.squares) = (taken.values, taken.squares);
        self.evals += 1;
        if self.causal.is_some() {
            self.last_x = Some(x.to_vec());
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
        if let Some(Some(sq)) = self.squares.get(k) {
            return Ok(sq.clone());
        }
        let values = self.values.get(k);
        let values = values.ok_or_else(|| missing_residual(&self.problem.residuals[k].name))?;
        Ok(values.iter().map(|r| r * r).collect())
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
                .map_or(0, |(_, n)| self.tiling.rank_rows(n, rank).len())
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

fn no_jacobian() -> TrainError {
    TrainError::MissingOutput("jacobian (see Model::add_jacobian)".into())
}

fn missing_residual(name: &str) -> TrainError {
    TrainError::MissingOutput(format!("residual.{name}"))
}

/// The rows of set `set` in `shares` and the set's full size.
fn rows_in(shares: &[(String, Range<usize>, usize)], set: &str) -> Option<(Range<usize>, usize)> {
    let (_, range, n) = shares.iter().find(|(s, _, _)| s == set)?;
    Some((range.clone(), *n))
}

impl Residuals for Model<'_> {
    fn least_squares(&mut self, x: &[f64]) -> Result<LeastSquares, TrainError> {
        Model::least_squares(self, x)
    }

    /// The system of every rank's rows: a rank of a distributed run gathers the whole
    /// `J` and `r` in one process's row order and forms the system as one process does
    /// (by tiles in parameter space, [`Model::tiled_gauss_newton`]), so that it holds the
    /// same bits (the `M·P²` product is not split between ranks; the program that
    /// computes `J` is).
    fn gauss_newton(&mut self, x: &[f64]) -> Result<(f64, GaussNewton), TrainError> {
        if let Some(SystemPlan::Tiles { keep_j }) = self.system_plan() {
            return self.tiled_gauss_newton(x, keep_j);
        }
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

    fn jacobian_transpose_times(&mut self, x: &[f64], w: &[f64]) -> Result<Vec<f64>, TrainError> {
        Model::jacobian_transpose_times(self, x, w)
    }

    fn recycle(&mut self, gn: GaussNewton) {
        if let (Some(jac), Some(j)) = (&mut self.jac, gn.into_jacobian()) {
            jac.spare = j;
        }
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

/// Bytes that sampling a point set of `n` rows of `width` coordinates takes: each row is
/// its own vector (a 24-byte header and its values, in an allocation rounded up to 16
/// bytes), then the coordinates again in the tiles' buffers.
fn sample_bytes(n: usize, width: usize) -> u64 {
    let row = 24 + (8 * width as u64).div_ceil(16) * 16;
    n as u64 * (row + 8 * width as u64)
}

/// Refuses to sample point sets that do not fit in `avail` bytes (80% of it), with the
/// sizes named, where the allocation used to abort the process (`interior(2³⁰)`: 24 GiB
/// for the rows' headers alone). `None`: the memory available is unknown, nothing refused.
pub fn check_sample_memory(problem: &Problem, avail: Option<u64>) -> Result<(), TrainError> {
    let d = problem.inputs.len();
    let width = |set: &str| match problem.boundary_domain(set) {
        Some(dom) => d + dom.coords.len(),
        None => d,
    };
    let sets = problem.point_sets.iter();
    let need: u64 = sets
        .map(|s| sample_bytes(s.spec.len(), width(&s.name)))
        .sum();
    let Some(avail) = super::lm::beyond_memory(need, avail) else {
        return Ok(());
    };
    let sizes: Vec<String> = (problem.point_sets.iter())
        .map(|s| format!("`{}` {}", s.name, s.spec.len()))
        .collect();
    Err(TrainError::Memory(format!(
        "the point sets ({}) need about {:.1} GiB to sample, and {:.1} GiB of memory is \
         available: use fewer points",
        sizes.join(", "),
        super::lm::gib(need),
        super::lm::gib(avail)
    )))
}

/// θ must hold one value per parameter entry: a shorter one would be sliced past its end,
/// a longer one would have values no parameter takes.
pub(crate) fn check_theta(given: usize, params: usize) -> Result<(), TrainError> {
    match given == params {
        true => Ok(()),
        false => Err(TrainError::Options(format!(
            "θ has {given} values, the model's parameters {params}"
        ))),
    }
}
