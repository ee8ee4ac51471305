//! Training a [`Problem`] from Rust exactly as `nabla train` does: [`train`] with a
//! [`Training`] (the command's flags as a value) compiles the loss (and the residual
//! Jacobian for `lm`), runs the optimizer with the same defaults, measures the error
//! against `exact` solutions or reference values, reports, and writes the same output
//! directory. `nabla train` itself is this function behind a flag parser.
//!
//! Without the `cli` feature there is no progress bar ([`Progress::Bar`]); lines on stderr
//! ([`Progress::Every`]) and a callback per step ([`train_with`]) work either way.

use super::accuracy::{Reference, Tracker};
use super::causal::{Causal, CausalSpec};
use super::checkpoint::{self, RunKey};
use super::dist::{agree, Alone, Collective};
use super::layout::{to_json, Layout};
use super::model::{reseeded, Model};
use super::output::{prepare_dir, write_params_and_history, Created};
use super::report::Report;
use super::run::{
    train_from, Hooks, LoopState, OptimizerKind, StepRecord, TrainOptions, TrainResult,
};
use super::TrainError;
use crate::{Backend, Options};
use nabla_frontend::problem::Problem;
use nabla_ir::DType;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How training shows its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    Off,
    /// A line on stderr every this many steps (step, loss, λ for LM, seconds).
    Every(usize),
    /// `nabla train`'s progress bar on stderr; without the `cli` feature (no progress-bar
    /// crate), a line every twentieth of the run.
    Bar,
}

/// What to train with: the flags of `nabla train` as a value. [`Training::new`] gives
/// the command's defaults; the fields are public, and the setters chain.
#[derive(Clone, Debug)]
pub struct Training {
    /// The optimizer (`--optimizer`).
    pub optimizer: OptimizerKind,
    /// Optimizer steps (`--steps`); `None`: 3000, or 1000 for `lm` and `adam+lm`.
    pub steps: Option<usize>,
    /// Adam steps of a two-phase optimizer (`--adam-steps`); `None`: a third of the steps.
    pub adam_steps: Option<usize>,
    /// Adam's learning rate (`--lr`).
    pub lr: f64,
    /// Adam's learning-rate decay factor over its steps (`--lr-decay`).
    pub lr_decay: f64,
    /// Seed of the point sampling, added to every net's initialisation seed (`--seed`).
    pub seed: u64,
    /// Resample the points every this many steps (`--resample`).
    pub resample: Option<usize>,
    /// Measure the relative L2 error every this many steps (`--error-every`); `None`: never.
    pub error_every: Option<usize>,
    /// Stop after this many seconds of training (`--max-time`).
    pub max_time: Option<f64>,
    /// Backend, element type and derivative method (`--backend`, `--dtype`, `--derivs`).
    pub compile: Options,
    /// Write params.json, history.csv and plots here (`--out`).
    pub out: Option<PathBuf>,
    /// Reference values to measure the error against (`--reference`).
    pub reference: Option<PathBuf>,
    /// How progress is shown.
    pub progress: Progress,
    /// Set to stop after the current step (what Ctrl-C does in the CLI).
    pub stop: Option<Arc<AtomicBool>>,
    /// Save the run's state into `out` every this many steps and when it ends
    /// (`--checkpoint-every`; see [`checkpoint`]).
    pub checkpoint_every: Option<usize>,
    /// Continue the run saved in this directory (`--resume`); the output goes there too
    /// unless `out` names another directory.
    pub resume: Option<PathBuf>,
    /// Weight the residuals over time chunks (`--causal`, `--causal-chunks`,
    /// `--causal-time`; see [`super::causal`]).
    pub causal: Option<CausalSpec>,
    /// Levenberg–Marquardt's steps with geodesic acceleration (see
    /// [`super::lm::Lm::step`]): on by default, off with `--no-geodesic`; only `lm` and
    /// `adam+lm` take such steps.
    pub geodesic: bool,
}

