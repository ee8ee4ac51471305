//! How a batch is cut into tiles on the OpenCL device: whole, unless it does not fit.
//!
//! A GPU wants whole batches: one launch per step over every point keeps its thousands of
//! lanes busy, so each process runs its share of the points as one tile. But the program of
//! a tile holds every intermediate of every point on the device — B4's loss+grad program
//! takes 25 kB per point in f32 and 49 kB in f64 — so 10⁶ points need 25–50 GB, more than
//! most GPUs have. Before compiling, [`opencl_tiling`] asks what the program of a tile
//! would allocate ([`crate::Lowered::device_bytes`]: scheduling and emitting, no device)
//! and cuts the batch into tiles whose programs fit in the memory a model may take
//! (`Options::device_memory`, by default three quarters of the device's global memory,
//! shared among the processes of a machine that share its devices) and whose largest
//! buffer the device can allocate. The tiles then run in turn on the device, their
//! gradients added over the same tree as on the CPU.
//!
//! A tile's bytes are close to `F + V/T` for `T` tiles (`F`: params, constants and what
//! does not grow with the rows; `V`: what does), so two sizes give the count that fits;
//! it is rounded up to one that cuts every point set evenly (one program to build and
//! hold instead of two) where such a count is at most twice as large. What the budget
//! covers is the loss programs: the residual-Jacobian programs of the Gauss–Newton
//! methods (`lm`) come on top.

use super::dist::{agree, share, Collective, Tiling};
use super::model::{tile_problem, Batch};
use super::TrainError;
use crate::{CompileError, Lowered, Options};
use nabla_backends::opencl::{DeviceBytes, DeviceInfo, DeviceLimits};
use nabla_frontend::problem::Problem;

/// The share of the device's global memory a run takes when `Options::device_memory`
/// does not say: the rest is left to the driver (its own buffers, the program's code)
/// and to other work on the device.
const DEFAULT_SHARE: f64 = 0.75;

/// The bytes of `device` a run takes by default, for one of `sharing` processes on it:
/// three quarters (`DEFAULT_SHARE`) of its global memory, shared equally.
pub fn default_budget(device: &DeviceInfo, sharing: usize) -> u64 {
    (device.global_mem as f64 * DEFAULT_SHARE / sharing.max(1) as f64) as u64
}

/// The tiling of `batch` for OpenCL: one tile per process where its programs fit in the
/// device memory a model may take, else the fewest tiles found to fit — the same count on
/// every process, checked on each (a count that cuts one process's sets evenly may not
/// cut another's). Every process fails together where one has no device or no count fits.
pub fn opencl_tiling(
    problem: &Problem,
    weights: &[f64],
    batch: &Batch,
    comm: &dyn Collective,
    opts: &Options,
) -> Result<Tiling, TrainError> {
    let found = nabla_backends::opencl::select(opts.device.as_deref())
        .map_err(|e| TrainError::from(CompileError::from(e)));
    let device = agree(comm, found)?;
    let sizing = Sizing {
        problem,
        weights,
        batch,
        opts,
        room: Room::of(&device, opts, sharing(comm)),
        ranks: comm.size(),
        rank: comm.rank(),
    };
    let mut from = comm.size();
    loop {
        let mine = agree(comm, sizing.fewest(from))?;
        let tiles = (comm.gather(&[mine as f64])?.iter()).fold(mine, |t, &v| t.max(v as usize));
        let fits = match tiles == mine {
            true => Ok(true),
            false => sizing.fits(tiles),
        };
        let fits = agree(comm, fits)?;
        if !comm.any(!fits)? {
            return Ok(Tiling {
                tiles,
                ranks: sizing.ranks,
            });
        }
        from = tiles + 1;
    }
}

/// The processes of this machine that share one device: its ranks over its devices.
fn sharing(comm: &dyn Collective) -> usize {
    let devices = nabla_backends::opencl::devices().map_or(1, |d| d.len().max(1));
    comm.local_size().div_ceil(devices).max(1)
}

