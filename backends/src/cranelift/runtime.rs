//! Running a compiled program: buffers, the step loop, threads, products and reductions.
//!
//! ## Memory
//!
//! Every leaf, constant and output buffer is its own `Vec<T>`; temporaries live in one
//! arena `Vec<T>` at the offsets of the memory plan. All are allocated once, at compile
//! time. Kernels reach buffers through per-kernel pointer tables, rewritten in place at
//! the start of each run (no allocation), so a run allocates nothing except, with more
//! than one thread, the scoped worker threads themselves.
//!
//! ## Threads and determinism
//!
//! With `n` threads, a step large enough to split (`par_min`) is cut into up to `4n`
//! chunks: contiguous ranges of a kernel's outermost loop or of a reduction's outputs;
//! a product into `n` ranges of its rows (one `gemm` call each — for a layer 96 or more
//! wide the AVX-512 panel kernels of [`super::wide`] ([`by_panels`]), or in f64 without
//! AVX-512 `faer` ([`Elem::blocked`]) — or for a narrow product one call of `nano-gemm`
//! ([`narrow`]) or of the register kernels ([`Elem::in_registers`]), chosen by the whole
//! product; each call has a cost of its own: [`PRODUCT_CHUNKS_PER_THREAD`]). The calling
//! thread and `n − 1` workers kept for the runtime's lifetime claim chunks dynamically
//! ([`super::pool`]), so a thread the OS deschedules delays a step by at most the chunk it
//! holds, and nobody waits at a barrier for a thread with nothing to do. Small steps are
//! one chunk, run by whichever thread claims it. The cut depends only on `n`, and each
//! output element is computed by exactly one chunk, so a run reproduces bit for bit.
//! Elementwise values and reductions (each output sums its axis in index order, in f64
//! like the interpreter) also do not depend on the thread count, and neither do products
//! through `nano-gemm`, the register kernels, the panel kernels or the AVX-512
//! activations. A product through `gemm` is not cut-independent: `gemm` chooses its
//! blocking from the rows of each call (gemm-common 0.19), and `[40, 12]·[12, 100]` and
//! `[100, 30]·[30, 1000]` round differently on one and two threads. Training and `nabla
//! bench` with two or more threads run their tiles side by side, each on a one-thread
//! copy of its program, so their products are not cut; a single program run on several
//! threads (the tiles of a small program run in turn, each on every thread) can differ
//! from one thread in the last bits.

use super::emit::KernelCode;
#[cfg(target_arch = "x86_64")]
use super::narrow::Operand;
#[cfg(target_arch = "x86_64")]
use super::native::BiasTanh;
use super::pool::{Job, Pool};
use nabla_passes::schedule::{BufId, BufKind, MatMul, Program, Reduce, Step};
use std::sync::Arc;

/// Chunks per thread of a step that is split: enough for a thread that falls behind to
/// leave most of its share to the others.
const CHUNKS_PER_THREAD: usize = 4;

/// Chunks per thread of a product that is split. Each chunk is one `gemm` call, which
/// packs the shared operand again and runs edge tiles of its own: cut four ways per
/// thread, the products made one thread 25–55% slower on B8 and B3, so a product is cut
/// once per thread (two threads, medians: quiet B8 49.1 → 42.2 ms, B1 16.8 → 15.6 ms;
/// with another process on one core B8 83.8 → 67.8 ms, B1 32.1 → 28.1 ms; BENCHMARKS.md).
const PRODUCT_CHUNKS_PER_THREAD: usize = 1;

/// A kernel entry point: `(pointer table, lo, hi)` of the outermost loop.
pub type KernelFn = unsafe extern "C" fn(*const *mut u8, i64, i64);

/// The AVX-512 arithmetic of an element type on x86-64 ([`super::narrow::Lanes`], which
/// the panel kernels of [`super::wide`] take); nothing elsewhere.
#[cfg(target_arch = "x86_64")]
pub trait Simd: super::narrow::Lanes {}
#[cfg(target_arch = "x86_64")]
impl<T: super::narrow::Lanes> Simd for T {}
/// As on x86-64: no AVX-512 code here.
#[cfg(not(target_arch = "x86_64"))]
pub trait Simd {}
#[cfg(not(target_arch = "x86_64"))]
impl<T> Simd for T {}

