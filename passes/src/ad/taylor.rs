//! Taylor mode: univariate jets `[c₀, …, c_K]` propagated along an all-ones seed.
//!
//! A value `x(t) = Σₖ cₖ tᵏ` along the line `v + t·1` is carried as its normalised Taylor
//! coefficients; `f⁽ᴷ⁾ = K!·c_K`. Every op maps jets to jets with the standard recurrences
//! (Griewank & Walther, *Evaluating Derivatives*, ch. 13) at `O(K²)` nodes per op, where
//! nesting `K` first-order passes grows much faster. `c₀` is always the node itself.
//!
//! - linear ops (add, sub, neg, broadcast, reshape, sum, mean, slice, concat): per coefficient;
//! - bilinear ops (mul, matmul): the Cauchy product `cₖ = Σⱼ aⱼ b_{k-j}`;
//! - `y = a/b`: `yₖ = (aₖ - Σ_{j≥1} bⱼ y_{k-j}) / b₀`;
//! - `y' = w·a'` (exp, sin/cos, tan, tanh, sigmoid, softplus): `yₖ = (1/k) Σⱼ j aⱼ w_{k-j}`,
//!   where `w`'s coefficients depend only on lower coefficients of `y` (or of a companion);
//! - `y = log a`: `yₖ = (aₖ - (1/k) Σ_{j=1}^{k-1} j yⱼ a_{k-j}) / a₀`;
//! - `y = √a`: `yₖ = (aₖ - Σ_{j=1}^{k-1} yⱼ y_{k-j}) / (2 y₀)`;
//! - `aⁿ` by repeated squaring of Cauchy products (exact at `a₀ = 0`); `aᵇ` with `b`
//!   constant along the seed by Faà di Bruno's series in `a − a₀`, else `exp(b log a)`;
//! - `y = atan2(a, b)`: `y' = (b a' - a b') / (a² + b²)`, by the division recurrence.

use super::build::*;
use nabla_ir::{BinOp, Graph, NodeId, Op, UnOp, GELU_A, GELU_C};
use std::collections::HashMap;

/// A jet: `[c₀, …, c_K]` with `c₀` the value (never a symbolic zero).
pub type Jet = Vec<Tan>;

/// The jet of `f` of order `k` along the all-ones seed on leaf `v`.
pub fn jet(g: &mut Graph, f: NodeId, v: NodeId, k: usize) -> Jet {
    let mut seed = constant_jet(f, k);
    seed[0] = Some(v);
    if k >= 1 {
        seed[1] = Some(fill_like(g, v, 1.0));
    }
    if v > f {
        return constant_jet(f, k);
    }
    let live = g.live(&[f]);
    let mut jets: HashMap<NodeId, Jet> = HashMap::from([(v, seed)]);
    for i in v.0 + 1..=f.0 {
        let id = NodeId(i);
        if !live[id.index()] || !g.args(id).iter().any(|a| jets.contains_key(a)) {
            continue;
        }
        let ins: Vec<Jet> = g
            .args(id)
            .iter()
            .map(|a| jets.get(a).cloned().unwrap_or_else(|| constant_jet(*a, k)))
            .collect();
        let out = rule(g, id, &ins, k);
        jets.insert(id, out);
    }
    jets.remove(&f).unwrap_or_else(|| constant_jet(f, k))
}

/// `K!·c_K` of the jet of `f`: the `K`-th derivative along the all-ones seed on `v`.
pub fn derivative(g: &mut Graph, f: NodeId, v: NodeId, k: usize) -> NodeId {
    let j = jet(g, f, v, k);
    let fact: f64 = (1..=k).map(|i| i as f64).product();
    let d = scale_t(g, j[k], fact);
    or_zeros(g, d, f)
}

/// The jet of a value that does not depend on the seed: `[x, 0, …, 0]`.
fn constant_jet(x: NodeId, k: usize) -> Jet {
    let mut j = vec![None; k + 1];
    j[0] = Some(x);
    j
}

fn val(j: &Jet) -> NodeId {
    j[0].expect("a jet's value is never zero")
}