/// What a model may take of a device.
#[derive(Clone, Debug)]
pub struct Room {
    /// The device's name, for messages.
    pub name: String,
    /// Its global memory, in bytes.
    pub global: u64,
    /// Bytes a model's programs may take together: `Options::device_memory`, or
    /// [`default_budget`] (a share of `global` for each process sharing the device); at most
    /// `global`.
    pub budget: u64,
    /// The largest buffer it allocates, in bytes.
    pub max_alloc: u64,
    /// Its work-group limits (which decide how products are split, and so the scratch).
    pub limits: DeviceLimits,
}

impl Room {
    /// The room on `device` under `opts` for one of `sharing` processes on it.
    pub fn of(device: &DeviceInfo, opts: &Options, sharing: usize) -> Room {
        let budget = opts
            .device_memory
            .unwrap_or(default_budget(device, sharing));
        Room {
            name: device.name.clone(),
            global: device.global_mem,
            budget: budget.min(device.global_mem),
            max_alloc: device.max_alloc,
            limits: device.limits,
        }
    }

    /// Whether programs taking `need` fit.
    pub fn holds(&self, need: DeviceBytes) -> bool {
        need.total <= self.budget && need.largest <= self.max_alloc
    }
}

/// `programs` programs of `one`'s size.
fn all_of(one: DeviceBytes, programs: u64) -> DeviceBytes {
    DeviceBytes {
        total: one.total * programs,
        largest: one.largest,
    }
}

/// What the tile count of one process is sized from: its problem and batch, its rank
/// among `ranks`, and the room it has on its device.
struct Sizing<'a> {
    problem: &'a Problem,
    weights: &'a [f64],
    batch: &'a Batch,
    opts: &'a Options,
    room: Room,
    ranks: usize,
    rank: usize,
}

impl Sizing<'_> {
    /// The fewest tiles from `from` (at least one per process) found to fit this
    /// process's programs in the room: a count that fits is returned, one that does not
    /// gives the next from the estimate of `F + V/T` (see the [module](self)), rounded up
    /// to an even cut ([`even_cut`]); every try grows the count by at least one, and the
    /// most tiles (one point of the largest set each) are tried before giving up.
    fn fewest(&self, from: usize) -> Result<usize, TrainError> {
        let sizes = &self.batch.sizes;
        let most = (sizes.iter().map(|(_, n)| *n).max())
            .unwrap_or(1)
            .max(self.ranks);
        let mut tiles = from.clamp(self.ranks, most);
        let mut seen: Vec<(usize, u64)> = Vec::new();
        loop {
            let (one, programs) = self.need(tiles)?;
            let all = all_of(one, programs);
            if self.room.holds(all) {
                return Ok(tiles);
            }
            if tiles >= most {
                return Err(too_large(all, &self.room, tiles));
            }
            seen.push((tiles, one.total));
            let by_total = estimate(&seen, self.room.budget);
            let by_largest = tiles as f64 * one.largest as f64 / self.room.max_alloc.max(1) as f64;
            let next = by_total.max(by_largest.ceil() as usize);
            tiles = even_cut(sizes, next.clamp(tiles + 1, most), most);
        }
    }

    /// Whether this process's programs fit under `tiles` tiles.
    fn fits(&self, tiles: usize) -> Result<bool, TrainError> {
        let (one, programs) = self.need(tiles)?;
        Ok(self.room.holds(all_of(one, programs)))
    }

    /// What the program of this process's largest tile under `tiles` tiles takes on the
    /// device, and how many programs there are (one per distinct tile shape, each about
    /// that size).
    fn need(&self, tiles: usize) -> Result<(DeviceBytes, u64), TrainError> {
        let tiling = Tiling {
            tiles,
            ranks: self.ranks,
        };
        let sizes = &self.batch.sizes;
        let mut shapes: Vec<Vec<usize>> = (tiling.tiles_of(self.rank))
            .map(|t| {
                sizes
                    .iter()
                    .map(|(_, n)| share(*n, t, tiles).len())
                    .collect()
            })
            .collect();
        shapes.sort_unstable();
        shapes.dedup();
        let largest: Vec<(String, usize)> = (sizes.iter().enumerate())
            .map(|(i, (s, _))| (s.clone(), shapes.iter().map(|r| r[i]).max().unwrap_or(0)))
            .collect();
        let tp = tile_problem(self.problem, self.weights, &largest, sizes);
        let obj = tp.objective(&largest, self.opts.dtype, self.batch.grad)?;
        let lowered = Lowered::new(&obj.graph, self.opts)?;
        let one = lowered.device_bytes(self.opts, &self.room.limits)?;
        Ok((one, shapes.len() as u64))
    }
}