/// The element types the runtime computes in.
pub trait Elem: Simd + Copy + Default + Send + Sync + 'static {
    /// A product whose result width `n` and whose smaller other extent (`min(m, k)`) are
    /// both under this runs through `nano-gemm` instead of `gemm` ([`narrow`]).
    const NARROW: usize;
    /// Rounds an f64.
    fn from_f64(v: f64) -> Self;
    /// Widens to f64.
    fn to_f64(self) -> f64;
    /// `dst = lhs·rhs` (`dst += lhs·rhs` when `acc`; `m × n`, inner extent `k`) by
    /// `nano-gemm`, strides in elements (row stride first).
    ///
    /// # Safety
    /// Every element the strides address lies inside a live buffer; `dst` does not
    /// overlap the operands.
    unsafe fn nano(
        mnk: (usize, usize, usize),
        dst: (*mut Self, isize, isize),
        acc: bool,
        lhs: (*const Self, isize, isize),
        rhs: (*const Self, isize, isize),
    );
    /// `dst = lhs·rhs` (`dst += lhs·rhs` when `dst.1`; `part = (rows, n, k)`: this call's
    /// rows of the result, its columns and the inner extent; `dst` row-major with row
    /// stride `n`) for a product the register kernels and `nano-gemm` leave, the library
    /// chosen by the whole product `whole = (m, n, k)` so that every cut takes the same:
    /// `gemm`'s packed kernels ([`by_gemm`]) unless an element type measured better.
    ///
    /// # Safety
    /// As for [`Elem::nano`], strides in elements (row stride first).
    unsafe fn blocked(
        _whole: (usize, usize, usize),
        part: (usize, usize, usize),
        dst: (*mut Self, bool),
        lhs: (*const Self, isize, isize),
        rhs: (*const Self, isize, isize),
    ) {
        // SAFETY: the caller's contract.
        unsafe { by_gemm(part, dst, lhs, rhs) }
    }
    /// Rows `r0..r1` of a layer's `tanh(z + b)` kernel ([`super::native`]) in AVX-512,
    /// `base` the starts of its `z`, `b` and output buffers.
    ///
    /// # Safety
    /// The host has AVX-512F; the buffers hold the kernel's views.
    #[cfg(target_arch = "x86_64")]
    unsafe fn bias_tanh(t: &BiasTanh, base: [*mut Self; 3], rows: (usize, usize));
    /// `dst = lhs·rhs` (`dst += lhs·rhs` when `dst.1`; `rows × n`, `dst` row-major, row
    /// stride `n`) by the AVX-512
    /// kernels of [`super::narrow`] where they beat both libraries for the whole product
    /// `whole = (m, n, k)` (chosen by the whole product, not by the rows of a thread's
    /// chunk, so every thread count takes the same kernel and gets the same bits);
    /// `false`, touching nothing, where they do not apply (the default, off x86-64).
    ///
    /// # Safety
    /// As for [`Elem::nano`], strides in elements (row, column).
    unsafe fn in_registers(
        _whole: (usize, usize, usize),
        _rows: usize,
        _dst: (*mut Self, bool),
        _lhs: (*const Self, usize, usize),
        _rhs: (*const Self, usize, usize),
    ) -> bool {
        false
    }
}

