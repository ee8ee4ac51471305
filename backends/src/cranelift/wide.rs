//! Products of wide layers with AVX-512: `C = A·B` for a row-major `C`, `B` copied into
//! panels that stay in the first-level cache.
//!
//! A layer 128 wide multiplies `[rows, 128]` by `[128, 128]`; the operands of a tile fit
//! the second-level cache but not the first. `B` is copied, [`PANEL`] bytes at a time,
//! into a row-major panel of [`VECTORS`] vectors per row (`k_c` rows of it, `k_c·32`
//! f64 or `k_c·64` f32), which every block of [`ROWS`] rows of `C` then reads: for each
//! `l`, four vectors of the panel's row `l` are loaded, each row's `A[i, l]` is
//! broadcast, and one fused multiply-add per vector accumulates into `6 × 4`
//! accumulators (24 of the 32 registers).
//!
//! Each element of `C` is the sum over `l` in order, one rounding per multiply-add (a
//! panel's first row goes on from what the previous panel stored), whichever rows a
//! thread takes, so a run reproduces bit for bit across thread counts.

use super::narrow::{Lanes, Operand};
use std::mem::MaybeUninit;

/// Rows of `C` computed together.
const ROWS: usize = 6;

/// Vectors per row of a panel of `B` (the accumulators of a row of `C`).
const VECTORS: usize = 4;

/// Bytes of a panel of `B`: two thirds of a 48 KB first-level cache, leaving room for
/// the rows of `A` a block reads.
const PANEL: usize = 32 * 1024;

/// A panel's storage, aligned to cache lines.
#[repr(C, align(64))]
struct Panel([MaybeUninit<u8>; PANEL]);

/// Where [`product`] finds `B`: the operand itself, copied one panel at a time onto the
/// stack, or all of it packed beforehand by [`pack`] (a weight, constant through a run
/// of every tile).
#[derive(Clone, Copy)]
pub enum Rhs<T> {
    /// `B` in place.
    Operand(Operand<T>),
    /// `B` as [`pack`] wrote it.
    Packed(*const T),
}

/// Whether [`product`] runs on this CPU (AVX-512F).
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// The panels' width and rows in type `T`.
fn panel_shape<T: Lanes>() -> (usize, usize) {
    let width = VECTORS * T::LANES;
    (width, PANEL / (width * size_of::<T>()))
}

/// Every panel of `b` (`k × n`) in the order [`product`] reads them: by columns
/// `width` at a time, then by rows `k_c` at a time, each panel row-major with rows
/// padded with zeros to whole vectors.
///
/// # Safety
/// Every element `(l, j)`, `l < k`, `j < n`, of `b` lies inside a live buffer.
pub unsafe fn pack<T: Lanes>(b: Operand<T>, (k, n): (usize, usize)) -> Vec<T> {
    let (width, kc) = panel_shape::<T>();
    let mut out = vec![T::default(); k * n.div_ceil(T::LANES) * T::LANES];
    for j0 in (0..n).step_by(width) {
        let cols = width.min(n - j0);
        let w = cols.div_ceil(T::LANES) * T::LANES;
        for l0 in (0..k).step_by(kc) {
            let kk = kc.min(k - l0);
            let at = out[j0 * k + l0 * w..].as_mut_ptr();
            // SAFETY: `out` holds the panel (`kk·w` from `j0·k + l0·w`, at most `k·w`
            // past the panels of the columns before); `b`'s part is the caller's.
            unsafe { pack_panel(b, (l0, kk), (j0, cols), w, at) };
        }
    }
    out
}