impl Training {
    /// `nabla train`'s defaults with `optimizer`: its default steps, lr 1e-3, seed 0,
    /// errors measured every 100 steps, f32 on the Cranelift JIT, no output directory, no
    /// progress display.
    pub fn new(optimizer: OptimizerKind) -> Training {
        Training {
            optimizer,
            steps: None,
            adam_steps: None,
            lr: 1e-3,
            lr_decay: 1.0,
            seed: 0,
            resample: None,
            error_every: Some(100),
            max_time: None,
            compile: Options::cranelift(),
            out: None,
            reference: None,
            progress: Progress::Off,
            stop: None,
            checkpoint_every: None,
            resume: None,
            causal: None,
            geodesic: true,
        }
    }

    /// Levenberg–Marquardt (`lm`, `adam+lm`) with geodesic acceleration (the default) or
    /// without.
    pub fn geodesic(mut self, on: bool) -> Training {
        self.geodesic = on;
        self
    }

    /// Causal training with `ε` = `eps`, 32 chunks, over the input `t`.
    pub fn causal(mut self, eps: f64) -> Training {
        self.causal = Some(CausalSpec::new(eps));
        self
    }

    /// Save the run's state every `n` steps (needs an output directory).
    pub fn checkpoint_every(mut self, n: usize) -> Training {
        self.checkpoint_every = Some(n);
        self
    }

    /// Continue the run saved in `dir`.
    pub fn resume(mut self, dir: impl Into<PathBuf>) -> Training {
        self.resume = Some(dir.into());
        self
    }

    /// Where the output goes: `out`, else the directory resumed from.
    pub fn out_dir(&self) -> Option<&PathBuf> {
        self.out.as_ref().or(self.resume.as_ref())
    }

    /// Optimizer steps.
    pub fn steps(mut self, n: usize) -> Training {
        self.steps = Some(n);
        self
    }

    /// Adam's learning rate.
    pub fn lr(mut self, lr: f64) -> Training {
        self.lr = lr;
        self
    }

    /// The element type of the compiled programs (f32 by default; f64 for the last digits,
    /// and for `lm`).
    pub fn dtype(mut self, dtype: DType) -> Training {
        self.compile = Options::new(self.compile.backend, dtype, self.compile.derivs);
        self
    }

    /// Where the programs run.
    pub fn backend(mut self, backend: Backend) -> Training {
        self.compile = Options::new(backend, self.compile.dtype, self.compile.derivs);
        self
    }

    /// The output directory.
    pub fn out(mut self, dir: impl Into<PathBuf>) -> Training {
        self.out = Some(dir.into());
        self
    }

    /// How progress is shown.
    pub fn progress(mut self, p: Progress) -> Training {
        self.progress = p;
        self
    }

    /// The seed of the point sampling, added to every net's initialisation seed.
    pub fn seed(mut self, seed: u64) -> Training {
        self.seed = seed;
        self
    }

    /// Adam steps of a two-phase optimizer.
    pub fn adam_steps(mut self, n: usize) -> Training {
        self.adam_steps = Some(n);
        self
    }

    /// Resample the points every `every` steps.
    pub fn resample(mut self, every: usize) -> Training {
        self.resample = Some(every);
        self
    }

    /// Stop after `seconds` of training.
    pub fn max_time(mut self, seconds: f64) -> Training {
        self.max_time = Some(seconds);
        self
    }

    /// Reference values to measure the error against (the `--reference` file format).
    pub fn reference(mut self, path: impl Into<PathBuf>) -> Training {
        self.reference = Some(path.into());
        self
    }

    /// A flag that stops training after the current step once set.
    pub fn stop(mut self, flag: Arc<AtomicBool>) -> Training {
        self.stop = Some(flag);
        self
    }

