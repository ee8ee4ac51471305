//! Collapsed Taylor mode (the Forward Laplacian) for `Σᵢ ∂²f/∂vᵢ²`.
//!
//! Each node carries its value, its `D` first-order tangents `∂ᵢx` and ONE summed
//! second-order term `Δx = Σᵢ ∂ᵢ²x`: `2 + D` vectors where `D` separate order-2 jets carry
//! `1 + 2D` (the values are shared). The sum over directions is pulled through every
//! linear op, so it is formed once per node instead of once per direction:
//!
//! - linear `L`: `∂ᵢ L(a) = L(∂ᵢa)`, `Δ L(a) = L(Δa)`;
//! - elementwise `φ`: `∂ᵢφ(a) = φ'(a) ∂ᵢa`, `Δφ(a) = φ'(a) Δa + φ''(a) Σᵢ (∂ᵢa)²`;
//! - bilinear `P` (mul, matmul): `∂ᵢP(a,b) = P(∂ᵢa, b) + P(a, ∂ᵢb)`,
//!   `ΔP(a,b) = P(Δa, b) + P(a, Δb) + 2 Σᵢ P(∂ᵢa, ∂ᵢb)`;
//! - `a/b = a·(1/b)`; `aᵇ` elementwise in `a` where `b` is constant along every direction,
//!   else `exp(b·log a)`; `atan2` from its gradient and Hessian.

use super::build::*;
use super::forward::{
    atan2_partials, deriv1, deriv2, pow_deriv, powi_deriv1, powi_deriv2, radius2,
};
use nabla_ir::{BinOp, Graph, NodeId, Op, UnOp};
use std::collections::HashMap;

/// A node's collapsed jet: tangents along each direction and the summed second-order term.
#[derive(Clone)]
struct Col {
    t: Vec<Tan>,
    lap: Tan,
}

impl Col {
    fn zero(d: usize) -> Col {
        Col {
            t: vec![None; d],
            lap: None,
        }
    }
}

/// `Σᵢ ∂²f/∂vᵢ²` with all-ones seeds on the leaves `vs`.
pub fn laplacian(g: &mut Graph, f: NodeId, vs: &[NodeId]) -> NodeId {
    let d = vs.len();
    let live = g.live(&[f]);
    let mut cols: HashMap<NodeId, Col> = HashMap::new();
    for (i, &v) in vs.iter().enumerate() {
        let one = fill_like(g, v, 1.0);
        cols.entry(v).or_insert_with(|| Col::zero(d)).t[i] = Some(one);
    }
    let Some(lo) = vs.iter().min().copied().filter(|lo| *lo <= f) else {
        return fill_like(g, f, 0.0);
    };
    for i in lo.0..=f.0 {
        let id = NodeId(i);
        let dep = g.args(id).iter().any(|a| cols.contains_key(a));
        if !live[id.index()] || cols.contains_key(&id) || !dep {
            continue;
        }
        let ins: Vec<Col> = g
            .args(id)
            .iter()
            .map(|a| cols.get(a).cloned().unwrap_or_else(|| Col::zero(d)))
            .collect();
        let out = rule(g, id, &ins, d);
        cols.insert(id, out);
    }
    let lap = cols.get(&f).and_then(|c| c.lap);
    or_zeros(g, lap, f)
}

fn rule(g: &mut Graph, id: NodeId, ins: &[Col], d: usize) -> Col {
    let n = g.node(id).clone();
    let a = |i: usize| n.args[i];
    match &n.op {
        Op::Unary(UnOp::Neg) => linear(g, &n.op, &ins[0]),
        Op::Unary(u) => {
            let d1 = deriv1(g, *u, a(0), id);
            let d2 = deriv2(g, *u, a(0), id);
            elementwise(g, d1, d2, &ins[0])
        }
        Op::Powi(k) => {
            let d1 = Some(powi_deriv1(g, a(0), *k));
            let d2 = powi_deriv2(g, a(0), *k);
            elementwise(g, d1, d2, &ins[0])
        }
        Op::Binary(b) => binary(g, *b, id, a(0), a(1), ins),
        Op::Broadcast(_) | Op::Reshape(_) | Op::Sum(_) | Op::Mean(_) | Op::Slice { .. } => {
            linear(g, &n.op, &ins[0])
        }
        Op::MatMul { .. } => {
            let op = n.op.clone();
            bilinear(g, a(0), a(1), &ins[0], &ins[1], &|g, x, y| {
                matmul(g, &op, x, y)
            })
        }
        Op::Concat(_) => concat(g, &n.op, &n.args, ins),
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Bound { .. }
        | Op::Const { .. }
        | Op::Tensor { .. } => Col::zero(d),
        Op::Diff { .. } | Op::Laplacian { .. } | Op::Grad { .. } | Op::Jacobian { .. } | Op::At => {
            unreachable!("derivative operators are expanded before their users")
        }
    }
}