impl Elem for f32 {
    /// Measured with both crates' AVX-512 kernels on `[256, w]·[w, w]`, `[w, 256]·[256,
    /// w]` and `[256, w]·[w, w]ᵀ` (one thread): `nano-gemm` takes 0.60–0.80 of `gemm`'s
    /// time for `w` from 20 to 28, 0.16–0.46 below 16, and 0.9–1.3 at 32 (1.25–1.7 at 48
    /// and 64), where `gemm`'s packed kernels pay.
    const NARROW: usize = 32;
    #[cfg(target_arch = "x86_64")]
    unsafe fn bias_tanh(t: &BiasTanh, base: [*mut f32; 3], rows: (usize, usize)) {
        // SAFETY: the caller's contract.
        unsafe { super::native::bias_tanh::<f32>(t, base, rows) }
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    unsafe fn nano(
        (m, n, k): (usize, usize, usize),
        (d, drs, dcs): (*mut f32, isize, isize),
        acc: bool,
        (a, ars, acs): (*const f32, isize, isize),
        (b, brs, bcs): (*const f32, isize, isize),
    ) {
        // dst = alpha·dst + beta·a·b; alpha = 0 means `dst` is written, never read
        let alpha = if acc { 1.0 } else { 0.0 };
        // SAFETY: the caller's contract.
        unsafe {
            nano_gemm::planless::execute_f32(
                m, n, k, d, drs, dcs, a, ars, acs, b, brs, bcs, alpha, 1.0, false, false,
            )
        }
    }

    /// Rows of 17 to 32 with a smaller other extent of at most 32: B8's `[250, 20]·[20,
    /// 20]` 0.148 ms for its 63 products per tile against 0.176 through `nano-gemm`, its
    /// `[20, 250]·[250, 20]` 0.08 against 0.094. At 32 wide the products of a B5 tile
    /// take 0.082–0.088 ms against 0.096–0.103 through `gemm`, whose packing and driver
    /// were a seventh of B5's run (`perf`), and B7's loss+grad 9.0–10.2 ms against
    /// 10.6–11.2 (`cargo bench --bench profile`, one thread, alternating; an earlier
    /// session's count, where `gemm` led by 10% at 32 wide, was of the products alone).
    #[cfg(target_arch = "x86_64")]
    unsafe fn in_registers(
        whole: (usize, usize, usize),
        rows: usize,
        dst: (*mut f32, bool),
        lhs: (*const f32, usize, usize),
        rhs: (*const f32, usize, usize),
    ) -> bool {
        // SAFETY: the caller's contract.
        unsafe { registers(whole, (16, 32), rows, dst, lhs, rhs) }
    }
}

/// The fewest rows and columns of an f64 product that [`Elem::blocked`] takes through
/// `faer` (weight gradients measured at 32, 48, 64, 96 and 128 wide: a gain from 96 on;
/// B1's 64-wide and B7's 32-wide layers stay with `gemm`).
const BY_FAER_MIN: usize = 96;

/// The most rows of an f64 product that [`Elem::blocked`] takes through `faer`: taller
/// ones, such as B3's stacked tangents (`[3200, 128]·[128, 128]`), are faster through
/// `gemm`, which packs the weight once for all of them (f64 GFLOP/s `gemm` → `faer` for
/// the layer forward at 512 / 1024 / 3200 rows: 115 → 113, 110 → 103, 110 → 98).
const BY_FAER_MAX_ROWS: usize = 256;

/// The fewest columns and rows, and the most rows and the deepest inner extent, of a
/// product that [`by_panels`] takes.
#[cfg(target_arch = "x86_64")]
const PANELS: (usize, usize, usize) = (96, 512, 512);

/// Whether a product `whole = (m, n, k)` runs through the AVX-512 panel kernels of
/// [`super::wide`] (in both element types, on a host with AVX-512F): a layer at least 96
/// wide in a tile of at most 512 rows — its forward `h·Wᵀ`, back `δ·W` and weight
/// gradient `hᵀ·δ` — with each weight packed once per write ([`Runtime::set`]), not
/// once per product.
///
/// Measured one thread, `cargo bench --bench products -- 128 256` (hot, weights packed
/// once), GFLOP/s against the library each type used before: f64 117–124 against
/// `faer`'s 108–115, f32 233–242 against `gemm`'s 197–234; in B4's tiles (`cargo bench
/// --bench profile`, three runs each) the products took 1.51–1.52 against 1.55–1.58 ms
/// (f64, 128 rows) and 1.39–1.40 against 1.48–1.49 ms (f32, 256 rows). Taller products (B3's stacked tangents, `[3200,
/// 128]·[128, 128]`) stay with `gemm`, which packs the weight once for all rows, and
/// deeper ones (B3's weight gradients, `[128, 3200]·[3200, 128]`, whose left operand no
/// longer fits the second-level cache between panels) with the libraries: through the
/// panels B3 took 8% more time in f64 and 4% in f32. Narrower layers (B1's 64) gained
/// and lost within the host's noise.
#[cfg(target_arch = "x86_64")]
fn by_panels((m, n, k): (usize, usize, usize)) -> bool {
    let (least, rows, depth) = PANELS;
    n >= least
        && (least..=rows).contains(&m)
        && (1..=depth).contains(&k)
        && super::wide::available()
}

/// Whether [`Elem::blocked`] takes an f64 product with `m` rows and `n` columns through
/// `faer` rather than `gemm`.
fn by_library(m: usize, n: usize) -> bool {
    n >= BY_FAER_MIN && (BY_FAER_MIN..=BY_FAER_MAX_ROWS).contains(&m)
}

/// `dst = lhs·rhs` (`+=` when `dst.1`) by `gemm`, one thread, `(m, n, k)` the rows,
/// columns and inner extent of this call ([`Elem::blocked`]'s `part`).
///
/// # Safety
/// As for [`Elem::blocked`].
unsafe fn by_gemm<T: Elem>(
    (m, n, k): (usize, usize, usize),
    (dst, acc): (*mut T, bool),
    (a, ars, acs): (*const T, isize, isize),
    (b, brs, bcs): (*const T, isize, isize),
) {
    // dst = alpha·dst + beta·a·b, dst read only when accumulating
    let alpha = T::from_f64(if acc { 1.0 } else { 0.0 });
    let (one, ni) = (T::from_f64(1.0), n as isize);
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            ni,
            acc,
            a,
            acs,
            ars,
            b,
            bcs,
            brs,
            alpha,
            one,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// [`by_gemm`] through `faer`'s product, one thread.
///
/// # Safety
/// As for [`Elem::blocked`].
unsafe fn by_faer(
    (m, n, k): (usize, usize, usize),
    (dst, acc): (*mut f64, bool),
    (a, ars, acs): (*const f64, isize, isize),
    (b, brs, bcs): (*const f64, isize, isize),
) {
    use faer::{Accum, MatMut, MatRef, Par};
    let beta = if acc { Accum::Add } else { Accum::Replace };
    // SAFETY: the caller's contract: every element the strides address lies inside a
    // live buffer, and `dst` does not overlap the operands.
    unsafe {
        let dst = MatMut::from_raw_parts_mut(dst, m, n, n as isize, 1);
        let lhs = MatRef::from_raw_parts(a, m, k, ars, acs);
        let rhs = MatRef::from_raw_parts(b, k, n, brs, bcs);
        faer::linalg::matmul::matmul(dst, beta, lhs, rhs, 1.0, Par::Seq);
    }
    clear_upper_halves();
}

/// Clears the upper halves of the vector registers after `faer`'s product, whose AVX-512
/// kernels return with them dirty: Cranelift encodes some of the compiled kernels'
/// 128-bit instructions without VEX (register moves such as `movdqa`, `movsd`), and on
/// Intel cores every such instruction then pays for the dirty upper state — B4's f64
/// `tanh` kernels ran 10× slower after each product.
#[inline(never)]
fn clear_upper_halves() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX; `vzeroupper` changes only the vector registers (their
        // upper halves), declared clobbered as every caller-saved register of the C ABI.
        unsafe {
            std::arch::asm!(
                "vzeroupper",
                clobber_abi("C"),
                options(nomem, nostack, preserves_flags)
            )
        }
    }
}

/// [`Elem::in_registers`] for rows wider than `above` and at most `most`, whose smaller
/// other extent is at most `most`.
///
/// # Safety
/// As for [`Elem::in_registers`].
#[cfg(target_arch = "x86_64")]
unsafe fn registers<T: super::narrow::Lanes>(
    (m, n, k): (usize, usize, usize),
    (above, most): (usize, usize),
    rows: usize,
    (dst, acc): (*mut T, bool),
    (a, ars, acs): (*const T, usize, usize),
    (b, brs, bcs): (*const T, usize, usize),
) -> bool {
    use super::narrow::product;
    if n <= above || n > most || m.min(k) > most {
        return false;
    }
    let a = Operand {
        ptr: a,
        rs: ars,
        cs: acs,
    };
    let b = Operand {
        ptr: b,
        rs: brs,
        cs: bcs,
    };
    // SAFETY: the caller's contract.
    unsafe { product((rows, n, k), (dst, acc), a, b) }
}

impl Elem for f64 {
    /// As for f32: in f64 `nano-gemm` takes 0.26–0.82 of `gemm`'s time for `w` up to 12,
    /// and about the same or more from 16 on (0.94–1.45 at 16–28). Rows of 3 to 24 go to
    /// [`Elem::in_registers`] first, so `nano-gemm` keeps the one- and two-column ones.
    const NARROW: usize = 16;
    #[cfg(target_arch = "x86_64")]
    unsafe fn bias_tanh(t: &BiasTanh, base: [*mut f64; 3], rows: (usize, usize)) {
        // SAFETY: the caller's contract.
        unsafe { super::native::bias_tanh::<f64>(t, base, rows) }
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    unsafe fn nano(
        (m, n, k): (usize, usize, usize),
        (d, drs, dcs): (*mut f64, isize, isize),
        acc: bool,
        (a, ars, acs): (*const f64, isize, isize),
        (b, brs, bcs): (*const f64, isize, isize),
    ) {
        // dst = alpha·dst + beta·a·b; alpha = 0 means `dst` is written, never read
        let alpha = if acc { 1.0 } else { 0.0 };
        // SAFETY: the caller's contract.
        unsafe {
            nano_gemm::planless::execute_f64(
                m, n, k, d, drs, dcs, a, ars, acs, b, brs, bcs, alpha, 1.0, false, false,
            )
        }
    }
    /// Products at least [`BY_FAER_MIN`] wide and at most [`BY_FAER_MAX_ROWS`] tall that
    /// [`by_panels`] leaves (on a host without AVX-512F) go through `faer`'s product (on
    /// x86-64 with AVX2 the kernels of
    /// `private-gemm-x86`, which reserve twice the L3's size of address space per
    /// thread, touching only what a product packs), others through `gemm`.
    ///
    /// Measured with AVX-512 on a weight's gradient `hᵀ·δ` (the left operand read down
    /// its columns, the points the inner extent), `[w, rows]·[rows, w]`, one thread, both
    /// in one run, f64 GFLOP/s `gemm` → `faer` at 128 / 256 rows: `w = 96` 76 → 88 / 83 →
    /// 97, `w = 128` 81 → 87 / 83 → 88, but `w = 64` 87 → 81 / 87 → 86 and `w = 32` 97 →
    /// 80 / 93 → 77; the layer forward `h·Wᵀ` and back `δ·W` were within ±5% either way.
    /// In f32 `gemm` is ahead on all three. In `nabla bench` on B4, every wide product
    /// through `faer` took 2–3% off the f64 loss+grad, the gradients alone 1%.
    ///
    /// `faer` takes the depth in blocks of 512 in order and its kernel by the result's
    /// columns, so the rows of a call do not change the bits — unless a cut leaves at
    /// most 4096 multiply-adds, which `faer` gives to `nano-gemm` (an inner extent of a
    /// few, a first layer's `[rows, 2]·[2, w]`, cut among many threads), or a single
    /// row, which it gives to its matrix–vector path (a cut of one row: 49 or more
    /// threads on a product of 96 rows) — as `gemm`'s blocking differs by cut.
    unsafe fn blocked(
        (m, n, _): (usize, usize, usize),
        part: (usize, usize, usize),
        dst: (*mut f64, bool),
        lhs: (*const f64, isize, isize),
        rhs: (*const f64, isize, isize),
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            match by_library(m, n) {
                true => by_faer(part, dst, lhs, rhs),
                false => by_gemm(part, dst, lhs, rhs),
            }
        }
    }
    /// Rows of 3 to 24 with a smaller other extent of at most 24: 0.61–0.81 of
    /// `gemm`'s time and of `nano-gemm`'s at widths 8–20 (B8's `[250, 20]·[20, 20]`
    /// 3.3–3.7 µs against 4.5–4.7 and 4.5), 0.97 of `gemm`'s at 24 (one thread, AVX-512).
    #[cfg(target_arch = "x86_64")]
    unsafe fn in_registers(
        whole: (usize, usize, usize),
        rows: usize,
        dst: (*mut f64, bool),
        lhs: (*const f64, usize, usize),
        rhs: (*const f64, usize, usize),
    ) -> bool {
        // SAFETY: the caller's contract.
        unsafe { registers(whole, (2, 24), rows, dst, lhs, rhs) }
    }
}

/// Whether a product `[m, k]·[k, n]` goes to `nano-gemm`'s register-tiled kernels, which
/// need no packing, rather than `gemm`: a result width and a smaller other extent both
/// under [`Elem::NARROW`] (a layer of a narrow network: `[rows, w]·[w, w]` forward and
/// back, `[w, rows]·[rows, w]` for the weight's gradient), a result of one or two
/// columns (the first layer's weight gradient `[w, rows]·[rows, 2]`, 0.5–0.7 of `gemm`'s
/// time), or of one row. A matrix–vector product (`n = 1`) only with a column-major
/// left operand (`lhs_rs = 1`, 0.4–0.9): with a row-major one `gemm`'s own path takes
/// a fifth of `nano-gemm`'s time. Measured one thread, both crates' AVX-512 kernels.
pub fn narrow<T: Elem>(m: usize, n: usize, k: usize, lhs_rs: usize) -> bool {
    if k == 0 {
        return false;
    }
    if n == 1 {
        return lhs_rs == 1;
    }
    m == 1 || n == 2 || (n < T::NARROW && m.min(k) < T::NARROW)
}

/// One executable step.
enum RStep {
    Kernel {
        f: KernelFn,
        /// The pointer table's entries: a buffer, or (`None`) the arena.
        bufs: Vec<Option<BufId>>,
        table: Vec<*mut u8>,
        outer: usize,
        numel: usize,
    },
    MatMul(MatMul),
    Reduce(Reduce),
    /// A kernel run as the runtime's own AVX-512 code instead of its compiled form.
    #[cfg(target_arch = "x86_64")]
    BiasTanh(BiasTanh),
}

/// The buffers and steps of one program in element type `T`.
pub struct Runtime<T: Elem> {
    own: Vec<Vec<T>>,
    arena: Vec<T>,
    offsets: Vec<Option<usize>>,
    base: Vec<*mut T>,
    steps: Vec<RStep>,
    threads: usize,
    /// Chunks of every step (steps with less work than `par_min` are one).
    chunks: Vec<usize>,
    /// The claims of a run over the pool, and the pool (this process's for as many
    /// threads, taken by the first run that splits a step).
    job: Option<Box<Job>>,
    pool: Option<Arc<Pool>>,
    /// The right operands of products through [`super::wide`] whose buffers only
    /// [`Runtime::set`] writes (weights), each packed once per write, and per step the
    /// one it reads: the products of a weight's every jet component share its panels.
    #[cfg(target_arch = "x86_64")]
    packs: (Vec<Pack<T>>, Vec<Option<usize>>),
}

/// A product's right operand packed for [`super::wide`]: the view it packs (`k × n`),
/// the packed panels, and whether they still hold the buffer's values.
#[cfg(target_arch = "x86_64")]
struct Pack<T> {
    view: nabla_passes::schedule::Matrix,
    kn: (usize, usize),
    panels: Vec<T>,
    fresh: bool,
}

// SAFETY: the raw pointers point into buffers the runtime owns; moving it to another
// thread moves the owner with them.
unsafe impl<T: Elem> Send for Runtime<T> {}

impl<T: Elem> Runtime<T> {
    /// Allocates every buffer of `p` and wires the compiled kernels (`code[i]` with entry
    /// point `fns[i]`, in kernel order) to them; `threads` is (threads, minimum work to
    /// split a step). With `native`, a layer's `tanh(z + b)` kernel runs as the runtime's
    /// AVX-512 code ([`super::native`]) where the host has AVX-512F.
    pub fn new(
        p: &Program,
        code: &[KernelCode],
        fns: &[KernelFn],
        (threads, par_min): (usize, usize),
        native: bool,
    ) -> Self {
        #[cfg(not(target_arch = "x86_64"))]
        let _ = native; // the AVX-512 steps exist on x86-64 only
        let own = p
            .buffers
            .iter()
            .map(|b| match &b.kind {
                BufKind::Const(c) => c.iter().map(|&v| T::from_f64(v)).collect(),
                BufKind::Temp { .. } => Vec::new(),
                BufKind::Input(_) | BufKind::Param(_) | BufKind::Output(_) => {
                    vec![T::default(); b.len()]
                }
            })
            .collect();
        let offsets = p.arena_offsets();
        let mut kernels = code.iter().zip(fns);
        let steps: Vec<RStep> = p
            .steps
            .iter()
            .map(|s| match s {
                Step::Kernel(k) => {
                    let (c, &f) = kernels.next().expect("one compiled kernel per kernel step");
                    #[cfg(target_arch = "x86_64")]
                    if let Some(t) = native.then(|| native_kernel(k)).flatten() {
                        return RStep::BiasTanh(t);
                    }
                    RStep::Kernel {
                        f,
                        bufs: c.table.clone(),
                        table: vec![std::ptr::null_mut(); c.table.len()],
                        outer: c.layout.outer(),
                        numel: k.shape.numel(),
                    }
                }
                Step::MatMul(m) => RStep::MatMul(m.clone()),
                Step::Reduce(r) => RStep::Reduce(r.clone()),
            })
            .collect();
        let threads = threads.max(1);
        let chunks: Vec<usize> = (steps.iter())
            .map(|s| {
                let (items, work) = size(s);
                let per = match s {
                    RStep::MatMul(_) => PRODUCT_CHUNKS_PER_THREAD,
                    _ => CHUNKS_PER_THREAD,
                };
                if threads == 1 || work < par_min || items < 2 {
                    1
                } else {
                    items.min(per * threads)
                }
            })
            .collect();
        Runtime {
            #[cfg(target_arch = "x86_64")]
            packs: packs::<T>(p),
            own,
            arena: vec![T::default(); p.arena_len],
            offsets,
            base: vec![std::ptr::null_mut(); p.buffers.len()],
            steps,
            threads,
            job: Some(Box::new(Job::new(chunks.clone()))),
            chunks,
            pool: None,
        }
    }

