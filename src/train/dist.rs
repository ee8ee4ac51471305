//! Training with several processes: who owns which points, and what they exchange.
//!
//! ## Tiles
//!
//! Every run — one process or `K` — cuts its points into `T` tiles ([`Tiling`]): tile `t`
//! holds rows `⌊tN/T⌋ .. ⌊(t+1)N/T⌋` of every point set of `N` rows, and `T` depends only
//! on the set sizes, the element type and the program (about [`tile_aim`] rows of the
//! largest set per tile, fewer where stacked values are wide: [`aim_for_width`]), never on
//! `K` or the number of threads. The loss program is compiled per tile
//! shape with every residual weight `W_R` scaled by the tile's fraction `n_R,t / N_R` of
//! its set, so that a tile's loss is exactly its part of
//!
//! ```text
//! L = Σ_R W_R/N_R Σ_i r_R,i²  =  Σ_t Σ_R (W_R n_R,t/N_R) · (1/n_R,t) Σ_{i ∈ tile t} r_R,i²
//! ```
//!
//! and the gradient is the sum of the tiles' gradients, added in f64 over a fixed binary
//! tree of the tiles ([`TreeSum`]). A tile's program and rows are the same whichever
//! process runs it, so its gradient has the same bits everywhere, and so has their sum:
//! `K` processes compute one process's gradient to the bit, and every optimizer — Adam,
//! L-BFGS's line searches, Levenberg–Marquardt — takes one process's decisions. Tiles
//! also bound what a program holds (its buffers are a tile's, not the whole set's) and let
//! the threads of one process run whole tiles side by side instead of splitting every
//! step of one.
//!
//! ## Shares
//!
//! Rank `k` of `K` owns tiles `⌊kT/K⌋ .. ⌊(k+1)T/K⌋`: a contiguous block of every set's
//! rows (after every resample too). Every rank traces and compiles the same problem and
//! samples every point set with the same seed, then keeps its rows. `T` is at least `K`
//! (a problem with fewer tiles than ranks gets `K` tiles: reproducible for that `K`, but
//! not one process's bits).
//!
//! ## Exchanges
//!
//! The gradient: every rank adds its tiles' gradients up the tree as far as its tiles
//! reach — the maximal aligned blocks of its range ([`tile_blocks`], at most `2·log₂T`
//! vectors, one for two ranks of a power-of-two `T`) — and [`Collective::combine_parts`]
//! adds every rank's blocks up the rest of the tree ([`combine_blocks`]) on every rank.
//! The loss, its parts, the causal weights and Levenberg–Marquardt's system are built
//! from per-point values (squares, residuals, Jacobian rows — the Jacobian program runs
//! per tile too): every rank gathers them ([`Collective::gather`], in rank order: the
//! points in one process's order) and adds them up as one process does. No MPI
//! all-reduce is used anywhere: its order of addition depends on the library's
//! algorithm.
//!
//! [`Alone`] is the one-process case; `nabla train --distributed` uses MPI (the `mpi`
//! feature, `train::mpi`).

use super::TrainError;
use nabla_ir::DType;
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

    /// Every rank's `parts` (each of length `n`), in rank order and within a rank in the
    /// order given, combined by `combine` — which works entry by entry: it gets the parts
    /// cut to a range of entries and returns the combined entries — on every rank, with
    /// the same bits. (This default gathers every part on every rank.)
    fn combine_parts(
        &self,
        parts: &[Vec<f64>],
        n: usize,
        combine: &Combine<'_>,
    ) -> Result<Vec<f64>, TrainError> {
        let all = self.gather(&parts.concat())?;
        Ok(combine_gathered(&all, n, combine))
    }

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

/// Gathered parts of `n` values each, combined.
pub fn combine_gathered(all: &[f64], n: usize, combine: &Combine<'_>) -> Vec<f64> {
    let cut: Vec<&[f64]> = all.chunks_exact(n.max(1)).collect();
    combine(&cut)
}

/// How [`Collective::combine_parts`] combines the parts of every rank (cut to a range of
/// entries) into those entries.
pub type Combine<'a> = dyn Fn(&[&[f64]]) -> Vec<f64> + 'a;

/// A block of tiles `start .. start + size`: `size` a power of two and `start` a multiple
/// of it — a node of the binary tree over the tiles that fixes the order in which their
/// gradients are added.
pub type Block = (usize, usize);

