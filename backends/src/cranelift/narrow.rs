//! Products of narrow layers with AVX-512: `C = A·B` for a row-major `C` of at most two
//! (f32) or three (f64) 512-bit vectors per row.
//!
//! A network 20 wide multiplies `[rows, 20]` by `[20, 20]` forward and back and forms its
//! weight gradients as `[20, rows]·[rows, 20]`. `gemm` packs both operands and runs
//! kernels tiled for wide matrices (4.2 µs for `[250, 20]·[20, 20]` in f32, 5.0 µs in
//! f64); `nano-gemm` packs nothing (2.8 µs in f32, 4.8 µs in f64). Here one row of `C` is
//! `⌈n/16⌉` (f32) or `⌈n/8⌉` (f64) vectors kept in registers for a block of eight rows:
//! for each `l < k`, row `l` of `B` is loaded once (the last vector masked), each row's
//! `A[i, l]` is broadcast, and one fused multiply-add per vector accumulates. `B` is read
//! in place when its rows are contiguous, else copied once per call into a row-major
//! block on the stack (`k ≤ 64`).
//!
//! Each element of `C` is the sum over `l` in order, one rounding per multiply-add, the
//! same whichever rows a thread takes, so a run reproduces bit for bit across thread
//! counts. [`product`] checks the CPU (AVX-512F) and the shape and returns `false` when it
//! cannot take the product, which then goes to `nano-gemm` or `gemm`.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Rows of `C` computed together (accumulators: rows × vectors per row ≤ 24 of the 32
/// registers, leaving room for `B`'s row and the broadcast); the rest by half as many,
/// then one by one. Eight rows took `[256, 32]·[32, 32]ᵀ` (f32) from 4.2–6.3 µs with
/// four to 3.8, `gemm` 4.6 (one thread).
const ROWS: usize = 8;

/// The largest inner extent for which a strided `B` is copied onto the stack.
const PACK_K: usize = 64;

/// An element type with AVX-512 arithmetic.
pub trait Lanes: Copy + Default {
    /// Elements per 512-bit vector.
    const LANES: usize;
    /// The vector type.
    type V: Copy;
    /// All lanes zero.
    unsafe fn zero() -> Self::V;
    /// All lanes `x`.
    unsafe fn splat(x: Self) -> Self::V;
    /// `a·b + c` in every lane, one rounding.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The first `len` lanes from `p` (the others zero; nothing past them is read).
    unsafe fn load(p: *const Self, len: usize) -> Self::V;
    /// The first `len` lanes to `p` (nothing past them is written).
    unsafe fn store(p: *mut Self, v: Self::V, len: usize);
    /// Every lane from `p`.
    unsafe fn full(p: *const Self) -> Self::V;
}

/// The mask of the first `len` lanes (`len ≤ 16`).
fn mask(len: usize) -> u32 {
    (1u32 << len) - 1
}