    /// Steps that run as the runtime's own AVX-512 code.
    pub fn native_steps(&self) -> usize {
        #[cfg(target_arch = "x86_64")]
        return (self.steps.iter())
            .filter(|s| matches!(s, RStep::BiasTanh(_)))
            .count();
        #[cfg(not(target_arch = "x86_64"))]
        0
    }

    /// Writes `values` (already length-checked) into buffer `b`.
    pub fn set(&mut self, b: BufId, values: &[f64]) {
        for (d, &v) in self.own[b.index()].iter_mut().zip(values) {
            *d = T::from_f64(v);
        }
        #[cfg(target_arch = "x86_64")]
        for pack in &mut self.packs.0 {
            pack.fresh &= pack.view.buf != b;
        }
    }

    /// Packs again the right operands of [`super::wide`] products written since they
    /// were last packed.
    #[cfg(target_arch = "x86_64")]
    fn repack(&mut self) {
        for pack in self.packs.0.iter_mut().filter(|p| !p.fresh) {
            let v = &pack.view;
            let b = Operand {
                // SAFETY: the operand lies inside its buffer (the schedule's shapes).
                ptr: unsafe { self.own[v.buf.index()].as_ptr().add(v.offset) },
                rs: v.rs,
                cs: v.cs,
            };
            // SAFETY: as above, for every `(l, j)`, `l < k`, `j < n`.
            pack.panels = unsafe { super::wide::pack(b, pack.kn) };
            pack.fresh = true;
        }
    }