/// The jet of node `id` from its operands' jets.
fn rule(g: &mut Graph, id: NodeId, ins: &[Jet], k: usize) -> Jet {
    let op = g.op(id).clone();
    let mut out: Jet = match &op {
        Op::Unary(u) => unary(g, *u, id, &ins[0], k),
        Op::Powi(n) => powi_jet(g, &ins[0], *n, k),
        Op::Binary(b) => binary(g, *b, id, &ins[0], &ins[1], k),
        // linear shape ops: per coefficient
        Op::Broadcast(_) | Op::Reshape(_) | Op::Sum(_) | Op::Mean(_) | Op::Slice { .. } => {
            ins[0].iter().map(|c| linear_t(g, &op, *c)).collect()
        }
        // bilinear: Cauchy product with the same transposes
        Op::MatMul { .. } => cauchy(g, &ins[0], &ins[1], k, &|g, x, y| matmul(g, &op, x, y)),
        Op::Concat(_) => concat(g, &op, ins, k),
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Bound { .. }
        | Op::Const { .. }
        | Op::Tensor { .. } => constant_jet(id, k),
        Op::Diff { .. } | Op::Laplacian { .. } | Op::Grad { .. } | Op::Jacobian { .. } | Op::At => {
            unreachable!("derivative operators are expanded before their users")
        }
    };
    out[0] = Some(id);
    out
}

fn concat(g: &mut Graph, op: &Op, ins: &[Jet], k: usize) -> Jet {
    let values: Vec<NodeId> = ins.iter().map(val).collect();
    let mut out = constant_jet(values[0], k);
    for (c, slot) in out.iter_mut().enumerate().skip(1) {
        let parts: Vec<Tan> = ins.iter().map(|j| j[c]).collect();
        *slot = concat_t(g, op, &parts, &values);
    }
    out
}

type Prod<'a> = dyn Fn(&mut Graph, NodeId, NodeId) -> NodeId + 'a;

fn elementwise(g: &mut Graph, x: NodeId, y: NodeId) -> NodeId {
    mul(g, x, y)
}

/// Coefficient `m` of the product of two jets: `Σ_{i=0}^{m} aᵢ b_{m-i}`.
fn cauchy_at(g: &mut Graph, a: &Jet, b: &Jet, m: usize, p: &Prod<'_>) -> Tan {
    let terms: Vec<Tan> = (0..=m)
        .map(|i| match (a[i], b[m - i]) {
            (Some(x), Some(y)) => Some(p(g, x, y)),
            _ => None,
        })
        .collect();
    sum_t(g, terms)
}

/// The product jet (coefficients 1..=k; `[0]` is the product of the values).
fn cauchy(g: &mut Graph, a: &Jet, b: &Jet, k: usize, p: &Prod<'_>) -> Jet {
    (0..=k).map(|m| cauchy_at(g, a, b, m, p)).collect()
}

/// Coefficient `m` of `a²`, using symmetry: `2 Σ_{i<m-i} aᵢ a_{m-i} + a_{m/2}²`.
fn square_at(g: &mut Graph, a: &Jet, m: usize) -> Tan {
    let mut terms: Vec<Tan> = Vec::new();
    for i in 0..m.div_ceil(2) {
        let p = mul_t(g, a[i], a[m - i]);
        terms.push(scale_t(g, p, 2.0));
    }
    if m.is_multiple_of(2) {
        terms.push(a[m / 2].map(|x| square(g, x)));
    }
    sum_t(g, terms)
}

fn square_jet(g: &mut Graph, a: &Jet, k: usize) -> Jet {
    (0..=k).map(|m| square_at(g, a, m)).collect()
}

fn add_jet(g: &mut Graph, a: &Jet, b: &Jet, sign: f64) -> Jet {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let y = scale_t(g, *y, sign);
            add_t(g, *x, y)
        })
        .collect()
}

