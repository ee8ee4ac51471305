//! A layer's activation `tanh(z + b)` in AVX-512, run by the runtime instead of the JIT.
//!
//! Cranelift's x86-64 backend has 128-bit vectors only: four f32 or two f64 lanes. The
//! activation kernel of a tanh layer — load `z`, add the bias broadcast down the rows,
//! `tanh`, store — is nearly all `tanh` (about 27 vector operations), so in 512-bit
//! vectors it takes about a quarter of the time. [`recognise`] finds exactly that kernel
//! in a schedule (nothing else stored, nothing else computed); the runtime then runs
//! [`bias_tanh`] on the host's AVX-512F instead of the compiled kernel.
//!
//! The code performs the JIT's operations in the JIT's order — [`super::vmath::tanh`] in
//! f32 and [`super::vmath::tanh64`] in f64: the same constants rounded to the element
//! type, the same fused multiply-adds, the same compares with the same NaN behaviour, one
//! division — so it gives the compiled kernel's bits, lane for lane (tested against it on
//! ordinary and special values). The compiled kernel is still built, and runs where the
//! host has no AVX-512F; `dump-ir --stage asm` lists it.
//!
//! Measured per tile, one thread (`cargo bench --bench profile`): B5's `[256, 32]` f32
//! activation 10 → 3 µs, B8's `[250, 20]` 6 → 2 µs; whole runs in BENCHMARKS.md.

use nabla_ir::{BinOp, UnOp};
use nabla_passes::schedule::{Affine, BufId, Expr, Kernel, Program, Step};
use std::arch::x86_64::*;

/// A recognised `out[r, j] = tanh(z[r, j] + b[j])` over `rows × cols`: buffers and
/// element offsets of `z`, `b` and `out`, in that order.
#[derive(Clone, Debug, PartialEq)]
pub struct BiasTanh {
    /// Rows (points) and columns (the layer's width).
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `z`, `b`, `out`.
    pub bufs: [BufId; 3],
    /// The element offset of `(0, 0)` in each.
    pub offsets: [usize; 3],
}

/// `k` as a [`BiasTanh`], if it is exactly one: two loads (one row-major over the whole
/// iteration space, one broadcast down the rows), their sum, its `tanh`, one row-major
/// store of it.
pub fn recognise(k: &Kernel) -> Option<BiasTanh> {
    let [rows, cols] = *k.shape.dims() else {
        return None;
    };
    let [store] = &k.stores[..] else {
        return None;
    };
    let [Expr::Load { .. }, Expr::Load { .. }, Expr::Binary(BinOp::Add, x, y), Expr::Unary(UnOp::Tanh, t)] =
        &k.body[..]
    else {
        return None;
    };
    if t.index() != 2
        || store.value.index() != 3
        || x.index() == y.index()
        || !dense(&store.map, cols)
    {
        return None;
    }
    let load = |i: usize| match &k.body[i] {
        Expr::Load { buf, map } => Some((*buf, map)),
        _ => None,
    };
    let (a, b) = (load(x.index())?, load(y.index())?);
    let (z, bias) = match (dense(a.1, cols), row(a.1), dense(b.1, cols), row(b.1)) {
        (true, _, _, true) => (a, b),
        (_, true, true, _) => (b, a),
        _ => return None,
    };
    // [`bias_tanh`]'s contract: the output is not the bias, and is `z` only in place
    let in_place = store.buf == z.0 && store.map.offset == z.1.offset;
    if store.buf == bias.0 || (store.buf == z.0 && !in_place) {
        return None;
    }
    Some(BiasTanh {
        rows,
        cols,
        bufs: [z.0, bias.0, store.buf],
        offsets: [z.1.offset, bias.1.offset, store.map.offset],
    })
}

