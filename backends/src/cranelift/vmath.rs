//! Inline vectorised `tanh`: no call, no lane extraction, all lanes at a time.
//!
//! The approximation is the rational minimax form used by Eigen (`generic_fast_tanh_float`):
//! `tanh x ≈ x·P(x²)/Q(x²)` with `P` of degree 6 and `Q` of degree 3 in `x²`, on `x`
//! clamped to `±7.905311` (beyond which it is accurate no more), exactly `±1` from
//! `|x| = 13·ln 2` on (where f32 `tanh` rounds to `±1`), and `tanh x = x` for
//! `|x| < 0.0004` (where the cubic term is below half an ulp). Its error is measured
//! against f64 `tanh` over the whole f32 range by `tests/jit_math.rs`: at most 4 ulp.
//! NaN propagates (compares with NaN are false, so it reaches the division).
//!
//! For f64 ([`tanh64`]): `tanh|x| = (eʸ − 1)/(eʸ + 1)` with `y = 2|x| = n·ln2 + r`,
//! `eʸ = 2ⁿ·eʳ` and `eʳ` the Padé [6/6] approximant `P(r)/P(−r)`, rearranged so that one
//! division gives the result with no cancellation near 0, and `±1` for `|x| > 22`.
//! Measured error against libm's `tanh`: at most 3 ulp on the sweep of
//! `backends/tests/jit_math.rs`; on 4.8·10⁶ points over `[10⁻³⁰⁰, 25]` 79% exact, 19% 1 ulp,
//! 1.6% 2, at most 4. The form it replaced, `e/(e + 2)` with `e = expm1(y)` by a degree-13
//! Taylor polynomial, was closer on average (97% exact, 3% 1 ulp, at most 4) but took 33
//! operations to this one's 27, in chains three multiply-adds deep: B1's f64 kernels take
//! 0.247–0.249 ms per two 128-row tiles instead of 0.287–0.301, its whole loss+grad
//! 0.654–0.659 instead of 0.709–0.729 (`cargo bench --bench profile -- B1 rows=128 f64`,
//! one thread, two runs each).

use super::ops::Ops;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Value};

/// Numerator coefficients, `x¹` to `x¹³`.
pub(super) const ALPHA: [f64; 7] = [
    4.893_524_558_917_86e-3,
    6.372_619_288_754_36e-4,
    1.485_722_357_179_79e-5,
    5.122_297_090_371_14e-8,
    -8.604_671_522_137_35e-11,
    2.000_187_904_824_77e-13,
    -2.760_768_477_423_55e-16,
];

/// Denominator coefficients, `x⁰` to `x⁶`.
pub(super) const BETA: [f64; 4] = [
    4.893_525_185_543_85e-3,
    2.268_434_632_439e-3,
    1.185_347_056_866_54e-4,
    1.198_258_394_667_02e-6,
];

/// Beyond this `|x|`, f32 `tanh` rounds to ±1.
pub(super) const CLAMP: f64 = 7.905_311_107_635_498;
/// Below this `|x|`, `tanh x` rounds to `x` in f32.
pub(super) const TINY: f64 = 4e-4;
/// From this `|x|` on, `tanh x` rounds to ±1 in f32: `1 − tanh x ≈ 2e^(−2x)` is then at
/// most `2^−25`, half an ulp below 1, at `x = 13·ln 2`. The rational form, clamped at
/// [`CLAMP`], stops at `1 − 2^−22`, so without this `1 − tanh²` — the derivative — never
/// fell below 4.8e-7: GELU's second derivative at `x = 1000` came out −5.5e6 instead of 0.
pub(super) const SATURATED: f64 = 13.0 * std::f64::consts::LN_2;

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
    let sat = o.konst(SATURATED, vector);
    let saturated = o.b.ins().fcmp(FloatCC::GreaterThanOrEqual, ax, sat);
    let one = o.konst(1.0, vector);
    let unit = copysign(o, one, x, vector);
    let r = o.select(saturated, unit, r, vector);
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