fn binary(g: &mut Graph, b: BinOp, y: NodeId, a0: &Jet, a1: &Jet, k: usize) -> Jet {
    match b {
        BinOp::Add => add_jet(g, a0, a1, 1.0),
        BinOp::Sub => add_jet(g, a0, a1, -1.0),
        BinOp::Mul => cauchy(g, a0, a1, k, &elementwise),
        BinOp::Div => div_jet(g, a0, a1, y, k),
        BinOp::Pow if a1[1..].iter().all(Option::is_none) => pow_const_jet(g, a0, val(a1), y, k),
        // aᵇ = exp(b · log a)
        BinOp::Pow => {
            let la0 = g.unary(UnOp::Log, val(a0));
            let la = log_jet(g, a0, la0, k);
            let e = cauchy(g, a1, &la, k, &elementwise);
            ode(g, &e, y, k, &mut |_, yj, m| yj[m])
        }
        BinOp::Atan2 => atan2_jet(g, a0, a1, y, k),
    }
}

/// `y = atan2(a, b)`: `y' = w` with `w = n/q`, `n = b·a' - a·b'`, `q = a² + b²`; with
/// `a'` the jet `[(j+1) a_{j+1}]`, `yₘ = w_{m-1}/m` and `w` from the division recurrence.
fn atan2_jet(g: &mut Graph, a: &Jet, b: &Jet, y0: NodeId, k: usize) -> Jet {
    let q = {
        let (a2, b2) = (square_jet(g, a, k), square_jet(g, b, k));
        add_jet(g, &a2, &b2, 1.0)
    };
    let slope = |g: &mut Graph, x: &Jet| -> Vec<Tan> {
        (0..k)
            .map(|j| scale_t(g, x[j + 1], (j + 1) as f64))
            .collect()
    };
    let (da, db) = (slope(g, a), slope(g, b));
    let mut y = constant_jet(y0, k);
    let mut w: Vec<Tan> = Vec::with_capacity(k);
    for m in 0..k {
        let terms: Vec<Tan> = (0..=m)
            .flat_map(|i| [(b[i], da[m - i], 1.0), (a[i], db[m - i], -1.0)])
            .map(|(x, d, s)| {
                let p = mul_t(g, x, d);
                scale_t(g, p, s)
            })
            .collect();
        let n = sum_t(g, terms);
        let carried: Vec<Tan> = (1..=m).map(|j| mul_t(g, q[j], w[m - j])).collect();
        let carried = sum_t(g, carried);
        let wm = sub_t(g, n, carried).map(|x| div(g, x, val(&q)));
        w.push(wm);
        y[m + 1] = scale_t(g, wm, 1.0 / (m + 1) as f64);
    }
    y
}

/// `y = a/b`: `yₘ = (aₘ - Σ_{j=1}^{m} bⱼ y_{m-j}) / b₀`.
fn div_jet(g: &mut Graph, a: &Jet, b: &Jet, y0: NodeId, k: usize) -> Jet {
    let mut y = constant_jet(y0, k);
    for m in 1..=k {
        let terms: Vec<Tan> = (1..=m).map(|j| mul_t(g, b[j], y[m - j])).collect();
        let s = sum_t(g, terms);
        let num = sub_t(g, a[m], s);
        y[m] = num.map(|n| div(g, n, val(b)));
    }
    y
}

/// `y' = w·a'`: `yₘ = (1/m) Σ_{j=1}^{m} j aⱼ w_{m-j}`, with `w(g, y, i)` giving `wᵢ`
/// from `y₀..=yᵢ`.
fn ode(
    g: &mut Graph,
    a: &Jet,
    y0: NodeId,
    k: usize,
    w: &mut dyn FnMut(&mut Graph, &Jet, usize) -> Tan,
) -> Jet {
    let mut y = constant_jet(y0, k);
    let mut ws: Vec<Tan> = Vec::with_capacity(k);
    for m in 1..=k {
        ws.push(w(g, &y, m - 1));
        let terms: Vec<Tan> = (1..=m)
            .map(|j| {
                // the term in `aₘ` as `w₀·aₘ`, in the forward rule's order (`φ'(a)·a'`):
                // a first-order coefficient is then the very node forward mode builds for
                // the same tangent, so a residual with `d(u, x)` and `d(u, x, x)` has one
                // `x` tangent, and reverse mode one adjoint chain for it
                let p = if j == m {
                    mul_t(g, ws[0], a[m])
                } else {
                    mul_t(g, a[j], ws[m - j])
                };
                scale_t(g, p, j as f64 / m as f64)
            })
            .collect();
        y[m] = sum_t(g, terms);
    }
    y
}

