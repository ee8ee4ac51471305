//! The Forward Laplacian with its `D` tangents stacked on a leading axis.
//!
//! The rules are those of [`super::collapsed`] — each node carries its value, its first-order
//! tangents `∂ᵢx` and one summed second-order term `Δx = Σᵢ ∂ᵢ²x` — but the `D` tangents of
//! a node of shape `s` are one tensor `T: [D] ++ s` instead of `D` tensors of shape `s`:
//!
//! - linear `L`: `T(L(a)) = L'(T(a))`, `L'` being `L` on the trailing axes
//!   (a product `a·W` takes all directions in one `[D·N, K]·W`);
//! - elementwise `φ`: `T(φ(a)) = φ'(a) ⊙ T(a)` (`φ'(a)` broadcast along the directions),
//!   `Δφ(a) = φ'(a) Δa + φ''(a) Σ₀ T(a)²`, the sum over directions one reduction of axis 0;
//! - bilinear `P`: `T(P(a,b)) = P(T(a), b) + P(a, T(b))`,
//!   `ΔP(a,b) = P(Δa, b) + P(a, Δb) + 2 Σ₀ P(T(a), T(b))`.
//!
//! The FLOPs are those of the collapsed expansion; the graph has a few nodes per op where
//! the collapsed one has `D` (B3, `D = 100`: one product per layer instead of 100), so
//! simplification and code generation take time independent of `D` and each product is
//! one large matrix product. Where the `D` directions are the `D` seeded input columns of a
//! concat in order — an MLP's input — their tangent is the identity along the last axis
//! ([`St::Eye`]), and the first layer's tangent is the rows of `Wᵀ` broadcast over the
//! points, with no product over points at all.
//!
//! The batch axis is no longer first in the stacked values, so the expansion is only used
//! where nothing needs the graph point-separable (see `Expander::stack_ok`).

use super::build::*;
use super::forward::{atan2_partials, deriv1, deriv2, powi_deriv1, powi_deriv2, radius2};
use nabla_ir::{BinOp, Graph, NodeId, Op, Shape, UnOp};
use std::collections::HashMap;

/// Laplacians over fewer variables keep one tangent per direction ([`super::collapsed`]):
/// the graphs are small either way, and their products are already large.
pub const STACK_MIN: usize = 16;

/// The stacked tangents of one node.
#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    /// Zero along every direction.
    Zero,
    /// A seeded leaf: its tangent along direction `i` is 1 where the leaf is `vs[i]`.
    Seed(NodeId),
    /// The concat of all `D` seeded leaves in order along the last axis: direction `i` is
    /// the unit vector `eᵢ` of that axis at every point.
    Eye,
    /// `[D] ++ shape` tangents.
    Dense(NodeId),
}

/// A node's stacked tangents and summed second-order term.
#[derive(Clone, Copy)]
struct Stk {
    t: St,
    lap: Tan,
}

const ZERO: Stk = Stk {
    t: St::Zero,
    lap: None,
};

/// The expansion's state: the graph, the seeds and the number of directions.
struct Ctx<'a> {
    g: &'a mut Graph,
    vs: &'a [NodeId],
}

/// `Σᵢ ∂²f/∂vᵢ²` with all-ones seeds on the leaves `vs`, tangents stacked.
pub fn laplacian(g: &mut Graph, f: NodeId, vs: &[NodeId]) -> NodeId {
    let live = g.live(&[f]);
    let mut st: HashMap<NodeId, Stk> = HashMap::new();
    for &v in vs {
        st.insert(
            v,
            Stk {
                t: St::Seed(v),
                lap: None,
            },
        );
    }
    let Some(lo) = vs.iter().min().copied().filter(|lo| *lo <= f) else {
        return fill_like(g, f, 0.0);
    };
    let mut cx = Ctx { g, vs };
    for i in lo.0..=f.0 {
        let id = NodeId(i);
        let dep = cx.g.args(id).iter().any(|a| st.contains_key(a));
        if !live[id.index()] || st.contains_key(&id) || !dep {
            continue;
        }
        let ins: Vec<Stk> = (cx.g.args(id).iter())
            .map(|a| st.get(a).copied().unwrap_or(ZERO))
            .collect();
        let out = cx.rule(id, &ins);
        st.insert(id, out);
    }
    let lap = st.get(&f).and_then(|c| c.lap);
    or_zeros(cx.g, lap, f)
}