    /// Reads buffer `b` (a leaf, constant or output) as f64.
    pub fn get(&self, b: BufId) -> Vec<f64> {
        self.own[b.index()].iter().map(|v| v.to_f64()).collect()
    }

    /// The number of values of buffer `b` ([`Runtime::get`]'s length).
    pub fn len(&self, b: BufId) -> usize {
        self.own[b.index()].len()
    }

    /// [`Runtime::get`] into `dst`, which holds as many values as the buffer (extra
    /// values on either side are left alone).
    pub fn get_into(&self, b: BufId, dst: &mut [f64]) {
        for (d, v) in dst.iter_mut().zip(&self.own[b.index()]) {
            *d = v.to_f64();
        }
    }

    /// Points every base address and kernel table at the current buffers, and packs the
    /// weights written since the last run.
    fn refresh(&mut self) {
        #[cfg(target_arch = "x86_64")]
        self.repack();
        let arena = self.arena.as_mut_ptr();
        for (i, base) in self.base.iter_mut().enumerate() {
            *base = match self.offsets[i] {
                // SAFETY: the memory plan keeps `offset + len <= arena_len`.
                Some(off) => unsafe { arena.add(off) },
                None => self.own[i].as_mut_ptr(),
            };
        }
        for s in &mut self.steps {
            if let RStep::Kernel { bufs, table, .. } = s {
                for (t, b) in table.iter_mut().zip(bufs.iter()) {
                    *t = match b {
                        Some(b) => self.base[b.index()] as *mut u8,
                        None => arena as *mut u8,
                    };
                }
            }
        }
    }

