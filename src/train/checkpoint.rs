//! Checkpoints: a training run saved so that it can continue as if never interrupted.
//!
//! `nabla train FILE --out DIR --checkpoint-every N` writes `DIR/checkpoint.json` every `N`
//! steps and when the run ends or is stopped (Ctrl-C, SIGTERM), next to `params.json`
//! and `history.csv` of the same step; each file is written to a temporary name and
//! renamed into place, so a run killed at any moment (SIGKILL, a preempted job) leaves
//! the last complete checkpoint. `nabla train FILE --resume DIR` (with the flags the run
//! started with) continues it: the loop's whole state ([`LoopState`]: θ, Adam's moments,
//! L-BFGS's curvature pairs, Levenberg–Marquardt's damping, the self-scaled BFGS matrix,
//! the history, the step) is restored, and the points and probe directions are functions
//! of the seed and the step, so the resumed run takes the same steps, bit for bit, as
//! one never interrupted. Numbers are stored as JSON numbers in their shortest exact
//! decimal form (the `float_roundtrip` reading gives back the same bits).
//!
//! A checkpoint records what the run was ([`RunKey`]: problem and a fingerprint of its
//! definition, parameter layout,
//! optimizer, steps, learning rate, seeds, resampling, element type, backend, derivative
//! method, number of processes); resuming with anything else is refused, naming what
//! differs, since the continuation would not be the run that was started.

use super::run::{LoopState, OptimizerKind};
use super::TrainError;
use nabla_frontend::problem::Problem;
use nabla_ir::DType;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The checkpoint file's name inside the output directory.
pub const FILE: &str = "checkpoint.json";

/// The format written by this version.
const FORMAT: u32 = 1;

/// What a run is: the values a continuation must share with it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunKey {
    /// The problem's name.
    pub problem: String,
    /// A fingerprint of the problem's definition ([`fingerprint`]): its traced loss,
    /// inputs, point sets and domains.
    pub definition: String,
    /// Every param's name and number of values, in θ order.
    pub params: Vec<(String, usize)>,
    /// `--optimizer`.
    pub optimizer: String,
    /// `--steps` (effective).
    pub steps: usize,
    /// Adam steps (effective).
    pub adam_steps: usize,
    /// `--lr`.
    pub lr: f64,
    /// `--lr-decay`.
    pub lr_decay: f64,
    /// `--seed`.
    pub seed: u64,
    /// `--resample`.
    pub resample: Option<usize>,
    /// `--dtype`.
    pub dtype: String,
    /// `--backend`.
    pub backend: String,
    /// `--derivs` (`auto` when not given).
    pub derivs: String,
    /// Processes training together.
    pub ranks: usize,
    /// `--causal` and its chunks and time input, when given.
    #[serde(default)]
    pub causal: Option<String>,
    /// Geodesic acceleration of `lm` steps (off: `--no-geodesic`; always off for other
    /// optimizers).
    #[serde(default)]
    pub geodesic: bool,
}

impl RunKey {
    /// Why a run with key `self` cannot continue a checkpoint of `saved`, if it cannot:
    /// every field that differs, with both values.
    pub fn differences(&self, saved: &RunKey) -> Vec<String> {
        let mut out = Vec::new();
        let mut cmp = |what: &str, now: String, then: String| {
            if now != then {
                out.push(format!("{what}: the checkpoint has {then}, this run {now}"));
            }
        };
        cmp("problem", self.problem.clone(), saved.problem.clone());
        if self.problem == saved.problem {
            let what = "the problem's definition (expressions, weights, point sets, domains)";
            cmp(what, self.definition.clone(), saved.definition.clone());
        }
        cmp("params", layout(&self.params), layout(&saved.params));
        let (a, b) = (&self.optimizer, &saved.optimizer);
        cmp("--optimizer", cli_name(a), cli_name(b));
        cmp("--steps", self.steps.to_string(), saved.steps.to_string());
        let (a, b) = (self.adam_steps, saved.adam_steps);
        cmp("Adam steps", a.to_string(), b.to_string());
        cmp("--lr", self.lr.to_string(), saved.lr.to_string());
        let (a, b) = (self.lr_decay, saved.lr_decay);
        cmp("--lr-decay", a.to_string(), b.to_string());
        cmp("--seed", self.seed.to_string(), saved.seed.to_string());
        let every = |r: Option<usize>| r.map_or("none".into(), |n| n.to_string());
        cmp("--resample", every(self.resample), every(saved.resample));
        cmp("--dtype", self.dtype.clone(), saved.dtype.clone());
        cmp(
            "--backend",
            cli_name(&self.backend),
            cli_name(&saved.backend),
        );
        cmp("--derivs", self.derivs.clone(), saved.derivs.clone());
        cmp("processes", self.ranks.to_string(), saved.ranks.to_string());
        let causal = |c: &Option<String>| c.clone().unwrap_or_else(|| "none".into());
        cmp("--causal", causal(&self.causal), causal(&saved.causal));
        let (a, b) = (self.geodesic, saved.geodesic);
        let on = |g: bool| {
            if g {
                "geodesic acceleration"
            } else {
                "--no-geodesic"
            }
        };
        // recorded off for optimizers without lm steps: compared only under one optimizer
        // (an adam checkpoint resumed with lm named a --no-geodesic never given)
        if cli_name(&self.optimizer) == cli_name(&saved.optimizer) {
            cmp("lm steps", on(a).to_string(), on(b).to_string());
        }
        out
    }
}

