//! Training: optimizers, the training loop over a compiled problem, accuracy reports and
//! output files.
//!
//! - [`optim`]: the [`Objective`] interface and Adam; [`lbfgs`]: L-BFGS with a
//!   strong-Wolfe line search; [`lm`]: Levenberg–Marquardt on the exact residual Jacobian;
//!   [`ssbfgs`]: dense self-scaled BFGS.
//! - [`layout`]: parameters as one flat vector ⇄ named tensors ⇄ `params.json`.
//! - [`model`]: a problem's compiled loss and gradient as an [`Objective`]; collocation
//!   points bound (and re-bound on resampling) with `Executable::set`.
//! - [`fit`]: a problem trained from Rust as `nabla train` does it — compile, train,
//!   measure, report, write — with [`fit::Training`] for the command's flags.
//! - [`run`]: the loop — Adam, L-BFGS or Adam then L-BFGS, resampling every `k` steps, a
//!   stop flag polled between steps (Ctrl-C), one history record per step; its whole
//!   state is a [`run::LoopState`], saved and resumed by [`checkpoint`].
//! - [`causal`]: causal training of time-dependent problems (`--causal`): the residual
//!   weighted over time chunks by how well the earlier chunks are solved.
//! - [`dist`]: the tiles every run cuts its points into, each rank's tiles, and the sums
//!   over tiles in one fixed order; `mpi` (feature `mpi`): those exchanges over MPI.
//! - [`nonfinite`]: a NaN or infinite loss or gradient explained: the step, the residuals
//!   and a point where they are not finite, and whether the problem is at fault.
//! - [`accuracy`]: relative L2 errors against `exact` solutions on a fixed grid.
//! - [`output`], `plot`: `params.json`, `history.csv` and SVG plots (the `plots` feature),
//!   written atomically.
//!
//! ```no_run
//! use nabla::train::{self, model::Model, run::{OptimizerKind, TrainOptions}};
//! use std::sync::atomic::AtomicBool;
//! # fn demo(problem: &nabla::frontend::problem::Problem) -> Result<(), train::TrainError> {
//! let (mut model, theta, _compile_s) = Model::compile(problem, &nabla::Options::cranelift())?;
//! let opts = TrainOptions::new(2000, OptimizerKind::AdamLbfgs);
//! let result = train::run::train(&mut model, theta, &opts, &AtomicBool::new(false), &mut |_| {})?;
//! println!("loss {:.3e}", result.last.loss);
//! # Ok(()) }
//! ```

pub mod accuracy;
pub mod causal;
pub mod checkpoint;
pub mod device_tiles;
pub mod dist;
#[cfg(feature = "plots")]
mod figures;
pub mod fit;
pub mod layout;
pub mod lbfgs;
pub mod lm;
pub mod model;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod nonfinite;
pub mod optim;
pub mod output;
#[cfg(feature = "plots")]
pub mod plot;
pub mod report;
pub mod run;
pub mod ssbfgs;

pub use optim::Objective;

use std::path::PathBuf;

/// Why training (or writing its results) failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The objective could not be traced.
    #[error(transparent)]
    Problem(#[from] nabla_frontend::problem::ProblemError),
    /// The objective could not be compiled.
    #[error(transparent)]
    Compile(#[from] crate::CompileError),
    /// Binding or running the compiled program failed.
    #[error(transparent)]
    Run(#[from] crate::RunError),
    /// The compiled program lacks an output the trainer needs.
    #[error("the compiled objective has no output `{0}`")]
    MissingOutput(String),
    /// A gradient output of the wrong length.
    #[error("a gradient output has {found} values, its param has {expected}")]
    GradLength {
        /// Param size.
        expected: usize,
        /// Output size.
        found: usize,
    },
    /// The loss or its gradient is NaN or infinite: when, where and why (see
    /// [`nonfinite`]).
    #[error("{0}")]
    NonFinite(Box<nonfinite::NonFinite>),
    /// A method needs more memory than the machine has available.
    #[error("{0}")]
    Memory(String),
    /// Training options that do not fit together.
    #[error("{0}")]
    Options(String),
    /// A params file with the wrong layout.
    #[error("params: {0}")]
    Params(String),
    /// An output file or directory could not be written.
    #[error("cannot write `{}`: {reason}", path.display())]
    Output {
        /// The path.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
    /// The run finished but its results could not all be written (a full disk): the
    /// report travels with the error so that the run's outcome is not lost with them.
    #[error("{why}\nthe run itself finished:\n{report}")]
    Unsaved {
        /// Why writing failed.
        why: Box<TrainError>,
        /// The run's report (losses, errors against `exact`).
        report: String,
    },
    /// A reference file (`--reference`) that cannot be used.
    #[error("reference `{}`: {reason}", path.display())]
    Reference {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process of a distributed run failed (it reports why).
    #[error("process {rank} failed")]
    Elsewhere {
        /// Its rank.
        rank: usize,
    },
    /// A checkpoint that cannot be resumed (`--resume`).
    #[error("checkpoint `{}`: {reason}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A plot could not be drawn.
    #[error("plot `{name}`: {reason}")]
    Plot {
        /// The plot's file name.
        name: String,
        /// The drawing library's reason.
        reason: String,
    },
}
