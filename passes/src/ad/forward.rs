//! Forward mode (JVP): tangents propagated from variable leaves to a result.
//!
//! [`jvp`] walks the cone of `f` in id order. A node's tangent is built from its operands'
//! tangents by one rule per op; nodes that do not depend on a seeded leaf have a symbolic
//! zero tangent and cost nothing. The first and second derivatives of the unary functions
//! ([`deriv1`], [`deriv2`]) are shared with reverse mode and the collapsed Taylor mode.

use super::build::*;
use nabla_ir::{BinOp, Graph, NodeId, Op, UnOp, GELU_A, GELU_C};
use std::collections::HashMap;

/// The tangent of `f` given the tangents of some leaves (`seeds`: leaf → tangent node);
/// `None` when `f` does not depend on any of them.
pub fn jvp(g: &mut Graph, f: NodeId, seeds: &[(NodeId, NodeId)]) -> Tan {
    let lo = seeds.iter().map(|s| s.0).min()?;
    if lo > f {
        return None;
    }
    let live = g.live(&[f]);
    let mut tan: HashMap<NodeId, NodeId> = seeds.iter().copied().collect();
    for i in lo.0..=f.0 {
        let id = NodeId(i);
        if !live[id.index()] || tan.contains_key(&id) {
            continue;
        }
        let ts: Vec<Tan> = g.args(id).iter().map(|a| tan.get(a).copied()).collect();
        if ts.iter().all(Option::is_none) {
            continue;
        }
        if let Some(t) = tangent(g, id, &ts) {
            tan.insert(id, t);
        }
    }
    tan.get(&f).copied()
}

/// The tangent of node `id` from its operands' tangents `ts` (at least one nonzero).
pub fn tangent(g: &mut Graph, id: NodeId, ts: &[Tan]) -> Tan {
    let n = g.node(id).clone();
    let a = |i: usize| n.args[i];
    match &n.op {
        // d φ(a) = φ'(a) da
        Op::Unary(u) => {
            let d = deriv1(g, *u, a(0), id);
            mul_t(g, d, ts[0])
        }
        // d aᵏ = k aᵏ⁻¹ da
        Op::Powi(k) => {
            let d = powi_deriv1(g, a(0), *k);
            mul_t(g, Some(d), ts[0])
        }
        Op::Binary(b) => binary(g, *b, id, a(0), a(1), ts),
        // d op(a) = op(da) for the linear shape ops
        Op::Broadcast(_) | Op::Reshape(_) | Op::Sum(_) | Op::Mean(_) | Op::Slice { .. } => {
            linear_t(g, &n.op, ts[0])
        }
        // d (A·B) = dA·B + A·dB (with the same transposes)
        Op::MatMul { .. } => {
            let l = ts[0].map(|t| matmul(g, &n.op, t, a(1)));
            let r = ts[1].map(|t| matmul(g, &n.op, a(0), t));
            add_t(g, l, r)
        }
        // d concat(aᵢ) = concat(daᵢ)
        Op::Concat(_) => concat_t(g, &n.op, ts, &n.args),
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Bound { .. }
        | Op::Const { .. }
        | Op::Tensor { .. } => None,
        Op::Diff { .. } | Op::Laplacian { .. } | Op::Grad { .. } | Op::Jacobian { .. } | Op::At => {
            unreachable!("derivative operators are expanded before their users")
        }
    }
}

fn binary(g: &mut Graph, b: BinOp, y: NodeId, a0: NodeId, a1: NodeId, ts: &[Tan]) -> Tan {
    let (da, db) = (ts[0], ts[1]);
    match b {
        // d(a ± b) = da ± db
        BinOp::Add => add_t(g, da, db),
        BinOp::Sub => sub_t(g, da, db),
        // d(ab) = da·b + a·db
        BinOp::Mul => {
            let l = mul_t(g, da, Some(a1));
            let r = mul_t(g, Some(a0), db);
            add_t(g, l, r)
        }
        // d(a/b) = (da - y·db) / b
        BinOp::Div => {
            let ydb = mul_t(g, Some(y), db);
            let num = sub_t(g, da, ydb);
            num.map(|n| div(g, n, a1))
        }
        // d(aᵇ) = b·aᵇ⁻¹ da + aᵇ·log(a) db
        BinOp::Pow => {
            let (pa, pb) = pow_partials(g, y, a0, a1);
            let l = mul_t(g, da, Some(pa));
            let r = mul_t(g, db, Some(pb));
            add_t(g, l, r)
        }
        // d atan2(a, b) = (b·da - a·db) / (a² + b²)
        BinOp::Atan2 => {
            let (pa, pb) = atan2_partials(g, a0, a1);
            let l = mul_t(g, da, Some(pa));
            let r = mul_t(g, db, Some(pb));
            add_t(g, l, r)
        }
    }
}

