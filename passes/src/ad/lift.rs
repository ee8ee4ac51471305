//! Values stacked on a new leading axis, and a cone evaluated at `S` values of its leaves
//! at once.
//!
//! A node of shape `s` stacked `S` times is one tensor `[S] ++ s` whose row `i` is the
//! node's `i`-th value. Ops act on the trailing axes: elementwise ops as they are (an
//! operand that is not stacked is broadcast along the new axis), one-operand linear ops
//! with their axes shifted by one ([`linear`]), a product whose left rows are stacked as
//! one product of `S·N` rows ([`rows_product`]), any other product once per row
//! ([`per_row`]).
//!
//! [`lift`] rebuilds a cone with leaves replaced by stacked values (a `vmap` over the new
//! axis). Finite-difference stencils use it to evaluate a network at all of a stencil's
//! shifted points in one graph — one product of `S·N` rows per layer — instead of one
//! substituted copy of the network per point; the Forward Laplacian with stacked tangents
//! (`stacked.rs`) uses the same rules for its `[D] ++ s` tangents.
//!
//! [`lift_rows`] evaluates a cone at `S` values per point **point-major** instead: a node
//! of shape `[N] ++ r` becomes `[N, S] ++ r`, and a product takes it as `N·S` rows, row
//! `n·S + j` holding point `n`'s `j`-th value, so that a sum over the rows meets each
//! point's `S` values one after the other. It applies only where every op of the cone
//! works row by row (the points stay the leading axis throughout, as in a network); a
//! stencil with its centre among the points then has the weight gradient's running sums
//! cancel point by point (see `fd.rs`).

use super::build::{matmul, neg};
use nabla_ir::{Graph, NodeId, Op, Shape, UnOp};
use std::collections::HashMap;

/// `[k] ++ s`.
pub fn lead(k: usize, s: &Shape) -> Shape {
    let mut dims = vec![k];
    dims.extend_from_slice(s.dims());
    Shape::new(&dims)
}

/// `x` reshaped to `to` (no node when it already has that shape).
pub fn reshape(g: &mut Graph, x: NodeId, to: &Shape) -> NodeId {
    if g.shape(x) == to {
        return x;
    }
    g.add_or_panic(Op::Reshape(to.clone()), &[x])
}

/// `L'(t)` for a one-operand linear op `L` of operand `a` and `t: [d] ++ shape(a)`: `L` on
/// the trailing axes.
pub fn linear(g: &mut Graph, op: &Op, a: NodeId, t: NodeId, d: usize) -> NodeId {
    match op {
        Op::Unary(UnOp::Neg) => neg(g, t),
        Op::Broadcast(to) => {
            // right-aligned: the operand's missing leading axes go after the new one
            let s = g.shape(a).clone();
            let mut dims = vec![d];
            dims.extend(std::iter::repeat_n(1, to.rank() - s.rank()));
            dims.extend_from_slice(s.dims());
            let r = reshape(g, t, &Shape::new(&dims));
            g.broadcast(r, &lead(d, to))
        }
        Op::Reshape(to) => reshape(g, t, &lead(d, to)),
        Op::Sum(k) => g.add_or_panic(Op::Sum(k + 1), &[t]),
        Op::Mean(k) => g.add_or_panic(Op::Mean(k + 1), &[t]),
        Op::Slice { axis, start, len } => g.slice(t, axis + 1, *start as usize, *len as usize),
        _ => unreachable!("not a linear one-operand op: {op:?}"),
    }
}

/// `op(x)·op(b)` for stacked left rows `x: [d, rows, cols]` (`op` not transposing the left
/// operand): one product of `d·rows` rows, `[d, rows, m]`.
pub fn rows_product(g: &mut Graph, op: &Op, x: NodeId, b: NodeId, d: usize) -> NodeId {
    let dims = g.shape(x).dims().to_vec();
    let flat = reshape(g, x, &Shape::matrix(d * dims[1], dims[2]));
    let p = matmul(g, op, flat, b);
    let m = g.shape(p).dims()[1];
    reshape(g, p, &Shape::new(&[d, dims[1], m]))
}