/// The sum of the tiles' vectors over a fixed binary tree: the tree over `0 .. 2^⌈log₂T⌉`
/// whose node `[i·2ʲ, (i+1)·2ʲ)` is the sum of its two halves (its left half alone when the
/// right one holds no tile). Tiles are pushed in order; sibling blocks are added as soon
/// as both are complete, so a process holds one vector per level, and a range of tiles
/// leaves the maximal blocks it covers ([`tile_blocks`]): what a rank sends, and what
/// [`combine_blocks`] adds up with every other rank's in the tree's order. The result
/// does not depend on who computed which block: one process and `K` get the same bits.
/// (Pairwise summation also rounds less than a sum from the left: `O(log T)` against
/// `O(T)`.)
#[derive(Default)]
pub struct TreeSum {
    stack: Vec<(Block, Vec<f64>)>,
    /// Vectors added into their left sibling, for the next tiles to fill
    /// ([`TreeSum::spare`]).
    spare: Vec<Vec<f64>>,
}

impl TreeSum {
    /// Adds tile `t`'s vector; tiles come in order, each range of them without gaps.
    pub fn push(&mut self, t: usize, v: Vec<f64>) {
        self.stack.push(((t, 1), v));
        loop {
            let n = self.stack.len();
            let [(left, _), (right, _)] = &self.stack[n.saturating_sub(2)..] else {
                break;
            };
            let ((s1, z1), (s2, z2)) = (*left, *right);
            if z1 != z2 || !s1.is_multiple_of(2 * z1) || s1 + z1 != s2 {
                break;
            }
            let Some((_, right)) = self.stack.pop() else {
                break;
            };
            if let Some((block, left)) = self.stack.last_mut() {
                left.iter_mut().zip(&right).for_each(|(a, b)| *a += b);
                *block = (s1, 2 * z1);
            }
            self.spare.push(right);
        }
    }

    /// A vector already added into the sum, to be overwritten with a later tile's (its
    /// values are stale): a run of `T` tiles allocates about `log₂T` vectors, not `T`.
    pub fn spare(&mut self) -> Option<Vec<f64>> {
        self.spare.pop()
    }

    /// The blocks left, left to right, with their sums.
    pub fn blocks(self) -> Vec<(Block, Vec<f64>)> {
        self.stack
    }
}

/// The maximal blocks that tiles `range` cover, left to right: what [`TreeSum`] leaves
/// after the tiles of `range` were pushed.
pub fn tile_blocks(range: Range<usize>) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let mut size = 1;
        while at.is_multiple_of(2 * size) && at + 2 * size <= range.end {
            size *= 2;
        }
        blocks.push((at, size));
        at += size;
    }
    blocks
}

/// The sum of `T` tiles from the blocks that cover them (`blocks[i]` with the sums
/// `parts[i]`), added in the order of [`TreeSum`]'s tree.
pub fn combine_blocks(blocks: &[Block], parts: &[&[f64]], tiles: usize, n: usize) -> Vec<f64> {
    let at: std::collections::HashMap<Block, &[f64]> =
        blocks.iter().copied().zip(parts.iter().copied()).collect();
    let node = (0, tiles.max(1).next_power_of_two());
    tree_node(&at, node, tiles).unwrap_or_else(|| vec![0.0; n])
}

