//! MPI for distributed training (the `mpi` feature): [`Mpi`] is the [`Collective`] of a
//! run launched with `mpirun -np K` (or `srun`), through the `mpi` crate (rsmpi) on the
//! system's MPI library (OpenMPI).
//!
//! Sums are not MPI all-reduces: an all-reduce may add the ranks' values in any order
//! (and OpenMPI's order depends on the message sizes), which would make a run depend on
//! the library's algorithm choice. Every rank gathers all pieces (`MPI_Allgather`) and
//! adds them in rank order, so every rank holds the same bits.
//!
//! Only the main thread calls MPI (`MPI_THREAD_FUNNELED`); the compiled programs' worker
//! threads never do. MPI errors are fatal (the library's default handler aborts the job),
//! so these calls do not return errors of their own.

use super::dist::Collective;
use super::TrainError;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Threading;

/// The processes of `MPI_COMM_WORLD`.
pub struct Mpi {
    // Dropping the universe calls MPI_Finalize: keep it for the life of the run.
    _universe: mpi::environment::Universe,
    world: SimpleCommunicator,
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
        })
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
        let mut all = vec![0.0; n * k];
        self.world.all_gather_into(&v[..], &mut all[..]);
        v.copy_from_slice(&all[..n]);
        for piece in all.chunks_exact(n).skip(1) {
            v.iter_mut().zip(piece).for_each(|(a, b)| *a += b);
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
        self.world.all_gather_into(&n, &mut counts[..]);
        let displs: Vec<i32> = (counts.iter())
            .scan(0i32, |at, c| {
                let d = *at;
                *at += c;
                Some(d)
            })
            .collect();
        let total: usize = counts.iter().map(|c| *c as usize).sum();
        let mut all = vec![0.0; total];
        let mut part = mpi::datatype::PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        self.world.all_gather_varcount_into(v, &mut part);
        Ok(all)
    }
}