    /// Runs every step once on this thread and returns each step's wall time.
    pub fn profile(&mut self) -> Vec<std::time::Duration> {
        self.refresh();
        let sh = Shared(self);
        (0..self.steps.len())
            .map(|i| {
                let t = std::time::Instant::now();
                sh.step(i);
                t.elapsed()
            })
            .collect()
    }

    /// Whether any step is large enough to split among threads.
    fn splits(&self) -> bool {
        self.chunks.iter().any(|&c| c > 1)
    }

    /// Runs every step once: on this thread alone, or with the pool's workers when some
    /// step is split.
    pub fn run(&mut self) {
        self.refresh();
        if self.threads == 1 || !self.splits() {
            let sh = Shared(self);
            return (0..self.steps.len()).for_each(|i| sh.step(i));
        }
        let pool = (self.pool.take()).unwrap_or_else(|| Pool::shared(self.threads));
        let mut job = self.job.take().expect("the job is back after every run");
        let sh = Shared(self);
        // SAFETY: `run_chunk::<T>` on `&sh` runs one chunk of one step: chunks of a step
        // write disjoint elements and read buffers no chunk of that step writes; the pool
        // runs steps in order and returns only when every chunk is done.
        unsafe {
            pool.run(
                &mut job,
                run_chunk::<T>,
                &sh as *const Shared<'_, T> as *const (),
            );
        }
        self.job = Some(job);
        self.pool = Some(pool);
    }
}

/// The work of one step: items to split (rows, outputs) and elements or multiply-adds.
fn size(s: &RStep) -> (usize, usize) {
    match s {
        RStep::Kernel { outer, numel, .. } => (*outer, *numel),
        RStep::MatMul(m) => (m.m, m.m * m.n * m.k),
        RStep::Reduce(r) => (r.shape.numel() / r.shape.dims()[r.axis], r.shape.numel()),
        #[cfg(target_arch = "x86_64")]
        RStep::BiasTanh(t) => (t.rows, t.rows * t.cols),
    }
}

/// The AVX-512 form of kernel `k`, where the host has AVX-512F and `k` is a layer's
/// `tanh(z + b)`.
#[cfg(target_arch = "x86_64")]
fn native_kernel(k: &nabla_passes::schedule::Kernel) -> Option<BiasTanh> {
    std::arch::is_x86_feature_detected!("avx512f")
        .then(|| super::native::recognise(k))
        .flatten()
}

/// The [`Pack`]s of `p` (not yet packed), one per right operand of a product through
/// [`super::wide`] that is a view of a buffer only [`Runtime::set`] writes (a parameter,
/// input or constant), and per step the index of the one it reads.
#[cfg(target_arch = "x86_64")]
fn packs<T: Elem>(p: &Program) -> (Vec<Pack<T>>, Vec<Option<usize>>) {
    let mut packs: Vec<Pack<T>> = Vec::new();
    let of = (p.steps.iter())
        .map(|s| {
            let Step::MatMul(m) = s else { return None };
            let kind = &p.buffers[m.b.buf.index()].kind;
            let set = matches!(
                kind,
                BufKind::Param(_) | BufKind::Input(_) | BufKind::Const(_)
            );
            if !set || !by_panels((m.m, m.n, m.k)) {
                return None;
            }
            let kn = (m.k, m.n);
            let same = |q: &Pack<T>| q.view == m.b && q.kn == kn;
            Some(packs.iter().position(same).unwrap_or_else(|| {
                packs.push(Pack {
                    view: m.b.clone(),
                    kn,
                    panels: Vec::new(),
                    fresh: false,
                });
                packs.len() - 1
            }))
        })
        .collect();
    (packs, of)
}

/// Chunk `c` of step `i` of the runtime behind `data` (a `Shared<T>`).
///
/// # Safety
/// `data` points at a live `Shared<T>` of a refreshed runtime; see [`Runtime::run`].
unsafe fn run_chunk<T: Elem>(data: *const (), i: usize, c: usize) {
    // SAFETY: the caller's contract.
    let sh = unsafe { &*(data as *const Shared<'_, T>) };
    sh.chunk(i, c);
}

/// The runtime as seen by the worker threads during one run.
struct Shared<'a, T: Elem>(&'a Runtime<T>);

// SAFETY: during a run, threads write disjoint elements (their share of each step's
// outputs) and read only buffers that no thread writes in the same step; the barrier
// orders steps.
unsafe impl<T: Elem> Sync for Shared<'_, T> {}

impl<T: Elem> Shared<'_, T> {
    /// Every chunk of step `i`, in order, on this thread.
    fn step(&self, i: usize) {
        (0..self.0.chunks[i]).for_each(|c| self.chunk(i, c));
    }

    /// Chunk `c` of step `i`.
    fn chunk(&self, i: usize, c: usize) {
        let step = &self.0.steps[i];
        let (items, _) = size(step);
        let k = self.0.chunks[i];
        let (lo, hi) = (items * c / k, items * (c + 1) / k);
        if lo >= hi {
            return;
        }
        match step {
            RStep::Kernel { f, table, .. } => {
                // SAFETY: the table points at live buffers sized by the plan; the
                // kernel touches rows lo..hi only.
                unsafe { f(table.as_ptr(), lo as i64, hi as i64) }
            }
            RStep::MatMul(m) => self.matmul(i, m, lo, hi),
            RStep::Reduce(r) => self.reduce(r, lo, hi),
            #[cfg(target_arch = "x86_64")]
            RStep::BiasTanh(t) => {
                let base = t.bufs.map(|b| self.0.base[b.index()]);
                // SAFETY: the step was made only on a host with AVX-512F; the buffers
                // hold the kernel's views; rows lo..hi are this chunk's alone.
                unsafe { T::bias_tanh(t, base, (lo, hi)) }
            }
        }
    }

    /// Rows `r0..r1` of a product, step `i`.
    fn matmul(&self, i: usize, m: &MatMul, r0: usize, r1: usize) {
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i; // packed operands exist on x86-64 only
        let base = &self.0.base;
        // SAFETY: operands and result lie inside their buffers (checked by the schedule's
        // shapes); rows r0..r1 of the result are this thread's alone.
        unsafe {
            let a = base[m.a.buf.index()].add(m.a.offset + r0 * m.a.rs);
            let b = base[m.b.buf.index()].add(m.b.offset);
            let d = base[m.dst.index()].add(r0 * m.n);
            let (ra, rb) = (
                (a as *const T, m.a.rs, m.a.cs),
                (b as *const T, m.b.rs, m.b.cs),
            );
            #[cfg(target_arch = "x86_64")]
            if by_panels((m.m, m.n, m.k)) {
                use super::wide::{product, Rhs};
                let op = |ptr: *mut T, rs: usize, cs: usize| Operand {
                    ptr: ptr as *const T,
                    rs,
                    cs,
                };
                // a weight as packed at the start of the run, anything else in place
                let b = match self.0.packs.1[i] {
                    Some(k) => Rhs::Packed(self.0.packs.0[k].panels.as_ptr()),
                    None => Rhs::Operand(op(b, m.b.rs, m.b.cs)),
                };
                let part = (r1 - r0, m.n, m.k);
                return product(part, (d, m.accumulate), op(a, m.a.rs, m.a.cs), b);
            }
            // the kernel is chosen by the whole product, so every cut takes the same one
            if T::in_registers((m.m, m.n, m.k), r1 - r0, (d, m.accumulate), ra, rb) {
                return;
            }
            if narrow::<T>(m.m, m.n, m.k, m.a.rs) {
                let a = (a as *const T, m.a.rs as isize, m.a.cs as isize);
                let b = (b as *const T, m.b.rs as isize, m.b.cs as isize);
                let d = (d, m.n as isize, 1);
                return T::nano((r1 - r0, m.n, m.k), d, m.accumulate, a, b);
            }
            let a = (a as *const T, m.a.rs as isize, m.a.cs as isize);
            let b = (b as *const T, m.b.rs as isize, m.b.cs as isize);
            T::blocked(
                (m.m, m.n, m.k),
                (r1 - r0, m.n, m.k),
                (d, m.accumulate),
                a,
                b,
            );
        }
    }

    /// Outputs `o0..o1` of a reduction.
    fn reduce(&self, r: &Reduce, o0: usize, o1: usize) {
        let dims = r.shape.dims();
        let len = dims[r.axis];
        let src = self.0.base[r.src.index()];
        let dst = self.0.base[r.dst.index()];
        let step = r.map.strides[r.axis];
        if let Some(inner) = contiguous_after(dims, &r.map.strides, r.axis) {
            return reduce_blocks(src, dst, r, step, inner, (o0, o1));
        }
        for o in o0..o1 {
            let start = r.map.offset + reduced_offset(dims, &r.map.strides, r.axis, o);
            let mut acc = 0.0f64;
            for j in 0..len {
                // SAFETY: every index of the operand's shape maps inside `src`.
                acc += unsafe { *src.add(start + j * step) }.to_f64();
            }
            let v = if r.mean { acc / len as f64 } else { acc };
            // SAFETY: `o < outs`, the length of `dst`; element `o` is this thread's.
            unsafe { *dst.add(o) = T::from_f64(v) };
        }
    }
}

/// The number of elements after `axis` when those axes are contiguous row-major (size-1
/// axes ignored), so that consecutive outputs read consecutive elements.
fn contiguous_after(dims: &[usize], strides: &[usize], axis: usize) -> Option<usize> {
    let mut expect = 1;
    for k in (axis + 1..dims.len()).rev() {
        if dims[k] != 1 && strides[k] != expect {
            return None;
        }
        expect *= dims[k];
    }
    Some(expect)
}

/// A reduction over `axis` whose trailing axes (`inner` elements) are contiguous, for
/// outputs `o0..o1`: runs of consecutive outputs within one inner block are accumulated
/// row by row (cache-friendly, vectorisable) — a sum over the directions of `[D, N, K]`
/// (axis 0) or over the points of one (axis 1). Each output still sums its elements in
/// order along `axis`, so results equal the element-by-element loop bit for bit.
fn reduce_blocks<T: Elem>(
    src: *mut T,
    dst: *mut T,
    r: &Reduce,
    step: usize,
    inner: usize,
    (o0, o1): (usize, usize),
) {
    const BLOCK: usize = 256;
    let dims = r.shape.dims();
    let len = dims[r.axis];
    let mut acc = [0.0f64; BLOCK];
    let mut o = o0;
    while o < o1 {
        let w = BLOCK.min(o1 - o).min(inner - o % inner);
        let base = r.map.offset + reduced_offset(dims, &r.map.strides, r.axis, o);
        acc[..w].fill(0.0);
        for j in 0..len {
            // SAFETY: the w outputs from o share their outer index, so their elements at
            // index j of `axis` are the w consecutive ones from base + j·step, inside the
            // operand's view of `src`.
            let row = unsafe { std::slice::from_raw_parts(src.add(base + j * step), w) };
            for (a, v) in acc[..w].iter_mut().zip(row) {
                *a += v.to_f64();
            }
        }
        for (i, a) in acc[..w].iter().enumerate() {
            let v = if r.mean { a / len as f64 } else { *a };
            // SAFETY: outputs o..o+w are this thread's and inside `dst`.
            unsafe { *dst.add(o + i) = T::from_f64(v) };
        }
        o += w;
    }
}

/// The operand offset of output element `o` of a reduction over `axis` (index 0 there).
fn reduced_offset(dims: &[usize], strides: &[usize], axis: usize, mut o: usize) -> usize {
    let mut off = 0;
    for k in (0..dims.len()).rev() {
        if k == axis {
            continue;
        }
        off += (o % dims[k]) * strides[k];
        o /= dims[k];
    }
    off
}

#[cfg(test)]
mod tests {
    use super::{narrow, Elem, BY_FAER_MIN};
    use crate::cranelift::narrow::tests::reference;