impl Ctx<'_> {
    fn d(&self) -> usize {
        self.vs.len()
    }

    /// `[D] ++ s`.
    fn stacked(&self, s: &Shape) -> Shape {
        let mut dims = vec![self.d()];
        dims.extend_from_slice(s.dims());
        Shape::new(&dims)
    }

    /// The tangents of `x` (whose value node is `like`) as a `[D] ++ shape` node.
    fn dense(&mut self, t: St, like: NodeId) -> Tan {
        let s = self.g.shape(like).clone();
        let dt = self.g.dtype(like);
        let d = self.d();
        Some(match t {
            St::Zero => return None,
            St::Dense(n) => n,
            St::Seed(v) => {
                // 1 at every direction whose variable is this leaf (a repeated variable
                // counts once per repetition), broadcast over the leaf's elements
                let hot: Vec<f64> = self.vs.iter().map(|&w| f64::from(w == v)).collect();
                let mut dims = vec![1; s.rank() + 1];
                dims[0] = d;
                let h = self.g.tensor(&hot, dt, &Shape::new(&dims));
                self.g.broadcast(h, &self.stacked(&s))
            }
            St::Eye => {
                let mut dims = vec![1; s.rank() + 1];
                dims[0] = d;
                dims[s.rank()] = d;
                let eye: Vec<f64> = (0..d * d).map(|k| f64::from(k % (d + 1) == 0)).collect();
                let e = self.g.tensor(&eye, dt, &Shape::new(&dims));
                self.g.broadcast(e, &self.stacked(&s))
            }
        })
    }

    fn rule(&mut self, id: NodeId, ins: &[Stk]) -> Stk {
        let n = self.g.node(id).clone();
        let a = |i: usize| n.args[i];
        match &n.op {
            Op::Unary(UnOp::Neg) => self.linear(&n.op, a(0), &ins[0]),
            Op::Unary(u) => {
                let d1 = deriv1(self.g, *u, a(0), id);
                let d2 = deriv2(self.g, *u, a(0), id);
                self.elementwise(d1, d2, a(0), &ins[0])
            }
            Op::Powi(k) => {
                let d1 = Some(powi_deriv1(self.g, a(0), *k));
                let d2 = powi_deriv2(self.g, a(0), *k);
                self.elementwise(d1, d2, a(0), &ins[0])
            }
            Op::Binary(b) => self.binary(*b, id, a(0), a(1), ins),
            Op::Broadcast(_) | Op::Reshape(_) | Op::Sum(_) | Op::Mean(_) | Op::Slice { .. } => {
                self.linear(&n.op, a(0), &ins[0])
            }
            Op::MatMul { ta, tb } => self.matmul(*ta, *tb, a(0), a(1), ins),
            Op::Concat(axis) => self.concat(*axis, &n.args, ins),
            Op::Input { .. }
            | Op::Param { .. }
            | Op::Bound { .. }
            | Op::Const { .. }
            | Op::Tensor { .. } => ZERO,
            Op::Diff { .. }
            | Op::Laplacian { .. }
            | Op::Grad { .. }
            | Op::Jacobian { .. }
            | Op::At => {
                unreachable!("derivative operators are expanded before their users")
            }
        }
    }

    /// `T(L(a)) = L'(T(a))` with `L'` the op on the trailing axes; `ΔL(a) = L(Δa)`.
    fn linear(&mut self, op: &Op, a: NodeId, x: &Stk) -> Stk {
        let lap = linear_t(self.g, op, x.lap);
        let Some(t) = self.dense(x.t, a) else {
            return Stk { t: St::Zero, lap };
        };
        let t = match op {
            Op::Unary(UnOp::Neg) => neg(self.g, t),
            Op::Broadcast(to) => {
                // right-aligned: put the operand's missing leading axes after the directions
                let s = self.g.shape(a).clone();
                let mut dims = vec![self.d()];
                dims.extend(std::iter::repeat_n(1, to.rank() - s.rank()));
                dims.extend_from_slice(s.dims());
                let r = self.reshape(t, &Shape::new(&dims));
                self.g.broadcast(r, &self.stacked(to))
            }
            Op::Reshape(to) => self.reshape(t, &self.stacked(to)),
            Op::Sum(k) => self.g.add_or_panic(Op::Sum(k + 1), &[t]),
            Op::Mean(k) => self.g.add_or_panic(Op::Mean(k + 1), &[t]),
            Op::Slice { axis, start, len } => {
                self.g.slice(t, axis + 1, *start as usize, *len as usize)
            }
            _ => unreachable!("not a linear one-operand op: {op:?}"),
        };
        Stk {
            t: St::Dense(t),
            lap,
        }
    }

    fn reshape(&mut self, x: NodeId, to: &Shape) -> NodeId {
        if self.g.shape(x) == to {
            return x;
        }
        self.g.add_or_panic(Op::Reshape(to.clone()), &[x])
    }

    /// `Σ₀ x`: the sum over the directions.
    fn sum_dirs(&mut self, x: NodeId) -> NodeId {
        self.g.add_or_panic(Op::Sum(0), &[x])
    }

    /// `T(φ(a)) = φ'(a) ⊙ T(a)`, `Δφ(a) = φ'(a) Δa + φ''(a) Σ₀ T(a)²`.
    fn elementwise(&mut self, d1: Tan, d2: Tan, a: NodeId, x: &Stk) -> Stk {
        let t = self.dense(x.t, a);
        let first = mul_t(self.g, d1, x.lap);
        let sq = t.map(|t| {
            let s = square(self.g, t);
            self.sum_dirs(s)
        });
        let second = mul_t(self.g, d2, sq);
        Stk {
            t: wrap(mul_t(self.g, d1, t)),
            lap: add_t(self.g, first, second),
        }
    }

    /// `T(P) = P(T(a), b) + P(a, T(b))`, `ΔP = P(Δa, b) + P(a, Δb) + 2 Σ₀ P(T(a), T(b))` for
    /// the elementwise product `P(x, y) = x·y`.
    fn product(&mut self, a: NodeId, b: NodeId, xa: &Stk, xb: &Stk) -> Stk {
        let (ta, tb) = (self.dense(xa.t, a), self.dense(xb.t, b));
        let l = mul_t(self.g, ta, Some(b));
        let r = mul_t(self.g, Some(a), tb);
        let t = add_t(self.g, l, r);
        let l = mul_t(self.g, xa.lap, Some(b));
        let r = mul_t(self.g, Some(a), xb.lap);
        let cross = mul_t(self.g, ta, tb).map(|c| self.sum_dirs(c));
        let cross = scale_t(self.g, cross, 2.0);
        Stk {
            t: wrap(t),
            lap: sum_t(self.g, [l, r, cross]),
        }
    }

    fn binary(&mut self, b: BinOp, y: NodeId, a0: NodeId, a1: NodeId, ins: &[Stk]) -> Stk {
        let (xa, xb) = (&ins[0], &ins[1]);
        let combine = |cx: &mut Self, s: f64| {
            let ta = cx.dense(xa.t, a0);
            let tb = cx.dense(xb.t, a1);
            let tb = scale_t(cx.g, tb, s);
            let t = add_t(cx.g, ta, tb);
            let l = scale_t(cx.g, xb.lap, s);
            Stk {
                t: wrap(t),
                lap: add_t(cx.g, xa.lap, l),
            }
        };
        match b {
            BinOp::Add => combine(self, 1.0),
            BinOp::Sub => combine(self, -1.0),
            BinOp::Mul => self.product(a0, a1, xa, xb),
            // a/b = a · r with r = 1/b
            BinOp::Div => {
                let r = self.g.unary(UnOp::Recip, a1);
                let d1 = deriv1(self.g, UnOp::Recip, a1, r);
                let d2 = deriv2(self.g, UnOp::Recip, a1, r);
                let xr = self.elementwise(d1, d2, a1, xb);
                self.product(a0, r, xa, &xr)
            }
            // aᵇ = exp(b · log a)
            BinOp::Pow => {
                let la = self.g.unary(UnOp::Log, a0);
                let d1 = deriv1(self.g, UnOp::Log, a0, la);
                let d2 = deriv2(self.g, UnOp::Log, a0, la);
                let xl = self.elementwise(d1, d2, a0, xa);
                let p = self.product(a1, la, xb, &xl);
                self.elementwise(Some(y), Some(y), y, &p)
            }
            BinOp::Atan2 => self.atan2(a0, a1, xa, xb),
        }
    }

    /// `z = atan2(a, b)`, `q = a² + b²`: `T(z) = z_a T(a) + z_b T(b)`,
    /// `Δz = z_a Δa + z_b Δb + (2ab/q²) Σ₀(T(b)² − T(a)²) + 2 z_ab Σ₀ T(a) T(b)`,
    /// `z_ab = (a² − b²)/q²` (as in the collapsed expansion).
    fn atan2(&mut self, a: NodeId, b: NodeId, xa: &Stk, xb: &Stk) -> Stk {
        let g = &mut *self.g;
        let (za, zb) = atan2_partials(g, a, b);
        let q = radius2(g, a, b);
        let q2 = square(g, q);
        let ab = mul(g, a, b);
        let ab2 = scale(g, ab, 2.0);
        let h = div(g, ab2, q2);
        let (a2, b2) = (square(g, a), square(g, b));
        let diff = sub(g, a2, b2);
        let zab = div(g, diff, q2);
        let (ta, tb) = (self.dense(xa.t, a), self.dense(xb.t, b));
        let l = mul_t(self.g, ta, Some(za));
        let r = mul_t(self.g, tb, Some(zb));
        let t = add_t(self.g, l, r);
        let sq = |cx: &mut Self, t: Tan| {
            t.map(|t| {
                let s = square(cx.g, t);
                cx.sum_dirs(s)
            })
        };
        let (sa, sb) = (sq(self, ta), sq(self, tb));
        let cross = mul_t(self.g, ta, tb).map(|c| self.sum_dirs(c));
        let g = &mut *self.g;
        let first_a = mul_t(g, xa.lap, Some(za));
        let first_b = mul_t(g, xb.lap, Some(zb));
        let spread = sub_t(g, sb, sa);
        let spread = mul_t(g, spread, Some(h));
        let mixed = mul_t(g, cross, Some(zab));
        let mixed = scale_t(g, mixed, 2.0);
        Stk {
            t: wrap(t),
            lap: sum_t(g, [first_a, first_b, spread, mixed]),
        }
    }

    /// `op(a)·op(b)`: `T = op(T(a))·op(b) + op(a)·op(T(b))`,
    /// `Δ = op(Δa)·op(b) + op(a)·op(Δb) + 2 Σ₀ op(T(a))·op(T(b))`.
    fn matmul(&mut self, ta: bool, tb: bool, a: NodeId, b: NodeId, ins: &[Stk]) -> Stk {
        let op = Op::MatMul { ta, tb };
        let (xa, xb) = (&ins[0], &ins[1]);
        let l = self.left(ta, tb, a, b, xa.t);
        let db = self.dense(xb.t, b);
        let r = db.map(|db| self.per_direction(&op, Side::Fixed(a), Side::Stacked(db)));
        let t = add_t(self.g, l, r);
        let l = xa.lap.map(|x| matmul(self.g, &op, x, b));
        let r = xb.lap.map(|x| matmul(self.g, &op, a, x));
        let cross = match (self.dense(xa.t, a), db) {
            (Some(da), Some(db)) => {
                let each = self.per_direction(&op, Side::Stacked(da), Side::Stacked(db));
                Some(self.sum_dirs(each))
            }
            _ => None,
        };
        let cross = scale_t(self.g, cross, 2.0);
        Stk {
            t: wrap(t),
            lap: sum_t(self.g, [l, r, cross]),
        }
    }

    /// `op(T(a))·op(b)`, all directions in one product when `a`'s rows are not contracted.
    fn left(&mut self, ta: bool, tb: bool, a: NodeId, b: NodeId, t: St) -> Tan {
        let op = Op::MatMul { ta, tb };
        if ta {
            let t = self.dense(t, a)?;
            return Some(self.per_direction(&op, Side::Stacked(t), Side::Fixed(b)));
        }
        let d = self.d();
        let (rows, cols) = (self.g.shape(a).dims()[0], self.g.shape(a).dims()[1]);
        if t == St::Eye && cols == d {
            // direction i is eᵢ in every row: its product is row i of op(b) in every row
            let r = self.rows_of(b, tb);
            let m = self.g.shape(r).dims()[1];
            let r = self.reshape(r, &Shape::new(&[d, 1, m]));
            return Some(self.g.broadcast(r, &Shape::new(&[d, rows, m])));
        }
        let t = self.dense(t, a)?;
        let flat = self.reshape(t, &Shape::matrix(d * rows, cols));
        let p = matmul(self.g, &op, flat, b);
        let m = self.g.shape(p).dims()[1];
        Some(self.reshape(p, &Shape::new(&[d, rows, m])))
    }

    /// `op(b)`: `b`, or `bᵀ` computed as `bᵀ·I` (the IR has no transpose; the product
    /// costs `2·k·m²` once per run, not per point).
    fn rows_of(&mut self, b: NodeId, tb: bool) -> NodeId {
        if !tb {
            return b;
        }
        let m = self.g.shape(b).dims()[0];
        let dt = self.g.dtype(b);
        let eye: Vec<f64> = (0..m * m).map(|k| f64::from(k % (m + 1) == 0)).collect();
        let i = self.g.tensor(&eye, dt, &Shape::matrix(m, m));
        let bt = Op::MatMul {
            ta: true,
            tb: false,
        };
        self.g.add_or_panic(bt, &[b, i])
    }

    /// `op(x)·op(y)` for each direction, stacked: for the rare products whose contracted
    /// rows or right operand carry tangents, one product per direction.
    fn per_direction(&mut self, op: &Op, x: Side, y: Side) -> NodeId {
        let parts: Vec<NodeId> = (0..self.d())
            .map(|i| {
                let x = self.side(x, i);
                let y = self.side(y, i);
                let p = matmul(self.g, op, x, y);
                let s = self.g.shape(p).clone();
                self.reshape(p, &stacked_one(&s))
            })
            .collect();
        self.g.add_or_panic(Op::Concat(0), &parts)
    }

    /// The operand of direction `i`.
    fn side(&mut self, s: Side, i: usize) -> NodeId {
        match s {
            Side::Fixed(x) => x,
            Side::Stacked(t) => {
                let s = Shape::new(&self.g.shape(t).dims()[1..]);
                let one = self.g.slice(t, 0, i, 1);
                self.reshape(one, &s)
            }
        }
    }

    /// Concat along `axis`: the seeded leaves in order along the last axis are the
    /// identity ([`St::Eye`]); otherwise the parts' stacked tangents joined along `axis + 1`.
    fn concat(&mut self, axis: u8, values: &[NodeId], ins: &[Stk]) -> Stk {
        let laps: Vec<Tan> = ins.iter().map(|c| c.lap).collect();
        let lap = concat_t(self.g, &Op::Concat(axis), &laps, values);
        let last = self.g.shape(values[0]).rank() - 1;
        let in_order = values.len() == self.d()
            && usize::from(axis) == last
            && (ins.iter().zip(self.vs)).all(|(c, &v)| c.t == St::Seed(v) && c.lap.is_none())
            && values.iter().all(|&v| self.g.shape(v).dims()[last] == 1)
            && distinct(self.vs);
        if in_order {
            return Stk { t: St::Eye, lap };
        }
        if ins.iter().all(|c| c.t == St::Zero) {
            return Stk { t: St::Zero, lap };
        }
        let parts: Vec<NodeId> = (ins.iter().zip(values))
            .map(|(c, &v)| {
                let t = self.dense(c.t, v);
                t.unwrap_or_else(|| {
                    let s = self.stacked(&self.g.shape(v).clone());
                    let dt = self.g.dtype(v);
                    self.g.fill(0.0, dt, &s)
                })
            })
            .collect();
        let t = self.g.add_or_panic(Op::Concat(axis + 1), &parts);
        Stk {
            t: St::Dense(t),
            lap,
        }
    }
}

/// An operand of a product: the same for every direction, or stacked tangents.
#[derive(Clone, Copy)]
enum Side {
    Fixed(NodeId),
    Stacked(NodeId),
}

/// Stacked tangents from a possibly zero node.
fn wrap(t: Tan) -> St {
    t.map_or(St::Zero, St::Dense)
}

/// `[1] ++ s`.
fn stacked_one(s: &Shape) -> Shape {
    let mut dims = vec![1];
    dims.extend_from_slice(s.dims());
    Shape::new(&dims)
}

/// Whether no leaf is listed twice.
fn distinct(vs: &[NodeId]) -> bool {
    let mut s = vs.to_vec();
    s.sort();
    s.dedup();
    s.len() == vs.len()
}