/// `∂ᵢL(a) = L(∂ᵢa)`, `ΔL(a) = L(Δa)`.
fn linear(g: &mut Graph, op: &Op, a: &Col) -> Col {
    Col {
        t: a.t.iter().map(|t| linear_t(g, op, *t)).collect(),
        lap: linear_t(g, op, a.lap),
    }
}

/// `∂ᵢφ(a) = φ'(a) ∂ᵢa`, `Δφ(a) = φ'(a) Δa + φ''(a) Σᵢ (∂ᵢa)²`.
fn elementwise(g: &mut Graph, d1: Tan, d2: Tan, a: &Col) -> Col {
    let t: Vec<Tan> = a.t.iter().map(|t| mul_t(g, d1, *t)).collect();
    let first = mul_t(g, d1, a.lap);
    let squares: Vec<Tan> = a.t.iter().map(|t| t.map(|t| square(g, t))).collect();
    let sq = sum_t(g, squares);
    let second = mul_t(g, d2, sq);
    Col {
        t,
        lap: add_t(g, first, second),
    }
}

type Prod<'a> = dyn Fn(&mut Graph, NodeId, NodeId) -> NodeId + 'a;

/// `∂ᵢP = P(∂ᵢa, b) + P(a, ∂ᵢb)`, `ΔP = P(Δa, b) + P(a, Δb) + 2 Σᵢ P(∂ᵢa, ∂ᵢb)`.
fn bilinear(g: &mut Graph, a: NodeId, b: NodeId, ca: &Col, cb: &Col, p: &Prod<'_>) -> Col {
    let pt = |g: &mut Graph, x: Tan, y: Tan| -> Tan { Some(p(g, x?, y?)) };
    let t: Vec<Tan> =
        ca.t.iter()
            .zip(&cb.t)
            .map(|(ta, tb)| {
                let l = pt(g, *ta, Some(b));
                let r = pt(g, Some(a), *tb);
                add_t(g, l, r)
            })
            .collect();
    let l = pt(g, ca.lap, Some(b));
    let r = pt(g, Some(a), cb.lap);
    let cross: Vec<Tan> = ca.t.iter().zip(&cb.t).map(|(x, y)| pt(g, *x, *y)).collect();
    let cross = sum_t(g, cross);
    let cross = scale_t(g, cross, 2.0);
    let lap = sum_t(g, [l, r, cross]);
    Col { t, lap }
}

fn binary(g: &mut Graph, b: BinOp, y: NodeId, a0: NodeId, a1: NodeId, ins: &[Col]) -> Col {
    let (ca, cb) = (&ins[0], &ins[1]);
    let combine = |g: &mut Graph, s: f64| {
        let t =
            ca.t.iter()
                .zip(&cb.t)
                .map(|(x, y)| {
                    let y = scale_t(g, *y, s);
                    add_t(g, *x, y)
                })
                .collect();
        let l = scale_t(g, cb.lap, s);
        let lap = add_t(g, ca.lap, l);
        Col { t, lap }
    };
    match b {
        BinOp::Add => combine(g, 1.0),
        BinOp::Sub => combine(g, -1.0),
        BinOp::Mul => bilinear(g, a0, a1, ca, cb, &|g, x, y| mul(g, x, y)),
        // a/b = a · r with r = 1/b
        BinOp::Div => {
            let r = g.unary(UnOp::Recip, a1);
            let d1 = deriv1(g, UnOp::Recip, a1, r);
            let d2 = deriv2(g, UnOp::Recip, a1, r);
            let cr = elementwise(g, d1, d2, cb);
            bilinear(g, a0, r, ca, &cr, &|g, x, y| mul(g, x, y))
        }
        // b constant along every direction: φ(a) = aᵇ, φ′ = b·aᵇ⁻¹, φ″ = b(b−1)·aᵇ⁻²
        BinOp::Pow if cb.t.iter().all(Option::is_none) && cb.lap.is_none() => {
            let d1 = pow_deriv(g, a0, a1, 1);
            let d2 = pow_deriv(g, a0, a1, 2);
            elementwise(g, Some(d1), Some(d2), ca)
        }
        // aᵇ = exp(b · log a)
        BinOp::Pow => {
            let la = g.unary(UnOp::Log, a0);
            let d1 = deriv1(g, UnOp::Log, a0, la);
            let d2 = deriv2(g, UnOp::Log, a0, la);
            let cl = elementwise(g, d1, d2, ca);
            let p = bilinear(g, a1, la, cb, &cl, &|g, x, y| mul(g, x, y));
            elementwise(g, Some(y), Some(y), &p)
        }
        BinOp::Atan2 => atan2(g, a0, a1, ca, cb),
    }
}