/// An operand of a product: the same for every row of the stack, or stacked.
#[derive(Clone, Copy)]
pub enum Side {
    Fixed(NodeId),
    Stacked(NodeId),
}

/// `op(x)·op(y)` for each of the `d` rows, stacked: one product per row, for the products
/// whose contracted rows or right operand are stacked.
pub fn per_row(g: &mut Graph, op: &Op, x: Side, y: Side, d: usize) -> NodeId {
    let parts: Vec<NodeId> = (0..d)
        .map(|i| {
            let x = row(g, x, i);
            let y = row(g, y, i);
            let p = matmul(g, op, x, y);
            let s = g.shape(p).clone();
            reshape(g, p, &lead(1, &s))
        })
        .collect();
    g.add_or_panic(Op::Concat(0), &parts)
}

/// Row `i` of an operand.
fn row(g: &mut Graph, s: Side, i: usize) -> NodeId {
    match s {
        Side::Fixed(x) => x,
        Side::Stacked(t) => {
            let s = Shape::new(&g.shape(t).dims()[1..]);
            let one = g.slice(t, 0, i, 1);
            reshape(g, one, &s)
        }
    }
}

/// The cone of `f` with each leaf `subs[j].0` replaced by the stacked `subs[j].1`
/// (`[d] ++` the leaf's shape), every node that depends on one stacked: `[d] ++ shape(f)`,
/// or `None` when `f` depends on none of the leaves.
pub fn lift(g: &mut Graph, f: NodeId, subs: &[(NodeId, NodeId)], d: usize) -> Option<NodeId> {
    let lo = subs.iter().map(|p| p.0).min()?;
    if lo > f {
        return None;
    }
    let live = g.live(&[f]);
    let mut map: HashMap<NodeId, NodeId> = subs.iter().copied().collect();
    for i in lo.0..=f.0 {
        let id = NodeId(i);
        let args = g.args(id).to_vec();
        if !live[id.index()] || map.contains_key(&id) || !args.iter().any(|a| map.contains_key(a)) {
            continue;
        }
        let ins: Vec<Option<NodeId>> = args.iter().map(|a| map.get(a).copied()).collect();
        let r = lifted(g, id, &args, &ins, d);
        map.insert(id, r);
    }
    map.get(&f).copied()
}

/// `[N, s] ++ r` for `dims = [N] ++ r`: the shape of a value stacked point-major.
pub fn mid(dims: &[usize], s: usize) -> Shape {
    let mut out = vec![dims[0], s];
    out.extend_from_slice(&dims[1..]);
    Shape::new(&out)
}

/// The cone of `f` evaluated at `s` values of its leaves per point, point-major: each leaf
/// `subs[j].0: [N] ++ r` replaced by `subs[j].1: [N, s] ++ r`, every node that depends on
/// one rebuilt as `[N, s] ++` the rest of its shape (a product over `N·s` rows, row
/// `n·s + j` point `n`'s `j`-th value). `None` when `f` depends on none of the leaves, or
/// when its cone does not work row by row ([`row_by_row`]).
pub fn lift_rows(g: &mut Graph, f: NodeId, subs: &[(NodeId, NodeId)], s: usize) -> Option<NodeId> {
    let leaves: Vec<NodeId> = subs.iter().map(|p| p.0).collect();
    let cone = rows_cone(g, f, &leaves)?;
    let mut map: HashMap<NodeId, NodeId> = subs.iter().copied().collect();
    for id in cone {
        let args = g.args(id).to_vec();
        let ins: Vec<Option<NodeId>> = args.iter().map(|a| map.get(a).copied()).collect();
        let r = rows_lifted(g, id, &args, &ins, s);
        map.insert(id, r);
    }
    map.get(&f).copied()
}