    /// `x·y` of `[m, k]·[k, n]` (`x` read down its columns when `ta`: stored `[k, m]`;
    /// `y` when `tb`: stored `[n, k]`) in f64 by [`Elem::blocked`], in cuts of `rows`
    /// rows, into `dst` (`+=` when `acc`).
    fn blocked(
        (m, n, k): (usize, usize, usize),
        (x, y): (&[f64], &[f64]),
        (ta, tb): (bool, bool),
        (dst, acc): (&mut [f64], bool),
        rows: usize,
    ) {
        let (ars, acs) = if ta { (1, m) } else { (k, 1) };
        let (brs, bcs) = if tb { (1, k) } else { (n, 1) };
        for r0 in (0..m).step_by(rows) {
            let part = (rows.min(m - r0), n, k);
            let a = x[r0 * ars..].as_ptr();
            let d = dst[r0 * n..].as_mut_ptr();
            // SAFETY: the strides address `x`, `y` and `dst` inside their lengths, and
            // `dst` is its own buffer.
            unsafe {
                f64::blocked(
                    (m, n, k),
                    part,
                    (d, acc),
                    (a, ars as isize, acs as isize),
                    (y.as_ptr(), brs as isize, bcs as isize),
                )
            };
        }
    }

    /// The f64 products `faer` takes (from [`BY_FAER_MIN`] wide: a layer forward `h·Wᵀ`,
    /// back through the weight `δ·W` and the weight's gradient `hᵀ·δ`) agree with the
    /// sum term by term to 1e-12 relative, never read a result they overwrite (it starts
    /// as NaN), add to one they accumulate into, and give the same bits whatever the
    /// cut of their rows.
    #[test]
    fn wide_f64_products_agree_overwrite_accumulate_and_ignore_the_cut() {
        let w = BY_FAER_MIN + 5;
        let value = |i: usize| ((i * 37 % 101) as f64 - 50.0) / 50.0;
        let forms = [
            ((130, w, w), (false, true)),
            ((130, w, w), (false, false)),
            ((w, w, 130), (true, false)),
        ];
        for (mnk, t) in forms {
            let (m, n, k) = mnk;
            let x: Vec<f64> = (0..m * k).map(value).collect();
            let y: Vec<f64> = (0..k * n).map(|i| value(i + 7)).collect();
            let want = reference(m, n, k, &x, t.0, &y, t.1);
            let mut whole = vec![f64::NAN; m * n];
            blocked(mnk, (&x, &y), t, (&mut whole, false), m);
            for (got, want) in whole.iter().zip(&want) {
                let close = (got - want).abs() <= 1e-12 * want.abs().max(1.0);
                assert!(close, "{t:?}: {got} {want}");
            }
            let mut cut = vec![f64::NAN; m * n];
            blocked(mnk, (&x, &y), t, (&mut cut, false), m / 2 + 1);
            assert_eq!(cut, whole, "{t:?}: the cut changed the bits");
            let mut twice = whole.clone();
            blocked(mnk, (&x, &y), t, (&mut twice, true), m);
            for (d, w) in twice.iter().zip(&whole) {
                let close = (d - 2.0 * w).abs() <= 1e-12 * w.abs().max(1.0);
                assert!(close, "{t:?}: {d} {w}");
            }
        }
    }

    /// The layers of B8 (`[20; 8]`) take `nano-gemm` in f32 and `gemm` in f64; B5's
    /// (`[32; 3]`) and wider ones take `gemm`, except for their first layer's weight
    /// gradient (two columns); a matrix–vector product only with a column-major left
    /// operand; a product with no inner extent never reaches `nano-gemm`.
    #[test]
    fn narrow_products_are_those_measured_faster_with_nano_gemm() {
        assert!(narrow::<f32>(250, 20, 20, 20) && narrow::<f32>(20, 20, 250, 1));
        assert!(!narrow::<f32>(256, 32, 32, 32) && !narrow::<f32>(32, 32, 256, 1));
        assert!(!narrow::<f32>(256, 128, 2, 2) && !narrow::<f32>(20, 20, 0, 1));
        assert!(narrow::<f64>(250, 12, 12, 12) && !narrow::<f64>(250, 20, 20, 20));
        assert!(narrow::<f64>(32, 2, 256, 1) && narrow::<f32>(1, 128, 256, 1));
        assert!(narrow::<f32>(64, 1, 256, 1) && !narrow::<f32>(256, 1, 128, 128));
    }
}