/// The sum of the tiles of tree node `(start, size)`, from the known blocks (`None`: the
/// node holds no tile).
fn tree_node(
    at: &std::collections::HashMap<Block, &[f64]>,
    (start, size): Block,
    tiles: usize,
) -> Option<Vec<f64>> {
    if start >= tiles {
        return None;
    }
    if let Some(v) = at.get(&(start, size)) {
        return Some(v.to_vec());
    }
    if size == 1 {
        return None;
    }
    let half = size / 2;
    let mut left = tree_node(at, (start, half), tiles)?;
    if let Some(right) = tree_node(at, (start + half, half), tiles) {
        left.iter_mut().zip(&right).for_each(|(a, b)| *a += b);
    }
    Some(left)
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

/// The rows of a set of `n` points that part `part` of `parts` holds:
/// `⌊part·n/parts⌋ .. ⌊(part+1)·n/parts⌋` (contiguous, in order, sizes within one row).
pub fn share(n: usize, part: usize, parts: usize) -> Range<usize> {
    let at = |k: usize| (k as u128 * n as u128 / parts.max(1) as u128) as usize;
    at(part)..at(part + 1)
}

/// Rows of the largest point set that a tile aims at: a product over 256 rows still
/// keeps `gemm`'s large-product kernels busy, and a [2, 32, 32, 1] Poisson net's tile
/// of 256 + 64 points runs in about a tenth of a millisecond, which a run's fixed cost
/// (binding, claiming chunks) does not dominate.
pub const TILE_ROWS: usize = 256;

/// Rows of the largest point set that a tile aims at in `dtype`: [`TILE_ROWS`] in f32
/// and half of it in f64, so that a tile's buffers take the same bytes in both and stay
/// in the core's cache. Measured (`cargo bench --bench profile -- B8 rows=N f64`, one
/// thread): B8 in f64 takes 3.9 ms per 1000 points in tiles of 125 rows against 4.7–5.2
/// in tiles of 250, whose 5.6 MB of buffers spill out of a 2 MB L2 (its kernels 2.1
/// against 2.7–3.2 ms); B2 4% less, B1 and B4 the same.
pub fn tile_aim(dtype: DType) -> usize {
    match dtype {
        DType::F32 => TILE_ROWS,
        DType::F64 => TILE_ROWS / 2,
    }
}

/// Elements of a tile's widest value that [`aim_for_width`] aims at: B3's Laplacian over
/// 100 variables carries `[100·rows, 128]` stacked tangents, and its loss+grad per point
/// was fastest in tiles of 32 rows (409,600 elements), in f32 and in f64 (`cargo bench
/// --bench profile -- B3 rows=N`, one thread, per 64 points: 15.5 / 13.7 / 14.8 / 16.9 ms
/// f32 and 37.6 / 29.0 / 33.1 / 36.2 ms f64 at 16 / 32 / 64 / 128 rows).
pub const WIDE_ELEMENTS: usize = 409_600;

/// The fewest rows [`aim_for_width`] aims at: below that, a tile's narrow products and its
/// fixed costs outweigh what the cache gives (B3 at 16 rows, above).
pub const WIDE_MIN_ROWS: usize = 32;

/// Rows of the largest point set a tile aims at in `dtype` when the program's widest
/// value holds `per_row` elements per row of that set: [`tile_aim`], or fewer — down to
/// [`WIDE_MIN_ROWS`] — where stacked values (a Laplacian over many variables, a stencil's
/// shifted points) would make a tile's widest value exceed [`WIDE_ELEMENTS`].
pub fn aim_for_width(dtype: DType, per_row: usize) -> usize {
    let aim = tile_aim(dtype);
    (WIDE_ELEMENTS / per_row.max(1)).clamp(WIDE_MIN_ROWS.min(aim), aim)
}

/// Tiles a problem gets at least (when every set has that many rows), so that up to this
/// many processes reproduce one process on any problem.
pub const MIN_TILES: usize = 4;

/// How a problem's points are cut into tiles and the tiles dealt to ranks.
///
/// Every point set of `N` rows is cut into the same number `T` of tiles, tile `t` holding
/// rows [`share`]`(N, t, T)` of every set; the loss program runs once per tile, and the
/// gradient is the sum of the tiles' gradients over a fixed tree ([`TreeSum`]). `T`
/// depends only on the problem's set sizes (and is at least the number of ranks), so one
/// process and `K` processes run the same programs on the same rows and add the same
/// partial gradients in the same order: the same bits (see the [module](self)). Rank `k`
/// of `K` owns tiles `share(T, k, K)`, a contiguous block of every set's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// The number of tiles `T`.
    pub tiles: usize,
    /// The number of ranks `K` (at most `T`).
    pub ranks: usize,
}

impl Tiling {
    /// The tiling of point sets of `sizes` rows for `ranks` processes: about
    /// [`TILE_ROWS`] rows of the largest set per tile (half to four times that), at least
    /// [`MIN_TILES`], preferring a number of tiles that cuts every set evenly (one program
    /// shape to compile); never more tiles than the largest set has rows and never fewer
    /// than `ranks`. A set with fewer rows than tiles (the two ends of an interval, an
    /// initial condition at one point) has rows in some tiles only: a tile without rows of
    /// a set leaves that set's residuals out of its program, so memory follows the
    /// largest set's tiles whatever the smallest set's size.
    pub fn new(sizes: &[usize], ranks: usize) -> Tiling {
        Tiling::aiming(sizes, ranks, TILE_ROWS)
    }

