//! `nabla train FILE`: trains a problem's networks and params (see `docs/cli.md`).
//!
//! The flags are checked by the parser and [`Args::check`], the file is loaded, and the
//! rest is [`nabla::train`] (the library's trainer, as a Rust program would call it): the
//! reference is loaded, the output directory created and probed for writing, the problem
//! compiled, and training runs with a progress bar on stderr. Ctrl-C ends training after
//! the current step; the results are reported and written as after a full run.

use super::common::CompileArgs;
use super::flags;
use nabla::train::causal::CausalSpec;
use nabla::train::run::OptimizerKind;
use nabla::{Progress, Training};
use nabla_frontend::problem::Problem;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `nabla train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The problem file (`.nabla`).
    pub file: PathBuf,
    /// Optimizer steps (Adam updates plus L-BFGS or Levenberg–Marquardt iterations); 0
    /// reports the initial loss. Default: 3000, or 1000 for `lm` and `adam+lm`, whose
    /// iterations each do the work of many first-order steps.
    #[arg(long, value_name = "N", value_parser = flags::count_usize)]
    pub steps: Option<usize>,
    /// The optimizer; `adam+lbfgs` (`adam+lm`) runs Adam for `--adam-steps`, then L-BFGS
    /// (Levenberg–Marquardt).
    #[arg(long, value_enum, default_value_t = OptimizerArg::AdamLbfgs)]
    pub optimizer: OptimizerArg,
    /// For `adam+lbfgs` and `adam+lm`: Adam steps before switching, at most `--steps`
    /// (default: a third of `--steps`).
    #[arg(long, value_name = "N", value_parser = flags::count_usize)]
    pub adam_steps: Option<usize>,
    /// Adam's learning rate (positive).
    #[arg(long, default_value_t = 1e-3, value_parser = flags::positive)]
    pub lr: f64,
    /// Exponential decay of Adam's learning rate: Adam step s (from 0) of n (the Adam
    /// steps: --steps, or --adam-steps of a two-phase optimizer) takes `lr × F^(s/n)`, so the
    /// rate reaches `lr × F` as the last one ends; F in (0, 1] (1: constant).
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = flags::fraction)]
    pub lr_decay: f64,
    /// Seed of the point sampling; also added to every net's initialisation seed.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = flags::count)]
    pub seed: u64,
    /// Resample the collocation points every EVERY steps (a new seed each round).
    #[arg(long, value_name = "EVERY", value_parser = flags::positive_count)]
    pub resample: Option<u64>,
    /// `--backend`, `--dtype` (default f32), `--derivs`.
    #[command(flatten)]
    pub compile: CompileArgs,
    /// The most device memory the OpenCL programs may take (`512M`, `2G`, bytes; default:
    /// 3/4 of the device's): a batch that needs more is cut into tiles that fit, run in
    /// turn.
    #[arg(long, value_name = "SIZE", value_parser = super::common::memory_size)]
    pub device_memory: Option<u64>,
    /// Writes params.json, history.csv and SVG plots into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Prints one JSON object on stdout at the end (reports go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Reference values to measure the error against, for problems without an `exact`:
    /// `{"points": [[..], ..], "OUT": [..]}`, points with the inputs in declaration order.
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Measure the relative L2 error every N steps (outputs with an `exact` or reference
    /// values); recorded in history.csv and plotted against wall time in error.svg. The
    /// measurements are not counted in the training time.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = flags::positive_count)]
    pub error_every: u64,
    /// Stop after SECONDS of training (the steps taken by then count; error measurements
    /// are not training time).
    #[arg(long, value_name = "SECONDS", value_parser = flags::positive)]
    pub max_time: Option<f64>,
    /// Save the run's whole state (parameters, optimizer state, history) into the output
    /// directory every N steps and when it ends or is stopped, for `--resume`.
    #[arg(long, value_name = "N", value_parser = flags::positive_count)]
    pub checkpoint_every: Option<u64>,
    /// Continue the run saved in DIR by `--checkpoint-every`; give the flags it started
    /// with again (they are checked, not restored: a difference is refused, each named).
    /// It goes on as if never interrupted. Writes into DIR unless `--out` is given.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Causal training of a time-dependent problem with causality parameter EPS (e.g. 1):
    /// the residuals over time are weighted chunk by chunk, each by exp(−EPS × the
    /// residual losses of all earlier chunks), so later times count only once earlier
    /// ones are solved. Best with adam or lm (a weight update restarts L-BFGS's memory).
    #[arg(long, value_name = "EPS", value_parser = flags::positive)]
    pub causal: Option<f64>,
    /// With `--causal`: the number of equal time chunks.
    #[arg(long, value_name = "M", default_value_t = 32, value_parser = flags::positive_count, requires = "causal")]
    pub causal_chunks: u64,
    /// With `--causal`: the input that is time.
    #[arg(long, value_name = "INPUT", default_value = "t", requires = "causal")]
    pub causal_time: String,
    /// Levenberg-Marquardt (lm, adam+lm) without geodesic acceleration. By default each
    /// trial step adds half the second-order correction along it (two more residual
    /// evaluations per trial), which follows curved valleys of the loss
    #[arg(long)]
    pub no_geodesic: bool,
    /// Train with every process of an MPI job (`mpirun -np K nabla train FILE
    /// --distributed`): each owns a share of every point set, sums are exchanged every
    /// step, rank 0 alone prints and writes. Needs a build with the `mpi` feature.
    #[arg(long)]
    pub distributed: bool,
}

