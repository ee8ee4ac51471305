//! Inline vectorised `tanh`: no call, no lane extraction, all lanes at a time.
//!
//! The approximation is the rational minimax form used by Eigen (`generic_fast_tanh_float`):
//! `tanh x ≈ x·P(x²)/Q(x²)` with `P` of degree 6 and `Q` of degree 3 in `x²`, on `x`
//! clamped to `±7.905311` (where f32 `tanh` is already `±1`), and `tanh x = x` for
//! `|x| < 0.0004` (where the cubic term is below half an ulp). Its error is measured
//! against f64 `tanh` over the whole f32 range by `tests/jit_math.rs`: at most 4 ulp.
//! NaN propagates (compares with NaN are false, so it reaches the division).
//!
//! For f64 ([`tanh64`]): `tanh x = ±e/(e + 2)` with `e = expm1(2|x|)`, `eʸ − 1 =
//! 2ⁿ·expm1(r) + (2ⁿ − 1)` (`n = round(y/ln 2)`, `r` reduced with a two-part `ln 2`,
//! `expm1(r)` by its Taylor polynomial to `r¹³` in Estrin's form, `2ⁿ` built in the
//! exponent bits), and `±1` for `|x| > 22`: one division per value, where a rational form
//! for small `|x|` and `1 − 2/(eʸ + 1)` beyond took three (both computed for every lane).
//! Measured error against libm's `tanh`: `backends/tests/jit_math.rs` (2 ulp). Estrin's
//! form took B1's f64 `tanh` kernels from 0.068–0.075 to 0.056–0.069 ms per 256-row tile
//! (`cargo bench --bench profile -- B1 rows=256 f64`, one thread).

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

/// `expm1(r) = r + r²·Σ_{k≥2} r^{k−2}/k!` on `|r| ≤ ln2/2`: the Taylor coefficients
/// `1/k!`, `k = 13` down to `2` (the first omitted term, `r¹⁴/14!`, is 1e-17 of `r`).
const EXPM1: [f64; 12] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
];

/// `tanh x` (f64, scalar or `f64x2`): `e/(e + 2)` with `e = expm1(2|x|)` and the sign of
/// `x`, `|x|` clamped to 22 (where `tanh` rounds to 1). One division for every `x`; near
/// 0 `expm1` keeps full relative precision, so no separate small-argument form is needed.
pub fn tanh64(o: &mut Ops<'_, '_>, x: Value, vector: bool) -> Value {
    let a = o.b.ins().fabs(x);
    let hi = o.konst(22.0, vector);
    let above = o.b.ins().fcmp(FloatCC::GreaterThan, a, hi);
    let a = o.select(above, hi, a, vector);
    let y = o.b.ins().fadd(a, a);
    let e = expm1_64(o, y, vector);
    let two = o.konst(2.0, vector);
    let d = o.b.ins().fadd(e, two);
    let t = o.b.ins().fdiv(e, d);
    if vector {
        // the sign bit from x, the rest from t (t ≥ 0)
        let sign = o.konst(-0.0, vector);
        o.b.ins().bitselect(sign, x, t)
    } else {
        o.b.ins().fcopysign(t, x)
    }
}

/// `eʸ − 1` for `0 ≤ y ≤ 44`: `y = n·ln2 + r` (`ln2` in two parts, so `n·C1` is exact),
/// `eʸ − 1 = 2ⁿ·expm1(r) + (2ⁿ − 1)`.
fn expm1_64(o: &mut Ops<'_, '_>, y: Value, vector: bool) -> Value {
    let log2e = o.konst(std::f64::consts::LOG2_E, vector);
    let t = o.b.ins().fmul(y, log2e);
    let n = o.b.ins().nearest(t);
    let c1 = o.konst(-6.931_457_519_531_25e-1, vector);
    let c2 = o.konst(-1.428_606_820_309_417_2e-6, vector);
    let r = o.b.ins().fma(n, c1, y);
    let r = o.b.ins().fma(n, c2, r);
    let q = estrin(o, r, &EXPM1, vector);
    let rr = o.b.ins().fmul(r, r);
    let p = o.b.ins().fma(rr, q, r);
    let scale = pow2(o, n, vector);
    let one = o.konst(1.0, vector);
    let sm1 = o.b.ins().fsub(scale, one);
    o.b.ins().fma(scale, p, sm1)
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

/// `Σ cᵢ tⁱ` with coefficients highest degree first, by Estrin's scheme: pairs `c₂ⱼ +
/// c₂ⱼ₊₁·t`, then pairs of those with `t²`, then with `t⁴`, ... A degree-11 polynomial
/// is 4 dependent multiply-adds deep instead of Horner's 11, for 3 more operations: the
/// lanes of neighbouring iterations overlap instead of waiting on one long chain.
fn estrin(o: &mut Ops<'_, '_>, t: Value, c: &[f64], vector: bool) -> Value {
    let lowest_first: Vec<f64> = c.iter().rev().copied().collect();
    let mut terms: Vec<Value> = (lowest_first.chunks(2))
        .map(|p| match *p {
            [a, b] => {
                let (ka, kb) = (o.konst(a, vector), o.konst(b, vector));
                o.b.ins().fma(kb, t, ka)
            }
            _ => o.konst(p[0], vector),
        })
        .collect();
    let mut x = t;
    while terms.len() > 1 {
        x = o.b.ins().fmul(x, x);
        terms = (terms.chunks(2))
            .map(|p| match *p {
                [a, b] => o.b.ins().fma(b, x, a),
                _ => p[0],
            })
            .collect();
    }
    terms[0]
}
