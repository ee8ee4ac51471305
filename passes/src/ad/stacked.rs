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
//! one large matrix product. Where the directions are seeded input columns of a concat
//! along its last axis — an MLP's input, `[x₁ … x_D]` or `[t, x₁ … x_D]` — each direction's
//! tangent is one unit column ([`St::Onehot`]), and the first layer's tangents are rows
//! of `Wᵀ` broadcast over the points, with no product over points at all. Values built from a few coordinates each
//! (`1 − Σ xᵢ²`, `sin(x₃)`) keep one tangent per nonzero direction ([`St::Parts`]) until
//! they meet a stacked one, so a sum of `D` functions of one coordinate costs `O(D)`, not
//! `O(D²)`.
//!
//! The batch axis is no longer first in the stacked values, so the expansion is only used
//! where nothing needs the graph point-separable (see `Expander::stack_ok`).

use super::build::*;
use super::collapsed::Atan2;
use super::forward::{deriv1, deriv2, pow_deriv, powi_deriv1, powi_deriv2};
use super::lift::{self, lead, per_row, reshape, rows_product, Side};
use nabla_ir::{BinOp, Graph, NodeId, Op, Shape, UnOp};
use std::collections::{BTreeMap, HashMap};

/// Laplacians over fewer variables keep one tangent per direction ([`super::collapsed`]):
/// the graphs are small either way, and their products are already large.
pub const STACK_MIN: usize = 16;

/// The tangents of one node along the `D` directions.
#[derive(Clone, Debug, PartialEq)]
enum St {
    /// The nonzero directions only, each with its tangent (of the node's shape); none:
    /// zero along every direction. A seeded leaf is `1` along its own directions.
    Parts(BTreeMap<usize, NodeId>),
    /// A concat along the last axis of seeded leaves (one column each, each direction at
    /// most once) and of parts without tangents: direction `i` is the unit vector of
    /// column `cols[i]` at every point (zero when `None`).
    Onehot(Vec<Option<usize>>),
    /// All directions stacked: `[D] ++ shape`.
    Dense(NodeId),
}

const ZERO: St = St::Parts(BTreeMap::new());

/// A node's tangents and summed second-order term.
#[derive(Clone)]
struct Stk {
    t: St,
    lap: Tan,
}

/// The expansion's state: the graph and the seeded variables, one per direction.
struct Ctx<'a> {
    g: &'a mut Graph,
    vs: &'a [NodeId],
}