/// An optimizer's or backend's name as the command line spells it: checkpoints written
/// before the keys held those names recorded the program's own (`AdamLbfgs`, `cranelift`).
fn cli_name(s: &str) -> String {
    let optimizer = OptimizerKind::ALL
        .into_iter()
        .find(|k| format!("{k:?}") == s);
    let backend = (s == "cranelift").then_some("cpu");
    (optimizer.map(OptimizerKind::name).or(backend))
        .unwrap_or(s)
        .to_string()
}

fn layout(params: &[(String, usize)]) -> String {
    let parts: Vec<String> = params.iter().map(|(n, k)| format!("{n}[{k}]")).collect();
    parts.join(" ")
}

/// A saved run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The file format (1).
    pub format: u32,
    /// What the run is.
    pub run: RunKey,
    /// The loop's state before step `state.step`.
    pub state: LoopState,
}

/// Writes `DIR/checkpoint.json` atomically.
pub fn save(dir: &Path, run: &RunKey, state: &LoopState) -> Result<(), TrainError> {
    let c = Checkpoint {
        format: FORMAT,
        run: run.clone(),
        state: state.clone(),
    };
    let path = dir.join(FILE);
    let text = serde_json::to_string(&c).map_err(|e| TrainError::Output {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    super::output::write_atomic(&path, &text)
}

/// Whether `DIR/checkpoint.json` is there, without reading it (it holds the whole
/// history): checked before a resumed run creates or writes anything.
pub fn present(dir: &Path) -> Result<(), TrainError> {
    let path = dir.join(FILE);
    std::fs::metadata(&path)
        .map(drop)
        .map_err(|e| unreadable(dir, path, e))
}

/// The text of `DIR/checkpoint.json`.
fn read(dir: &Path) -> Result<String, TrainError> {
    let path = dir.join(FILE);
    std::fs::read_to_string(&path).map_err(|e| unreadable(dir, path, e))
}

/// Why the checkpoint `path` in `dir` cannot be read: where there is none, how to write
/// one.
fn unreadable(dir: &Path, path: std::path::PathBuf, e: std::io::Error) -> TrainError {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no checkpoint there (write one with --out {} --checkpoint-every N)",
            dir.display()
        ),
        _ => e.to_string(),
    };
    TrainError::Checkpoint { path, reason }
}

/// Refuses to start a new run into `dir` while it holds the checkpoint of a run that
/// stopped before its last step (interrupted, or at its time limit): the new run's
/// checkpoints and outputs would replace it, and the steps taken would be lost to
/// `--resume`. A finished run's checkpoint, or a file that is no checkpoint, is replaced.
pub fn check_fresh(dir: &Path) -> Result<(), TrainError> {
    let path = dir.join(FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let Ok(c) = serde_json::from_str::<Checkpoint>(&text) else {
        return Ok(());
    };
    let (step, steps) = (c.state.step, c.run.steps);
    if step >= steps || c.state.ended.is_some() {
        return Ok(());
    }
    let d = dir.display();
    Err(TrainError::Checkpoint {
        path,
        reason: format!(
            "it holds a run stopped at step {step} of {steps}, which a new run into {d} \
             would overwrite: continue it with --resume {d}, or remove the file to start \
             afresh"
        ),
    })
}

/// Reads `DIR/checkpoint.json` and checks that a run with key `run` may continue it.
pub fn load(dir: &Path, run: &RunKey, optimizer: OptimizerKind) -> Result<Checkpoint, TrainError> {
    let path = dir.join(FILE);
    let bad = |reason: String| TrainError::Checkpoint {
        path: path.clone(),
        reason,
    };
    let text = read(dir)?;
    let c: Checkpoint =
        serde_json::from_str(&text).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if c.format != FORMAT {
        return Err(bad(format!(
            "format {} (this nabla reads {FORMAT})",
            c.format
        )));
    }
    let diffs = run.differences(&c.run);
    if !diffs.is_empty() {
        return Err(bad(format!(
            "it belongs to another run, and a resumed run continues with the flags it \
             started with:\n  {}",
            diffs.join("\n  ")
        )));
    }
    let p = run.params.iter().map(|p| p.1).sum::<usize>();
    if let Some(why) = c.state.misfit(p, optimizer, run.steps) {
        return Err(bad(format!("it is damaged: {why}")));
    }
    if run.causal.is_none() && !c.state.causal.is_empty() {
        let n = c.state.causal.len();
        return Err(bad(format!(
            "it is damaged: {n} causal weights in a run without --causal"
        )));
    }
    Ok(c)
}

/// A fingerprint of what defines `problem` beyond its name: FNV-1a of its traced loss
/// (expressions, weights, point counts, in the IR's text form), its inputs, point sets and
/// domains. Two runs of one file agree; an edited file does not.
pub fn fingerprint(problem: &Problem) -> String {
    let graph = problem
        .objective(&super::model::sizes(problem), DType::F64, false)
        .map(|o| nabla_ir::text::print(&o.graph))
        .unwrap_or_default();
    let rest = format!(
        "{:?}{:?}{:?}",
        problem.inputs, problem.point_sets, problem.domains
    );
    let h = (graph.bytes().chain(rest.bytes())).fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// Serde for `f64` values that may be NaN or infinite (an error not measured, a diverged
/// part): JSON has no such numbers, so they are written as `null` and read back as NaN.
pub(crate) mod maybe_finite {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes non-finite entries as `null`.
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let v: Vec<Option<f64>> = v.iter().map(|x| x.is_finite().then_some(*x)).collect();
        v.serialize(s)
    }

    /// Reads `null` as NaN.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v = Vec::<Option<f64>>::deserialize(d)?;
        Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
}
