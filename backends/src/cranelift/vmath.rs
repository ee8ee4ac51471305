//! Inline vectorised `tanh` for f32: no call, no lane extraction, four lanes at a time.
//!
//! The approximation is the rational minimax form used by Eigen (`generic_fast_tanh_float`):
//! `tanh x ≈ x·P(x²)/Q(x²)` with `P` of degree 6 and `Q` of degree 3 in `x²`, on `x`
//! clamped to `±7.905311` (where f32 `tanh` is already `±1`), and `tanh x = x` for
//! `|x| < 0.0004` (where the cubic term is below half an ulp). Its error is measured
//! against f64 `tanh` over the whole f32 range by `tests/jit_math.rs`: at most 4 ulp.
//! NaN propagates (compares with NaN are false, so it reaches the division).
//!
//! f64 kernels call the host `tanh` instead: a polynomial with f64 accuracy needs a
//! vector `exp` with exponent manipulation that is not worth its complexity here.

use super::ops::Ops;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};

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