/// Splits every kernel that computes a layer's `tanh(z + b)` beside other values (the
/// scheduler fuses independent elementwise work of one shape into one loop) into that
/// activation alone, which [`recognise`] takes, and the rest, run after it. Returns how
/// many it split.
///
/// A fused activation runs as the compiled kernel's inline `tanh` (four or two lanes);
/// alone it runs as [`bias_tanh`] (sixteen or eight): B5's third layer, fused with a
/// first-layer Taylor coefficient, took 0.045 ms of 0.74 per loss+grad where an
/// activation alone takes 0.016 ms. The values are the same bits either way.
pub fn split_activations(p: &mut Program) -> usize {
    let mut split = 0;
    let mut steps = Vec::with_capacity(p.steps.len());
    for step in p.steps.drain(..) {
        let Step::Kernel(mut k) = step else {
            steps.push(step);
            continue;
        };
        while let Some((act, rest)) = (0..k.stores.len())
            .filter_map(|s| k.split_off(s))
            .find(|(act, rest)| recognise(act).is_some() && !recomputes(rest, act))
        {
            steps.push(Step::Kernel(act));
            k = rest;
            split += 1;
        }
        steps.push(Step::Kernel(k));
    }
    p.steps = steps;
    split
}

/// Whether `rest` still computes the activation `act` stores (its `tanh` feeds other
/// values too): split, the `tanh` would run twice, once in each kernel.
fn recomputes(rest: &Kernel, act: &Kernel) -> bool {
    let t = act.nodes[act.stores[0].value.index()];
    t.is_some() && rest.nodes.contains(&t)
}

/// Whether `m` maps `[rows, cols]` row-major and contiguously.
fn dense(m: &Affine, cols: usize) -> bool {
    m.strides[..] == [cols, 1]
}

/// Whether `m` reads one row for every row (a bias broadcast down the rows).
fn row(m: &Affine) -> bool {
    m.strides[..] == [0, 1]
}

/// An element type with the AVX-512 operations of the JIT's `tanh`.
pub trait Tanh512: Copy {
    /// Lanes per 512-bit vector.
    const LANES: usize;
    /// `tanh` of the first `len` lanes of `z + b` (from `z` and `b`) into `out`.
    ///
    /// # Safety
    /// AVX-512F is present; `len ≤ LANES` elements are readable at `z` and `b` and
    /// writable at `out`.
    unsafe fn bias_tanh_lanes(z: *const Self, b: *const Self, out: *mut Self, len: usize);
}

/// Rows `r0..r1` of `t`, with `base[i]` the start of buffer `t.bufs[i]`.
///
/// # Safety
/// AVX-512F is present; the buffers hold `t`'s views (rows up to `t.rows`, `cols` wide,
/// from their offsets); `out` overlaps neither input or is exactly `z` (each element is
/// read before it is written, as in the compiled kernel).
#[target_feature(enable = "avx512f")]
pub unsafe fn bias_tanh<T: Tanh512>(t: &BiasTanh, base: [*mut T; 3], (r0, r1): (usize, usize)) {
    // SAFETY: the caller's contract: every row and column addressed lies in its buffer.
    unsafe {
        let (z, b, out) = (
            base[0].add(t.offsets[0]),
            base[1].add(t.offsets[1]),
            base[2].add(t.offsets[2]),
        );
        for r in r0..r1 {
            let mut j = 0;
            while j < t.cols {
                let len = T::LANES.min(t.cols - j);
                let at = r * t.cols + j;
                T::bias_tanh_lanes(z.add(at), b.add(j), out.add(at), len);
                j += len;
            }
        }
    }
}

/// `Σ cᵢ tⁱ` by Horner's rule with fused multiply-adds, as [`super::vmath`] (f32).
#[inline(always)]
unsafe fn horner_ps(t: __m512, c: &[f64]) -> __m512 {
    let mut acc = _mm512_set1_ps(c[c.len() - 1] as f32);
    for &ci in c[..c.len() - 1].iter().rev() {
        acc = _mm512_fmadd_ps(acc, t, _mm512_set1_ps(ci as f32));
    }
    acc
}

/// `Σ cᵢ tⁱ` by Horner's rule with fused multiply-adds (f64).
#[inline(always)]
unsafe fn horner_pd(t: __m512d, c: &[f64]) -> __m512d {
    let mut acc = _mm512_set1_pd(c[c.len() - 1]);
    for &ci in c[..c.len() - 1].iter().rev() {
        acc = _mm512_fmadd_pd(acc, t, _mm512_set1_pd(ci));
    }
    acc
}