/// `--optimizer`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerArg {
    /// Adam.
    Adam,
    /// L-BFGS.
    Lbfgs,
    /// Adam, then L-BFGS.
    #[value(name = "adam+lbfgs")]
    AdamLbfgs,
    /// Levenberg–Marquardt (Gauss–Newton with adaptive damping) on the exact residual
    /// Jacobian; dense in the parameters, best in f64.
    Lm,
    /// Adam, then Levenberg–Marquardt.
    #[value(name = "adam+lm")]
    AdamLm,
    /// Dense self-scaled BFGS (strong-Wolfe line search); memory quadratic in the
    /// parameters.
    Ssbfgs,
}

impl OptimizerArg {
    fn kind(self) -> OptimizerKind {
        match self {
            OptimizerArg::Adam => OptimizerKind::Adam,
            OptimizerArg::Lbfgs => OptimizerKind::Lbfgs,
            OptimizerArg::AdamLbfgs => OptimizerKind::AdamLbfgs,
            OptimizerArg::Lm => OptimizerKind::Lm,
            OptimizerArg::AdamLm => OptimizerKind::AdamLm,
            OptimizerArg::Ssbfgs => OptimizerKind::Ssbfgs,
        }
    }

    fn name(self) -> &'static str {
        match self {
            OptimizerArg::Adam => "adam",
            OptimizerArg::Lbfgs => "lbfgs",
            OptimizerArg::AdamLbfgs => "adam+lbfgs",
            OptimizerArg::Lm => "lm",
            OptimizerArg::AdamLm => "adam+lm",
            OptimizerArg::Ssbfgs => "ssbfgs",
        }
    }

    /// The method that follows Adam in a two-phase optimizer (or the only one).
    fn second(self) -> &'static str {
        match self {
            OptimizerArg::Lm | OptimizerArg::AdamLm => "Levenberg–Marquardt",
            OptimizerArg::Ssbfgs => "self-scaled BFGS",
            _ => "L-BFGS",
        }
    }
}

impl Args {
    /// The flag combinations that cannot work, as a usage error naming the values (each
    /// flag's own range is checked by its parser, [`flags`]).
    pub fn check(&self) -> Result<(), String> {
        if let (Some(n), None, None) = (self.checkpoint_every, &self.out, &self.resume) {
            return Err(format!(
                "--checkpoint-every {n} writes checkpoints into the output directory: \
                 give --out DIR"
            ));
        }
        if self.no_geodesic && !self.optimizer.kind().uses_jacobian() {
            return Err(format!(
                "geodesic acceleration is a step of Levenberg-Marquardt: turning it off \
                 (--no-geodesic) is for lm and adam+lm, not {}",
                self.optimizer.name()
            ));
        }
        let Some(adam) = self.adam_steps else {
            return Ok(());
        };
        if !self.optimizer.kind().is_two_phase() {
            let name = match self.optimizer {
                OptimizerArg::Adam => "adam, which takes Adam steps only".to_string(),
                o => format!("{}, which takes {} steps only", o.name(), o.second()),
            };
            return Err(format!(
                "--adam-steps {adam} applies to --optimizer adam+lbfgs or adam+lm; the \
                 optimizer is {name}"
            ));
        }
        if adam > self.steps() {
            return Err(format!(
                "--adam-steps {adam} is more than --steps {}: training would end before \
                 {}; lower --adam-steps, raise --steps, or use --optimizer adam",
                self.steps(),
                self.optimizer.second()
            ));
        }
        Ok(())
    }