/// The partial derivatives of `atan2(a, b)`: `(b/q, -a/q)` with `q = a² + b²`.
pub fn atan2_partials(g: &mut Graph, a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    let q = radius2(g, a, b);
    let pa = div(g, b, q);
    let na = neg(g, a);
    let pb = div(g, na, q);
    (pa, pb)
}

/// `a² + b²`.
pub fn radius2(g: &mut Graph, a: NodeId, b: NodeId) -> NodeId {
    let a2 = square(g, a);
    let b2 = square(g, b);
    add(g, a2, b2)
}

/// The partial derivatives of `y = aᵇ`: `(b·aᵇ⁻¹, aᵇ·log a)`, the second `0` at `a = 0`:
/// there `aᵇ = 0` for every `b > 0` near the point, so `∂y/∂b = 0` (JAX and PyTorch say
/// the same), where `aᵇ·log a` is `0·(−∞)`. Formed as `aᵇ·log(a + 1 − |sign a|)` — the
/// logarithm's argument is `a` except at `0`, where it is `1` — without a select op; the
/// sign's derivative is 0, so higher orders see `log a` as before. (A zero exponent
/// derivative at `a = 0` is what an inverse problem's `param k` in `x^k` needs when a
/// collocation point lies at `x = 0`: its gradient was NaN.)
pub fn pow_partials(g: &mut Graph, y: NodeId, a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    let one = fill_like(g, b, 1.0);
    let bm1 = sub(g, b, one);
    let p = g.binary(BinOp::Pow, a, bm1);
    let pa = mul(g, b, p);
    let la = log_but_zero_at_zero(g, a);
    let pb = mul(g, y, la);
    (pa, pb)
}

/// `log a` for `a ≠ 0` and `0` at `a = 0`: `log(a + 1 − |sign a|)`.
fn log_but_zero_at_zero(g: &mut Graph, a: NodeId) -> NodeId {
    let s = g.unary(UnOp::Sign, a);
    let s = g.unary(UnOp::Abs, s);
    let one = fill_like(g, a, 1.0);
    let at_zero = sub(g, one, s);
    let shifted = add(g, a, at_zero);
    g.unary(UnOp::Log, shifted)
}

/// `dᵐ/daᵐ aᵇ = b(b−1)⋯(b−m+1)·aᵇ⁻ᵐ` (`m ≥ 1`) for an exponent `b` that the derivative
/// does not vary. Formed with `aᵇ⁻ᵐ` itself, not through `log a`: at `a = 0` the orders
/// below `b` are `0` (`d²/dx² x^2.5 = 3.75·x^0.5`), where `aᵇ·(b·log a)′` made `0·∞`.
/// Orders above an exponent whose value is whole only at run time (a param `k = 2`) are
/// still `0·∞` at `a = 0` (a constant whole exponent is an integer power, `powi`).
pub fn pow_deriv(g: &mut Graph, a: NodeId, b: NodeId, m: usize) -> NodeId {
    let mut coef = b;
    for i in 1..m {
        let c = fill_like(g, b, i as f64);
        let bi = sub(g, b, c);
        coef = mul(g, coef, bi);
    }
    let c = fill_like(g, b, m as f64);
    let bm = sub(g, b, c);
    let p = g.binary(BinOp::Pow, a, bm);
    mul(g, coef, p)
}

/// `d/da aᵏ = k aᵏ⁻¹`.
pub fn powi_deriv1(g: &mut Graph, a: NodeId, k: i32) -> NodeId {
    let p = powi(g, a, k - 1);
    scale(g, p, k as f64)
}