impl Tanh512 for f32 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn bias_tanh_lanes(z: *const f32, b: *const f32, out: *mut f32, len: usize) {
        use super::vmath::{ALPHA, BETA, CLAMP, SATURATED, TINY};
        let m = ((1u32 << len) - 1) as __mmask16;
        // SAFETY: the caller's contract (masked lanes are neither read nor written).
        unsafe {
            let x = _mm512_add_ps(_mm512_maskz_loadu_ps(m, z), _mm512_maskz_loadu_ps(m, b));
            let (hi, lo) = (_mm512_set1_ps(CLAMP as f32), _mm512_set1_ps(-CLAMP as f32));
            let above = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, hi);
            let c = _mm512_mask_blend_ps(above, x, hi);
            let below = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(c, lo);
            let c = _mm512_mask_blend_ps(below, c, lo);
            let x2 = _mm512_mul_ps(c, c);
            let p = _mm512_mul_ps(horner_ps(x2, &ALPHA), c);
            let q = horner_ps(x2, &BETA);
            let r = _mm512_div_ps(p, q);
            let ax = _mm512_abs_ps(x);
            let saturated = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(ax, _mm512_set1_ps(SATURATED as f32));
            let sign = _mm512_set1_epi32(i32::MIN);
            let one = _mm512_castps_si512(_mm512_set1_ps(1.0));
            // the sign bits from `x`, the rest from 1 (0xCA: `sign ? x : one`, bitwise)
            let unit = _mm512_ternarylogic_epi32::<0xCA>(sign, _mm512_castps_si512(x), one);
            let r = _mm512_mask_blend_ps(saturated, r, _mm512_castsi512_ps(unit));
            let small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(ax, _mm512_set1_ps(TINY as f32));
            let y = _mm512_mask_blend_ps(small, r, x);
            _mm512_mask_storeu_ps(out, m, y);
        }
    }
}

impl Tanh512 for f64 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn bias_tanh_lanes(z: *const f64, b: *const f64, out: *mut f64, len: usize) {
        use super::vmath::{NEG_LN2_HI, NEG_LN2_LO, PADE_EVEN, PADE_ODD, TANH64_CLAMP};
        let m = ((1u32 << len) - 1) as __mmask8;
        // SAFETY: the caller's contract (masked lanes are neither read nor written).
        unsafe {
            let x = _mm512_add_pd(_mm512_maskz_loadu_pd(m, z), _mm512_maskz_loadu_pd(m, b));
            let a = _mm512_abs_pd(x);
            let hi = _mm512_set1_pd(TANH64_CLAMP);
            let above = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(a, hi);
            let a = _mm512_mask_blend_pd(above, a, hi);
            let y = _mm512_add_pd(a, a);
            let t = _mm512_mul_pd(y, _mm512_set1_pd(std::f64::consts::LOG2_E));
            let n = _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
            let r = _mm512_fmadd_pd(n, _mm512_set1_pd(NEG_LN2_HI), y);
            let r = _mm512_fmadd_pd(n, _mm512_set1_pd(NEG_LN2_LO), r);
            let r2 = _mm512_mul_pd(r, r);
            let e = horner_pd(r2, &PADE_EVEN);
            let odd = _mm512_mul_pd(r, horner_pd(r2, &PADE_ODD));
            // 2ⁿ: n + 1023 + 2⁵² has n + 1023 in its low mantissa bits
            let biased = _mm512_add_pd(n, _mm512_set1_pd(1023.0 + 4_503_599_627_370_496.0));
            let s = _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_castpd_si512(biased)));
            let one = _mm512_set1_pd(1.0);
            let (sm1, sp1) = (_mm512_sub_pd(s, one), _mm512_add_pd(s, one));
            let num = _mm512_fmadd_pd(sm1, e, _mm512_mul_pd(sp1, odd));
            let den = _mm512_fmadd_pd(sp1, e, _mm512_mul_pd(sm1, odd));
            let t = _mm512_castpd_si512(_mm512_div_pd(num, den));
            // the sign bit from `x`, the rest from `t` (0xCA: `sign ? x : t`, bitwise)
            let sign = _mm512_set1_epi64(i64::MIN);
            let y = _mm512_ternarylogic_epi64::<0xCA>(sign, _mm512_castpd_si512(x), t);
            _mm512_mask_storeu_pd(out, m, _mm512_castsi512_pd(y));
        }
    }
}