/// The tiles at which one program takes at most `budget` bytes, from the bytes `seen` at
/// earlier counts: with two, the line `F + V/T` through the last two (no count, `usize::MAX`,
/// where `F` alone is over); with one, that count scaled by how far over it was, and 5%.
fn estimate(seen: &[(usize, u64)], budget: u64) -> usize {
    let budget = budget.max(1) as f64;
    match seen {
        [.., (t0, b0), (t1, b1)] if b0 > b1 => {
            let (x0, x1) = (1.0 / *t0 as f64, 1.0 / *t1 as f64);
            let v = (*b0 as f64 - *b1 as f64) / (x0 - x1);
            let f = *b0 as f64 - v * x0;
            match f < budget {
                true => (v / (budget - f)).ceil() as usize,
                false => usize::MAX,
            }
        }
        [.., (t, b)] => (*t as f64 * *b as f64 / budget * 1.05).ceil() as usize,
        [] => 1,
    }
}

/// The first count from `tiles` to twice that (at most `most`) that cuts every set
/// evenly — one tile shape: one program to build and hold instead of two — or `tiles`.
/// A set with fewer rows than tiles has a row in some tiles only, whatever the count,
/// and does not count. More tiles than a count that fits fit too: each holds fewer rows.
fn even_cut(sizes: &[(String, usize)], tiles: usize, most: usize) -> usize {
    let even = |t: usize| sizes.iter().all(|(_, n)| *n < t || n % t == 0);
    (tiles..=(2 * tiles).min(most))
        .find(|&t| even(t))
        .unwrap_or(tiles)
}

/// The error of a batch that does not fit even in tiles of one point.
fn too_large(need: DeviceBytes, room: &Room, tiles: usize) -> TrainError {
    TrainError::Memory(format!(
        "the OpenCL programs do not fit on `{}` even in {tiles} tiles (one point of the \
         largest set each): they need {} (largest buffer {}) where a model may take {} \
         (`--device-memory` of train and bench, or a share of 3/4 of the device's {}) and one \
         buffer {}",
        room.name,
        bytes_text(need.total),
        bytes_text(need.largest),
        bytes_text(room.budget),
        bytes_text(room.global),
        bytes_text(room.max_alloc),
    ))
}

/// `b` bytes in KiB, MiB or GiB, the units `--device-memory` reads.
fn bytes_text(b: u64) -> String {
    let b = b as f64;
    match b {
        _ if b < MIB => format!("{:.1} KiB", b / 1024.0),
        _ if b < 1024.0 * MIB => format!("{:.1} MiB", b / MIB),
        _ => format!("{:.2} GiB", b / (1024.0 * MIB)),
    }
}

