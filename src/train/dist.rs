//! Training with several processes: what they exchange and who owns which points.
//!
//! A distributed run trains one model with `K` processes (ranks). Every rank traces and
//! compiles the same problem, samples every point set with the same seed, and keeps its
//! [`share`] of the rows: a contiguous block, rank `k` of `K` owning rows
//! `⌊kN/K⌋ .. ⌊(k+1)N/K⌋` of a set of `N` points (after every resample too; the shares of
//! `K = 3` differ by at most one row). Its program is compiled for those rows with every
//! residual weight `W_R` scaled by `N_R,k / N_R`, so that its loss is exactly its part of
//!
//! ```text
//! L = Σ_R W_R/N_R Σ_i r_R,i²  =  Σ_k Σ_R (W_R N_R,k/N_R) · (1/N_R,k) Σ_{i ∈ share k} r_R,i²
//! ```
//!
//! and the gradient is a sum over ranks too. [`Collective::sum`] adds the ranks' gradients
//! in rank order on every rank, so every rank holds the same bits, every optimizer takes
//! the same decisions everywhere, and a run is reproducible bit for bit for a given `K`
//! (an all-reduce of the MPI library may add in any order; this one gathers and adds in a
//! fixed one).
//!
//! What does not need a sum is not summed: the loss, its parts, the causal weights and
//! Levenberg–Marquardt's system are built from per-point values (squares, residuals,
//! Jacobian rows), which are the same bits whichever rows a program holds. Every rank
//! gathers them ([`Collective::gather`], in rank order: the points in one process's order)
//! and adds them up as one process does, so those values, and every decision of `lm`,
//! are one process's to the bit. The gradient of
//! the compiled program is not: its sums over points are grouped by the program's products
//! and by the ranks' shares, so `K` ranks reproduce one process's gradient to rounding
//! only, which Adam barely amplifies and L-BFGS, over tens of steps, does (README).
//!
//! [`Alone`] is the one-process case; `nabla train --distributed` uses MPI (the `mpi`
//! feature, `train::mpi`).

use super::TrainError;
use nabla_frontend::problem::Problem;
use std::ops::Range;

/// The collective operations of a distributed run. Every rank must call them in the same
/// order with vectors of the same length (except [`Collective::gather`]).
pub trait Collective {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Replaces `v` on every rank by the elementwise sum of every rank's `v`, added in
    /// rank order (identical bits on every rank).
    fn sum(&self, v: &mut [f64]) -> Result<(), TrainError>;
    /// Every rank's `v` (lengths may differ), concatenated in rank order, on every rank.
    fn gather(&self, v: &[f64]) -> Result<Vec<f64>, TrainError>;

    /// The ranks on this machine (they share its memory): 1 unless the launcher says.
    fn local_size(&self) -> usize {
        1
    }

    /// Whether `flag` is set on any rank (a stop request seen by one rank stops all).
    fn any(&self, flag: bool) -> Result<bool, TrainError> {
        let mut v = [f64::from(u8::from(flag))];
        self.sum(&mut v)?;
        Ok(v[0] > 0.0)
    }
}

/// One process: sums and gathers are the values themselves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Alone;

impl Collective for Alone {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum(&self, _: &mut [f64]) -> Result<(), TrainError> {
        Ok(())
    }
    fn gather(&self, v: &[f64]) -> Result<Vec<f64>, TrainError> {
        Ok(v.to_vec())
    }
}

/// `r` as every rank sees it: when a rank failed, every rank returns an error — the
/// lowest failing rank its own, the others [`TrainError::Elsewhere`] naming it — so that
/// all ranks leave together and a message that every rank would print (a bad problem
/// file) is printed once. Call it where every rank can fail in the same place.
pub fn agree<T>(comm: &dyn Collective, r: Result<T, TrainError>) -> Result<T, TrainError> {
    if comm.size() == 1 {
        return r;
    }
    let mut failed = vec![0.0; comm.size()];
    failed[comm.rank()] = f64::from(u8::from(r.is_err()));
    comm.sum(&mut failed)?;
    match failed.iter().position(|f| *f > 0.0) {
        None => r,
        Some(lowest) if lowest == comm.rank() => r,
        Some(rank) => Err(TrainError::Elsewhere { rank }),
    }
}

/// The rows of a set of `n` points that rank `rank` of `size` owns:
/// `⌊rank·n/size⌋ .. ⌊(rank+1)·n/size⌋`.
pub fn share(n: usize, rank: usize, size: usize) -> Range<usize> {
    let at = |k: usize| (k as u128 * n as u128 / size.max(1) as u128) as usize;
    at(rank)..at(rank + 1)
}

/// `problem` as rank `rank` of `size` trains it: every residual's weight scaled by the
/// fraction of its point set that the rank owns (see the [module](self)). Refuses a
/// point set with fewer points than ranks (a rank would own none of it).
pub fn local_problem(problem: &Problem, rank: usize, size: usize) -> Result<Problem, TrainError> {
    let mut local = problem.clone();
    for set in &problem.point_sets {
        let n = set.spec.len();
        if n < size {
            return Err(TrainError::Options(format!(
                "point set `{}` has {n} points, fewer than the {size} processes: every \
                 process needs at least one point of every set",
                set.name
            )));
        }
    }
    for r in &mut local.residuals {
        let Some(set) = problem.point_sets.iter().find(|s| s.name == r.points) else {
            continue;
        };
        let n = set.spec.len();
        r.weight *= share(n, rank, size).len() as f64 / n as f64;
    }
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_row_once_and_differ_by_at_most_one() {
        for n in [3, 7, 10, 1024, 1025] {
            for k in 1..=5usize.min(n) {
                let shares: Vec<_> = (0..k).map(|r| share(n, r, k)).collect();
                assert_eq!(shares[0].start, 0);
                assert_eq!(shares[k - 1].end, n);
                for w in shares.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let lens: Vec<usize> = shares.iter().map(|s| s.len()).collect();
                let (lo, hi) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(hi - lo <= 1, "n = {n}, k = {k}: {lens:?}");
            }
        }
        assert_eq!(share(10, 0, 3), 0..3);
        assert_eq!(share(10, 1, 3), 3..6);
        assert_eq!(share(10, 2, 3), 6..10);
    }
}