/// The Padé [6/6] approximant of `eʳ`, `P(r)/P(−r)` with `P(r) = Σⱼ (12 − j)! 6! /
/// (12! j! (6 − j)!) rʲ`, split as `P(r) = E(r²) + r·O(r²)`: the even coefficients
/// (`r⁰, r², r⁴, r⁶`) and the odd ones (`r¹, r³, r⁵`). On `|r| ≤ ln2/2` its relative error
/// is about 2e-19.
pub(super) const PADE_EVEN: [f64; 4] = [1.0, 5.0 / 44.0, 1.0 / 792.0, 1.0 / 665_280.0];
pub(super) const PADE_ODD: [f64; 3] = [0.5, 1.0 / 66.0, 1.0 / 15_840.0];

/// Beyond this `|x|`, f64 `tanh` rounds to ±1.
pub(super) const TANH64_CLAMP: f64 = 22.0;
/// `−ln 2` in two parts: the high one has trailing zero bits, so `n·NEG_LN2_HI` is exact
/// for the `n` of [`tanh64`].
pub(super) const NEG_LN2_HI: f64 = -6.931_457_519_531_25e-1;
/// The rest of `−ln 2`.
pub(super) const NEG_LN2_LO: f64 = -1.428_606_820_309_417_2e-6;

/// `tanh x` (f64, scalar or `f64x2`). With `y = 2|x| = n·ln2 + r` (`n` integral, `ln2` in
/// two parts so `n·C1` is exact, `|r| ≤ ln2/2`), `s = 2ⁿ` and `eʳ ≈ (E + O)/(E − O)`
/// (`E`, `O` the even and odd parts of the Padé numerator at `r`):
///
/// `tanh|x| = (eʸ − 1)/(eʸ + 1) = ((s − 1)·E + (s + 1)·O) / ((s + 1)·E + (s − 1)·O)`
///
/// — one division, no cancellation near 0 (`n = 0`: `O/E`, `O = r·(…)` keeps full relative
/// precision), `|x|` clamped to 22 (where `tanh` rounds to 1), the sign of `x` put back.
pub fn tanh64(o: &mut Ops<'_, '_>, x: Value, vector: bool) -> Value {
    let a = o.b.ins().fabs(x);
    let hi = o.konst(TANH64_CLAMP, vector);
    let above = o.b.ins().fcmp(FloatCC::GreaterThan, a, hi);
    let a = o.select(above, hi, a, vector);
    let y = o.b.ins().fadd(a, a);
    let log2e = o.konst(std::f64::consts::LOG2_E, vector);
    let t = o.b.ins().fmul(y, log2e);
    let n = o.b.ins().nearest(t);
    let c1 = o.konst(NEG_LN2_HI, vector);
    let c2 = o.konst(NEG_LN2_LO, vector);
    let r = o.b.ins().fma(n, c1, y);
    let r = o.b.ins().fma(n, c2, r);
    let r2 = o.b.ins().fmul(r, r);
    let e = horner(o, r2, &PADE_EVEN, vector);
    let odd = horner(o, r2, &PADE_ODD, vector);
    let odd = o.b.ins().fmul(r, odd);
    let s = pow2(o, n, vector);
    let one = o.konst(1.0, vector);
    let sm1 = o.b.ins().fsub(s, one);
    let sp1 = o.b.ins().fadd(s, one);
    let num = o.b.ins().fmul(sp1, odd);
    let num = o.b.ins().fma(sm1, e, num);
    let den = o.b.ins().fmul(sm1, odd);
    let den = o.b.ins().fma(sp1, e, den);
    let t = o.b.ins().fdiv(num, den);
    copysign(o, t, x, vector)
}

/// `mag` (≥ 0) with the sign of `x`: the sign bit from `x`, the rest from `mag` (by a bit
/// select on vectors).
fn copysign(o: &mut Ops<'_, '_>, mag: Value, x: Value, vector: bool) -> Value {
    match vector {
        true => {
            let sign = o.konst(-0.0, vector);
            o.b.ins().bitselect(sign, x, mag)
        }
        false => o.b.ins().fcopysign(mag, x),
    }
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