/// `dst = a·b`, or `dst += a·b` when `acc` (`m × n`, inner extent `k`, `dst` row-major
/// with row stride `n`). The caller checks [`available`].
///
/// # Safety
/// AVX-512F is present; every element the strides address for `i < m`, `l < k`, `j < n`
/// lies inside a live buffer (a packed `b` is [`pack`]'s of a `k × n` matrix); `dst`
/// holds `m·n` elements and overlaps neither operand.
pub unsafe fn product<T: Lanes>(
    (m, n, k): (usize, usize, usize),
    (dst, acc): (*mut T, bool),
    a: Operand<T>,
    b: Rhs<T>,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // an empty sum: `C` is zero, or stays as it is when adding to it
        if !acc {
            // SAFETY: `dst` holds `m·n` elements (the caller's contract).
            unsafe { std::slice::from_raw_parts_mut(dst, m * n).fill(T::default()) };
        }
        return;
    }
    let (width, kc) = panel_shape::<T>();
    let mut stack = Panel([MaybeUninit::uninit(); PANEL]);
    for j0 in (0..n).step_by(width) {
        let cols = width.min(n - j0);
        let vectors = cols.div_ceil(T::LANES);
        let w = vectors * T::LANES;
        for l0 in (0..k).step_by(kc) {
            let kk = kc.min(k - l0);
            let panel = match b {
                // SAFETY: `pack`'s layout: this panel starts at `j0·k + l0·w`.
                Rhs::Packed(p) => unsafe { p.add(j0 * k + l0 * w) },
                Rhs::Operand(b) => {
                    let p = stack.0.as_mut_ptr() as *mut T;
                    // SAFETY: the stack panel holds `kc` rows of `width ≥ w`; `b`'s
                    // rows and columns are inside it (the caller's contract).
                    unsafe { pack_panel(b, (l0, kk), (j0, cols), w, p) };
                    p as *const T
                }
            };
            let blk = Block {
                dst,
                n,
                add: acc || l0 > 0,
                j0,
                cols,
                a,
                l0,
                kk,
                panel,
            };
            // SAFETY: AVX-512F is present; the block's extents are inside the operands.
            unsafe {
                match vectors {
                    1 => rows::<T, 1>(m, &blk),
                    2 => rows::<T, 2>(m, &blk),
                    3 => rows::<T, 3>(m, &blk),
                    _ => rows::<T, 4>(m, &blk),
                }
            }
        }
    }
}

/// Rows `l0..l0 + kk` and columns `j0..j0 + cols` of `b` into `panel`, row-major with
/// rows `w` apart, the columns past `cols` zero.
///
/// # Safety
/// Those rows and columns of `b` lie inside a live buffer; `panel` holds `kk·w`
/// elements.
unsafe fn pack_panel<T: Lanes>(
    b: Operand<T>,
    (l0, kk): (usize, usize),
    (j0, cols): (usize, usize),
    w: usize,
    panel: *mut T,
) {
    // SAFETY: the caller's contract.
    unsafe {
        if b.cs == 1 {
            for l in 0..kk {
                let src = b.ptr.add((l0 + l) * b.rs + j0);
                let row = panel.add(l * w);
                std::ptr::copy_nonoverlapping(src, row, cols);
                for j in cols..w {
                    *row.add(j) = T::default();
                }
            }
            return;
        }
        for j in 0..w {
            if j >= cols {
                for l in 0..kk {
                    *panel.add(l * w + j) = T::default();
                }
                continue;
            }
            let src = b.ptr.add((j0 + j) * b.cs + l0 * b.rs);
            for l in 0..kk {
                *panel.add(l * w + j) = *src.add(l * b.rs);
            }
        }
    }
}

/// One panel's share of the product: columns `j0..j0 + cols` of `dst` (row stride `n`;
/// added to when `add`), the inner extent `l0..l0 + kk`, `panel` holding `B`'s rows.
struct Block<T> {
    dst: *mut T,
    n: usize,
    add: bool,
    j0: usize,
    cols: usize,
    a: Operand<T>,
    l0: usize,
    kk: usize,
    panel: *const T,
}

/// Every row of `C` for one panel, [`ROWS`] at a time, then the rest together.
#[target_feature(enable = "avx512f")]
unsafe fn rows<T: Lanes, const V: usize>(m: usize, blk: &Block<T>) {
    let mut i = 0;
    while i + ROWS <= m {
        // SAFETY: rows `i..i + ROWS` are inside `a` and `dst`.
        unsafe { block::<T, V, ROWS>(i, blk) };
        i += ROWS;
    }
    // SAFETY: as above, for the last `m − i < ROWS` rows.
    unsafe {
        match m - i {
            0 => {}
            1 => block::<T, V, 1>(i, blk),
            2 => block::<T, V, 2>(i, blk),
            3 => block::<T, V, 3>(i, blk),
            4 => block::<T, V, 4>(i, blk),
            _ => block::<T, V, 5>(i, blk),
        }
    }
}

