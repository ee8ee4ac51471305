//! MPI for distributed training (the `mpi` feature): [`Mpi`] is the [`Collective`] of a
//! run launched with `mpirun -np K` (or `srun`), through the `mpi` crate (rsmpi) on the
//! system's MPI library (OpenMPI).
//!
//! Sums are not MPI all-reduces: an all-reduce may add the ranks' values in any order
//! (and OpenMPI's order depends on the message sizes), which would make a run depend on
//! the library's algorithm choice. Here every value is added in rank order, so every rank
//! holds the same bits: short vectors by one all-gather (`MPI_Allgather`, latency first),
//! long ones (gradients, `JᵀJ`) by a reduce-scatter of blocks (`MPI_Alltoallv`, each rank
//! adding one block) and an all-gather of the sums (`MPI_Allgatherv`), which moves about
//! `2n` values per rank whatever the number of ranks, as a ring all-reduce does.
//!
//! Only the main thread calls MPI (`MPI_THREAD_FUNNELED`); the compiled programs' worker
//! threads never do. MPI errors are fatal (the library's default handler aborts the job),
//! so these calls do not return errors of their own.

use super::dist::{share, Collective};
use super::TrainError;
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Threading;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Vectors of at least this many values per rank are summed by blocks
/// ([`Mpi::sum_scattered`]); shorter ones in one all-gather.
const SCATTER_FROM: usize = 1024;

/// The processes of `MPI_COMM_WORLD`.
pub struct Mpi {
    // Dropping the universe calls MPI_Finalize: keep it for the life of the run.
    _universe: mpi::environment::Universe,
    world: SimpleCommunicator,
    /// Time spent in exchanges (waiting for other ranks included).
    spent: Cell<Duration>,
}

impl Mpi {
    /// Initializes MPI (once per process); `None` when it was initialized already or the
    /// library refuses.
    pub fn init() -> Option<Mpi> {
        let (universe, _) = mpi::initialize_with_threading(Threading::Funneled)?;
        let world = universe.world();
        Some(Mpi {
            _universe: universe,
            world,
            spent: Cell::new(Duration::ZERO),
        })
    }

    /// Seconds this rank has spent in exchanges so far, waiting for the others included:
    /// what distribution costs on top of the computation.
    pub fn exchange_seconds(&self) -> f64 {
        self.spent.get().as_secs_f64()
    }

    /// Short vectors: one all-gather of every rank's `v` (`K·n` values received, one
    /// message round), then the rank-ordered sum.
    fn sum_gathered(&self, v: &mut [f64]) {
        let n = v.len();
        let mut all = vec![0.0; n * self.size()];
        self.world.all_gather_into(&v[..], &mut all[..]);
        v.copy_from_slice(&all[..n]);
        for piece in all.chunks_exact(n).skip(1) {
            v.iter_mut().zip(piece).for_each(|(a, b)| *a += b);
        }
    }

    /// Long vectors: rank `c` sums block `c` ([`share`] of the `n` entries) over all
    /// ranks in rank order (an all-to-all), then every rank gathers the summed blocks.
    /// Each rank sends and receives about `2n` values whatever `K` (the volume of a ring
    /// all-reduce) and the bits are those of [`Mpi::sum_gathered`].
    fn sum_scattered(&self, v: &mut [f64]) {
        let (n, k, me) = (v.len(), self.size(), self.rank());
        let blocks: Vec<_> = (0..k).map(|c| share(n, c, k)).collect();
        let counts: Vec<i32> = blocks.iter().map(|b| b.len() as i32).collect();
        let displs: Vec<i32> = blocks.iter().map(|b| b.start as i32).collect();
        let mine = blocks[me].len();
        let mut recv = vec![0.0; mine * k];
        let recv_counts = vec![mine as i32; k];
        let recv_displs: Vec<i32> = (0..k).map(|r| (r * mine) as i32).collect();
        {
            let send = Partition::new(&v[..], &counts[..], &displs[..]);
            let mut into = PartitionMut::new(&mut recv[..], &recv_counts[..], &recv_displs[..]);
            self.world.all_to_all_varcount_into(&send, &mut into);
        }
        let mut sum = recv[..mine].to_vec();
        for piece in recv.chunks_exact(mine.max(1)).skip(1) {
            sum.iter_mut().zip(piece).for_each(|(a, b)| *a += b);
        }
        let mut into = PartitionMut::new(&mut v[..], &counts[..], &displs[..]);
        self.world.all_gather_varcount_into(&sum[..], &mut into);
    }

    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let t0 = Instant::now();
        let out = f();
        self.spent.set(self.spent.get() + t0.elapsed());
        out
    }

    /// Ends every process of the job with status `code` (`MPI_Abort`): what a rank does
    /// when it fails while the others wait for it in a collective.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn sum(&self, v: &mut [f64]) -> Result<(), TrainError> {
        let (n, k) = (v.len(), self.size());
        if k == 1 || n == 0 {
            return Ok(());
        }
        if n < SCATTER_FROM * k {
            self.timed(|| self.sum_gathered(v));
        } else {
            self.timed(|| self.sum_scattered(v));
        }
        Ok(())
    }

    fn gather(&self, v: &[f64]) -> Result<Vec<f64>, TrainError> {
        let k = self.size();
        let n = i32::try_from(v.len()).map_err(|_| {
            TrainError::Options(format!(
                "{} values are too many for one MPI message",
                v.len()
            ))
        })?;
        let mut counts = vec![0i32; k];
        self.timed(|| self.world.all_gather_into(&n, &mut counts[..]));
        let displs: Vec<i32> = (counts.iter())
            .scan(0i32, |at, c| {
                let d = *at;
                *at += c;
                Some(d)
            })
            .collect();
        let total: usize = counts.iter().map(|c| *c as usize).sum();
        let mut all = vec![0.0; total];
        let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        self.timed(|| self.world.all_gather_varcount_into(v, &mut part));
        Ok(all)
    }
}