    /// The values that cannot work, as the CLI's flag parser rejects them: a learning rate
    /// that is not positive, a decay outside (0, 1], a time limit that is not positive, an
    /// interval of 0 steps (resampling, error measurements, checkpoints: "every 0 steps"
    /// meant never), Adam steps for a one-phase optimizer or more of them than steps.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |msg: String| Err(TrainError::Options(msg));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "the learning rate is {}; it must be positive",
                self.lr
            ));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            let d = self.lr_decay;
            return bad(format!(
                "the learning-rate decay is {d}; it must be in (0, 1]"
            ));
        }
        if self.max_time.is_some_and(|t| t.is_nan() || t <= 0.0) {
            return bad("the time limit must be positive".into());
        }
        if let Some(c) = &self.causal {
            c.check().map_err(TrainError::Options)?;
        }
        let every = [
            ("resampling (--resample)", self.resample),
            ("error measurements (--error-every)", self.error_every),
            ("checkpoints (--checkpoint-every)", self.checkpoint_every),
        ];
        if let Some((what, _)) = every.iter().find(|(_, n)| *n == Some(0)) {
            return bad(format!("{what} every 0 steps: give at least 1, or none"));
        }
        if !self.geodesic && !self.optimizer.uses_jacobian() {
            return bad(format!(
                "geodesic acceleration is a step of Levenberg-Marquardt: turning it off \
                 (--no-geodesic) is for lm and adam+lm, not {}",
                self.optimizer.name()
            ));
        }
        if self.checkpoint_every.is_some() && self.out_dir().is_none() {
            return bad("checkpoints are written into the output directory: give --out DIR".into());
        }
        let (steps, adam) = (self.total_steps(), self.adam_steps);
        match adam {
            Some(n) if !self.optimizer.is_two_phase() => bad(format!(
                "{n} Adam steps given to a one-phase optimizer ({})",
                self.optimizer.name()
            )),
            Some(n) if n > steps => bad(format!(
                "{n} Adam steps is more than the {steps} steps of the run"
            )),
            _ => Ok(()),
        }
    }

    /// The steps actually taken: `steps`, or the optimizer's default.
    pub fn total_steps(&self) -> usize {
        let default = if self.optimizer.uses_jacobian() {
            1000
        } else {
            3000
        };
        self.steps.unwrap_or(default)
    }

    /// The training loop's options.
    pub fn options(&self) -> TrainOptions {
        let steps = self.total_steps();
        TrainOptions {
            steps,
            optimizer: self.optimizer,
            lr: self.lr,
            lr_decay: self.lr_decay,
            seed: self.seed,
            resample: self.resample,
            adam_steps: self.adam_steps.unwrap_or(steps / 3),
            error_every: self.error_every,
            max_time: self.max_time,
            checkpoint_every: self.checkpoint_every,
            geodesic: self.geodesic,
        }
    }

    /// What a checkpoint of this run records of it.
    fn run_key(&self, problem: &Problem, layout: &Layout, theta: &[f64], ranks: usize) -> RunKey {
        let o = self.options();
        let c = &self.compile;
        RunKey {
            problem: problem.name.clone(),
            definition: checkpoint::fingerprint(problem),
            params: (layout.split(theta))
                .map(|(n, v)| (n.to_string(), v.len()))
                .collect(),
            optimizer: o.optimizer.name().to_string(),
            steps: o.steps,
            adam_steps: o.adam_steps(),
            lr: o.lr,
            lr_decay: o.lr_decay,
            seed: o.seed,
            resample: o.resample,
            dtype: c.dtype.name().to_string(),
            backend: c.backend.name().to_string(),
            derivs: c.derivs.map_or("auto".into(), |m| m.name()),
            ranks,
            causal: (self.causal.as_ref())
                .map(|c| format!("ε {} over {} chunks of {}", c.eps, c.chunks, c.time)),
            geodesic: self.geodesic && self.optimizer.uses_jacobian(),
        }
    }
}

/// A finished run: the result, the report `nabla train` prints, and where to find the
/// trained parameters.
pub struct Trained {
    /// The problem as trained (nets' seeds offset by [`Training::seed`]).
    pub problem: Problem,
    /// How the parameters are laid out in [`TrainResult::theta`].
    pub layout: Layout,
    /// The run: final θ, history, last loss, why it ended, wall time.
    pub result: TrainResult,
    /// Compile time in seconds (loss and gradient, plus the Jacobian for `lm`).
    pub compile_s: f64,
    /// `(output, relative L2 error)` for every output with an exact solution or reference.
    pub rel_l2: Vec<(String, f64)>,
    /// The report as `nabla train` prints it after its first line (`N steps in … s
    /// (reason), compile … s`, which the command writes from the other fields): the
    /// losses, trained params and `rel_l2` lines.
    pub text: String,
    /// The report as `nabla train --json` prints it.
    pub json: Value,
}

impl Trained {
    /// The trained parameters in the layout of `params.json`.
    pub fn params_json(&self) -> Value {
        to_json(&self.problem, &self.layout, &self.result.theta)
    }
}

