//! `nabla bench FILE`: derivative methods compared on the problem's objective, in one run
//! (see `docs/cli.md` and `BENCHMARKS.md`).
//!
//! For every dtype and method: the objective with its gradient is traced, compiled (timed),
//! bound to the problem's initial params and its seed-0 points and run once (its accuracy,
//! and the warm-up of its timing); the loss-only program likewise. Then every row is timed
//! `--reps` times in rounds, one run of each row per round (median time): a host whose
//! speed drifts during the run slows every row alike, so the ratios between rows (f64
//! against f32, an exact method against finite differences) are those of a steady host,
//! at the price of holding every row's programs at once. Both run as training
//! runs them ([`Model`]): the points cut into tiles of a few hundred rows, one program per
//! tile shape, the tiles run side by side on the threads and their gradients added up,
//! so memory scales with the tile, not with the points (OpenCL: one tile, the whole
//! batch). Accuracy is the relative L2 error of all residual values and of the whole
//! parameter gradient against the f64 interpreter with the compiler's exact method, which
//! runs in tiles too. GFLOP/s is the static FLOP count of the lowered loss+gradient graph
//! over all points (`passes::ad::flops_per_point`) over the median loss+gradient time.
//!
//! Finite differences run at the usual steps, `eps^(1/(2+k))` for each operator with `k`
//! the total order of its nest (what `--derivs fd` trains with; one step `h` when every
//! nest has the same order, the row `fd h=per op` when they differ), and at one step ten
//! times and a tenth of the step of the highest order, on every operator; with `--out
//! DIR`, a sweep of steps also writes `fd_error.svg`: the error against the step (the
//! V-shaped curve of truncation against rounding) next to the exact methods' errors.
//!
//! A run is silent on standard output until its table; on a terminal, standard error
//! shows a bar with what is being measured (the reference, each row, each step of the
//! sweep), as all of it can take minutes on a large objective.