/// Rows `i..i + R` of `C`, `V` vectors of the panel: `R × V` accumulators (zero, or
/// `dst`'s values when adding to it), one pass over the panel's rows.
#[inline(always)]
unsafe fn block<T: Lanes, const V: usize, const R: usize>(i: usize, blk: &Block<T>) {
    let last = blk.cols - (V - 1) * T::LANES;
    let width = |j: usize| if j + 1 == V { last } else { T::LANES };
    let w = V * T::LANES;
    let a = blk.a;
    // SAFETY: the callers' contract: rows `i..i + R` of `a` and `dst`, the panel's
    // `kk` rows of `w`; stores stop at `cols` (masked last vector).
    unsafe {
        let mut acc = [[T::zero(); V]; R];
        if blk.add {
            for (r, row) in acc.iter_mut().enumerate() {
                let out = blk.dst.add((i + r) * blk.n + blk.j0);
                for (j, v) in row.iter_mut().enumerate() {
                    *v = T::load(out.add(j * T::LANES), width(j));
                }
            }
        }
        let arow = a.ptr.add(i * a.rs + blk.l0 * a.cs);
        for l in 0..blk.kk {
            let brow = blk.panel.add(l * w);
            let mut bv = [T::zero(); V];
            for (j, v) in bv.iter_mut().enumerate() {
                *v = T::full(brow.add(j * T::LANES));
            }
            let al = arow.add(l * a.cs);
            for (r, row) in acc.iter_mut().enumerate() {
                let x = T::splat(*al.add(r * a.rs));
                for (c, v) in row.iter_mut().zip(&bv) {
                    *c = T::fma(x, *v, *c);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let out = blk.dst.add((i + r) * blk.n + blk.j0);
            for (j, v) in row.iter().enumerate() {
                T::store(out.add(j * T::LANES), *v, width(j));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{available, pack, product, Rhs};
    use crate::cranelift::narrow::tests::{modes, Case};
    use crate::cranelift::narrow::Lanes;

    /// Every kind of shape (rows not a multiple of the block, widths that end mid-vector
    /// and mid-panel, two and three vectors of f64, inner extents over one panel's rows
    /// and of none, each operand plain or
    /// transposed, `C` written or added to, `B` in place or packed beforehand) against
    /// the f64 reference; the element after `C` is never written.
    fn agrees<T: Lanes + Into<f64> + From<f32>>(tol: f64) {
        if !available() {
            return;
        }
        for (m, n, k) in [
            (1, 1, 1),
            (7, 33, 5),
            (13, 128, 128),
            (6, 100, 300),
            (20, 65, 129),
            (5, 96, 1),
            (12, 200, 40),
            (9, 20, 7),
            (10, 12, 5),
            (7, 40, 0),
        ] {
            for ((t, acc), packed) in modes().flat_map(|c| [(c, false), (c, true)]) {
                let mut case = Case::<T>::new((m, n, k), t, acc);
                let (a, b) = case.operands();
                // SAFETY: the operands and `c` hold the shapes given; AVX-512F is present.
                let panels = unsafe { pack(b, (k, n)) };
                let rhs = match packed {
                    true => Rhs::Packed(panels.as_ptr()),
                    false => Rhs::Operand(b),
                };
                // SAFETY: as above.
                unsafe { product((m, n, k), (case.c.as_mut_ptr(), acc), a, rhs) };
                case.check(true, tol, if packed { "packed" } else { "in place" });
            }
        }
    }

    #[test]
    fn f64_products_agree_with_the_reference() {
        agrees::<f64>(1e-13);
    }

    #[test]
    fn f32_products_agree_with_the_reference() {
        agrees::<f32>(1e-4);
    }
}