/// Bytes in a MiB.
const MIB: f64 = 1048576.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::model::{sizes, Batch};
    use nabla_frontend::lang;

    /// A 2-D Poisson problem with 256 interior and 64 boundary points.
    fn problem() -> Problem {
        let src = "problem room\n\
                   input x in [0, 1]\n\
                   input y in [0, 1]\n\
                   net u(x, y) = mlp(widths = [16, 16], act = tanh, seed = 1)\n\
                   points inner = interior(256)\n\
                   points walls = boundary(64)\n\
                   residual pde on inner = -lap(u) - 1\n\
                   residual bc on walls = u\n";
        lang::load("room.nabla", src).unwrap().problem
    }

    fn opts() -> Options {
        Options::new(crate::Backend::OpenCl, nabla_ir::DType::F64, None)
    }

    /// A device of `budget` bytes for the run (no device is needed to size programs).
    fn room(budget: u64) -> Room {
        Room {
            name: "test".into(),
            global: 1 << 40,
            budget,
            max_alloc: 1 << 40,
            limits: DeviceLimits::REFERENCE,
        }
    }

    /// `f` of the sizing of `p` for one process in `room(budget)`.
    fn sized<R>(p: &Problem, budget: u64, f: impl FnOnce(&Sizing) -> R) -> R {
        let (batch, o) = (Batch::of(p), opts());
        f(&Sizing {
            problem: p,
            weights: &[1.0, 1.0],
            batch: &batch,
            opts: &o,
            room: room(budget),
            ranks: 1,
            rank: 0,
        })
    }

    /// All the programs of `tiles` tiles.
    fn need(p: &Problem, tiles: usize) -> DeviceBytes {
        let (one, n) = sized(p, 0, |s| s.need(tiles)).unwrap();
        all_of(one, n)
    }

    /// The fewest tiles in `room(budget)`.
    fn fewest(p: &Problem, budget: u64) -> Result<usize, TrainError> {
        sized(p, budget, |s| s.fewest(1))
    }

    #[test]
    fn a_tile_takes_memory_about_linear_in_its_rows() {
        let p = problem();
        // tiles of 256, 128, 64 and 32 interior rows (one shape each)
        let bytes: Vec<f64> = [1, 2, 4, 8].map(|t| need(&p, t).total as f64).to_vec();
        assert!(bytes.windows(2).all(|w| w[1] < w[0]), "{bytes:?}");
        // halving the rows saves about half the per-row part each time
        let (a, b, c) = (
            bytes[0] - bytes[1],
            bytes[1] - bytes[2],
            bytes[2] - bytes[3],
        );
        for (big, small) in [(a, b), (b, c)] {
            assert!((big / small - 2.0).abs() < 0.2, "{bytes:?}");
        }
    }

    #[test]
    fn the_fewest_tiles_that_fit_are_chosen() {
        let p = problem();
        let whole = need(&p, 1).total;
        // everything fits: one tile
        assert_eq!(fewest(&p, whole).unwrap(), 1);
        // a third of the whole batch's bytes: more than three tiles (the parameters and
        // constants are in every tile), each fitting, and fewer would not
        let budget = whole / 3;
        let t = fewest(&p, budget).unwrap();
        assert!(need(&p, t).total <= budget, "{t} tiles");
        assert!(
            need(&p, 2).total > budget,
            "two tiles (an even cut) would not fit"
        );
        assert!(
            sizes(&p).iter().all(|(_, n)| n % t == 0),
            "an even cut, not {t}"
        );
        assert_eq!(t, 4, "the first even cut from the fewest that fit");
    }

    #[test]
    fn a_budget_below_one_point_per_tile_is_an_error_with_the_sizes() {
        let msg = fewest(&problem(), 4096).unwrap_err().to_string();
        assert!(
            msg.contains(
                "do not fit on `test` even in 256 tiles (one point of the largest set each)"
            ),
            "{msg}"
        );
        assert!(msg.contains("where a model may take 4.0 KiB"), "{msg}");
    }

    #[test]
    fn the_count_is_estimated_from_two_sizes_on_a_line_in_one_over_tiles() {
        // F = 1000 bytes, V = 64000: 1 tile 65000, 4 tiles 17000; 9000 fit from 8 on
        let seen = [(1, 65_000), (4, 17_000)];
        assert_eq!(estimate(&seen, 9_000), 8);
        assert_eq!(estimate(&seen, 9_001), 8);
        assert_eq!(estimate(&seen, 8_999), 9);
        // F over the budget: no count fits
        assert_eq!(estimate(&seen, 900), usize::MAX);
        // one size: scaled by how far over it is, and 5%
        assert_eq!(estimate(&seen[..1], 32_500), 3);
    }

    #[test]
    fn even_cuts_are_preferred_up_to_twice_the_count() {
        let s = |v: &[usize]| -> Vec<(String, usize)> {
            v.iter().map(|&n| ("p".to_string(), n)).collect()
        };
        assert_eq!(even_cut(&s(&[1000, 200]), 7, 200), 8);
        assert_eq!(even_cut(&s(&[1000, 200]), 9, 200), 10);
        // no even cut up to twice: the fewest that fit
        assert_eq!(even_cut(&s(&[997]), 5, 997), 5);
        // an interval's two ends do not stand in the way of cutting the interior evenly
        assert_eq!(even_cut(&s(&[1000, 2]), 7, 1000), 8);
        assert_eq!(bytes_text(41_600), "40.6 KiB");
        assert_eq!(bytes_text(64 << 20), "64.0 MiB");
        assert_eq!(bytes_text(23_177_500_000), "21.59 GiB");
    }
}