use super::common::BackendArg;
use crate::cmd::train::load_problem;
use anyhow::Context;
use nabla::train::accuracy::rel_l2;
use nabla::train::model::{Batch, Model};
use nabla::train::optim::Objective;
use nabla::train::TrainError;
use nabla::{parse_derivs, Backend, Options};
use nabla_frontend::problem::Problem;
use nabla_ir::{DType, Graph, Method, Num, Op};
use nabla_passes::ad::flops_per_point;
use nabla_passes::pipeline;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `nabla bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The problem file (`.nabla`).
    pub file: PathBuf,
    /// Methods to run, comma-separated: auto, forward, taylor, collapsed, reverse, fd (at
    /// the usual steps, and at ten times and a tenth of the highest order's step) or fd=H
    /// (at step H, from 1e-150 to 1e150).
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = method_arg,
        default_value = "auto,forward,taylor,collapsed,reverse,fd"
    )]
    pub methods: Vec<String>,
    /// Element types, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = dtype_arg, default_value = "f32,f64")]
    pub dtypes: Vec<String>,
    /// Timed runs of every row, taken in rounds of one run per row (after one warm-up run).
    #[arg(long, default_value_t = 10, value_parser = super::flags::positive_u32)]
    pub reps: u32,
    /// The backend measured (the reference is always the f64 interpreter).
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    pub backend: BackendArg,
    /// Writes fd_error.svg (error against finite-difference step) into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Prints one JSON object on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Uses at most N points of each point set (the first N of the same sample): a quick
    /// check of every method at a fraction of the cost. Timings then describe the smaller
    /// batch, not the problem.
    #[arg(long, value_name = "N", value_parser = super::flags::positive_count)]
    pub points: Option<u64>,
    /// Threads of the CPU backend (default: one per core).
    #[arg(long, value_name = "N", value_parser = super::common::threads)]
    pub threads: Option<usize>,
    /// The most device memory the OpenCL programs of all rows may take together (`512M`,
    /// `2G`, bytes; default: 3/4 of the device's), in equal shares (each row holds a
    /// loss+gradient and a loss program): a batch that needs more is cut into tiles that fit.
    #[arg(long, value_name = "SIZE", value_parser = super::common::memory_size)]
    pub device_memory: Option<u64>,
}

/// A derivative choice as the table and the JSON name it: `auto` (`None`), an exact
/// method's name, or `fd` for finite differences at any step (the step is the row's `h`).
fn method_name(derivs: Option<Method>) -> String {
    match derivs {
        None => "auto".into(),
        Some(Method::FiniteDiff(_)) => Method::FiniteDiff(None).name(),
        Some(m) => m.name(),
    }
}

/// Finite differences with step `h`.
fn fd(h: f64) -> Option<Method> {
    Some(Method::FiniteDiff(Some(Num::new(h))))
}

/// One measured (or failed) configuration.
#[derive(Clone, Debug)]
struct Row {
    /// The derivative method measured (`None`: the compiler's choice).
    derivs: Option<Method>,
    dtype: DType,
    h: Option<f64>,
    outcome: Result<Measured, String>,
}

#[derive(Clone, Debug)]
struct Measured {
    chosen: Option<String>,
    /// The tiles the points were cut into.
    tiles: usize,
    compile_s: f64,
    loss_ms: f64,
    loss_grad_ms: f64,
    gflops: f64,
    residual_rel_err: f64,
    grad_rel_err: f64,
}

/// A row compiled and checked, its times gathered round by round ([`Setup::time_rounds`]);
/// an error where it could not be compiled, checked or run.
struct Pending<'s> {
    derivs: Option<Method>,
    dtype: DType,
    h: Option<f64>,
    outcome: Result<Prepared<'s>, String>,
}

/// What a row needs to be timed, and what it has measured so far.
struct Prepared<'s> {
    /// Everything but the times (`NaN` until [`Pending::finish`]).
    fixed: Measured,
    /// FLOPs of the loss+gradient program over all the points.
    flops: f64,
    theta: Vec<f64>,
    grad_buf: Vec<f64>,
    grad_model: Model<'s>,
    loss_model: Model<'s>,
    /// Milliseconds of each timed run.
    loss_grad_times: Vec<f64>,
    loss_times: Vec<f64>,
}

impl Pending<'_> {
    /// One timed run of the loss and gradient, or of the loss alone.
    fn time_once(&mut self, loss_only: bool) {
        let Ok(p) = &mut self.outcome else { return };
        let t = Instant::now();
        let ran = match loss_only {
            true => p.loss_model.loss(&p.theta).map(drop),
            false => p.grad_model.eval(&p.theta, &mut p.grad_buf).map(drop),
        };
        let ms = t.elapsed().as_secs_f64() * 1e3;
        match ran {
            Ok(()) if loss_only => p.loss_times.push(ms),
            Ok(()) => p.loss_grad_times.push(ms),
            Err(e) => self.outcome = Err(format!("{:#}", anyhow::Error::from(e))),
        }
    }

    /// The row with its medians, its programs dropped.
    fn finish(self) -> Row {
        let outcome = self.outcome.map(|p| {
            let loss_grad_ms = median(p.loss_grad_times);
            Measured {
                loss_ms: median(p.loss_times),
                loss_grad_ms,
                gflops: p.flops / (loss_grad_ms * 1e-3) / 1e9,
                ..p.fixed
            }
        });
        Row {
            derivs: self.derivs,
            dtype: self.dtype,
            h: self.h,
            outcome,
        }
    }
}

/// Runs `once(row, loss_only)` for every row, round by round: `reps` rounds of
/// loss+gradient, then `reps` rounds of the loss alone, each round one step of `step`
/// (named for the progress bar).
fn in_rounds<T>(
    reps: u32,
    rows: &mut [T],
    mut once: impl FnMut(&mut T, bool),
    mut step: impl FnMut(String, &mut dyn FnMut()),
) {
    for loss_only in [false, true] {
        let what = if loss_only { "loss" } else { "loss+grad" };
        for round in 1..=reps {
            let mut run = || rows.iter_mut().for_each(|r| once(r, loss_only));
            step(format!("timing {what}: round {round} of {reps}"), &mut run);
        }
    }
}

/// The median: the middle value of an odd count, the mean of the middle two of an even one.
fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    match n % 2 {
        1 => times[n / 2],
        _ => (times[n / 2 - 1] + times[n / 2]) / 2.0,
    }
}

/// The problem with the rows of its point sets, and the f64 reference values.
struct Setup {
    problem: Problem,
    sizes: Vec<(String, usize)>,
    reference: Values,
    /// The lowest and highest total order of the objective's derivative nests.
    orders: (usize, usize),
    backend: Backend,
    reps: u32,
    threads: Option<usize>,
    device_memory: Option<u64>,
    meter: Meter,
}

/// A progress bar on standard error, drawn only on a terminal: one step per piece of
/// work (the reference, a measured row, a step of the `fd_error.svg` sweep), named while
/// it runs, and the time since the start.
struct Meter(indicatif::ProgressBar);

impl Meter {
    fn new(len: u64) -> Meter {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{bar:30} {pos}/{len}  {msg}  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        // no ticker thread: the bar is redrawn when a step starts or ends, so nothing
        // wakes up on a core while a run is timed
        Meter(bar)
    }

    /// Runs `work`, named `what` on the bar, and counts it done.
    fn step<T>(&self, what: String, work: impl FnOnce() -> T) -> T {
        self.0.set_message(what);
        let out = work();
        self.0.inc(1);
        out
    }
}

impl Meter {
    /// Removes the bar once every piece of work counted has run, before the table.
    fn finish(&self) {
        let (done, all) = (self.0.position(), self.0.length());
        debug_assert_eq!(Some(done), all, "work_count counts every step");
        self.clear();
    }

    fn clear(&self) {
        self.0.finish_and_clear();
    }
}

/// On an error too, the bar does not stay above the message.
impl Drop for Meter {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The pieces of work of a run, for [`Meter`]: the reference, every row (three for a
/// plain `fd`), the timing rounds (`reps` of loss+gradient, `reps` of the loss) and, with
/// `--out`, the sweep's steps in every dtype.
fn work_count(methods: &[Option<Method>], dtypes: usize, reps: u32, out: bool) -> u64 {
    let rows = row_count(methods);
    let sweep = if out { SWEEP_STEPS * dtypes } else { 0 };
    (1 + rows * dtypes + 2 * reps as usize + sweep) as u64
}

/// The rows of one dtype: one per method, three for `fd` at the default steps.
fn row_count(methods: &[Option<Method>]) -> usize {
    (methods.iter())
        .map(|m| match m {
            Some(Method::FiniteDiff(None)) => 3,
            _ => 1,
        })
        .sum()
}

/// Residual values (all residuals, concatenated) and the gradient (all params).
#[derive(Clone, Debug, Default)]
struct Values {
    residuals: Vec<f64>,
    grad: Vec<f64>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let methods = parse_methods(&args.methods)?;
    let dtypes = parse_dtypes(&args.dtypes)?;
    let _created = (args.out.as_deref())
        .map(nabla::train::output::prepare_dir)
        .transpose()?;
    let problem = load_problem(&args.file)?;
    let meter = Meter::new(work_count(
        &methods,
        dtypes.len(),
        args.reps,
        args.out.is_some(),
    ));
    let models = 2 * row_count(&methods) * dtypes.len();
    let setup = Setup::new(problem, &args, meter, models)?;
    let mut pending = Vec::new();
    for &dtype in &dtypes {
        for &derivs in &methods {
            pending.extend(setup.rows_for(derivs, dtype));
        }
    }
    setup.time_rounds(&mut pending);
    let rows: Vec<Row> = pending.into_iter().map(Pending::finish).collect();
    let svg = match &args.out {
        Some(_) => Some(setup.fd_plot(&dtypes, &rows)?),
        None => None,
    };
    setup.meter.finish();
    let table = table(&rows);
    if args.json {
        eprint!("{table}");
        super::common::emit(&format!(
            "{}\n",
            to_json(&setup.problem.name, &rows, args.threads)
        ))?;
    } else {
        super::common::emit(&table)?;
    }
    if let (Some(dir), Some(svg)) = (&args.out, svg) {
        nabla::train::output::write_atomic(&dir.join("fd_error.svg"), &svg)?;
    }
    // the table says why each row failed; a run that measured nothing has failed
    if rows.iter().all(|r| r.outcome.is_err()) {
        anyhow::bail!("no row could be measured (the table gives each row's error)");
    }
    Ok(())
}

/// `--methods`, each through [`parse_derivs`].
/// A method name `--methods` accepts, checked as the command line is parsed (a malformed
/// command line exits with status 2 and the usage).
fn method_arg(s: &str) -> Result<String, String> {
    parse_derivs(s).map(|_| s.to_string())
}

/// An element type `--dtypes` accepts, checked as [`method_arg`].
fn dtype_arg(s: &str) -> Result<String, String> {
    match DType::parse(s) {
        Some(_) => Ok(s.to_string()),
        None => Err(format!("unknown dtype `{s}` (expected f32 or f64)")),
    }
}

fn parse_methods(names: &[String]) -> anyhow::Result<Vec<Option<Method>>> {
    names
        .iter()
        .map(|n| parse_derivs(n).map_err(anyhow::Error::msg))
        .collect()
}

fn parse_dtypes(names: &[String]) -> anyhow::Result<Vec<DType>> {
    names
        .iter()
        .map(|n| {
            DType::parse(n).with_context(|| format!("unknown dtype `{n}` (expected f32 or f64)"))
        })
        .collect()
}

impl Values {
    /// Every residual's values, then the gradient (layout order), at `theta`.
    fn of(model: &mut Model<'_>, theta: &[f64]) -> Result<Values, TrainError> {
        let mut grad = vec![0.0; theta.len()];
        model.eval(theta, &mut grad)?;
        Ok(Values {
            residuals: model.last_residuals(),
            grad,
        })
    }
}

/// The device memory each of `models` OpenCL models may take: an equal share of
/// `--device-memory`, or of the share of the device a run takes by default (`None` off
/// OpenCL or without a device: compiling says why).
fn model_share(args: &Args, models: usize) -> Option<u64> {
    if args.backend.backend() != Backend::OpenCl {
        return None;
    }
    let total = match args.device_memory {
        Some(b) => b,
        None => {
            let dev = nabla::backends::opencl::select(None).ok()?;
            nabla::train::device_tiles::default_budget(&dev, 1)
        }
    };
    Some((total / models.max(1) as u64).max(1))
}

impl Setup {
    /// The setup of a run whose rows hold `models` models at once.
    fn new(problem: Problem, args: &Args, meter: Meter, models: usize) -> anyhow::Result<Setup> {
        let cap = args.points.map_or(usize::MAX, |n| n as usize);
        let sizes = (nabla::train::model::sizes(&problem).into_iter())
            .map(|(set, n)| (set, n.min(cap)))
            .collect();
        let mut s = Setup {
            orders: order_range(&problem)?,
            problem,
            sizes,
            reference: Values::default(),
            backend: args.backend.backend(),
            reps: args.reps,
            threads: args.threads,
            device_memory: model_share(args, models),
            meter,
        };
        s.reference = s.meter.step("the f64 reference (interpreter)".into(), || {
            let (mut model, theta) = s
                .model(true, &Options::interp())
                .context("the f64 reference")?;
            anyhow::Ok(Values::of(&mut model, &theta)?)
        })?;
        Ok(s)
    }

    /// The problem compiled for the benchmark's points (the first rows of the seed-0
    /// sample, capped by `--points`), with or without the gradient, bound and ready to
    /// run; with the initial θ.
    fn model(&self, grad: bool, opts: &Options) -> anyhow::Result<(Model<'_>, Vec<f64>)> {
        let (model, theta, _) = self.compiled(grad, opts)?;
        Ok((model, theta))
    }

    /// [`Setup::model`] with the time it took to compile, in seconds.
    fn compiled(&self, grad: bool, opts: &Options) -> anyhow::Result<(Model<'_>, Vec<f64>, f64)> {
        let batch = Batch {
            sizes: self.sizes.clone(),
            grad,
        };
        let (mut model, theta, secs) = Model::compile_for(&self.problem, &batch, opts)?;
        model.bind_points(0)?;
        Ok((model, theta, secs))
    }

    /// The rows for one requested method, compiled and checked but not yet timed: one,
    /// or three for `fd` at the default steps (each operator's own, then one step on every
    /// operator: ten times and a tenth of the highest order's).
    fn rows_for(&self, derivs: Option<Method>, dtype: DType) -> Vec<Pending<'_>> {
        let steps = match derivs {
            Some(Method::FiniteDiff(None)) => {
                let (lo, hi) = self.orders;
                let h = default_step(dtype, hi);
                vec![
                    // one step for all operators only when their nests have one order
                    (derivs, (lo == hi).then_some(h)),
                    (fd(h * 10.0), Some(h * 10.0)),
                    (fd(h / 10.0), Some(h / 10.0)),
                ]
            }
            Some(Method::FiniteDiff(Some(h))) => vec![(derivs, Some(h.get()))],
            _ => vec![(derivs, None)],
        };
        steps
            .into_iter()
            .map(|(derivs, h)| {
                let what = format!("{} {}", row_name(derivs, h), dtype.name());
                let outcome = self.meter.step(what, || self.prepare(derivs, dtype));
                Pending {
                    derivs,
                    dtype,
                    h,
                    outcome: outcome.map_err(|e| format!("{e:#}")),
                }
            })
            .collect()
    }

    fn options(&self, derivs: Option<Method>, dtype: DType) -> Options {
        let mut o = Options::new(self.backend, dtype, derivs);
        o.threads = self.threads;
        o.device_memory = self.device_memory;
        o
    }

    /// One row compiled (loss+gradient and loss alone), run once for its accuracy, which
    /// is also the warm-up of its timing.
    fn prepare(&self, derivs: Option<Method>, dtype: DType) -> anyhow::Result<Prepared<'_>> {
        let opts = self.options(derivs, dtype);
        let (mut grad_model, theta, compile_s) = self.compiled(true, &opts)?;
        let got = Values::of(&mut grad_model, &theta)?;
        let obj = self.problem.objective(&self.sizes, dtype, true)?;
        let (flops, chosen) = self.static_info(&obj.graph, &opts)?;
        let (mut loss_model, _) = self.model(false, &opts)?;
        loss_model.loss(&theta)?;
        let tiles = grad_model.tiling().tiles;
        Ok(Prepared {
            fixed: Measured {
                chosen,
                tiles,
                compile_s,
                loss_ms: f64::NAN,
                loss_grad_ms: f64::NAN,
                gflops: f64::NAN,
                residual_rel_err: rel_l2(&got.residuals, &self.reference.residuals),
                grad_rel_err: rel_l2(&got.grad, &self.reference.grad),
            },
            flops,
            grad_buf: vec![0.0; theta.len()],
            theta,
            grad_model,
            loss_model,
            loss_grad_times: Vec::new(),
            loss_times: Vec::new(),
        })
    }

    /// Times every prepared row `reps` times in rounds, each round one run of every row
    /// (loss+gradient rounds first, then loss rounds), so that a host whose speed drifts
    /// (a neighbour's load, a changing clock) slows every row alike and the ratios between
    /// rows stay what they are on a steady host; a row that fails becomes an error row.
    fn time_rounds(&self, rows: &mut [Pending<'_>]) {
        in_rounds(self.reps, rows, Pending::time_once, |what, run| {
            self.meter.step(what, run)
        });
    }

    /// FLOPs of the lowered graph, and for `auto` the methods the compiler picked.
    fn static_info(&self, g: &Graph, opts: &Options) -> anyhow::Result<(f64, Option<String>)> {
        let (lowered, report) = pipeline::run(g, &opts.pipeline())?;
        let chosen = opts.derivs.is_none().then(|| {
            let mut names: Vec<String> = report
                .ad
                .expansions
                .iter()
                .filter_map(|e| e.method.map(Method::name))
                .collect();
            names.sort();
            names.dedup();
            names.join("+")
        });
        // nothing chosen where the problem has no derivatives (not `auto ()`)
        let chosen = chosen.filter(|c| !c.is_empty());
        Ok((flops_per_point(&lowered, 1), chosen))
    }

    /// Residual and gradient errors of fd at `h`, without timing.
    fn fd_errors(&self, dtype: DType, h: f64) -> anyhow::Result<(f64, f64)> {
        let (mut model, theta) = self.model(true, &self.options(fd(h), dtype))?;
        let v = Values::of(&mut model, &theta)?;
        Ok((
            rel_l2(&v.residuals, &self.reference.residuals),
            rel_l2(&v.grad, &self.reference.grad),
        ))
    }

    /// The error-versus-step plot.
    fn fd_plot(&self, dtypes: &[DType], rows: &[Row]) -> anyhow::Result<String> {
        let steps: Vec<f64> = (1..=SWEEP_STEPS)
            .map(|k| 10f64.powf(-0.5 * k as f64))
            .collect();
        let mut curves = Vec::new();
        for &dtype in dtypes {
            let errs: Vec<(f64, f64)> = (steps.iter())
                .filter_map(|&h| {
                    let what = format!("fd_error.svg: h={h:.1e} {}", dtype.name());
                    let e = self.meter.step(what, || self.fd_errors(dtype, h));
                    e.ok().map(|e| (h, e.0))
                })
                .collect();
            curves.push((format!("fd {}", dtype.name()), errs));
        }
        let exact: Vec<(String, f64)> = rows
            .iter()
            .filter(|r| !matches!(r.derivs, Some(Method::FiniteDiff(_))))
            .filter_map(|r| {
                let m = r.outcome.as_ref().ok()?;
                Some((
                    format!("{} {}", method_name(r.derivs), r.dtype.name()),
                    m.residual_rel_err,
                ))
            })
            .collect();
        nabla::train::plot::fd_error(&curves, &exact)
            .map_err(|e| anyhow::anyhow!("fd_error.svg: {e}"))
    }
}

/// Steps of the `fd_error.svg` sweep: `10^(-k/2)`, `k = 1..=16`.
const SWEEP_STEPS: usize = 16;

/// The lowest and highest total derivative order of the objective's operators' nests (a
/// Laplacian is 2, `lap(lap(u))` 4), which the compiler's default steps are chosen for:
/// `(1, 1)` without derivatives.
fn order_range(problem: &Problem) -> anyhow::Result<(usize, usize)> {
    let sizes = nabla::train::model::sizes(problem);
    let g = problem.objective(&sizes, DType::F64, false)?.graph;
    let nests = nabla::passes::ad::nest_orders(&g);
    let ops = (g.ids()).filter(|id| matches!(g.op(*id), Op::Diff { .. } | Op::Laplacian { .. }));
    let orders: Vec<usize> = ops.map(|id| nests[id.index()]).collect();
    let lo = orders.iter().copied().min().unwrap_or(1);
    let hi = orders.iter().copied().max().unwrap_or(1);
    Ok((lo.max(1), hi.max(1)))
}

/// A row's name in the table: the method's, with the step of finite differences (`per
/// op` where each operator takes the default step of its own nest's order).
fn row_name(derivs: Option<Method>, h: Option<f64>) -> String {
    match (derivs, h) {
        (_, Some(h)) => format!("fd h={h:.2e}"),
        (Some(Method::FiniteDiff(None)), None) => "fd h=per op".into(),
        _ => method_name(derivs),
    }
}