/// Trains `problem` as `nabla train` would with these flags (see the [module](self)).
pub fn train(problem: &Problem, t: &Training) -> Result<Trained, TrainError> {
    train_with(problem, t, &mut |_| {})
}

/// [`train`], calling `on_step` with every step's record as it is made.
pub fn train_with(
    problem: &Problem,
    t: &Training,
    on_step: &mut dyn FnMut(&StepRecord),
) -> Result<Trained, TrainError> {
    train_on(problem, t, &Alone, on_step)
}

/// Checks that the run may write into `dir`, then creates it: a resumed run's checkpoint
/// must be there (no directory is created for a mistyped `--resume`), and a run must not
/// overwrite the checkpoint of another run stopped before its end
/// ([`checkpoint::check_fresh`]).
fn before_writing(t: &Training, dir: &Path) -> Result<Created, TrainError> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if let Some(from) = &t.resume {
        checkpoint::present(from)?;
    }
    if !t.resume.as_deref().is_some_and(|from| same(from, dir)) {
        checkpoint::check_fresh(dir)?;
    }
    prepare_dir(dir)
}

/// [`train_with`] as one of the processes of `comm` (`nabla train --distributed`): the
/// process trains on its share of the points, every rank gets the same result, and only
/// rank 0 shows progress and writes the output directory.
pub fn train_on(
    problem: &Problem,
    t: &Training,
    comm: &dyn Collective,
    on_step: &mut dyn FnMut(&StepRecord),
) -> Result<Trained, TrainError> {
    agree(comm, t.check())?;
    let opts = t.options();
    let problem = reseeded(problem, t.seed);
    // causal training decides its residuals on the whole problem, the same on every rank
    let causal = match &t.causal {
        Some(spec) => Some(agree(comm, Causal::new(&problem, spec, t.seed))?),
        None => None,
    };
    // what every process compiles: the problem, with its causal weights if any
    let local = match &causal {
        Some(c) => c.weighted(&problem),
        None => problem.clone(),
    };
    let lead = comm.rank() == 0;
    let reference = match &t.reference {
        Some(path) => agree(comm, Reference::load(path, &problem).map(Some))?,
        None => None,
    };
    let out = t.out_dir().filter(|_| lead);
    let _created = agree(comm, out.map(|dir| before_writing(t, dir)).transpose())?;
    let (mut model, theta, compile_s) =
        agree(comm, compile_model(&local, &problem, t, causal, comm))?;
    let layout = model.layout().clone();
    // what a checkpoint records of the run (it traces the problem once more: only when needed)
    let wants_checkpoints = t.checkpoint_every.is_some() || t.resume.is_some();
    let key = match wants_checkpoints {
        true => t.run_key(&problem, &layout, &theta, comm.size()),
        false => RunKey::default(),
    };
    let state = match &t.resume {
        Some(dir) => {
            let state = agree(comm, checkpoint::load(dir, &key, opts.optimizer))?.state;
            agree(comm, same_everywhere(comm, &state, dir))?;
            state
        }
        None => agree(comm, LoopState::start(theta.clone(), &opts))?,
    };
    let mut tracker = agree(
        comm,
        Tracker::new(&problem, &layout, &theta, reference.as_ref()),
    )?;
    let tracked = tracker.outputs();
    let tracker = (lead && !tracked.is_empty()).then_some(&mut tracker);
    let parts = model.part_names();
    let mut show = Shower::new(if lead { t.progress } else { Progress::Off }, opts.steps);
    let never = AtomicBool::new(false);
    let stop = t.stop.as_deref().unwrap_or(&never);
    let mut step = |r: &StepRecord| {
        show.step(r);
        on_step(r);
    };
    let mut save =
        |s: &LoopState| save_checkpoint(out, &problem, &layout, &key, &parts, &tracked, s);
    let hooks = Hooks {
        on_step: &mut step,
        tracker,
        checkpoint: (wants_checkpoints && out.is_some()).then_some(&mut save as _),
    };
    let result = train_from(&mut model, state, &opts, stop, hooks)?;
    show.finish();
    drop(model);
    let mut report = Report::new(&problem, &layout, parts, &result, compile_s)?
        .with_reference(reference.as_ref())?
        .with_options(&opts);
    report.tracked = tracked;
    if let Some(dir) = out {
        report.save(dir).map_err(|e| TrainError::Unsaved {
            why: Box::new(e),
            report: report.text(),
        })?;
    }
    let (rel_l2, text, json) = (report.rel_l2(), report.text(), report.json());
    drop(report);
    Ok(Trained {
        problem,
        layout,
        result,
        compile_s,
        rel_l2,
        text,
        json,
    })
}

