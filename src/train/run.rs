//! The training loop: optimizer phases, resampling, stop requests, history. A loss or
//! gradient that is not finite ends training with an error that names the step, the
//! residuals and a point where they are not finite ([`super::nonfinite`]).

use super::accuracy::Tracker;
use super::lbfgs::{Lbfgs, LbfgsStep};
use super::lm::Lm;
use super::model::Model;
use super::optim::{check_finite, Adam, Objective};
use super::ssbfgs::Ssbfgs;
use super::TrainError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Which optimizer trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// Adam for every step.
    Adam,
    /// L-BFGS for every step (one step is one iteration with its line search).
    Lbfgs,
    /// Adam for the first steps, then L-BFGS: Adam finds the basin, L-BFGS converges in it.
    AdamLbfgs,
    /// Levenberg–Marquardt on the exact residual Jacobian for every step (one step is one
    /// accepted Gauss–Newton update with the damping trials it took).
    Lm,
    /// Adam for the first steps, then Levenberg–Marquardt.
    AdamLm,
    /// Dense self-scaled BFGS with a strong-Wolfe line search for every step.
    Ssbfgs,
}

impl OptimizerKind {
    /// Every optimizer.
    pub const ALL: [OptimizerKind; 6] = [
        OptimizerKind::Adam,
        OptimizerKind::Lbfgs,
        OptimizerKind::AdamLbfgs,
        OptimizerKind::Lm,
        OptimizerKind::AdamLm,
        OptimizerKind::Ssbfgs,
    ];

    /// Parses `adam`, `lbfgs`, `adam+lbfgs`, `lm`, `adam+lm`, `ssbfgs`.
    pub fn parse(s: &str) -> Option<OptimizerKind> {
        match s {
            "adam" => Some(OptimizerKind::Adam),
            "lbfgs" => Some(OptimizerKind::Lbfgs),
            "adam+lbfgs" => Some(OptimizerKind::AdamLbfgs),
            "lm" => Some(OptimizerKind::Lm),
            "adam+lm" => Some(OptimizerKind::AdamLm),
            "ssbfgs" => Some(OptimizerKind::Ssbfgs),
            _ => None,
        }
    }

    /// The command line's name (what [`OptimizerKind::parse`] reads).
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Lbfgs => "lbfgs",
            OptimizerKind::AdamLbfgs => "adam+lbfgs",
            OptimizerKind::Lm => "lm",
            OptimizerKind::AdamLm => "adam+lm",
            OptimizerKind::Ssbfgs => "ssbfgs",
        }
    }

    /// Whether the optimizer needs the residual Jacobian ([`Model::add_jacobian`]).
    pub fn uses_jacobian(self) -> bool {
        matches!(self, OptimizerKind::Lm | OptimizerKind::AdamLm)
    }

    /// Whether it starts with Adam and switches to a second method.
    pub fn is_two_phase(self) -> bool {
        matches!(self, OptimizerKind::AdamLbfgs | OptimizerKind::AdamLm)
    }
}

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Total optimizer steps (Adam updates plus L-BFGS iterations).
    pub steps: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Adam's learning rate (at the first step).
    pub lr: f64,
    /// The fraction of `lr` that Adam's learning rate has decayed to at its last step:
    /// `lr_t = lr · lr_decay^(t / adam_steps)`, exponential decay (1: constant).
    pub lr_decay: f64,
    /// Seed of the first point sample; round `r` of resampling uses [`round_seed`]`(seed, r)`.
    pub seed: u64,
    /// Resample the collocation points every this many steps (`None`: never).
    pub resample: Option<usize>,
    /// For `adam+lbfgs`: the number of Adam steps (the rest are L-BFGS iterations).
    pub adam_steps: usize,
    /// Measure the error of the solution every this many steps (with a [`Tracker`]; the
    /// time it takes is not counted in the wall time).
    pub error_every: Option<usize>,
    /// Stop once training has run this many seconds (checked before each step).
    pub max_time: Option<f64>,
    /// Hand the loop's state to [`Hooks::checkpoint`] every this many steps (the time the
    /// hook takes, writing the file, is not counted in the wall time either: runs with
    /// and without checkpoints compare on their training time).
    pub checkpoint_every: Option<usize>,
    /// Levenberg–Marquardt with geodesic acceleration ([`Lm::step`]).
    pub geodesic: bool,
}

