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