    /// [`Tiling::new`] with tiles of about `aim` rows (half to four times that) instead
    /// of [`TILE_ROWS`]: [`tile_aim`] of the run's element type.
    pub fn aiming(sizes: &[usize], ranks: usize, aim: usize) -> Tiling {
        let ranks = ranks.max(1);
        let aim_rows = aim.max(2);
        let largest = sizes.iter().max().map_or(1, |&n| n.max(1));
        let aim = largest.div_ceil(aim_rows).max(MIN_TILES);
        let least = largest.div_ceil(4 * aim_rows).max(MIN_TILES).min(largest);
        let most = largest.div_ceil(aim_rows / 2).max(least).min(largest);
        // fewest distinct tile shapes, then closest to `aim`
        let tiles = (least..=most)
            .min_by_key(|&t| (shapes(sizes, t), t.abs_diff(aim)))
            .unwrap_or(1);
        Tiling {
            tiles: tiles.max(ranks),
            ranks,
        }
    }

    /// One tile per rank: a program over each rank's share of the points (the OpenCL
    /// backend, where a device wants whole batches; a run is then reproducible for its
    /// `K` only).
    pub fn per_rank(ranks: usize) -> Tiling {
        let ranks = ranks.max(1);
        Tiling {
            tiles: ranks,
            ranks,
        }
    }

    /// The tiles rank `rank` owns.
    pub fn tiles_of(&self, rank: usize) -> Range<usize> {
        share(self.tiles, rank, self.ranks)
    }

    /// The rows of a set of `n` points in tile `tile`.
    pub fn tile_rows(&self, n: usize, tile: usize) -> Range<usize> {
        share(n, tile, self.tiles)
    }

    /// The rows of a set of `n` points that rank `rank` owns: those of its tiles.
    pub fn rank_rows(&self, n: usize, rank: usize) -> Range<usize> {
        let t = self.tiles_of(rank);
        share(n, t.start, self.tiles).start..share(n, t.end, self.tiles).start
    }
}