    /// `--steps`, or the optimizer's default.
    pub fn steps(&self) -> usize {
        let default = if self.optimizer.kind().uses_jacobian() {
            1000
        } else {
            3000
        };
        self.steps.unwrap_or(default)
    }

    /// The run these flags ask for.
    pub fn training(&self) -> Training {
        Training {
            optimizer: self.optimizer.kind(),
            steps: Some(self.steps()),
            adam_steps: self.adam_steps,
            lr: self.lr,
            lr_decay: self.lr_decay,
            seed: self.seed,
            resample: self.resample.map(|r| r as usize),
            error_every: Some(self.error_every as usize),
            max_time: self.max_time,
            compile: nabla::Options {
                device_memory: self.device_memory,
                ..self.compile.options()
            },
            out: self.out.clone(),
            reference: self.reference.clone(),
            progress: Progress::Bar,
            stop: Some(stop_flag()),
            checkpoint_every: self.checkpoint_every.map(|n| n as usize),
            resume: self.resume.clone(),
            causal: self.causal.map(|eps| CausalSpec {
                eps,
                chunks: self.causal_chunks as usize,
                time: self.causal_time.clone(),
            }),
            geodesic: !self.no_geodesic,
        }
    }
}

/// Reads and loads a problem file with at least one residual (diagnostics go to stderr).
pub fn load_problem(path: &Path) -> anyhow::Result<Problem> {
    Ok(super::eval::load_objective(path)?.problem)
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    args.check().map_err(anyhow::Error::msg)?;
    if args.distributed {
        return super::distributed::run(args);
    }
    let problem = load_problem(&args.file)?;
    let t = nabla::train(&problem, &args.training())?;
    print_summary(&args, &t)
}

/// Prints the report (`--json`: the object on stdout, the text on stderr).
pub fn print_summary(args: &Args, t: &nabla::Trained) -> anyhow::Result<()> {
    let summary = format!(
        "{} steps in {:.2} s ({:?}), compile {:.3} s\n{}",
        t.result.history.len(),
        t.result.wall_s,
        t.result.reason,
        t.compile_s,
        t.text
    );
    if args.json {
        eprint!("{summary}");
        super::common::emit(&format!("{}\n", t.json))
    } else {
        super::common::emit(&summary)
    }
}

/// A flag set by Ctrl-C, SIGTERM (what schedulers send before they kill a job) or
/// SIGHUP: training stops after the step in flight and writes its outputs. The flag is
/// read between steps only, so a second signal quits at once (status 130, no outputs):
/// the way out of a long compilation or of a step that takes too long. Signals within
/// [`SAME_INTERRUPT`] of the first are that one interrupt delivered twice, not a second.
fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let mut first: Option<Instant> = None;
        // Failing to install the handler only loses the clean stop; training still runs.
        // The handler runs on one thread, one signal after the other.
        let _ = ctrlc::set_handler(move || match first {
            None => {
                first = Some(Instant::now());
                f.store(true, Ordering::SeqCst);
                eprintln!("\ninterrupted: stopping after this step (interrupt again to quit now)");
            }
            Some(t) if t.elapsed() < SAME_INTERRUPT => {}
            Some(_) => {
                eprintln!("\ninterrupted twice: quitting without writing the outputs");
                std::process::exit(130);
            }
        });
        flag
    })
    .clone()
}

/// How close after the first a signal is the same interrupt: `timeout -s INT` (and other
/// supervisors) signal the process and then its whole process group, which delivers one
/// interrupt twice within microseconds; a person pressing Ctrl-C again takes far longer.
const SAME_INTERRUPT: Duration = Duration::from_millis(250);