/// `eps^(1/(2+k))`, the step that balances truncation and rounding for order `k`.
fn default_step(dtype: DType, order: usize) -> f64 {
    dtype.epsilon().powf(1.0 / (2.0 + order as f64))
}

fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<22} {:>5} {:>5} {:>10} {:>10} {:>12} {:>9} {:>11} {:>11}\n",
        "method",
        "dtype",
        "tiles",
        "compile s",
        "loss ms",
        "loss+grad ms",
        "GFLOP/s",
        "resid err",
        "grad err"
    );
    for r in rows {
        let mut name = row_name(r.derivs, r.h);
        match &r.outcome {
            Ok(m) => {
                if let Some(c) = &m.chosen {
                    name = format!("auto ({c})");
                }
                s.push_str(&format!(
                    "{name:<22} {:>5} {:>5} {:>10.3} {:>10.3} {:>12.3} {:>9.2} {:>11.2e} {:>11.2e}\n",
                    r.dtype.name(),
                    m.tiles,
                    m.compile_s,
                    m.loss_ms,
                    m.loss_grad_ms,
                    m.gflops,
                    m.residual_rel_err,
                    m.grad_rel_err
                ));
            }
            Err(e) => s.push_str(&format!("{name:<22} {:>5}  n/a: {e}\n", r.dtype.name())),
        }
    }
    s
}