impl TrainOptions {
    /// `steps` steps of `optimizer` with the defaults: lr 1e-3, seed 0, no resampling,
    /// half the steps Adam for `adam+lbfgs`.
    pub fn new(steps: usize, optimizer: OptimizerKind) -> TrainOptions {
        TrainOptions {
            steps,
            optimizer,
            lr: 1e-3,
            lr_decay: 1.0,
            seed: 0,
            resample: None,
            adam_steps: steps / 2,
            error_every: None,
            max_time: None,
            checkpoint_every: None,
            geodesic: true,
        }
    }

    /// The resampling round whose points are bound before step `step`.
    pub fn round(&self, step: usize) -> u64 {
        match self.resample {
            Some(every) if every > 0 => (step / every) as u64,
            _ => 0,
        }
    }

    /// Adam's learning rate at step `step` (see [`TrainOptions::lr_decay`]).
    pub fn lr_at(&self, step: usize) -> f64 {
        let n = self.adam_steps().max(1) as f64;
        self.lr * self.lr_decay.powf(step as f64 / n)
    }

    /// The steps that are Adam steps (the first ones).
    pub fn adam_steps(&self) -> usize {
        match self.optimizer {
            OptimizerKind::Adam => self.steps,
            OptimizerKind::Lbfgs | OptimizerKind::Lm | OptimizerKind::Ssbfgs => 0,
            OptimizerKind::AdamLbfgs | OptimizerKind::AdamLm => self.adam_steps.min(self.steps),
        }
    }
}

/// The seed of resampling round `round` (round 0 is the initial sample).
pub fn round_seed(seed: u64, round: u64) -> u64 {
    seed.wrapping_add(round.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// One row of the history: the loss at the step's evaluation point.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepRecord {
    /// Step index, from 0.
    pub step: usize,
    /// Weighted total loss.
    pub loss: f64,
    /// Unweighted `mean(r²)` of every residual, in the problem's order.
    #[serde(with = "super::checkpoint::maybe_finite")]
    pub parts: Vec<f64>,
    /// Seconds since training started (not counting error measurements and checkpoints).
    pub wall_s: f64,
    /// The relative L2 error of every tracked output after this step, when measured.
    #[serde(with = "super::checkpoint::maybe_finite")]
    pub errors: Vec<f64>,
    /// Levenberg–Marquardt's damping `λ` after the step (`None` for other steps).
    pub damping: Option<f64>,
    /// The smallest causal weight after the step (`--causal`; `None` without): how far
    /// in time training has got, 1 when every time chunk counts fully.
    #[serde(default)]
    pub causal: Option<f64>,
}

/// Why training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StopReason {
    /// All steps were taken.
    Steps,
    /// A stop was requested (Ctrl-C).
    Interrupted,
    /// The time limit (`max_time`) was reached.
    TimeLimit,
    /// L-BFGS found a zero gradient.
    Converged,
    /// L-BFGS could not decrease the loss any further.
    Stalled,
}

/// What training produced.
#[derive(Clone, Debug)]
pub struct TrainResult {
    /// Final parameters.
    pub theta: Vec<f64>,
    /// One record per step taken.
    pub history: Vec<StepRecord>,
    /// Loss and residual parts at the final θ (on the last bound points).
    pub last: StepRecord,
    /// Why training ended.
    pub reason: StopReason,
    /// Training wall time in seconds.
    pub wall_s: f64,
}