/// `z = atan2(a, b)` with `q = a² + b²`: `z_a = b/q`, `z_b = -a/q`, `z_aa = -z_bb = -2ab/q²`,
/// `z_ab = (a² - b²)/q²`, so
/// `Δz = z_a Δa + z_b Δb + (2ab/q²) Σᵢ((∂ᵢb)² - (∂ᵢa)²) + 2 z_ab Σᵢ ∂ᵢa ∂ᵢb`.
fn atan2(g: &mut Graph, a: NodeId, b: NodeId, ca: &Col, cb: &Col) -> Col {
    let z = Atan2::new(g, a, b);
    let (za, zb) = (z.za, z.zb);
    let t: Vec<Tan> =
        ca.t.iter()
            .zip(&cb.t)
            .map(|(ta, tb)| {
                let l = mul_t(g, *ta, Some(za));
                let r = mul_t(g, *tb, Some(zb));
                add_t(g, l, r)
            })
            .collect();
    let sq = |g: &mut Graph, c: &Col| {
        let s: Vec<Tan> = c.t.iter().map(|t| t.map(|t| square(g, t))).collect();
        sum_t(g, s)
    };
    let (sa, sb) = (sq(g, ca), sq(g, cb));
    let cross: Vec<Tan> =
        ca.t.iter()
            .zip(&cb.t)
            .map(|(x, y)| mul_t(g, *x, *y))
            .collect();
    let cross = sum_t(g, cross);
    Col {
        t,
        lap: z.lap(g, [ca.lap, cb.lap], [sa, sb, cross]),
    }
}

/// The partial derivatives of `z = atan2(a, b)` that its collapsed second-order term
/// needs (shared with the stacked expansion).
pub(super) struct Atan2 {
    /// `z_a = b/q`, `z_b = -a/q`, `q = a² + b²`.
    pub za: NodeId,
    pub zb: NodeId,
    /// `2ab/q² = z_bb = -z_aa`.
    h: NodeId,
    /// `z_ab = (a² - b²)/q²`.
    zab: NodeId,
}

impl Atan2 {
    pub(super) fn new(g: &mut Graph, a: NodeId, b: NodeId) -> Atan2 {
        let (za, zb) = atan2_partials(g, a, b);
        let q = radius2(g, a, b);
        let q2 = square(g, q);
        let ab = mul(g, a, b);
        let ab2 = scale(g, ab, 2.0);
        let h = div(g, ab2, q2);
        let (a2, b2) = (square(g, a), square(g, b));
        let diff = sub(g, a2, b2);
        let zab = div(g, diff, q2);
        Atan2 { za, zb, h, zab }
    }

    /// `Δz = z_a Δa + z_b Δb + (2ab/q²)(Σᵢ(∂ᵢb)² - Σᵢ(∂ᵢa)²) + 2 z_ab Σᵢ ∂ᵢa ∂ᵢb` from
    /// `[Δa, Δb]` and `[Σᵢ(∂ᵢa)², Σᵢ(∂ᵢb)², Σᵢ ∂ᵢa ∂ᵢb]`.
    pub(super) fn lap(&self, g: &mut Graph, [la, lb]: [Tan; 2], [sa, sb, cross]: [Tan; 3]) -> Tan {
        let first_a = mul_t(g, la, Some(self.za));
        let first_b = mul_t(g, lb, Some(self.zb));
        let spread = sub_t(g, sb, sa);
        let spread = mul_t(g, spread, Some(self.h));
        let mixed = mul_t(g, cross, Some(self.zab));
        let mixed = scale_t(g, mixed, 2.0);
        sum_t(g, [first_a, first_b, spread, mixed])
    }
}

fn concat(g: &mut Graph, op: &Op, values: &[NodeId], ins: &[Col]) -> Col {
    let d = ins[0].t.len();
    let t = (0..d)
        .map(|i| {
            let parts: Vec<Tan> = ins.iter().map(|c| c.t[i]).collect();
            concat_t(g, op, &parts, values)
        })
        .collect();
    let laps: Vec<Tan> = ins.iter().map(|c| c.lap).collect();
    Col {
        t,
        lap: concat_t(g, op, &laps, values),
    }
}