/// `Σᵢ ∂²f/∂vᵢ²` with all-ones seeds on the leaves `vs`, tangents stacked.
pub fn laplacian(g: &mut Graph, f: NodeId, vs: &[NodeId]) -> NodeId {
    let live = g.live(&[f]);
    let mut st: HashMap<NodeId, Stk> = HashMap::new();
    for (i, &v) in vs.iter().enumerate() {
        let one = fill_like(g, v, 1.0);
        let e = st.entry(v).or_insert(Stk { t: ZERO, lap: None });
        if let St::Parts(p) = &mut e.t {
            p.insert(i, one);
        }
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
            .map(|a| st.get(a).cloned().unwrap_or(Stk { t: ZERO, lap: None }))
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

    /// The tangents of a node whose value is `like` as one `[D] ++ shape` node (`None`:
    /// zero).
    fn dense(&mut self, t: &St, like: NodeId) -> Tan {
        let s = self.g.shape(like).clone();
        let (dt, d) = (self.g.dtype(like), self.d());
        match t {
            St::Dense(n) => Some(*n),
            St::Parts(p) if p.is_empty() => None,
            St::Parts(p) => {
                let zero = self.g.fill(0.0, dt, &lead(1, &s));
                let rows: Vec<NodeId> = (0..d)
                    .map(|i| match p.get(&i) {
                        Some(&x) => reshape(self.g, x, &lead(1, &s)),
                        None => zero,
                    })
                    .collect();
                Some(self.g.add_or_panic(Op::Concat(0), &rows))
            }
            St::Onehot(cols) => {
                let width = s.dims()[s.rank() - 1];
                let mut dims = vec![1; s.rank() + 1];
                dims[0] = d;
                dims[s.rank()] = width;
                let e = self
                    .g
                    .tensor(&selection(cols, width), dt, &Shape::new(&dims));
                Some(self.g.broadcast(e, &lead(d, &s)))
            }
        }
    }

    /// `f` applied to every direction's tangent: per part, or once to the stacked ones
    /// (`on_dense`).
    fn map(
        &mut self,
        t: &St,
        like: NodeId,
        each: &mut dyn FnMut(&mut Graph, NodeId) -> Tan,
        on_dense: &mut dyn FnMut(&mut Self, NodeId) -> Tan,
    ) -> St {
        match t {
            St::Parts(p) => St::Parts(
                p.iter()
                    .filter_map(|(&i, &x)| Some((i, each(self.g, x)?)))
                    .collect(),
            ),
            _ => {
                let x = self.dense(t, like).expect("nonzero");
                wrap(on_dense(self, x))
            }
        }
    }

    /// Every direction's tangent times `k` (of the value's shape, broadcast along the
    /// directions when stacked).
    fn times(&mut self, t: &St, like: NodeId, k: Tan) -> St {
        let Some(k) = k else { return ZERO };
        self.map(t, like, &mut |g, x| Some(mul(g, k, x)), &mut |cx, x| {
            Some(mul(cx.g, k, x))
        })
    }

    /// `a + s·b` of tangents.
    fn add(&mut self, a: &St, la: NodeId, b: &St, lb: NodeId, s: f64) -> St {
        match (a, b) {
            (St::Parts(p), St::Parts(q)) => {
                let mut r = p.clone();
                for (&i, &y) in q {
                    let y = scale(self.g, y, s);
                    let v = match r.get(&i) {
                        Some(&x) => add(self.g, x, y),
                        None => y,
                    };
                    r.insert(i, v);
                }
                St::Parts(r)
            }
            _ => {
                let x = self.dense(a, la);
                let y = self.dense(b, lb);
                let y = scale_t(self.g, y, s);
                wrap(add_t(self.g, x, y))
            }
        }
    }

    /// `Σᵢ xᵢ·yᵢ` over the directions for an elementwise product `P`, or `Σᵢ P(xᵢ, yᵢ)`.
    fn dot(&mut self, x: &St, lx: NodeId, y: &St, ly: NodeId, p: &Pair) -> Tan {
        if let (St::Parts(a), St::Parts(b)) = (x, y) {
            let terms: Vec<Tan> = (a.iter())
                .filter_map(|(i, &u)| Some(Some(p.apply(self.g, u, *b.get(i)?))))
                .collect();
            return sum_t(self.g, terms);
        }
        let u = self.dense(x, lx)?;
        let v = self.dense(y, ly)?;
        let each = match p {
            Pair::Mul => p.apply(self.g, u, v),
            Pair::MatMul(op) => per_row(self.g, op, Side::Stacked(u), Side::Stacked(v), self.d()),
        };
        Some(self.g.add_or_panic(Op::Sum(0), &[each]))
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
            Op::MatMul { .. } => self.matmul(id, ins),
            Op::Concat(axis) => self.concat(*axis, &n.args, ins),
            Op::Input { .. }
            | Op::Param { .. }
            | Op::Bound { .. }
            | Op::Const { .. }
            | Op::Tensor { .. } => Stk { t: ZERO, lap: None },
            Op::Diff { .. }
            | Op::Laplacian { .. }
            | Op::Grad { .. }
            | Op::Jacobian { .. }
            | Op::At => {
                unreachable!("derivative operators are expanded before their users")
            }
        }
    }

    /// `T(L(a)) = L(T(a))` per part, or `L'(T(a))` stacked, `L'` being `L` on the
    /// trailing axes; `ΔL(a) = L(Δa)`.
    fn linear(&mut self, op: &Op, a: NodeId, x: &Stk) -> Stk {
        let lap = linear_t(self.g, op, x.lap);
        let t = self.map(
            &x.t,
            a,
            &mut |g, t| Some(same_op(g, op, &[t])),
            &mut |cx, t| Some(lift::linear(cx.g, op, a, t, cx.d())),
        );
        Stk { t, lap }
    }

    /// `T(φ(a)) = φ'(a) T(a)`, `Δφ(a) = φ'(a) Δa + φ''(a) Σᵢ (∂ᵢa)²`.
    fn elementwise(&mut self, d1: Tan, d2: Tan, a: NodeId, x: &Stk) -> Stk {
        let first = mul_t(self.g, d1, x.lap);
        let sq = self.dot(&x.t, a, &x.t, a, &Pair::Mul);
        let second = mul_t(self.g, d2, sq);
        Stk {
            t: self.times(&x.t, a, d1),
            lap: add_t(self.g, first, second),
        }
    }

    /// `T(ab) = T(a) b + a T(b)`, `Δ(ab) = Δa b + a Δb + 2 Σᵢ ∂ᵢa ∂ᵢb`.
    fn product(&mut self, a: NodeId, b: NodeId, xa: &Stk, xb: &Stk) -> Stk {
        let l = self.times(&xa.t, a, Some(b));
        let r = self.times(&xb.t, b, Some(a));
        let t = self.add(&l, a, &r, b, 1.0);
        let l = mul_t(self.g, xa.lap, Some(b));
        let r = mul_t(self.g, Some(a), xb.lap);
        let cross = self.dot(&xa.t, a, &xb.t, b, &Pair::Mul);
        let cross = scale_t(self.g, cross, 2.0);
        Stk {
            t,
            lap: sum_t(self.g, [l, r, cross]),
        }
    }

    fn binary(&mut self, b: BinOp, y: NodeId, a0: NodeId, a1: NodeId, ins: &[Stk]) -> Stk {
        let (xa, xb) = (&ins[0], &ins[1]);
        let combine = |cx: &mut Self, s: f64| {
            let t = cx.add(&xa.t, a0, &xb.t, a1, s);
            let l = scale_t(cx.g, xb.lap, s);
            Stk {
                t,
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
            // b constant along every direction: φ(a) = aᵇ, φ′ = b·aᵇ⁻¹, φ″ = b(b−1)·aᵇ⁻²
            BinOp::Pow if xb.t == ZERO && xb.lap.is_none() => {
                let d1 = pow_deriv(self.g, a0, a1, 1);
                let d2 = pow_deriv(self.g, a0, a1, 2);
                self.elementwise(Some(d1), Some(d2), a0, xa)
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
    /// `Δz = z_a Δa + z_b Δb + (2ab/q²) Σᵢ((∂ᵢb)² − (∂ᵢa)²) + 2 z_ab Σᵢ ∂ᵢa ∂ᵢb`,
    /// `z_ab = (a² − b²)/q²` (as in the collapsed expansion).
    fn atan2(&mut self, a: NodeId, b: NodeId, xa: &Stk, xb: &Stk) -> Stk {
        let z = Atan2::new(self.g, a, b);
        let l = self.times(&xa.t, a, Some(z.za));
        let r = self.times(&xb.t, b, Some(z.zb));
        let t = self.add(&l, a, &r, b, 1.0);
        let sa = self.dot(&xa.t, a, &xa.t, a, &Pair::Mul);
        let sb = self.dot(&xb.t, b, &xb.t, b, &Pair::Mul);
        let cross = self.dot(&xa.t, a, &xb.t, b, &Pair::Mul);
        Stk {
            t,
            lap: z.lap(self.g, [xa.lap, xb.lap], [sa, sb, cross]),
        }
    }

    /// `op(a)·op(b)`: `T = op(T(a))·op(b) + op(a)·op(T(b))`,
    /// `Δ = op(Δa)·op(b) + op(a)·op(Δb) + 2 Σᵢ op(∂ᵢa)·op(∂ᵢb)`.
    fn matmul(&mut self, y: NodeId, ins: &[Stk]) -> Stk {
        let op = self.g.op(y).clone();
        let (a, b) = (self.g.args(y)[0], self.g.args(y)[1]);
        let (xa, xb) = (&ins[0], &ins[1]);
        let l = self.left(&op, a, b, &xa.t);
        let r = self.map(
            &xb.t,
            b,
            &mut |g, t| Some(matmul(g, &op, a, t)),
            &mut |cx, t| Some(per_row(cx.g, &op, Side::Fixed(a), Side::Stacked(t), cx.d())),
        );
        let t = self.add(&l, y, &r, y, 1.0);
        let l = xa.lap.map(|x| matmul(self.g, &op, x, b));
        let r = xb.lap.map(|x| matmul(self.g, &op, a, x));
        let cross = self.dot(&xa.t, a, &xb.t, b, &Pair::MatMul(op.clone()));
        let cross = scale_t(self.g, cross, 2.0);
        Stk {
            t,
            lap: sum_t(self.g, [l, r, cross]),
        }
    }

    /// `op(T(a))·op(b)`: per part, or all directions in one product when `a`'s rows are
    /// not contracted.
    fn left(&mut self, op: &Op, a: NodeId, b: NodeId, t: &St) -> St {
        let Op::MatMul { ta, tb } = *op else {
            unreachable!()
        };
        let d = self.d();
        let rows = self.g.shape(a).dims()[0];
        if let (St::Onehot(picks), false) = (t, ta) {
            // direction i is the unit vector of column cᵢ in every row: its product is row
            // cᵢ of op(b) in every row
            let r = self.rows_of(b, tb);
            let r = self.pick_rows(r, picks);
            let m = self.g.shape(r).dims()[1];
            let r = reshape(self.g, r, &Shape::new(&[d, 1, m]));
            return St::Dense(self.g.broadcast(r, &Shape::new(&[d, rows, m])));
        }
        self.map(t, a, &mut |g, x| Some(matmul(g, op, x, b)), &mut |cx, x| {
            if ta {
                return Some(per_row(cx.g, op, Side::Stacked(x), Side::Fixed(b), d));
            }
            Some(rows_product(cx.g, op, x, b, d))
        })
    }

    /// Row `cᵢ` of `r` for each direction `i` (zeros for `None`): a slice when the rows
    /// are consecutive in order (`[t, x₁ … x_D]`), else the selection matrix times `r`
    /// (`2·D·C·M` FLOPs once per run).
    fn pick_rows(&mut self, r: NodeId, picks: &[Option<usize>]) -> NodeId {
        let c = self.g.shape(r).dims()[0];
        let first = picks[0];
        let run = (picks.iter().enumerate()).all(|(i, p)| first.is_some_and(|f| *p == Some(f + i)));
        if let (true, Some(f)) = (run, first) {
            return self.g.slice(r, 0, f, picks.len());
        }
        let dt = self.g.dtype(r);
        let sel = self
            .g
            .tensor(&selection(picks, c), dt, &Shape::matrix(picks.len(), c));
        let nn = Op::MatMul {
            ta: false,
            tb: false,
        };
        self.g.add_or_panic(nn, &[sel, r])
    }

    /// `op(b)`: `b`, or `bᵀ` computed as `bᵀ·I` (the IR has no transpose; the product
    /// costs `2·k·m²` once per run, not per point).
    fn rows_of(&mut self, b: NodeId, tb: bool) -> NodeId {
        if !tb {
            return b;
        }
        let m = self.g.shape(b).dims()[0];
        let dt = self.g.dtype(b);
        let i = self.g.tensor(&identity(m), dt, &Shape::matrix(m, m));
        let bt = Op::MatMul {
            ta: true,
            tb: false,
        };
        self.g.add_or_panic(bt, &[b, i])
    }

    /// Concat along `axis`: seeded leaves along the last axis are unit columns
    /// ([`St::Onehot`]); parts join per direction (zeros where an operand has none);
    /// stacked tangents join along `axis + 1`.
    fn concat(&mut self, axis: u8, values: &[NodeId], ins: &[Stk]) -> Stk {
        let laps: Vec<Tan> = ins.iter().map(|c| c.lap).collect();
        let lap = concat_t(self.g, &Op::Concat(axis), &laps, values);
        if let Some(cols) = self.onehot(axis, values, ins) {
            return Stk {
                t: St::Onehot(cols),
                lap,
            };
        }
        let op = Op::Concat(axis);
        let parts: Option<Vec<&BTreeMap<usize, NodeId>>> = (ins.iter())
            .map(|c| match &c.t {
                St::Parts(p) => Some(p),
                _ => None,
            })
            .collect();
        if let Some(parts) = parts {
            let dirs: std::collections::BTreeSet<usize> =
                parts.iter().flat_map(|p| p.keys().copied()).collect();
            let t = (dirs.into_iter())
                .map(|i| {
                    let each: Vec<Tan> = parts.iter().map(|p| p.get(&i).copied()).collect();
                    (i, concat_t(self.g, &op, &each, values).expect("a part"))
                })
                .collect();
            return Stk {
                t: St::Parts(t),
                lap,
            };
        }
        let stacked: Vec<NodeId> = (ins.iter().zip(values))
            .map(|(c, &v)| {
                self.dense(&c.t, v).unwrap_or_else(|| {
                    let s = lead(self.d(), &self.g.shape(v).clone());
                    let dt = self.g.dtype(v);
                    self.g.fill(0.0, dt, &s)
                })
            })
            .collect();
        let t = self.g.add_or_panic(Op::Concat(axis + 1), &stacked);
        Stk {
            t: St::Dense(t),
            lap,
        }
    }

    /// The column of each direction when `concat(values)` along the last axis joins
    /// seeded leaves one column wide, each direction at most once, and values without
    /// tangents (of any width); `None` otherwise or when no direction is there.
    fn onehot(&self, axis: u8, values: &[NodeId], ins: &[Stk]) -> Option<Vec<Option<usize>>> {
        let last = self.g.shape(values[0]).rank() - 1;
        if usize::from(axis) != last {
            return None;
        }
        let mut cols = vec![None; self.d()];
        let mut at = 0;
        for (&v, c) in values.iter().zip(ins) {
            let width = self.g.shape(v).dims()[last];
            match &c.t {
                St::Parts(p) if p.is_empty() && c.lap.is_none() => {}
                St::Parts(p) if p.len() == 1 && width == 1 && c.lap.is_none() => {
                    let (&i, &x) = p.iter().next()?;
                    let seeded = self.vs[i] == v && const_value(self.g, x) == Some(1.0);
                    if !seeded || cols[i].is_some() {
                        return None;
                    }
                    cols[i] = Some(at);
                }
                _ => return None,
            }
            at += width;
        }
        cols.iter().any(Option::is_some).then_some(cols)
    }
}

/// The product whose sum over directions [`Ctx::dot`] forms.
enum Pair {
    Mul,
    MatMul(Op),
}

impl Pair {
    /// `P(x, y)`; `x·x` as a square.
    fn apply(&self, g: &mut Graph, x: NodeId, y: NodeId) -> NodeId {
        match self {
            Pair::Mul if x == y => square(g, x),
            Pair::Mul => mul(g, x, y),
            Pair::MatMul(op) => matmul(g, op, x, y),
        }
    }
}

/// Stacked tangents from a possibly zero node.
fn wrap(t: Tan) -> St {
    t.map_or(ZERO, St::Dense)
}

/// The `n × n` identity, row-major.
fn identity(n: usize) -> Vec<f64> {
    (0..n * n).map(|k| f64::from(k % (n + 1) == 0)).collect()
}

/// The `picks.len() × width` matrix whose row `i` is the unit row of column `picks[i]`
/// (zero for `None`), row-major.
fn selection(picks: &[Option<usize>], width: usize) -> Vec<f64> {
    let mut m = vec![0.0; picks.len() * width];
    for (i, p) in picks.iter().enumerate() {
        if let Some(c) = p {
            m[i * width + c] = 1.0;
        }
    }
    m
}