/// Whether [`lift_rows`] applies to the cone of `f` over `leaves`: `f` depends on one of
/// them and the cone works row by row ([`row_by_row`]).
pub fn works_row_by_row(g: &Graph, f: NodeId, leaves: &[NodeId]) -> bool {
    rows_cone(g, f, leaves).is_some()
}

/// [`row_by_row`] with `N` the leading extent of the first leaf; `None` when `f` comes
/// before every leaf (it depends on none).
fn rows_cone(g: &Graph, f: NodeId, leaves: &[NodeId]) -> Option<Vec<NodeId>> {
    let lo = *leaves.iter().min()?;
    if lo > f {
        return None;
    }
    let n = g.shape(lo).dims().first().copied()?;
    row_by_row(g, f, leaves, n)
}

/// The nodes between the leaves and `f` that depend on a leaf, in order, when each of
/// them keeps `N` points as its leading axis and works row by row: elementwise ops,
/// broadcasts, reshapes, reductions, slices and concatenations that leave the leading
/// axis alone, and products whose left operand's rows are the points and whose right
/// operand does not depend on the leaves. `None` otherwise (and when a leaf is not
/// `[N] ++ r`).
fn row_by_row(g: &Graph, f: NodeId, leaves: &[NodeId], n: usize) -> Option<Vec<NodeId>> {
    let leading = |id: NodeId| g.shape(id).dims().first() == Some(&n);
    if !leaves.iter().all(|&l| leading(l)) {
        return None;
    }
    let lo = *leaves.iter().min()?;
    let live = g.live(&[f]);
    let mut on = vec![false; g.len()];
    leaves.iter().for_each(|l| on[l.index()] = true);
    let mut cone = Vec::new();
    for i in lo.0..=f.0 {
        let id = NodeId(i);
        let args = g.args(id);
        if !live[id.index()] || on[id.index()] || !args.iter().any(|a| on[a.index()]) {
            continue;
        }
        let stacked: Vec<bool> = args.iter().map(|a| on[a.index()]).collect();
        if !leading(id) || !rowwise(g, id, &stacked) {
            return None;
        }
        on[id.index()] = true;
        cone.push(id);
    }
    Some(cone)
}

/// Whether `id` (leading axis the points) computes each row from the same row of its
/// operands that depend on the leaves (`stacked`).
fn rowwise(g: &Graph, id: NodeId, stacked: &[bool]) -> bool {
    let a0 = g.shape(g.args(id)[0]);
    match g.op(id) {
        Op::Unary(_) | Op::Powi(_) | Op::Binary(_) => true,
        Op::Broadcast(to) => a0.rank() == to.rank() && a0.dims()[0] == to.dims()[0],
        Op::Reshape(to) => a0.dims().first() == to.dims().first(),
        Op::Sum(k) | Op::Mean(k) | Op::Concat(k) | Op::Slice { axis: k, .. } => *k >= 1,
        Op::MatMul { ta, .. } => !ta && stacked == [true, false],
        _ => false,
    }
}

/// The point-major node `id` from its operands `args`, lifted where `ins` says so: its
/// axes after the first shifted by one, the `s` values of a point on axis 1.
fn rows_lifted(
    g: &mut Graph,
    id: NodeId,
    args: &[NodeId],
    ins: &[Option<NodeId>],
    s: usize,
) -> NodeId {
    let op = g.op(id).clone();
    let at = |g: &mut Graph, i: usize| ins[i].unwrap_or_else(|| per_point(g, id, args[i]));
    match &op {
        Op::Binary(b) => {
            let (x, y) = (at(g, 0), at(g, 1));
            g.binary(*b, x, y)
        }
        Op::Concat(k) => {
            let parts: Vec<NodeId> = (0..args.len())
                .map(|i| {
                    let p = at(g, i);
                    g.broadcast(p, &mid(g.shape(args[i]).dims(), s))
                })
                .collect();
            g.add_or_panic(Op::Concat(k + 1), &parts)
        }
        Op::Broadcast(to) => {
            let x = at(g, 0);
            g.broadcast(x, &mid(to.dims(), s))
        }
        Op::Reshape(to) => {
            let x = at(g, 0);
            reshape(g, x, &mid(to.dims(), s))
        }
        Op::Sum(k) | Op::Mean(k) => {
            let x = at(g, 0);
            let op = match op {
                Op::Sum(_) => Op::Sum(k + 1),
                _ => Op::Mean(k + 1),
            };
            g.add_or_panic(op, &[x])
        }
        Op::Slice { axis, start, len } => {
            let x = at(g, 0);
            g.slice(x, axis + 1, *start as usize, *len as usize)
        }
        // `[N, s, k]` as `N·s` rows; the right operand does not depend on the leaves
        Op::MatMul { .. } => {
            let x = at(g, 0);
            let d = g.shape(x).dims().to_vec();
            let flat = reshape(g, x, &Shape::matrix(d[0] * d[1], d[2]));
            let p = matmul(g, &op, flat, args[1]);
            let m = g.shape(p).dims()[1];
            reshape(g, p, &Shape::new(&[d[0], d[1], m]))
        }
        _ => {
            let x = at(g, 0);
            g.add_or_panic(op.clone(), &[x])
        }
    }
}