/// `y = log a`: `yₘ = (aₘ - (1/m) Σ_{j=1}^{m-1} j yⱼ a_{m-j}) / a₀`.
fn log_jet(g: &mut Graph, a: &Jet, y0: NodeId, k: usize) -> Jet {
    let mut y = constant_jet(y0, k);
    for m in 1..=k {
        let terms: Vec<Tan> = (1..m)
            .map(|j| {
                let p = mul_t(g, y[j], a[m - j]);
                scale_t(g, p, j as f64 / m as f64)
            })
            .collect();
        let s = sum_t(g, terms);
        let num = sub_t(g, a[m], s);
        y[m] = num.map(|n| div(g, n, val(a)));
    }
    y
}

/// `y = √a`: `yₘ = (aₘ - Σ_{j=1}^{m-1} yⱼ y_{m-j}) / (2 y₀)`.
fn sqrt_jet(g: &mut Graph, a: &Jet, y0: NodeId, k: usize) -> Jet {
    let mut y = constant_jet(y0, k);
    let two_y0 = scale(g, y0, 2.0);
    for m in 1..=k {
        let terms: Vec<Tan> = (1..m).map(|j| mul_t(g, y[j], y[m - j])).collect();
        let s = sum_t(g, terms);
        let num = sub_t(g, a[m], s);
        y[m] = num.map(|n| div(g, n, two_y0));
    }
    y
}

/// `(sin a, cos a)` jets: `s' = c·a'`, `c' = -s·a'`.
fn sin_cos(g: &mut Graph, a: &Jet, k: usize) -> (Jet, Jet) {
    let s0 = g.unary(UnOp::Sin, val(a));
    let c0 = g.unary(UnOp::Cos, val(a));
    let (mut s, mut c) = (constant_jet(s0, k), constant_jet(c0, k));
    for m in 1..=k {
        let (mut ts, mut tc) = (Vec::new(), Vec::new());
        for j in 1..=m {
            let f = j as f64 / m as f64;
            let ps = mul_t(g, a[j], c[m - j]);
            ts.push(scale_t(g, ps, f));
            let pc = mul_t(g, a[j], s[m - j]);
            tc.push(scale_t(g, pc, -f));
        }
        s[m] = sum_t(g, ts);
        c[m] = sum_t(g, tc);
    }
    (s, c)
}

/// `y' = (1 + s·y²)·a'` (tan with `s = 1`, tanh with `s = -1`).
fn tan_like(g: &mut Graph, a: &Jet, y0: NodeId, s: f64, k: usize) -> Jet {
    ode(g, a, y0, k, &mut |g, y, i| {
        let sq = square_at(g, y, i);
        let one = (i == 0).then(|| fill_like(g, y0, 1.0));
        if s > 0.0 {
            add_t(g, one, sq)
        } else {
            sub_t(g, one, sq)
        }
    })
}

/// `σ' = (σ - σ²)·a'`.
fn sigmoid_jet(g: &mut Graph, a: &Jet, y0: NodeId, k: usize) -> Jet {
    ode(g, a, y0, k, &mut |g, y, i| {
        let sq = square_at(g, y, i);
        sub_t(g, y[i], sq)
    })
}

fn unary(g: &mut Graph, u: UnOp, y0: NodeId, a: &Jet, k: usize) -> Jet {
    let a0 = val(a);
    match u {
        UnOp::Neg => a.iter().map(|c| neg_t(g, *c)).collect(),
        // (eᵃ)' = eᵃ a'
        UnOp::Exp => ode(g, a, y0, k, &mut |_, y, i| y[i]),
        UnOp::Log => log_jet(g, a, y0, k),
        UnOp::Sin => sin_cos(g, a, k).0,
        UnOp::Cos => sin_cos(g, a, k).1,
        UnOp::Tan => tan_like(g, a, y0, 1.0, k),
        UnOp::Tanh => tan_like(g, a, y0, -1.0, k),
        UnOp::Sigmoid => sigmoid_jet(g, a, y0, k),
        // softplus' = σ(a)·a'
        UnOp::Softplus => {
            let s0 = g.unary(UnOp::Sigmoid, a0);
            let s = sigmoid_jet(g, a, s0, k);
            ode(g, a, y0, k, &mut |_, _, i| s[i])
        }
        // silu = a·σ(a)
        UnOp::Silu => {
            let s0 = g.unary(UnOp::Sigmoid, a0);
            let s = sigmoid_jet(g, a, s0, k);
            cauchy(g, a, &s, k, &elementwise)
        }
        UnOp::Gelu => gelu_jet(g, a, k),
        UnOp::Sqrt => sqrt_jet(g, a, y0, k),
        // |a| = sign(a₀)·a away from 0
        UnOp::Abs => {
            let s = g.unary(UnOp::Sign, a0);
            a.iter().map(|c| c.map(|c| mul(g, s, c))).collect()
        }
        UnOp::Square => square_jet(g, a, k),
        // 1/a
        UnOp::Recip => {
            let one = constant_jet(fill_like(g, a0, 1.0), k);
            div_jet(g, &one, a, y0, k)
        }
        // sign is locally constant
        UnOp::Sign => constant_jet(y0, k),
    }
}