/// Everything the training loop carries from one step to the next. With the problem and
/// the options it determines the rest of the run: a run continued from a saved state
/// ([`super::checkpoint`]) takes the same steps, bit for bit, as one never interrupted
/// (the points of resampling round `r` and the probe directions of step `s` are functions
/// of the seed, `r` and `s` alone).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LoopState {
    /// The next step to take (the number of steps taken).
    pub step: usize,
    /// The parameters.
    pub theta: Vec<f64>,
    /// Adam's moments and update count.
    pub adam: Adam,
    /// L-BFGS's curvature pairs and the loss and gradient at `theta`.
    pub lbfgs: Lbfgs,
    /// Levenberg–Marquardt's damping.
    pub lm: Lm,
    /// The dense self-scaled BFGS state, for `ssbfgs`.
    pub ssbfgs: Option<Ssbfgs>,
    /// One record per step taken.
    pub history: Vec<StepRecord>,
    /// Training seconds spent before this state (error measurements and checkpoints not
    /// counted).
    pub wall_s: f64,
    /// How the run ended, when it ended because the optimizer converged or stalled: a
    /// resumed run that had ended so takes no further steps.
    #[serde(default)]
    pub ended: Option<StopReason>,
    /// The causal chunk weights the next step uses (`--causal`; empty without).
    #[serde(default)]
    pub causal: Vec<f64>,
}

impl LoopState {
    /// The state before the first step of `optimizer` from `theta`; an error, before
    /// anything is allocated, where `ssbfgs`'s dense matrix does not fit in memory.
    pub fn start(theta: Vec<f64>, opts: &TrainOptions) -> Result<LoopState, TrainError> {
        let ssbfgs = opts.optimizer == OptimizerKind::Ssbfgs;
        if ssbfgs {
            check_ssbfgs(theta.len())?;
        }
        Ok(LoopState {
            step: 0,
            adam: Adam::new(theta.len(), opts.lr),
            lbfgs: Lbfgs::default(),
            lm: Lm::with_geodesic(opts.geodesic),
            ssbfgs: ssbfgs.then(|| Ssbfgs::new(theta.len())),
            theta,
            history: Vec::new(),
            wall_s: 0.0,
            ended: None,
            causal: Vec::new(),
        })
    }

    /// Why the history's rows are not rows of one run, if they are not: row `k` is of
    /// step `k`, every row has as many residual losses as the first, and errors for every
    /// tracked output or none (a step without a measurement).
    fn ragged_history(&self) -> Option<String> {
        let parts = self.history.first()?.parts.len();
        let errors = self
            .history
            .iter()
            .map(|r| r.errors.len())
            .max()
            .unwrap_or(0);
        let bad = |(k, r): &(usize, &StepRecord)| {
            r.step != *k || r.parts.len() != parts || ![0, errors].contains(&r.errors.len())
        };
        let (k, r) = self.history.iter().enumerate().find(bad)?;
        Some(format!(
            "history row {k} is of step {} with {} residual losses and {} errors (row 0 has \
             {parts} losses, a measured row {errors} errors)",
            r.step,
            r.parts.len(),
            r.errors.len()
        ))
    }

    /// Why this state cannot continue a run of `p` parameters with `optimizer` and
    /// `steps` steps (a checkpoint edited or written by another run), if it cannot: a
    /// step count that is not its history's number of rows, or beyond the run's steps,
    /// would end the run at once and report a state it never reached.
    pub fn misfit(&self, p: usize, optimizer: OptimizerKind, steps: usize) -> Option<String> {
        if self.step != self.history.len() || self.step > steps {
            return Some(format!(
                "it is at step {} with {} history rows, of a run of {steps} steps",
                self.step,
                self.history.len()
            ));
        }
        if !(self.wall_s.is_finite() && self.wall_s >= 0.0) {
            return Some(format!("{} s of training so far", self.wall_s));
        }
        if let Some(why) = self.ragged_history() {
            return Some(why);
        }
        if let Some(why) = self.adam.insane() {
            return Some(why);
        }
        if self.theta.len() != p {
            return Some(format!(
                "{} parameter values, the params have {p}",
                self.theta.len()
            ));
        }
        if !self.adam.fits(p) {
            return Some(format!("Adam's moments are not of length {p}"));
        }
        if !self.lbfgs.fits(p) {
            return Some(format!("L-BFGS's vectors are not of length {p}"));
        }
        let ssbfgs = optimizer == OptimizerKind::Ssbfgs;
        match &self.ssbfgs {
            Some(s) if !s.fits(p) => Some(format!("the BFGS matrix is not {p} x {p}")),
            None if ssbfgs => Some("no BFGS state, and the optimizer is ssbfgs".into()),
            _ => None,
        }
    }
}