/// `d²/da² aᵏ = k(k-1) aᵏ⁻²` (`None` when zero).
pub fn powi_deriv2(g: &mut Graph, a: NodeId, k: i32) -> Tan {
    if k == 0 || k == 1 {
        return None;
    }
    let p = powi(g, a, k - 2);
    Some(scale(g, p, (k as f64) * (k as f64 - 1.0)))
}

/// `φ'(a)` for `y = φ(a)` (`None` where `φ' = 0`).
pub fn deriv1(g: &mut Graph, u: UnOp, a: NodeId, y: NodeId) -> Tan {
    Some(match u {
        // -a: -1
        UnOp::Neg => fill_like(g, a, -1.0),
        // eᵃ: eᵃ
        UnOp::Exp => y,
        // log a: 1/a
        UnOp::Log => g.unary(UnOp::Recip, a),
        // sin a: cos a
        UnOp::Sin => g.unary(UnOp::Cos, a),
        // cos a: -sin a
        UnOp::Cos => {
            let s = g.unary(UnOp::Sin, a);
            neg(g, s)
        }
        // tan a: 1 + tan² a
        UnOp::Tan => one_plus_sq(g, y, 1.0),
        // tanh a: 1 - tanh² a
        UnOp::Tanh => one_plus_sq(g, y, -1.0),
        // σ(a): σ(1 - σ)
        UnOp::Sigmoid => sigmoid_d1(g, y),
        // softplus a: σ(a)
        UnOp::Softplus => g.unary(UnOp::Sigmoid, a),
        // a·σ(a): σ (1 + a (1 - σ))
        UnOp::Silu => silu_d1(g, a),
        // gelu: 0.5 (1 + t) + 0.5 a (1 - t²) u', t = tanh u, u = C (a + A a³)
        UnOp::Gelu => gelu_derivs(g, a).0,
        // √a: 1 / (2√a)
        UnOp::Sqrt => {
            let r = g.unary(UnOp::Recip, y);
            scale(g, r, 0.5)
        }
        // |a|: sign a
        UnOp::Abs => g.unary(UnOp::Sign, a),
        // a²: 2a
        UnOp::Square => scale(g, a, 2.0),
        // 1/a: -1/a² = -y²
        UnOp::Recip => {
            let s = square(g, y);
            neg(g, s)
        }
        // sign a: 0 (almost everywhere)
        UnOp::Sign => return None,
    })
}

/// `φ''(a)` for `y = φ(a)` (`None` where `φ'' = 0`).
pub fn deriv2(g: &mut Graph, u: UnOp, a: NodeId, y: NodeId) -> Tan {
    Some(match u {
        UnOp::Neg | UnOp::Abs | UnOp::Sign => return None,
        // eᵃ'' = eᵃ
        UnOp::Exp => y,
        // (log a)'' = -1/a²
        UnOp::Log => {
            let r = g.unary(UnOp::Recip, a);
            let r2 = square(g, r);
            neg(g, r2)
        }
        // sin'' = -sin, cos'' = -cos
        UnOp::Sin | UnOp::Cos => neg(g, y),
        // tan'' = 2 tan (1 + tan²)
        UnOp::Tan => {
            let d = one_plus_sq(g, y, 1.0);
            let p = mul(g, y, d);
            scale(g, p, 2.0)
        }
        // tanh'' = -2 tanh (1 - tanh²)
        UnOp::Tanh => {
            let d = one_plus_sq(g, y, -1.0);
            let p = mul(g, y, d);
            scale(g, p, -2.0)
        }
        // σ'' = σ(1-σ)(1-2σ)
        UnOp::Sigmoid => sigmoid_d2(g, y),
        // softplus'' = σ'(a)
        UnOp::Softplus => {
            let s = g.unary(UnOp::Sigmoid, a);
            sigmoid_d1(g, s)
        }
        // silu'' = σ(1-σ) (2 + a (1 - 2σ))
        UnOp::Silu => silu_d2(g, a),
        UnOp::Gelu => gelu_derivs(g, a).1,
        // √a'' = -1 / (4 a √a)
        UnOp::Sqrt => {
            let p = mul(g, a, y);
            let r = g.unary(UnOp::Recip, p);
            scale(g, r, -0.25)
        }
        // (a²)'' = 2
        UnOp::Square => fill_like(g, a, 2.0),
        // (1/a)'' = 2/a³ = 2 y³
        UnOp::Recip => {
            let c = powi(g, y, 3);
            scale(g, c, 2.0)
        }
    })
}