/// An operand `x` of `id` that does not depend on the leaves, shaped to broadcast against
/// the lifted operands `[N, s] ++ r`: as it is when it broadcasts right-aligned (a lower
/// rank, or a leading extent of 1); when it is such a value broadcast over the points (a
/// bias), that value, so that nothing is stored; else `[N, 1] ++ r`, its rows the points.
fn per_point(g: &mut Graph, id: NodeId, x: NodeId) -> NodeId {
    let n = g.shape(id).dims()[0];
    let points = |g: &Graph, a: NodeId| {
        let (a, x) = (g.shape(a), g.shape(x));
        a.rank() == x.rank() && a.dims()[0] == n && n != 1
    };
    if !points(g, x) {
        return x;
    }
    match g.op(x) {
        Op::Broadcast(_) if !points(g, g.args(x)[0]) => g.args(x)[0],
        _ => {
            let dims = g.shape(x).dims().to_vec();
            reshape(g, x, &mid(&dims, 1))
        }
    }
}

/// The stacked node `id` from its operands `args`, stacked where `ins` says so.
fn lifted(g: &mut Graph, id: NodeId, args: &[NodeId], ins: &[Option<NodeId>], d: usize) -> NodeId {
    let op = g.op(id).clone();
    let at = |i: usize| ins[i].unwrap_or(args[i]);
    match &op {
        Op::Unary(UnOp::Neg)
        | Op::Broadcast(_)
        | Op::Reshape(_)
        | Op::Sum(_)
        | Op::Mean(_)
        | Op::Slice { .. } => linear(g, &op, args[0], at(0), d),
        Op::Unary(_) | Op::Powi(_) => g.add_or_panic(op.clone(), &[at(0)]),
        // a fixed operand broadcasts along the stack (right-aligned)
        Op::Binary(b) => g.binary(*b, at(0), at(1)),
        Op::MatMul { ta, .. } => match (ins[0], ins[1]) {
            (Some(x), None) if !ta => rows_product(g, &op, x, args[1], d),
            (x, y) => {
                let side = |s: Option<NodeId>, a| s.map_or(Side::Fixed(a), Side::Stacked);
                per_row(g, &op, side(x, args[0]), side(y, args[1]), d)
            }
        },
        Op::Concat(axis) => {
            let parts: Vec<NodeId> = (0..args.len())
                .map(|i| {
                    let s = lead(d, &g.shape(args[i]).clone());
                    g.broadcast(at(i), &s)
                })
                .collect();
            g.add_or_panic(Op::Concat(axis + 1), &parts)
        }
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Bound { .. }
        | Op::Const { .. }
        | Op::Tensor { .. } => unreachable!("a leaf has no operands"),
        Op::Diff { .. } | Op::Laplacian { .. } | Op::Grad { .. } | Op::Jacobian { .. } | Op::At => {
            unreachable!("derivative operators are expanded before their users")
        }
    }
}