/// Saves a loop state (a checkpoint).
pub type SaveState<'a> = dyn FnMut(&LoopState) -> Result<(), TrainError> + 'a;

/// What the loop reports to its caller while it runs.
pub struct Hooks<'a> {
    /// Sees every record as it is made (progress display).
    pub on_step: &'a mut dyn FnMut(&StepRecord),
    /// Measures the error at step 0, every `opts.error_every` steps and after the last.
    pub tracker: Option<&'a mut Tracker>,
    /// Called with the state every `opts.checkpoint_every` steps and when the run ends
    /// (also when it is stopped), to save it; an error ends training.
    pub checkpoint: Option<&'a mut SaveState<'a>>,
}

/// Trains `model` from `theta` in place. `stop` is polled before every step: once set,
/// training ends after the current step and the result is as valid as after the last step.
/// `on_step` sees every record as it is made (progress display).
pub fn train(
    model: &mut Model<'_>,
    theta: Vec<f64>,
    opts: &TrainOptions,
    stop: &AtomicBool,
    on_step: &mut dyn FnMut(&StepRecord),
) -> Result<TrainResult, TrainError> {
    train_tracked(model, theta, opts, stop, on_step, None)
}

/// [`train`], measuring the error with `tracker` at step 0, every `opts.error_every` steps
/// and after the last step (not at all when `opts.error_every` is `None`).
pub fn train_tracked(
    model: &mut Model<'_>,
    theta: Vec<f64>,
    opts: &TrainOptions,
    stop: &AtomicBool,
    on_step: &mut dyn FnMut(&StepRecord),
    tracker: Option<&mut Tracker>,
) -> Result<TrainResult, TrainError> {
    let state = LoopState::start(theta, opts)?;
    let hooks = Hooks {
        on_step,
        tracker,
        checkpoint: None,
    };
    train_from(model, state, opts, stop, hooks)
}