/// `gelu(a) = 0.5·a·(1 + tanh(C (a + A a³)))`, composed from jets.
fn gelu_jet(g: &mut Graph, a: &Jet, k: usize) -> Jet {
    let a3 = powi_jet(g, a, 3, k);
    let a3s: Jet = a3.iter().map(|c| scale_t(g, *c, GELU_A)).collect();
    let inner = add_jet(g, a, &a3s, 1.0);
    let u: Jet = inner.iter().map(|c| scale_t(g, *c, GELU_C)).collect();
    let t0 = g.unary(UnOp::Tanh, val(&u));
    let mut t = tan_like(g, &u, t0, -1.0, k);
    let one = fill_like(g, t0, 1.0);
    t[0] = Some(add(g, one, t0));
    let half_a: Jet = a.iter().map(|c| scale_t(g, *c, 0.5)).collect();
    cauchy(g, &half_a, &t, k, &elementwise)
}

/// `y = aʳ` for an exponent constant along the seed: with `h = a − a₀`, the series of
/// `(a₀ + h)ʳ`, `yₖ = Σ_{m=1}^{k} (1/m!)·(dᵐ/da₀ᵐ a₀ʳ)·[tᵏ] hᵐ` (Faà di Bruno, `hᵐ` by
/// Cauchy products). The derivatives `r(r−1)⋯(r−m+1)·a₀ʳ⁻ᵐ` are formed directly, so at
/// `a₀ = 0` the orders below `r` are `0` where `exp(r·log a)` made `0·∞`.
fn pow_const_jet(g: &mut Graph, a: &Jet, r: NodeId, y0: NodeId, k: usize) -> Jet {
    let a0 = val(a);
    let mut h = a.clone();
    h[0] = None;
    let mut y = constant_jet(y0, k);
    let mut hm = h.clone();
    let mut fact = 1.0;
    for m in 1..=k {
        if m > 1 {
            hm = cauchy(g, &hm, &h, k, &elementwise);
            fact *= m as f64;
        }
        let d = super::forward::pow_deriv(g, a0, r, m);
        let c = scale(g, d, 1.0 / fact);
        for (j, slot) in y.iter_mut().enumerate().skip(m) {
            let term = mul_t(g, Some(c), hm[j]);
            *slot = add_t(g, *slot, term);
        }
    }
    y
}

/// `aⁿ` for an integer `n`: repeated squaring of Cauchy products; `1/a⁻ⁿ` for `n < 0`.
fn powi_jet(g: &mut Graph, a: &Jet, n: i32, k: usize) -> Jet {
    let a0 = val(a);
    let mut result = constant_jet(fill_like(g, a0, 1.0), k);
    let mut base = a.clone();
    let mut e = n.unsigned_abs();
    while e > 0 {
        if e & 1 == 1 {
            result = cauchy(g, &result, &base, k, &elementwise);
        }
        e >>= 1;
        if e > 0 {
            base = square_jet(g, &base, k);
        }
    }
    if n < 0 {
        let y0 = g.unary(UnOp::Recip, val(&result));
        let one = constant_jet(fill_like(g, a0, 1.0), k);
        return div_jet(g, &one, &result, y0, k);
    }
    result
}