fn to_json(problem: &str, rows: &[Row], threads: Option<usize>) -> Value {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads.unwrap_or(cores);
    let results: Vec<Value> = rows.iter().map(row_json).collect();
    json!({"problem": problem, "threads": threads, "results": results})
}

fn row_json(r: &Row) -> Value {
    let mut v = json!({"method": method_name(r.derivs), "dtype": r.dtype.name()});
    match (r.derivs, r.h) {
        (_, Some(h)) => v["h"] = json!(h),
        (Some(Method::FiniteDiff(None)), None) => v["steps"] = json!("per operator"),
        _ => {}
    }
    match &r.outcome {
        Ok(m) => {
            if let Some(c) = &m.chosen {
                v["chosen"] = json!(c);
            }
            v["tiles"] = json!(m.tiles);
            v["compile_s"] = json!(m.compile_s);
            v["loss_ms"] = json!(m.loss_ms);
            v["loss_grad_ms"] = json!(m.loss_grad_ms);
            v["gflops"] = json!(m.gflops);
            v["residual_rel_err"] = json!(m.residual_rel_err);
            v["grad_rel_err"] = json!(m.grad_rel_err);
        }
        Err(e) => v["error"] = json!(e),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference, one row per method and dtype (three for a plain `fd`, one for
    /// `fd=H`) and, with `--out`, the sweep in every dtype.
    #[test]
    fn the_bar_counts_every_piece_of_work() {
        let methods = parse_methods(&["auto".into(), "fd".into(), "fd=0.1".into()]).unwrap();
        assert_eq!(work_count(&methods, 2, 5, false), 1 + (1 + 3 + 1) * 2 + 10);
        assert_eq!(
            work_count(&methods, 2, 5, true),
            1 + (1 + 3 + 1) * 2 + 10 + 16 * 2
        );
        assert_eq!(work_count(&[None], 1, 1, false), 4);
    }

    /// Every row runs once per round, rows in order within a round, all loss+gradient
    /// rounds before the loss rounds; each round is one step of the bar.
    #[test]
    fn rows_are_timed_in_interleaved_rounds() {
        let mut rows = ['a', 'b', 'c'];
        let mut runs = String::new();
        let mut steps = Vec::new();
        in_rounds(
            2,
            &mut rows,
            |r, loss_only| {
                runs.push(if loss_only {
                    r.to_ascii_uppercase()
                } else {
                    *r
                })
            },
            |what, run| {
                steps.push(what);
                run();
            },
        );
        assert_eq!(runs, "abcabcABCABC");
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[1], "timing loss+grad: round 2 of 2");
        assert_eq!(steps[2], "timing loss: round 1 of 2");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