/// Whether every rank read the same checkpoint (the same step and θ): a directory that is
/// not on a shared file system may hold another run's state on another machine.
fn same_everywhere(comm: &dyn Collective, state: &LoopState, dir: &Path) -> Result<(), TrainError> {
    if comm.size() == 1 {
        return Ok(());
    }
    let h = (state.theta.iter()).fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        (h ^ v.to_bits()).wrapping_mul(0x0100_0000_01b3)
    });
    // three exact f64s: the step and the hash's two halves
    let mine = [
        state.step as f64,
        (h >> 32) as f64,
        (h & 0xffff_ffff) as f64,
    ];
    let all = comm.gather(&mine)?;
    if all.chunks_exact(3).all(|c| c == mine) {
        return Ok(());
    }
    Err(TrainError::Checkpoint {
        path: checkpoint::FILE.into(),
        reason: format!(
            "the processes read different checkpoints from {}: put it on a file system \
             every machine shares",
            dir.display()
        ),
    })
}

/// The model of `local` (one rank's problem of `whole`) with the Jacobian program when
/// the optimizer needs it; the initial θ and the compile time.
fn compile_model<'p>(
    local: &'p Problem,
    whole: &Problem,
    t: &Training,
    causal: Option<Causal>,
    comm: &'p dyn Collective,
) -> Result<(Model<'p>, Vec<f64>, f64), TrainError> {
    let (mut model, theta, mut compile_s) = Model::compile_on(local, whole, &t.compile, comm)?;
    if t.optimizer.uses_jacobian() {
        compile_s += model.add_jacobian(&t.compile)?;
    }
    if let Some(c) = causal {
        model.set_causal(c)?;
    }
    Ok((model, theta, compile_s))
}

/// Writes the checkpoint of `state` with the parameters and history of the same step
/// (each file atomically; the checkpoint last, so that it never runs ahead of them).
fn save_checkpoint(
    out: Option<&PathBuf>,
    problem: &Problem,
    layout: &Layout,
    key: &RunKey,
    parts: &[String],
    tracked: &[String],
    state: &LoopState,
) -> Result<(), TrainError> {
    let Some(dir) = out else {
        return Ok(());
    };
    let (theta, history) = (&state.theta, &state.history[..]);
    write_params_and_history(dir, problem, layout, theta, (parts, tracked, history))?;
    checkpoint::save(dir, key, state)
}

/// Shows progress as [`Progress`] asks.
struct Shower {
    every: Option<usize>,
    #[cfg(feature = "cli")]
    bar: Option<indicatif::ProgressBar>,
}

impl Shower {
    fn new(p: Progress, steps: usize) -> Shower {
        let every = match p {
            Progress::Every(n) => Some(n.max(1)),
            // Without the progress-bar crate, a bar is a line every twentieth of the run.
            Progress::Bar if !cfg!(feature = "cli") => Some((steps / 20).max(1)),
            _ => None,
        };
        Shower {
            every,
            #[cfg(feature = "cli")]
            bar: (p == Progress::Bar).then(|| progress_bar(steps as u64)),
        }
    }

    fn step(&mut self, r: &StepRecord) {
        let mut loss = match r.damping {
            Some(l) => format!("{:.3e} λ {l:.1e}", r.loss),
            None => format!("{:.3e}", r.loss),
        };
        if let Some(w) = r.causal {
            let _ = write!(loss, "  causal min {w:.1e}");
        }
        if self.every.is_some_and(|n| r.step.is_multiple_of(n)) {
            eprintln!("step {:6}  loss {loss}  {:.1} s", r.step, r.wall_s);
        }
        #[cfg(feature = "cli")]
        if let Some(bar) = &self.bar {
            bar.set_position(r.step as u64 + 1);
            bar.set_message(loss);
        }
    }

    fn finish(&self) {
        #[cfg(feature = "cli")]
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(feature = "cli")]
fn progress_bar(steps: u64) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{bar:30} step {pos}/{len}  loss {msg}  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