/// The loop itself: continues the run in `state` (a fresh [`LoopState::start`] or a saved
/// one) up to `opts.steps`. On a distributed model every rank takes the same decisions:
/// losses are summed before any optimizer sees them, and a stop (flag or time limit) on
/// any rank stops all of them at the same step.
pub fn train_from(
    model: &mut Model<'_>,
    state: LoopState,
    opts: &TrainOptions,
    stop: &AtomicBool,
    mut hooks: Hooks<'_>,
) -> Result<TrainResult, TrainError> {
    check_optimizer(model, opts, state.theta.len())?;
    let first = state.step;
    let ended = state.ended;
    let mut loop_ = Loop::resume(state, opts.optimizer);
    model.bind_points(round_seed(opts.seed, opts.round(first)))?;
    let stochastic = model.bind_probes(opts.seed, first as u64)?;
    loop_.start_causal(model)?;
    if first > 0 {
        // the residual parts of the first record, should the optimizer answer from its
        // cached loss without evaluating (θ, points and directions are those of the run)
        let mut g = vec![0.0; loop_.theta.len()];
        model.eval(&loop_.theta, &mut g)?;
    }
    let mut reason = ended.unwrap_or(StopReason::Steps);
    let steps = if ended.is_some() { first } else { opts.steps };
    for step in first..steps {
        let interrupted = stop.load(Ordering::SeqCst);
        // one clock decides (rank 0's: only it pauses for error measurements)
        let late = model.rank() == 0 && opts.max_time.is_some_and(|t| loop_.wall_s() >= t);
        if model.any(interrupted || late)? {
            reason = if model.any(interrupted)? {
                StopReason::Interrupted
            } else {
                StopReason::TimeLimit
            };
            break;
        }
        let resampled = loop_.maybe_resample(model, opts, step)?;
        if stochastic && step > 0 {
            loop_.redraw(model, opts.seed, step)?;
        }
        loop_.adam.lr = opts.lr_at(step);
        let adam = step < opts.adam_steps();
        let r = (loop_.step(model, adam)).map_err(|e| loop_.explain(e, model, step, resampled))?;
        let lm = !adam && opts.optimizer.uses_jacobian();
        if !lm {
            // (Levenberg–Marquardt weighs at the current θ itself, forming its system)
            loop_.refresh_causal(model, adam)?;
        }
        let mut rec = loop_.record(model, step, r.loss());
        if lm {
            rec.damping = Some(loop_.lm.lambda);
        }
        let due = opts
            .error_every
            .is_some_and(|n| n > 0 && (step == 0 || (step + 1).is_multiple_of(n)));
        if let (true, Some(t)) = (due, hooks.tracker.as_deref_mut()) {
            rec.errors = loop_.measure(model, t)?;
        }
        (hooks.on_step)(&rec);
        loop_.history.push(rec);
        let stopping = r.stop_reason();
        let every = opts.checkpoint_every.filter(|n| *n > 0);
        if stopping.is_none() && every.is_some_and(|n| (step + 1).is_multiple_of(n)) {
            loop_.save(model, &mut hooks, step + 1)?;
        }
        if let Some(why) = stopping {
            reason = why;
            loop_.ended = Some(why);
            break;
        }
    }
    // saved before the final measurement, which a continuation makes at its own end
    let taken = first.max(loop_.history.last().map_or(first, |r| r.step + 1));
    loop_.save(model, &mut hooks, taken)?;
    if let (Some(t), Some(last)) = (
        hooks.tracker.as_deref_mut(),
        loop_.history.len().checked_sub(1),
    ) {
        if opts.error_every.is_some() && loop_.history[last].errors.is_empty() {
            loop_.history[last].errors = loop_.measure(model, t)?;
        }
    }
    loop_.finish(model, reason)
}

/// Refuses a run the model cannot do: θ of another length than the parameters, `lm`
/// without the Jacobian program, `ssbfgs` with more parameters than a dense inverse
/// Hessian fits in memory.
fn check_optimizer(model: &Model<'_>, opts: &TrainOptions, p: usize) -> Result<(), TrainError> {
    super::model::check_theta(p, model.layout().len())?;
    if opts.optimizer.uses_jacobian() && !model.has_jacobian() {
        return Err(TrainError::MissingOutput(
            "jacobian: compile it with Model::add_jacobian for lm".into(),
        ));
    }
    if opts.optimizer == OptimizerKind::Ssbfgs {
        check_ssbfgs(p)?;
    }
    Ok(())
}

/// Refuses `ssbfgs` on `p` parameters where its dense `p × p` matrix does not fit in
/// memory (a [256, 256] net's 66,000 parameters: 35 GB).
fn check_ssbfgs(p: usize) -> Result<(), TrainError> {
    let what = format!("ssbfgs needs a dense {p} x {p} inverse-Hessian approximation");
    super::lm::check_bytes(&what, 8 * (p as u64).pow(2), p)
}

struct Loop {
    adam: Adam,
    lbfgs: Lbfgs,
    lm: Lm,
    ssbfgs: Option<Ssbfgs>,
    optimizer: OptimizerKind,
    theta: Vec<f64>,
    start: Instant,
    /// Training seconds before this process took over (a resumed run).
    before: f64,
    /// Time spent measuring errors, left out of the wall time.
    paused: Duration,
    history: Vec<StepRecord>,
    /// Set when the optimizer converged or stalled.
    ended: Option<StopReason>,
    /// The causal chunk weights to resume with (empty: none, or computed afresh).
    causal: Vec<f64>,
}

