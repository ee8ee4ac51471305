//! Inline vectorised `tanh` for f32: no call, no lane extraction, four lanes at a time.
//!
//! The approximation is the rational minimax form used by Eigen (`generic_fast_tanh_float`):
//! `tanh x ≈ x·P(x²)/Q(x²)` with `P` of degree 6 and `Q` of degree 3 in `x²`, on `x`
//! clamped to `±7.905311` (where f32 `tanh` is already `±1`), and `tanh x = x` for
//! `|x| < 0.0004` (where the cubic term is below half an ulp). Its error is measured
//! against f64 `tanh` over the whole f32 range by `tests/jit_math.rs`: at most 4 ulp.
//! NaN propagates (compares with NaN are false, so it reaches the division).
//!
//! For f64 ([`tanh64`]) the forms are Cephes': `x + x³·P(x²)/Q(x²)` for `|x| < 0.625`
//! and `±(1 − 2/(e^{2|x|} + 1))` beyond, with `e^y = 2ⁿ·e^r` (`n = round(y/ln 2)`, `r`
//! reduced with a two-part `ln 2`, `e^r` by Cephes' rational form, `2ⁿ` built in the
//! exponent bits), and `±1` for `|x| > 22`. Measured error: a few ulp (see the tests).

use super::ops::Ops;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Value};

/// Numerator coefficients, `x¹` to `x¹³`.
const ALPHA: [f64; 7] = [
    4.893_524_558_917_86e-3,
    6.372_619_288_754_36e-4,
    1.485_722_357_179_79e-5,
    5.122_297_090_371_14e-8,
    -8.604_671_522_137_35e-11,
    2.000_187_904_824_77e-13,
    -2.760_768_477_423_55e-16,
];

/// Denominator coefficients, `x⁰` to `x⁶`.
const BETA: [f64; 4] = [
    4.893_525_185_543_85e-3,
    2.268_434_632_439e-3,
    1.185_347_056_866_54e-4,
    1.198_258_394_667_02e-6,
];

/// Beyond this `|x|`, f32 `tanh` rounds to ±1.
const CLAMP: f64 = 7.905_311_107_635_498;
/// Below this `|x|`, `tanh x` rounds to `x` in f32.
const TINY: f64 = 4e-4;

/// `tanh x` (f32, scalar or `f32x4`).
pub fn tanh(o: &mut Ops<'_, '_>, x: Value, vector: bool) -> Value {
    let hi = o.konst(CLAMP, vector);
    let lo = o.konst(-CLAMP, vector);
    let above = o.b.ins().fcmp(FloatCC::GreaterThan, x, hi);
    let c = o.select(above, hi, x, vector);
    let below = o.b.ins().fcmp(FloatCC::LessThan, c, lo);
    let c = o.select(below, lo, c, vector);
    let x2 = o.b.ins().fmul(c, c);
    let p = horner(o, x2, &ALPHA, vector);
    let p = o.b.ins().fmul(p, c);
    let q = horner(o, x2, &BETA, vector);
    let r = o.b.ins().fdiv(p, q);
    let ax = o.b.ins().fabs(x);
    let tiny = o.konst(TINY, vector);
    let small = o.b.ins().fcmp(FloatCC::LessThan, ax, tiny);
    o.select(small, x, r, vector)
}

/// `Σ cᵢ tⁱ` by Horner's rule with fused multiply-adds.
fn horner(o: &mut Ops<'_, '_>, t: Value, c: &[f64], vector: bool) -> Value {
    let mut acc = o.konst(c[c.len() - 1], vector);
    for &ci in c[..c.len() - 1].iter().rev() {
        let k = o.konst(ci, vector);
        acc = o.b.ins().fma(acc, t, k);
    }
    acc
}

/// Cephes `tanh` numerator for `|x| < 0.625`, highest degree first.
const TP: [f64; 3] = [
    -9.643_991_794_250_523e-1,
    -9.928_772_310_019_186e1,
    -1.614_687_684_417_084_5e3,
];
/// Cephes `tanh` denominator (monic), highest degree first after the leading 1.
const TQ: [f64; 3] = [
    1.128_116_784_916_329_3e2,
    2.235_488_390_601_004_5e3,
    4.844_063_053_251_255e3,
];
/// Cephes `exp` numerator and denominator in `r²`, highest degree first.
const EP: [f64; 3] = [
    1.261_771_930_748_105_9e-4,
    3.029_944_077_074_419_6e-2,
    9.999_999_999_999_999e-1,
];
const EQ: [f64; 4] = [
    3.001_985_051_386_644_5e-6,
    2.524_483_403_496_841e-3,
    2.272_655_482_081_550_3e-1,
    2.0,
];