impl Lanes for f32 {
    const LANES: usize = 16;
    type V = __m512;
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32, len: usize) -> __m512 {
        // SAFETY: the caller's contract: `len` readable elements at `p`.
        unsafe { _mm512_maskz_loadu_ps(mask(len) as __mmask16, p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512, len: usize) {
        // SAFETY: the caller's contract: `len` writable elements at `p`.
        unsafe { _mm512_mask_storeu_ps(p, mask(len) as __mmask16, v) }
    }
    #[inline(always)]
    unsafe fn full(p: *const f32) -> __m512 {
        // SAFETY: the caller's contract: 16 readable elements at `p`.
        unsafe { _mm512_loadu_ps(p) }
    }
}

impl Lanes for f64 {
    const LANES: usize = 8;
    type V = __m512d;
    #[inline(always)]
    unsafe fn zero() -> __m512d {
        _mm512_setzero_pd()
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> __m512d {
        _mm512_set1_pd(x)
    }
    #[inline(always)]
    unsafe fn fma(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        _mm512_fmadd_pd(a, b, c)
    }
    #[inline(always)]
    unsafe fn load(p: *const f64, len: usize) -> __m512d {
        // SAFETY: the caller's contract: `len` readable elements at `p`.
        unsafe { _mm512_maskz_loadu_pd(mask(len) as __mmask8, p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: __m512d, len: usize) {
        // SAFETY: the caller's contract: `len` writable elements at `p`.
        unsafe { _mm512_mask_storeu_pd(p, mask(len) as __mmask8, v) }
    }
    #[inline(always)]
    unsafe fn full(p: *const f64) -> __m512d {
        // SAFETY: the caller's contract: 8 readable elements at `p`.
        unsafe { _mm512_loadu_pd(p) }
    }
}

/// A matrix operand: base pointer and element strides (row, column).
#[derive(Clone, Copy)]
pub struct Operand<T> {
    /// Element `(0, 0)`.
    pub ptr: *const T,
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

/// `dst = a·b`, or `dst += a·b` when `acc` (`m × n`, inner extent `k`, `dst` row-major
/// with row stride `n`), if the
/// CPU has AVX-512F and a row of `dst` is at most three vectors (`n ≤ 3·LANES`; a
/// strided `b` also needs `k ≤ 64`); `false`, touching nothing, otherwise.
///
/// # Safety
/// Every element the strides address for `i < m`, `l < k`, `j < n` lies inside a live
/// buffer; `dst` holds `m·n` elements and overlaps neither operand.
pub unsafe fn product<T: Lanes>(
    (m, n, k): (usize, usize, usize),
    (dst, acc): (*mut T, bool),
    a: Operand<T>,
    b: Operand<T>,
) -> bool {
    let vectors = n.div_ceil(T::LANES);
    if k == 0 || vectors == 0 || vectors > 3 || (b.cs != 1 && k > PACK_K) {
        return false;
    }
    if !std::is_x86_feature_detected!("avx512f") {
        return false;
    }
    let dispatch = |b: Operand<T>| {
        // SAFETY: AVX-512F is present; the shapes are the caller's contract.
        unsafe {
            match vectors {
                1 => rows::<T, 1>((m, n, k), (dst, acc), a, b),
                2 => rows::<T, 2>((m, n, k), (dst, acc), a, b),
                _ => rows::<T, 3>((m, n, k), (dst, acc), a, b),
            }
        }
    };
    if b.cs == 1 {
        dispatch(b);
    } else {
        // `B` row-major, rows `width` apart; lanes `n..width` are never read (masked).
        let width = vectors * T::LANES;
        let mut packed = [MaybeUninit::<T>::uninit(); PACK_K * 48];
        for l in 0..k {
            for j in 0..n {
                // SAFETY: `(l, j)` is inside `b` (the caller's contract).
                packed[l * width + j].write(unsafe { *b.ptr.add(l * b.rs + j * b.cs) });
            }
        }
        dispatch(Operand {
            ptr: packed.as_ptr() as *const T,
            rs: width,
            cs: 1,
        });
    }
    true
}

/// Every row of `dst`, [`ROWS`] at a time, then the rest one by one. `V` vectors per
/// row; `b` has contiguous rows.
#[target_feature(enable = "avx512f")]
unsafe fn rows<T: Lanes, const V: usize>(
    (m, n, k): (usize, usize, usize),
    dst: (*mut T, bool),
    a: Operand<T>,
    b: Operand<T>,
) {
    let mut i = 0;
    while i + ROWS <= m {
        // SAFETY: rows `i..i + ROWS` are inside `a` and `dst`.
        unsafe { block::<T, V, ROWS>(i, (n, k), dst, a, b) };
        i += ROWS;
    }
    if i + ROWS / 2 <= m {
        // SAFETY: rows `i..i + ROWS / 2` are inside `a` and `dst`.
        unsafe { block::<T, V, { ROWS / 2 }>(i, (n, k), dst, a, b) };
        i += ROWS / 2;
    }
    while i < m {
        // SAFETY: row `i` is inside `a` and `dst`.
        unsafe { block::<T, V, 1>(i, (n, k), dst, a, b) };
        i += 1;
    }
}

/// Rows `i..i + R` of `dst`: `R × V` accumulators (zero, or `dst`'s rows when adding to
/// it), one pass over `l < k`.
#[inline(always)]
unsafe fn block<T: Lanes, const V: usize, const R: usize>(
    i: usize,
    (n, k): (usize, usize),
    (dst, add): (*mut T, bool),
    a: Operand<T>,
    b: Operand<T>,
) {
    let last = n - (V - 1) * T::LANES;
    let width = |j: usize| if j + 1 == V { last } else { T::LANES };
    // SAFETY: the callers' contract: rows `i..i + R` of `a` and `dst`, rows `l < k` of
    // `b`, each `n` wide; loads and stores stop at `n` (masked last vector).
    unsafe {
        let mut acc = [[T::zero(); V]; R];
        if add {
            for (r, row) in acc.iter_mut().enumerate() {
                let out = dst.add((i + r) * n);
                for (j, v) in row.iter_mut().enumerate() {
                    *v = T::load(out.add(j * T::LANES), width(j));
                }
            }
        }
        for l in 0..k {
            let brow = b.ptr.add(l * b.rs);
            let mut bv = [T::zero(); V];
            for (j, v) in bv.iter_mut().enumerate() {
                *v = T::load(brow.add(j * T::LANES), width(j));
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let x = T::splat(*a.ptr.add((i + r) * a.rs + l * a.cs));
                for (c, v) in row.iter_mut().zip(&bv) {
                    *c = T::fma(x, *v, *c);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let out = dst.add((i + r) * n);
            for (j, v) in row.iter().enumerate() {
                T::store(out.add(j * T::LANES), *v, width(j));
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::{product, Lanes, Operand};
    use nabla_ir::testing::values;

    /// `C = op(A)·op(B)` from the stored matrices, summed in f64 (also the reference of
    /// the runtime's library products).
    pub(in crate::cranelift) fn reference(
        m: usize,
        n: usize,
        k: usize,
        a: &[f64],
        ta: bool,
        b: &[f64],
        tb: bool,
    ) -> Vec<f64> {
        let at = |i: usize, l: usize| if ta { a[l * m + i] } else { a[i * k + l] };
        let bt = |l: usize, j: usize| if tb { b[j * k + l] } else { b[l * n + j] };
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| at(i, l) * bt(l, j)).sum();
            }
        }
        c
    }

    /// One product to check: `C = op(A)·op(B)` (`m × n`, inner extent `k`, each
    /// operand stored plain or transposed), `C` written (starting as NaN) or added to
    /// (starting from values of its own), with one NaN element after `C` that nothing
    /// may write.
    pub(in crate::cranelift) struct Case<T> {
        pub mnk: (usize, usize, usize),
        pub t: (bool, bool),
        pub acc: bool,
        pub a: Vec<T>,
        pub b: Vec<T>,
        pub c0: Vec<T>,
        pub c: Vec<T>,
    }

    impl<T: Lanes + Into<f64> + From<f32>> Case<T> {
        /// Operands of values in [−1, 1] rounded to `T`.
        pub fn new(mnk: (usize, usize, usize), t: (bool, bool), acc: bool) -> Self {
            let (m, n, k) = mnk;
            let cast = |v: Vec<f64>| -> Vec<T> { v.iter().map(|&x| T::from(x as f32)).collect() };
            let c0 = cast(values(m * n, 3, -1.0, 1.0));
            let mut c = if acc {
                c0.clone()
            } else {
                vec![T::from(f32::NAN); m * n]
            };
            c.push(T::from(f32::NAN));
            let (a, b) = (
                cast(values(m * k, 1, -1.0, 1.0)),
                cast(values(k * n, 2, -1.0, 1.0)),
            );
            Case {
                mnk,
                t,
                acc,
                a,
                b,
                c0,
                c,
            }
        }

        /// The strided views of `A` and `B`.
        pub fn operands(&self) -> (Operand<T>, Operand<T>) {
            let (m, n, k) = self.mnk;
            let op = |p: &[T], t: bool, rows: usize, cols: usize| Operand {
                ptr: p.as_ptr(),
                rs: if t { 1 } else { cols },
                cs: if t { rows } else { 1 },
            };
            (op(&self.a, self.t.0, m, k), op(&self.b, self.t.1, k, n))
        }

        /// Nothing was written past `C`; when `done`, `C` agrees with the f64 reference
        /// (plus its starting values when adding) to `tol` relative.
        pub fn check(&self, done: bool, tol: f64, what: &str) {
            let (m, n, k) = self.mnk;
            let last: f64 = self.c[m * n].into();
            assert!(last.is_nan(), "{what}: wrote past C");
            if !done {
                return;
            }
            let wide = |v: &[T]| -> Vec<f64> { v.iter().map(|&x| x.into()).collect() };
            let (ta, tb) = self.t;
            let want = reference(m, n, k, &wide(&self.a), ta, &wide(&self.b), tb);
            for (i, (w, g)) in want.iter().zip(&self.c).enumerate() {
                let g: f64 = (*g).into();
                let w = if self.acc { w + self.c0[i].into() } else { *w };
                assert!(
                    (w - g).abs() <= tol * (1.0 + w.abs()),
                    "{what} {m}x{n}x{k} {:?} acc {} [{i}]: {g} against {w}",
                    self.t,
                    self.acc
                );
            }
        }
    }

    /// Every operand layout, each written or added to.
    pub(in crate::cranelift) fn modes() -> impl Iterator<Item = ((bool, bool), bool)> {
        let t = [(false, false), (false, true), (true, false), (true, true)];
        t.into_iter().flat_map(|t| [(t, false), (t, true)])
    }

    /// Every shape the kernels take (rows not a multiple of the block, widths that end
    /// mid-vector, each operand plain or transposed, `C` written or added to) against
    /// the f64 reference; the element after `C` is never written; shapes they do not
    /// take return `false` and leave `C` alone.
    fn agrees<T: Lanes + Into<f64> + From<f32>>(tol: f64) {
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        for (m, n, k) in [
            (1, 3, 1),
            (7, 20, 20),
            (20, 20, 37),
            (5, 16, 64),
            (9, 24, 3),
            (6, 17, 70),
            (4, 40, 5),
            (3, 48, 2),
            (2, 8, 9),
            (5, 32, 4),
            (1, 49, 2),
            (13, 30, 33),
        ] {
            for (t, acc) in modes() {
                let mut case = Case::<T>::new((m, n, k), t, acc);
                let (a, b) = case.operands();
                // SAFETY: the operands and `c` hold the shapes given.
                let done = unsafe { product((m, n, k), (case.c.as_mut_ptr(), acc), a, b) };
                let takes = n.div_ceil(T::LANES) <= 3 && (!t.1 || k <= 64);
                assert_eq!(done, takes, "{m}x{n}x{k} {t:?}");
                case.check(done, tol, "registers");
            }
        }
    }

    #[test]
    fn f64_products_agree_with_the_reference() {
        agrees::<f64>(1e-13);
    }

    #[test]
    fn f32_products_agree_with_the_reference() {
        agrees::<f32>(1e-5);
    }
}