impl Loop {
    fn resume(s: LoopState, optimizer: OptimizerKind) -> Loop {
        Loop {
            adam: s.adam,
            lbfgs: s.lbfgs,
            lm: s.lm,
            ssbfgs: s.ssbfgs,
            optimizer,
            theta: s.theta,
            start: Instant::now(),
            before: s.wall_s,
            paused: Duration::ZERO,
            history: s.history,
            ended: s.ended,
            causal: s.causal,
        }
    }

    /// Binds the causal weights of the state resumed, or, at the start of a run, weights
    /// from the residuals at the initial θ.
    fn start_causal(&mut self, model: &mut Model<'_>) -> Result<(), TrainError> {
        if model.causal().is_none() {
            return Ok(());
        }
        if !self.causal.is_empty() {
            if !model.restore_causal(&self.causal)? {
                let n = self.causal.len();
                return Err(TrainError::Options(format!(
                    "the saved state has {n} causal weights, this run another number of chunks"
                )));
            }
            return Ok(());
        }
        self.refresh_causal(model, false)
    }

    /// New causal weights: after an Adam step from its evaluation (at the parameters
    /// before the step: one step behind, at no cost), after an L-BFGS or SSBFGS step
    /// from the residuals at the new θ (whose line search may have evaluated elsewhere
    /// last). The objective changes, so the quasi-Newton memories start over (as after a
    /// resample).
    fn refresh_causal(&mut self, model: &mut Model<'_>, adam: bool) -> Result<(), TrainError> {
        let refreshed = match adam {
            true => model.refresh_causal()?,
            false => model.refresh_causal_at(&self.theta)?,
        };
        if refreshed {
            self.forget();
        }
        Ok(())
    }

    /// Hands the state before step `step` to the checkpoint hook, if there is one, with
    /// the clock stopped.
    fn save(
        &mut self,
        model: &Model<'_>,
        hooks: &mut Hooks<'_>,
        step: usize,
    ) -> Result<(), TrainError> {
        let Some(save) = hooks.checkpoint.as_mut() else {
            return Ok(());
        };
        let t0 = Instant::now();
        let saved = save(&LoopState {
            step,
            theta: self.theta.clone(),
            adam: self.adam.clone(),
            lbfgs: self.lbfgs.clone(),
            lm: self.lm.clone(),
            ssbfgs: self.ssbfgs.clone(),
            history: self.history.clone(),
            wall_s: self.wall_s(),
            ended: self.ended,
            causal: model.causal().map_or(Vec::new(), |c| c.weights().to_vec()),
        });
        self.paused += t0.elapsed();
        saved
    }

    /// Training time so far.
    fn wall_s(&self) -> f64 {
        self.before + (self.start.elapsed() - self.paused).as_secs_f64()
    }

    /// The tracked errors at the current θ, with the clock stopped.
    fn measure(&mut self, model: &Model<'_>, t: &mut Tracker) -> Result<Vec<f64>, TrainError> {
        let t0 = Instant::now();
        let errors = t.errors(model.layout(), &self.theta);
        self.paused += t0.elapsed();
        errors
    }

