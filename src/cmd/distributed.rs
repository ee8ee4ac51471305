//! `nabla train FILE --distributed`: one training run over the processes of an MPI job
//! (`mpirun -np K`, `srun`), through [`nabla::train::fit::train_on`] with the MPI
//! [`Collective`](nabla::train::dist::Collective).
//!
//! Failing is collective, never a hang:
//! - before training (the file, the flags, compiling, a checkpoint) every rank fails in
//!   the same place; the lowest failing rank prints its error once and every rank exits
//!   with status 1;
//! - during training a loss that is not finite is the same on every rank (it is summed
//!   before anyone checks it): the lowest rank with a residual that is not finite on its
//!   points (else rank 0) explains it and all exit with status 1; any other
//!   error leaves the other ranks waiting for this one, so the failing rank prints its
//!   error and aborts the job (`MPI_Abort`), and a panic aborts the process, which
//!   `mpirun` turns into the end of the job, as it does for a killed process.

/// Runs `nabla train --distributed` without MPI: an error that says how to get it.
#[cfg(not(feature = "mpi"))]
pub fn run(_: super::train::Args) -> anyhow::Result<()> {
    anyhow::bail!(
        "--distributed needs MPI, and this nabla was built without it: build it with \
         `cargo build --release --features mpi` (needs OpenMPI: apt-get install \
         openmpi-bin libopenmpi-dev libclang-dev) and launch it with `mpirun -np K`"
    )
}

#[cfg(feature = "mpi")]
pub use with_mpi::run;

#[cfg(feature = "mpi")]
mod with_mpi {
    use super::super::train::{load_problem, print_summary, Args};
    use nabla::train::dist::{agree, Collective};
    use nabla::train::mpi::Mpi;
    use nabla::train::TrainError;

    /// Runs `nabla train --distributed` as one rank of the job.
    pub fn run(args: Args) -> anyhow::Result<()> {
        let Some(comm) = Mpi::init() else {
            anyhow::bail!("MPI could not be initialized (launch with mpirun -np K)");
        };
        abort_on_panic();
        share_cores(&comm);
        let mut args = args;
        args.compile.threads = args.compile.threads.or(Some(threads_per_rank(&comm)));
        let problem = match load(&comm, &args) {
            Ok(p) => p,
            Err(e) => quit(&comm, e),
        };
        let mut t = args.training();
        if t.compile.backend == nabla::Backend::OpenCl && t.compile.device.is_none() {
            t.compile.device = device_of(comm.rank());
        }
        match nabla::train::fit::train_on(&problem, &t, &comm, &mut |_| {}) {
            Ok(trained) => {
                if comm.rank() == 0 {
                    print_summary(&args, &trained)?;
                    let (k, x) = (comm.size(), comm.exchange_seconds());
                    let share = 100.0 * x / trained.result.wall_s.max(1e-9);
                    eprintln!(
                        "{k} processes; rank 0 spent {x:.3} s exchanging ({share:.1}% of training)"
                    );
                }
                Ok(())
            }
            Err(e) => quit(&comm, e),
        }
    }

    /// The problem file, loaded by rank 0 first: when it is bad, rank 0 alone prints the
    /// diagnostics and every rank stops; otherwise the others load it too.
    fn load(comm: &Mpi, args: &Args) -> Result<nabla_frontend::problem::Problem, TrainError> {
        let first = (comm.rank() == 0).then(|| load_problem(&args.file));
        let bad = comm.any(matches!(first, Some(Err(_))))?;
        let mine = match first {
            Some(Err(e)) => return Err(TrainError::Options(format!("{e:#}"))),
            _ if bad => return Err(TrainError::Elsewhere { rank: 0 }),
            Some(Ok(p)) => Ok(p),
            None => load_problem(&args.file).map_err(|e| TrainError::Options(format!("{e:#}"))),
        };
        agree(comm, mine)
    }

    /// Ends this rank after error `e` (see the [module](super)).
    fn quit(comm: &Mpi, e: TrainError) -> ! {
        let rank = comm.rank();
        match e {
            TrainError::Elsewhere { .. } => std::process::exit(1),
            TrainError::NonFinite(why) => {
                // every rank has it (the loss is summed first); the lowest rank whose
                // points show a residual that is not finite explains it, else rank 0
                let mut found = vec![0.0; comm.size()];
                found[rank] = f64::from(u8::from(!why.residuals.is_empty()));
                let chosen = (comm.sum(&mut found).ok())
                    .and_then(|_| found.iter().position(|f| *f > 0.0))
                    .unwrap_or(0);
                if rank == chosen {
                    eprintln!("error: {}", TrainError::NonFinite(why));
                }
                std::process::exit(1)
            }
            TrainError::Options(_) => {
                eprintln!("error: {e}");
                std::process::exit(1)
            }
            e => {
                eprintln!("error (process {rank} of {}): {e}", comm.size());
                comm.abort(1)
            }
        }
    }

    /// A panic prints its message, then aborts the process: `mpirun` ends the job.
    fn abort_on_panic() {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default(info);
            std::process::abort();
        }));
    }

    /// Threads per rank so that ranks × threads ≤ cores on this machine.
    fn threads_per_rank(comm: &Mpi) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / comm.local_size()).max(1)
    }

    /// The dense linear algebra of `lm` (faer on rayon) gets the same share of the cores,
    /// unless `RAYON_NUM_THREADS` says otherwise.
    fn share_cores(comm: &Mpi) {
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            let n = threads_per_rank(comm);
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        }
    }

    /// OpenCL device `rank mod devices` (`None`: no device list, the backend's default).
    fn device_of(rank: usize) -> Option<String> {
        let n = nabla::backends::opencl::devices().ok()?.len();
        (n > 0).then(|| (rank % n).to_string())
    }
}
