//! Node construction with the trivial simplifications that keep derivative graphs small.
//!
//! Every AD rule builds through these helpers: `x·1 = x`, `x + 0 = x`, `x·0 = 0`,
//! `-(-x) = x`, and arithmetic on two constants folds. Tangents and adjoints are
//! [`Tan`] = `Option<NodeId>`, where `None` is a symbolic zero: nodes that do not depend on
//! the variable never get a tangent at all.

use nabla_ir::{BinOp, Graph, NodeId, Op, Shape, UnOp};

/// A tangent, adjoint or Taylor coefficient: `None` is a symbolic zero.
pub type Tan = Option<NodeId>;

/// The value of a node that is a (possibly broadcast) scalar constant.
pub fn const_value(g: &Graph, id: NodeId) -> Option<f64> {
    match g.op(id) {
        Op::Const { value, .. } => Some(value.get()),
        Op::Broadcast(_) => const_value(g, g.args(id)[0]),
        _ => None,
    }
}

fn is(g: &Graph, id: NodeId, v: f64) -> bool {
    const_value(g, id) == Some(v)
}

/// A constant of `id`'s type filled with `v`.
pub fn fill_like(g: &mut Graph, id: NodeId, v: f64) -> NodeId {
    let (d, s) = (g.dtype(id), g.shape(id).clone());
    g.fill(v, d, &s)
}

/// A scalar constant of `id`'s dtype.
pub fn scalar_like(g: &mut Graph, id: NodeId, v: f64) -> NodeId {
    let d = g.dtype(id);
    g.constant(v, d)
}

/// The materialised value of a tangent: zeros of `like`'s type for a symbolic zero.
pub fn or_zeros(g: &mut Graph, t: Tan, like: NodeId) -> NodeId {
    t.unwrap_or_else(|| fill_like(g, like, 0.0))
}

fn common(g: &Graph, a: NodeId, b: NodeId) -> Shape {
    Shape::broadcast(g.shape(a), g.shape(b)).expect("internal error: operand shapes")
}

/// Folds `op(a, b)` when both are constants.
fn fold(g: &mut Graph, op: BinOp, a: NodeId, b: NodeId) -> Option<NodeId> {
    let (x, y) = (const_value(g, a)?, const_value(g, b)?);
    let s = common(g, a, b);
    let d = g.dtype(a);
    Some(g.fill(op.eval(x, y), d, &s))
}

/// `a` broadcast to the common shape of `a` and `b`.
fn widen(g: &mut Graph, a: NodeId, b: NodeId) -> NodeId {
    let s = common(g, a, b);
    g.broadcast(a, &s)
}

/// `a + b`.
pub fn add(g: &mut Graph, a: NodeId, b: NodeId) -> NodeId {
    if is(g, a, 0.0) {
        return widen(g, b, a);
    }
    if is(g, b, 0.0) {
        return widen(g, a, b);
    }
    fold(g, BinOp::Add, a, b).unwrap_or_else(|| g.binary(BinOp::Add, a, b))
}

/// `a - b`.
pub fn sub(g: &mut Graph, a: NodeId, b: NodeId) -> NodeId {
    if is(g, b, 0.0) {
        return widen(g, a, b);
    }
    if is(g, a, 0.0) {
        let nb = neg(g, b);
        return widen(g, nb, a);
    }
    fold(g, BinOp::Sub, a, b).unwrap_or_else(|| g.binary(BinOp::Sub, a, b))
}

/// `a · b`.
pub fn mul(g: &mut Graph, a: NodeId, b: NodeId) -> NodeId {
    if is(g, a, 1.0) {
        return widen(g, b, a);
    }
    if is(g, b, 1.0) {
        return widen(g, a, b);
    }
    if is(g, a, 0.0) || is(g, b, 0.0) {
        let s = common(g, a, b);
        let d = g.dtype(a);
        return g.fill(0.0, d, &s);
    }
    if is(g, a, -1.0) {
        let nb = neg(g, b);
        return widen(g, nb, a);
    }
    if is(g, b, -1.0) {
        let na = neg(g, a);
        return widen(g, na, b);
    }
    if let Some(r) = fold(g, BinOp::Mul, a, b) {
        return r;
    }
    // (x·k)·c = x·(kc), -x·c = x·(-c): constant factors gather into one
    for (x, y) in [(a, b), (b, a)] {
        if let (Some(c), Some((inner, k))) = (const_value(g, y), scaled(g, x)) {
            let kc = scalar_like(g, x, k * c);
            let r = mul(g, inner, kc);
            return widen(g, r, y);
        }
    }
    g.binary(BinOp::Mul, a, b)
}