/// The number of distinct row counts `(share(N, t, T).len())` over the sets and tiles,
/// three standing for three or more: how many programs `T` tiles need compiled. With
/// `N = q·T + r`, tile `t` holds `q` rows of the set plus `⌊(t+1)·r/T⌋ − ⌊t·r/T⌋` (0 or 1),
/// which depends on `r` alone: the first tile has `q` rows of every set, the last `q + 1`
/// of every set with `r > 0`, and two sets with different `r > 0` have different numbers
/// of longer tiles, so some tile is longer in one and not the other. Hence one shape when
/// `T` divides every set, two when the nonzero remainders agree, three or more otherwise;
/// in `O(sets)`, where counting tile by tile made choosing among `T` up to `N/128` tile
/// counts quadratic in `N` (1.0 s for 10⁶ points, minutes for 10⁸).
fn shapes(sizes: &[usize], tiles: usize) -> usize {
    let mut rests: Vec<usize> = (sizes.iter())
        .map(|&n| n % tiles.max(1))
        .filter(|&r| r != 0)
        .collect();
    rests.sort_unstable();
    rests.dedup();
    rests.len().min(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`shapes`] against counting the tiles' row counts one by one.
    #[test]
    fn shapes_are_counted_without_visiting_the_tiles() {
        let counted = |sizes: &[usize], tiles: usize| {
            let mut seen: Vec<Vec<usize>> = Vec::new();
            for t in 0..tiles {
                let shape: Vec<usize> = sizes.iter().map(|&n| share(n, t, tiles).len()).collect();
                if !seen.contains(&shape) {
                    seen.push(shape);
                }
            }
            seen.len().min(3)
        };
        let sets: [&[usize]; 6] = [
            &[12],
            &[13],
            &[12, 30],
            &[13, 25],
            &[13, 27, 6],
            &[7, 7, 100],
        ];
        for sizes in sets {
            for tiles in 1..=*sizes.iter().min().unwrap() {
                assert_eq!(
                    shapes(sizes, tiles),
                    counted(sizes, tiles),
                    "{sizes:?} in {tiles}"
                );
            }
        }
        // a hundred million points, in tiles of 128 to 1024 rows
        let tiling = Tiling::new(&[100_000_000, 3_000_000], 1);
        assert!((100_000_000 / 1024..=100_000_000 / 128).contains(&tiling.tiles));
    }

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

    /// f64 tiles hold half the rows of f32 ones (the same bytes): B8's 10 000 points are
    /// 40 tiles of 250 in f32 and 80 of 125 in f64; the Poisson example's 1024 + 256
    /// points 4 and 8 tiles.
    #[test]
    fn f64_tiles_aim_at_half_the_rows() {
        let f32_aim = tile_aim(DType::F32);
        let f64_aim = tile_aim(DType::F64);
        assert_eq!((f32_aim, f64_aim), (TILE_ROWS, TILE_ROWS / 2));
        assert_eq!(Tiling::aiming(&[10_000], 1, f32_aim).tiles, 40);
        assert_eq!(Tiling::aiming(&[10_000], 1, f64_aim).tiles, 80);
        assert_eq!(
            Tiling::aiming(&[1024, 256], 1, f32_aim),
            Tiling::new(&[1024, 256], 1)
        );
        assert_eq!(Tiling::aiming(&[1024, 256], 1, f64_aim).tiles, 8);
        // B3's stacked tangents, 12,800 elements per point: 32-row tiles in both types;
        // an MLP 128 wide keeps the usual aims
        assert_eq!(aim_for_width(DType::F32, 12_800), 32);
        assert_eq!(aim_for_width(DType::F64, 12_800), 32);
        assert_eq!(aim_for_width(DType::F32, 128), f32_aim);
        assert_eq!(aim_for_width(DType::F64, 1_000_000), WIDE_MIN_ROWS);
        assert_eq!(Tiling::aiming(&[256], 1, 32).tiles, 8);
    }

    #[test]
    fn the_number_of_tiles_depends_on_the_sizes_alone() {
        // the Poisson example: 1024 + 256 points, four tiles of 256 + 64
        assert_eq!(Tiling::new(&[1024, 256], 1).tiles, 4);
        for k in 1..=4 {
            assert_eq!(Tiling::new(&[1024, 256], k).tiles, 4, "{k} ranks");
        }
        // more ranks than tiles: one tile each
        assert_eq!(Tiling::new(&[1024, 256], 6).tiles, 6);
        // a small problem still gets MIN_TILES, and a set smaller than that leaves some
        // tiles without rows of its own rather than capping them
        assert_eq!(Tiling::new(&[101, 40], 1).tiles, MIN_TILES);
        assert_eq!(Tiling::new(&[101, 3], 1).tiles, MIN_TILES);
        assert_eq!(Tiling::new(&[3], 1).tiles, 3, "never more tiles than rows");
        // an interval's two ends beside 400,000 interior points: tiles of the interior's
        // aim (an even cut of it: two shapes, with and without an end point), not two
        // tiles of 200,000 points
        let t = Tiling::new(&[400_000, 2], 1).tiles;
        assert!((400_000 / (4 * TILE_ROWS)..=400_000 / (TILE_ROWS / 2)).contains(&t));
        assert_eq!(400_000 % t, 0, "{t} tiles");
        assert_eq!(shapes(&[400_000, 2], t), 2);
        // about TILE_ROWS rows per tile on large sets, an even cut preferred
        let t = Tiling::new(&[1_000_000, 4000], 1).tiles;
        assert!((1_000_000 / (4 * TILE_ROWS)..=1_000_000 / (TILE_ROWS / 2)).contains(&t));
        // the Burgers example: 10 000 + 256 + 256 points cut evenly in 16 tiles (625 + 16
        // + 16), not unevenly in the 40 nearest to 256 rows
        assert_eq!(Tiling::new(&[10_000, 256, 256], 1).tiles, 16);
        assert_eq!(shapes(&[1_000_000, 4000], t), 1, "{t} tiles");
        assert_eq!(Tiling::new(&[], 1).tiles, 1, "no point sets: one tile");
    }

    #[test]
    fn ranks_own_contiguous_blocks_of_whole_tiles() {
        for sizes in [[1024, 256], [1000, 37], [101, 40], [1000, 2]] {
            for k in 1..=4 {
                let tiling = Tiling::new(&sizes, k);
                for n in sizes {
                    let mut at = 0;
                    for rank in 0..k {
                        let rows = tiling.rank_rows(n, rank);
                        assert_eq!(rows.start, at, "{sizes:?}, {k} ranks");
                        let tiles = tiling.tiles_of(rank);
                        assert!(!tiles.is_empty());
                        let first = tiling.tile_rows(n, tiles.start);
                        let last = tiling.tile_rows(n, tiles.end - 1);
                        assert_eq!((first.start, last.end), (rows.start, rows.end));
                        at = rows.end;
                    }
                    assert_eq!(at, n);
                }
            }
        }
    }

    #[test]
    fn ranks_leave_the_blocks_of_their_tiles_and_the_tree_adds_them_alike() {
        // tile t's vector: [t + 1, 1e16 if t = 0] — the 1e16 makes the order of addition
        // visible in the last bits of the second entry
        let tile = |t: usize| vec![(t + 1) as f64, if t == 0 { 1e16 } else { 1.0 }];
        for tiles in [1, 2, 3, 4, 6, 7, 13, 32] {
            let mut one = TreeSum::default();
            (0..tiles).for_each(|t| one.push(t, tile(t)));
            let blocks = one.blocks();
            let (b, v): (Vec<Block>, Vec<Vec<f64>>) = blocks.into_iter().unzip();
            assert_eq!(b, tile_blocks(0..tiles), "{tiles} tiles");
            let parts: Vec<&[f64]> = v.iter().map(|v| &v[..]).collect();
            let want = combine_blocks(&b, &parts, tiles, 2);
            assert_eq!(want[0], (tiles * (tiles + 1) / 2) as f64);
            for k in 1..=tiles.min(5) {
                let tiling = Tiling { tiles, ranks: k };
                let (mut blocks, mut sums) = (Vec::new(), Vec::new());
                for rank in 0..k {
                    let mut mine = TreeSum::default();
                    tiling.tiles_of(rank).for_each(|t| mine.push(t, tile(t)));
                    let (b, v): (Vec<Block>, Vec<Vec<f64>>) = mine.blocks().into_iter().unzip();
                    assert_eq!(b, tile_blocks(tiling.tiles_of(rank)));
                    blocks.extend(b);
                    sums.extend(v);
                }
                let parts: Vec<&[f64]> = sums.iter().map(|v| &v[..]).collect();
                let got = combine_blocks(&blocks, &parts, tiles, 2);
                assert_eq!(got, want, "{tiles} tiles, {k} ranks");
            }
        }
        // the tree's order, not the left fold's: ((1e16 + 1) + (1 + 1)) = 1e16 + 2
        let mut t = TreeSum::default();
        [1e16, 1.0, 1.0, 1.0]
            .iter()
            .enumerate()
            .for_each(|(i, v)| t.push(i, vec![*v]));
        assert_eq!(t.blocks(), vec![((0, 4), vec![1e16 + 2.0])]);
    }

    /// Tiles filled over the vectors the sum hands back give the sum of fresh vectors,
    /// and eight tiles take four vectors (the tree's depth and one), not eight.
    #[test]
    fn a_tile_can_fill_a_vector_already_added() {
        let tile = |t: usize| [t as f64, 1.0 / (t + 1) as f64];
        let mut fresh = TreeSum::default();
        let mut reused = TreeSum::default();
        let mut made = 0;
        for t in 0..8 {
            fresh.push(t, tile(t).to_vec());
            let mut v = reused.spare().unwrap_or_else(|| {
                made += 1;
                vec![f64::NAN; 2]
            });
            v.copy_from_slice(&tile(t));
            reused.push(t, v);
        }
        assert_eq!(made, 4);
        assert_eq!(reused.blocks(), fresh.blocks());
    }

    #[test]
    fn blocks_are_aligned_powers_of_two() {
        assert_eq!(tile_blocks(0..6), vec![(0, 4), (4, 2)]);
        assert_eq!(
            tile_blocks(10..21),
            vec![(10, 2), (12, 4), (16, 4), (20, 1)]
        );
        assert_eq!(tile_blocks(3..3), vec![]);
        let combined = Alone.combine_parts(&[vec![1.0, 2.0], vec![3.0, 4.0]], 2, &|p| {
            (0..2).map(|i| p[0][i] * p[1][i]).collect()
        });
        assert_eq!(combined.unwrap(), vec![3.0, 8.0]);
    }
}