/// `1 + s·y²`.
fn one_plus_sq(g: &mut Graph, y: NodeId, s: f64) -> NodeId {
    let one = fill_like(g, y, 1.0);
    let y2 = square(g, y);
    if s > 0.0 {
        add(g, one, y2)
    } else {
        sub(g, one, y2)
    }
}

/// `σ' = σ(1 - σ)` given `σ`.
fn sigmoid_d1(g: &mut Graph, s: NodeId) -> NodeId {
    let one = fill_like(g, s, 1.0);
    let c = sub(g, one, s);
    mul(g, s, c)
}

/// `σ'' = σ(1 - σ)(1 - 2σ)` given `σ`.
fn sigmoid_d2(g: &mut Graph, s: NodeId) -> NodeId {
    let d1 = sigmoid_d1(g, s);
    let one = fill_like(g, s, 1.0);
    let two_s = scale(g, s, 2.0);
    let c = sub(g, one, two_s);
    mul(g, d1, c)
}

/// `silu'(a) = σ + a σ(1-σ) = σ (1 + a (1 - σ))`.
fn silu_d1(g: &mut Graph, a: NodeId) -> NodeId {
    let s = g.unary(UnOp::Sigmoid, a);
    let one = fill_like(g, a, 1.0);
    let c = sub(g, one, s);
    let ac = mul(g, a, c);
    let t = add(g, one, ac);
    mul(g, s, t)
}

/// `silu''(a) = 2σ' + a σ'' = σ(1-σ)(2 + a(1 - 2σ))`.
fn silu_d2(g: &mut Graph, a: NodeId) -> NodeId {
    let s = g.unary(UnOp::Sigmoid, a);
    let d1 = sigmoid_d1(g, s);
    let one = fill_like(g, a, 1.0);
    let two = fill_like(g, a, 2.0);
    let two_s = scale(g, s, 2.0);
    let c = sub(g, one, two_s);
    let ac = mul(g, a, c);
    let t = add(g, two, ac);
    mul(g, d1, t)
}

/// `(gelu'(a), gelu''(a))` for `gelu(a) = 0.5 a (1 + t)`, `t = tanh u`,
/// `u = C (a + A a³)`, `u' = C (1 + 3A a²)`, `u'' = 6CA a`:
/// `gelu' = 0.5 (1 + t) + 0.5 a (1 - t²) u'`,
/// `gelu'' = (1 - t²) (u' + 0.5 a (u'' - 2 t u'²))`.
fn gelu_derivs(g: &mut Graph, a: NodeId) -> (NodeId, NodeId) {
    let a3 = powi(g, a, 3);
    let a3s = scale(g, a3, GELU_A);
    let inner = add(g, a, a3s);
    let u = scale(g, inner, GELU_C);
    let t = g.unary(UnOp::Tanh, u);
    let sech2 = one_plus_sq(g, t, -1.0);
    let a2 = square(g, a);
    let a2s = scale(g, a2, 3.0 * GELU_A * GELU_C);
    let c = fill_like(g, a, GELU_C);
    let du = add(g, c, a2s);
    let half_a = scale(g, a, 0.5);
    // first derivative
    let one = fill_like(g, a, 1.0);
    let opt = add(g, one, t);
    let l = scale(g, opt, 0.5);
    let hs = mul(g, half_a, sech2);
    let r = mul(g, hs, du);
    let d1 = add(g, l, r);
    // second derivative
    let ddu = scale(g, a, 6.0 * GELU_A * GELU_C);
    let du2 = square(g, du);
    let tdu2 = mul(g, t, du2);
    let tdu2x2 = scale(g, tdu2, 2.0);
    let m = sub(g, ddu, tdu2x2);
    let hm = mul(g, half_a, m);
    let s = add(g, du, hm);
    let d2 = mul(g, sech2, s);
    (d1, d2)
}