/// `(x, k)` when `a = x·k` or `a = k·x` for a constant `k`, or `a = -x` (`k = -1`).
fn scaled(g: &Graph, a: NodeId) -> Option<(NodeId, f64)> {
    match g.op(a) {
        Op::Unary(UnOp::Neg) => Some((g.args(a)[0], -1.0)),
        Op::Binary(BinOp::Mul) => {
            let (x, y) = (g.args(a)[0], g.args(a)[1]);
            match (const_value(g, x), const_value(g, y)) {
                (_, Some(k)) => Some((x, k)),
                (Some(k), _) => Some((y, k)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `a / b`.
pub fn div(g: &mut Graph, a: NodeId, b: NodeId) -> NodeId {
    if is(g, b, 1.0) {
        return widen(g, a, b);
    }
    fold(g, BinOp::Div, a, b).unwrap_or_else(|| g.binary(BinOp::Div, a, b))
}

/// `-a`.
pub fn neg(g: &mut Graph, a: NodeId) -> NodeId {
    if let Op::Unary(UnOp::Neg) = g.op(a) {
        return g.args(a)[0];
    }
    if let Some(c) = const_value(g, a) {
        return fill_like(g, a, -c);
    }
    g.unary(UnOp::Neg, a)
}

/// `c · a` for a compile-time constant `c`.
pub fn scale(g: &mut Graph, a: NodeId, c: f64) -> NodeId {
    let k = scalar_like(g, a, c);
    mul(g, a, k)
}

/// `a^k` for an integer `k`, without a node for `k ∈ {0, 1}`.
pub fn powi(g: &mut Graph, a: NodeId, k: i32) -> NodeId {
    match k {
        0 => fill_like(g, a, 1.0),
        1 => a,
        _ => g.add_or_panic(Op::Powi(k), &[a]),
    }
}

/// `a²`.
pub fn square(g: &mut Graph, a: NodeId) -> NodeId {
    if let Some(c) = const_value(g, a) {
        return fill_like(g, a, c * c);
    }
    g.unary(UnOp::Square, a)
}

/// A node `op(args)` for a shape op applied to a tangent (hash-consed, type-checked).
pub fn same_op(g: &mut Graph, op: &Op, args: &[NodeId]) -> NodeId {
    g.add_or_panic(op.clone(), args)
}

/// `a + b` of tangents.
pub fn add_t(g: &mut Graph, a: Tan, b: Tan) -> Tan {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(add(g, a, b)),
    }
}

/// `a - b` of tangents.
pub fn sub_t(g: &mut Graph, a: Tan, b: Tan) -> Tan {
    match (a, b) {
        (x, None) => x,
        (None, Some(b)) => Some(neg(g, b)),
        (Some(a), Some(b)) => Some(sub(g, a, b)),
    }
}

/// `-a` of a tangent.
pub fn neg_t(g: &mut Graph, a: Tan) -> Tan {
    a.map(|a| neg(g, a))
}

/// `a · b` where either may be a symbolic zero.
pub fn mul_t(g: &mut Graph, a: Tan, b: Tan) -> Tan {
    Some(mul(g, a?, b?))
}

/// `c · a` of a tangent for a constant `c`.
pub fn scale_t(g: &mut Graph, a: Tan, c: f64) -> Tan {
    if c == 0.0 {
        return None;
    }
    a.map(|a| scale(g, a, c))
}

/// The sum of tangents (`None` when all are zero).
pub fn sum_t(g: &mut Graph, terms: impl IntoIterator<Item = Tan>) -> Tan {
    terms.into_iter().fold(None, |acc, t| add_t(g, acc, t))
}

/// `op(a)` of a tangent for a linear one-operand op (broadcast, reshape, sum, mean, slice).
pub fn linear_t(g: &mut Graph, op: &Op, a: Tan) -> Tan {
    a.map(|a| same_op(g, op, &[a]))
}

/// `concat(parts)` of tangents: zero parts materialise as zeros of the value's type;
/// `None` when every part is zero.
pub fn concat_t(g: &mut Graph, op: &Op, parts: &[Tan], values: &[NodeId]) -> Tan {
    if parts.iter().all(Option::is_none) {
        return None;
    }
    let args: Vec<NodeId> = parts
        .iter()
        .zip(values)
        .map(|(t, &v)| or_zeros(g, *t, v))
        .collect();
    Some(same_op(g, op, &args))
}

/// `op(a)·op(b)` (`op` a `MatMul`). When an operand is a concat along its contracted axis
/// with constant-zero parts — the tangent of concatenated coordinates is one-hot — only the
/// nonzero parts are multiplied, each with the matching slice of the other operand:
/// `[A₁ 0 A₃]·B = A₁·B₁ + A₃·B₃`. A one-hot tangent then costs a rank-1 product instead of
/// a full one.
pub fn matmul(g: &mut Graph, op: &Op, a: NodeId, b: NodeId) -> NodeId {
    let Op::MatMul { ta, tb } = *op else {
        panic!("internal error: matmul called with {op:?}")
    };
    let (ka, kb) = (if ta { 0 } else { 1 }, if tb { 1 } else { 0 });
    let parts: Vec<(NodeId, NodeId)> = if let Some(parts) = sparse_parts(g, a, ka) {
        parts
            .into_iter()
            .map(|(p, off, len)| (p, slice(g, b, kb, off, len)))
            .collect()
    } else if let Some(parts) = sparse_parts(g, b, kb) {
        parts
            .into_iter()
            .map(|(p, off, len)| (slice(g, a, ka, off, len), p))
            .collect()
    } else {
        return same_op(g, op, &[a, b]);
    };
    let terms: Vec<Tan> = parts
        .into_iter()
        .map(|(x, y)| Some(same_op(g, op, &[x, y])))
        .collect();
    sum_t(g, terms).unwrap_or_else(|| {
        let z = same_op(g, op, &[a, b]);
        fill_like(g, z, 0.0)
    })
}

/// The nonzero parts of `x` with their offsets and extents along `axis`, if `x`
/// concatenates along `axis` and some part is a constant zero.
fn sparse_parts(g: &Graph, x: NodeId, axis: u8) -> Option<Vec<(NodeId, usize, usize)>> {
    if g.op(x) != &Op::Concat(axis) || !g.args(x).iter().any(|p| is(g, *p, 0.0)) {
        return None;
    }
    let mut off = 0;
    let mut parts = Vec::new();
    for &p in g.args(x) {
        let len = g.shape(p).dims()[axis as usize];
        if !is(g, p, 0.0) {
            parts.push((p, off, len));
        }
        off += len;
    }
    Some(parts)
}

/// `len` entries of `x` along `axis` from `start` (no node for the whole extent).
pub(crate) fn slice(g: &mut Graph, x: NodeId, axis: u8, start: usize, len: usize) -> NodeId {
    g.slice(x, axis, start, len)
}