/// `tanh x` (f64, scalar or `f64x2`).
pub fn tanh64(o: &mut Ops<'_, '_>, x: Value, vector: bool) -> Value {
    let ax = o.b.ins().fabs(x);
    let small = small_tanh64(o, x, vector);
    let big = big_tanh64(o, ax, vector);
    let zero = o.konst(0.0, vector);
    let neg = o.b.ins().fcmp(FloatCC::LessThan, x, zero);
    let nbig = o.b.ins().fneg(big);
    let big = o.select(neg, nbig, big, vector);
    let lim = o.konst(0.625, vector);
    let is_small = o.b.ins().fcmp(FloatCC::LessThan, ax, lim);
    o.select(is_small, small, big, vector)
}

/// `x + x·z·P(z)/Q(z)`, `z = x²`.
fn small_tanh64(o: &mut Ops<'_, '_>, x: Value, vector: bool) -> Value {
    let z = o.b.ins().fmul(x, x);
    let p = poly(o, z, &TP, None, vector);
    let q = poly(o, z, &TQ, Some(1.0), vector);
    let r = o.b.ins().fdiv(p, q);
    let xz = o.b.ins().fmul(x, z);
    o.b.ins().fma(xz, r, x)
}

/// `1 − 2/(e^{2a} + 1)` for `a = |x| ≥ 0.625`, with `a` clamped to 22 (where it is 1).
fn big_tanh64(o: &mut Ops<'_, '_>, a: Value, vector: bool) -> Value {
    let hi = o.konst(22.0, vector);
    let above = o.b.ins().fcmp(FloatCC::GreaterThan, a, hi);
    let a = o.select(above, hi, a, vector);
    let y = o.b.ins().fadd(a, a);
    let e = exp64(o, y, vector);
    let one = o.konst(1.0, vector);
    let two = o.konst(2.0, vector);
    let d = o.b.ins().fadd(e, one);
    let q = o.b.ins().fdiv(two, d);
    o.b.ins().fsub(one, q)
}

/// `e^y` for `0 ≤ y ≤ 44` (no overflow or underflow handling needed there).
fn exp64(o: &mut Ops<'_, '_>, y: Value, vector: bool) -> Value {
    let log2e = o.konst(std::f64::consts::LOG2_E, vector);
    let t = o.b.ins().fmul(y, log2e);
    let n = o.b.ins().nearest(t);
    // r = y − n·ln2, with ln2 in two parts so that n·C1 is exact.
    let c1 = o.konst(-6.931_457_519_531_25e-1, vector);
    let c2 = o.konst(-1.428_606_820_309_417_2e-6, vector);
    let r = o.b.ins().fma(n, c1, y);
    let r = o.b.ins().fma(n, c2, r);
    let rr = o.b.ins().fmul(r, r);
    let p = poly(o, rr, &EP, None, vector);
    let px = o.b.ins().fmul(p, r);
    let q = poly(o, rr, &EQ, None, vector);
    let den = o.b.ins().fsub(q, px);
    let f = o.b.ins().fdiv(px, den);
    let one = o.konst(1.0, vector);
    let two = o.konst(2.0, vector);
    let er = o.b.ins().fma(f, two, one);
    let scale = pow2(o, n, vector);
    o.b.ins().fmul(er, scale)
}

/// `2ⁿ` for an integral f64 `n` in `0..=64`: `n + 1023 + 2⁵²` has `n + 1023` in its low
/// mantissa bits; shifting them into the exponent field gives `2ⁿ`.
fn pow2(o: &mut Ops<'_, '_>, n: Value, vector: bool) -> Value {
    let bias = o.konst(1023.0 + 4_503_599_627_370_496.0, vector);
    let m = o.b.ins().fadd(n, bias);
    let (ity, fty) = if vector {
        (types::I64X2, types::F64X2)
    } else {
        (types::I64, types::F64)
    };
    let le = MemFlagsData::new().with_endianness(Endianness::Little);
    let bits = o.b.ins().bitcast(ity, le, m);
    let shifted = o.b.ins().ishl_imm_u(bits, 52);
    o.b.ins().bitcast(fty, le, shifted)
}

/// `Σ cᵢ tⁱ` with coefficients highest degree first, after an optional leading
/// coefficient (`Some(1.0)` for a monic polynomial).
fn poly(o: &mut Ops<'_, '_>, t: Value, c: &[f64], lead: Option<f64>, vector: bool) -> Value {
    let (mut acc, rest) = match lead {
        Some(l) => (o.konst(l, vector), c),
        None => (o.konst(c[0], vector), &c[1..]),
    };
    for &ci in rest {
        let k = o.konst(ci, vector);
        acc = o.b.ins().fma(acc, t, k);
    }
    acc
}
