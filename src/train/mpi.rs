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

use super::dist::{combine_gathered, share, Collective, Combine};
use super::TrainError;
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Threading;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// The most values one rank sends in one MPI call: counts and offsets are 32-bit, and a
/// gather receives `PIECE · K` values, below 2³¹ up to 32 768 ranks (2¹⁶ values: 512 KB).
const PIECE: usize = 1 << 16;

/// A sum whose all-gather would receive at most this many values (512 KB) takes that one
/// message round ([`Mpi::sum_gathered`]); longer ones go by blocks ([`Mpi::sum_scattered`]).
const GATHER_UP_TO: usize = 1 << 16;

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

    /// Every rank's number of parts, in rank order.
    fn part_counts(&self, mine: usize) -> Vec<usize> {
        let mut counts = vec![0.0; self.size()];
        self.timed(|| self.world.all_gather_into(&(mine as f64), &mut counts[..]));
        counts.iter().map(|c| *c as usize).collect()
    }

    /// [`Collective::combine_parts`] for entries `range` of the parts, by blocks: rank
    /// `c` receives block `c` of every part of every rank (an all-to-all), combines them,
    /// and every rank gathers the combined blocks into `sum[range]`.
    fn combine_scattered(
        &self,
        parts: &[Vec<f64>],
        counts: &[usize],
        range: std::ops::Range<usize>,
        combine: &Combine<'_>,
        sum: &mut [f64],
    ) {
        let (len, k, me) = (range.len(), self.size(), self.rank());
        let blocks: Vec<_> = (0..k).map(|c| share(len, c, k)).collect();
        let mut send = Vec::with_capacity(parts.len() * len);
        for b in &blocks {
            for p in parts {
                send.extend_from_slice(&p[range.clone()][b.clone()]);
            }
        }
        let send_counts: Vec<i32> = (blocks.iter())
            .map(|b| (b.len() * parts.len()) as i32)
            .collect();
        let send_displs = displacements(&send_counts);
        let mine = blocks[me].len();
        let recv_counts: Vec<i32> = counts.iter().map(|c| (c * mine) as i32).collect();
        let recv_displs = displacements(&recv_counts);
        let mut recv = vec![0.0; counts.iter().sum::<usize>() * mine];
        {
            let from = Partition::new(&send[..], &send_counts[..], &send_displs[..]);
            let mut into = PartitionMut::new(&mut recv[..], &recv_counts[..], &recv_displs[..]);
            self.world.all_to_all_varcount_into(&from, &mut into);
        }
        let mut block_sum = combine_gathered(&recv, mine, combine);
        block_sum.resize(mine, 0.0);
        let counts: Vec<i32> = blocks.iter().map(|b| b.len() as i32).collect();
        let displs: Vec<i32> = blocks.iter().map(|b| b.start as i32).collect();
        let mut into = PartitionMut::new(&mut sum[range], &counts[..], &displs[..]);
        self.world
            .all_gather_varcount_into(&block_sum[..], &mut into);
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
        // MPI counts are 32-bit: long vectors go piece by piece (the sum is elementwise)
        for piece in v.chunks_mut(PIECE) {
            if piece.len() * k <= GATHER_UP_TO || piece.len() < 8 * k {
                self.timed(|| self.sum_gathered(piece));
            } else {
                self.timed(|| self.sum_scattered(piece));
            }
        }
        Ok(())
    }

    /// Few values in all: one all-gather of every part, combined. More: by blocks of
    /// entries ([`Mpi::combine_scattered`]), so that a rank receives about `1/K` of every
    /// part rather than all of them (the gradients of a large problem).
    fn combine_parts(
        &self,
        parts: &[Vec<f64>],
        n: usize,
        combine: &Combine<'_>,
    ) -> Result<Vec<f64>, TrainError> {
        let k = self.size();
        let counts = self.part_counts(parts.len());
        let total: usize = counts.iter().sum();
        if total * n <= GATHER_UP_TO || n < 8 * k {
            let all = self.gather(&parts.concat())?;
            return Ok(combine_gathered(&all, n, combine));
        }
        // MPI counts are 32-bit: a rank receives at most 2³⁰ values per round
        let len = ((1usize << 30) * k / total.max(1)).clamp(k, PIECE * k);
        let mut sum = vec![0.0; n];
        for start in (0..n).step_by(len) {
            let range = start..(start + len).min(n);
            self.timed(|| self.combine_scattered(parts, &counts, range, combine, &mut sum));
        }
        Ok(sum)
    }

    /// OpenMPI's `OMPI_COMM_WORLD_LOCAL_SIZE`, else every rank (the safe guess).
    fn local_size(&self) -> usize {
        (std::env::var("OMPI_COMM_WORLD_LOCAL_SIZE").ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.size())
            .max(1)
    }

    fn gather(&self, v: &[f64]) -> Result<Vec<f64>, TrainError> {
        let k = self.size();
        // every rank's length (exact in f64 up to 2⁵³), then rounds of at most PIECE values
        // per rank, since MPI counts and offsets are 32-bit
        let mut lens = vec![0.0; k];
        self.timed(|| self.world.all_gather_into(&(v.len() as f64), &mut lens[..]));
        let lens: Vec<usize> = lens.iter().map(|n| *n as usize).collect();
        let starts: Vec<usize> = (lens.iter())
            .scan(0, |at, n| {
                let s = *at;
                *at += n;
                Some(s)
            })
            .collect();
        let mut all = vec![0.0; lens.iter().sum()];
        let rounds = lens.iter().map(|n| n.div_ceil(PIECE)).max().unwrap_or(0);
        for r in 0..rounds {
            let piece = |n: usize| (r * PIECE).min(n)..((r + 1) * PIECE).min(n);
            let counts: Vec<i32> = lens.iter().map(|n| piece(*n).len() as i32).collect();
            let displs = displacements(&counts);
            let total: usize = counts.iter().map(|c| *c as usize).sum();
            let mut got = vec![0.0; total];
            {
                let mut part = PartitionMut::new(&mut got[..], &counts[..], &displs[..]);
                let mine = &v[piece(v.len())];
                self.timed(|| self.world.all_gather_varcount_into(mine, &mut part));
            }
            for (rank, (&d, &c)) in displs.iter().zip(&counts).enumerate() {
                let at = starts[rank] + r * PIECE;
                let (d, c) = (d as usize, c as usize);
                all[at..at + c].copy_from_slice(&got[d..d + c]);
            }
        }
        Ok(all)
    }
}

/// The offsets of consecutive blocks of `counts` values.
fn displacements(counts: &[i32]) -> Vec<i32> {
    (counts.iter())
        .scan(0i32, |at, c| {
            let d = *at;
            *at += c;
            Some(d)
        })
        .collect()
}