    /// Resamples the points when `step` is due; returns whether it was.
    fn maybe_resample(
        &mut self,
        model: &mut Model<'_>,
        opts: &TrainOptions,
        step: usize,
    ) -> Result<bool, TrainError> {
        match opts.resample {
            Some(every) if every > 0 && step > 0 && step.is_multiple_of(every) => {
                model.bind_points(round_seed(opts.seed, (step / every) as u64))?;
                self.forget();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Fresh probe directions for the sampled operators at `step`: the loss is a new
    /// estimate, so the quasi-Newton memories start over as after a resample (Levenberg–
    /// Marquardt forms a new system every step anyway). Adam is the optimizer made for such
    /// stochastic losses; the others take one line-searched or damped step per draw.
    fn redraw(&mut self, model: &mut Model<'_>, seed: u64, step: usize) -> Result<(), TrainError> {
        model.bind_probes(seed, step as u64)?;
        self.forget();
        Ok(())
    }

    /// The objective changed (new points, directions or weights): the quasi-Newton
    /// memories, which describe the old one, start over.
    fn forget(&mut self) {
        self.lbfgs.reset();
        if let Some(s) = &mut self.ssbfgs {
            s.reset();
        }
    }

    /// A non-finite loss or gradient at `step` (at the current θ: optimizers check before
    /// they move) with its explanation: the last finite step, the residuals and points
    /// that are not finite. Other errors pass unchanged.
    fn explain(
        &self,
        e: TrainError,
        model: &mut Model<'_>,
        step: usize,
        resampled: bool,
    ) -> TrainError {
        let TrainError::NonFinite(_) = e else {
            return e;
        };
        match model.diagnose(&self.theta) {
            Ok(mut why) => {
                why.step = Some(step);
                why.before = self.history.last().map(|r| (r.step, r.loss));
                why.resampled = resampled;
                TrainError::NonFinite(Box::new(why))
            }
            Err(e) => e,
        }
    }

    fn step(&mut self, model: &mut Model<'_>, adam: bool) -> Result<LbfgsStep, TrainError> {
        if adam {
            return Ok(LbfgsStep::Moved(self.adam.step(model, &mut self.theta)?));
        }
        if self.optimizer.uses_jacobian() {
            return self.lm.step(model, &mut self.theta);
        }
        if let Some(s) = &mut self.ssbfgs {
            return s.step(model, &mut self.theta);
        }
        self.lbfgs.step(model, &mut self.theta)
    }

    fn record(&self, model: &Model<'_>, step: usize, loss: f64) -> StepRecord {
        StepRecord {
            step,
            loss,
            parts: model.last_parts().to_vec(),
            wall_s: self.wall_s(),
            errors: Vec::new(),
            damping: None,
            causal: model.causal().map(|c| c.min_weight()),
        }
    }

    /// Evaluates at the final θ so the reported loss belongs to the returned parameters.
    fn finish(
        mut self,
        model: &mut Model<'_>,
        reason: StopReason,
    ) -> Result<TrainResult, TrainError> {
        let wall_s = self.wall_s();
        let mut g = vec![0.0; self.theta.len()];
        let loss = model.eval(&self.theta, &mut g)?;
        let step = self.history.len();
        check_finite(loss, &g).map_err(|e| self.explain(e, model, step, false))?;
        let last = self.record(model, self.history.len(), loss);
        Ok(TrainResult {
            theta: std::mem::take(&mut self.theta),
            history: self.history,
            last,
            reason,
            wall_s,
        })
    }
}

impl LbfgsStep {
    fn stop_reason(self) -> Option<StopReason> {
        match self {
            LbfgsStep::Moved(_) => None,
            LbfgsStep::Converged(_) => Some(StopReason::Converged),
            LbfgsStep::Stalled(_) => Some(StopReason::Stalled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_decays_exponentially_over_the_adam_steps() {
        let mut o = TrainOptions::new(300, OptimizerKind::AdamLbfgs);
        o.lr = 1e-2;
        o.adam_steps = 100;
        assert_eq!(o.lr_at(0), 1e-2);
        o.lr_decay = 0.01;
        assert!((o.lr_at(50) - 1e-3).abs() < 1e-15);
        assert!((o.lr_at(100) - 1e-4).abs() < 1e-17);
        // Adam alone decays over all its steps
        o.optimizer = OptimizerKind::Adam;
        assert!((o.lr_at(150) - 1e-3).abs() < 1e-15);
    }
}
