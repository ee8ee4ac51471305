//! Per-point Jacobians with respect to parameters: reverse mode with the batch axis kept.
//!
//! A residual `f: [N, 1]` is point-separable: `f[n]` reads only point `n` and the
//! parameters. One reverse sweep of `Σₙ f[n]` (seed: ones) therefore gives, at every node
//! that carries the batch axis (*batched*: it reads the points), the per-point adjoint
//! `∂f[n]/∂node[n]` — the sweep [`super::reverse::vjp`] makes, unchanged. Points meet only
//! where a *batch-free* value (one computed from parameters and constants alone) enters a
//! batched node; there the ordinary rule sums over points, and this sweep keeps them apart:
//!
//! - `broadcast(q)` to `[N, …]`: `q̄ₙ = ȳ[n]` summed over the broadcast axes other than
//!   the batch axis;
//! - `C = A·op(B)` with `B` batch-free: `B̄ₙ = A[n]ᵀ ⊗ C̄[n]` (or `C̄[n]ᵀ ⊗ A[n]` when `B`
//!   is transposed), the per-point outer product whose sum over `n` is `Aᵀ·C̄`.
//!
//! A batch-free node `q` of shape `S` has a per-point adjoint of shape `[N] ++ S` (slice
//! `n` = `∂f[n]/∂q`). It flows back to the parameter leaves through the batch-free ops
//! (elementwise ops, powers, reshapes, broadcasts, sums, slices, concats) with their usual
//! rules lifted by the leading batch axis. Keeping `S` whole until the end lets the
//! schedule fuse a weight's outer products and their sum into one loop. The result for a
//! leaf `p` is flattened to `J_p: [N, numel(p)]`, and `Σₙ J_p[n]` is `∂(Σ f)/∂p`, which the
//! tests check against `grad`.

use super::build::*;
use super::forward::{deriv1, powi_deriv1};
use super::reverse::{binary, contribution, depends, separable};
use nabla_ir::{BinOp, Graph, NodeId, Op, Shape};
use std::collections::HashMap;

/// `[N, numel(p)]` for every leaf `p` of `wrt` (`None` where `f` does not depend on it).
/// `Err` says why `f` is not point-separable or where a batch-free value is used in a way
/// the sweep does not lift.
pub fn per_point(g: &mut Graph, f: NodeId, wrt: &[NodeId]) -> Result<Vec<Tan>, String> {
    // An input is per point: `∂f[n]/∂x[m]` is diagonal in the points, which the layout
    // `[N, numel]` of a parameter's rows does not hold (it came out as zeros).
    for w in wrt {
        if let Op::Input { name, .. } = g.op(*w) {
            return Err(format!(
                "`{name}` is an input (one value per point): a per-point Jacobian is with \
                 respect to parameters; differentiate with respect to inputs with `diff`, \
                 `partial` or `grad`"
            ));
        }
    }
    let Some(lo) = wrt.iter().copied().filter(|w| *w <= f).min() else {
        return Ok(vec![None; wrt.len()]);
    };
    let n = g.shape(f).dims()[0];
    let dep = depends(g, f, lo, wrt);
    let on = |a: NodeId| a >= lo && dep[(a.0 - lo.0) as usize];
    let batched = batched(g, f, n);
    if !batched[f.index()] {
        return Err("the function does not read the points".into());
    }
    let seed = fill_like(g, f, 1.0);
    let mut adj: HashMap<NodeId, NodeId> = HashMap::from([(f, seed)]);
    let mut pp: HashMap<NodeId, NodeId> = HashMap::new();
    for i in (lo.0..=f.0).rev() {
        let id = NodeId(i);
        let Some(&ybar) = adj.get(&id) else { continue };
        if g.op(id).is_leaf() {
            continue;
        }
        check_separable(g, id, n, &batched)?;
        let args: Vec<NodeId> = g.args(id).to_vec();
        for (pos, a) in args.into_iter().enumerate() {
            if !on(a) {
                continue;
            }
            if batched[a.index()] {
                let c = contribution(g, id, pos, ybar);
                accumulate(g, &mut adj, a, c);
            } else {
                let c = boundary(g, id, pos, ybar, n)?;
                accumulate(g, &mut pp, a, Some(c));
            }
        }
    }
    for i in (lo.0..=f.0).rev() {
        let id = NodeId(i);
        let Some(&ybar) = pp.get(&id) else { continue };
        if g.op(id).is_leaf() {
            continue;
        }
        let args: Vec<NodeId> = g.args(id).to_vec();
        for (pos, a) in args.into_iter().enumerate() {
            if on(a) {
                let c = lifted(g, id, pos, ybar, n)?;
                accumulate(g, &mut pp, a, c);
            }
        }
    }
    let flat = |g: &mut Graph, w: &NodeId| {
        let j = *pp.get(w)?;
        let numel = g.shape(*w).numel();
        Some(reshape_to(g, j, &[n, numel]))
    };
    Ok(wrt.iter().map(|w| flat(g, w)).collect())
}

fn accumulate(g: &mut Graph, adj: &mut HashMap<NodeId, NodeId>, a: NodeId, c: Tan) {
    if let Some(sum) = add_t(g, adj.get(&a).copied(), c) {
        adj.insert(a, sum);
    }
}

/// For ids `0..=f`: whether the node reads the points — an input, a broadcast that adds
/// the batch axis, or any node with such an operand.
fn batched(g: &Graph, f: NodeId, n: usize) -> Vec<bool> {
    let mut b = vec![false; f.index() + 1];
    for i in 0..=f.0 {
        let id = NodeId(i);
        b[id.index()] = match g.op(id) {
            Op::Input { .. } => true,
            Op::Broadcast(_) => b[g.args(id)[0].index()] || adds_batch_axis(g, id, n),
            _ => g.args(id).iter().any(|a| b[a.index()]),
        };
    }
    b
}

/// Whether broadcast `id` creates the leading batch axis of extent `n`.
fn adds_batch_axis(g: &Graph, id: NodeId, n: usize) -> bool {
    let (to, from) = (g.shape(id), g.shape(g.args(id)[0]));
    to.rank() > 0 && to.dims()[0] == n && (from.rank() < to.rank() || from.dims()[0] != n)
}

/// Point separability of a batched node; a broadcast that creates the batch axis is where
/// a batch-free value enters, not a move of the axis.
fn check_separable(g: &Graph, id: NodeId, n: usize, batched: &[bool]) -> Result<(), String> {
    let a0 = g.args(id)[0];
    if matches!(g.op(id), Op::Broadcast(_)) && !batched[a0.index()] {
        return Ok(());
    }
    separable(g, id, n, |a| batched[a.index()]).map_err(|why| format!("{id} {why}"))
}

/// The per-point adjoint `[N] ++ shape(a)` of batch-free operand `pos` (`a`) of batched
/// node `id`, whose adjoint is `ybar`.
fn boundary(
    g: &mut Graph,
    id: NodeId,
    pos: usize,
    ybar: NodeId,
    n: usize,
) -> Result<NodeId, String> {
    let a = g.args(id)[pos];
    let sa = g.shape(a).clone();
    match g.op(id).clone() {
        Op::Broadcast(to) => {
            // A leading 1 of `a` is the slot the batch axis is broadcast into.
            let keep = if sa.rank() == to.rank() {
                &sa.dims()[1..]
            } else {
                sa.dims()
            };
            let summed = unbroadcast_points(g, ybar, &Shape::new(keep));
            Ok(reshape_to(g, summed, &points_of(n, &sa)))
        }
        Op::MatMul { ta: false, tb } if pos == 1 => Ok(outer(g, g.args(id)[0], ybar, tb, n)),
        _ if n == 1 => {
            // One point: the ordinary adjoint is that point's.
            let c = contribution(g, id, pos, ybar);
            let c = or_zeros(g, c, a);
            Ok(reshape_to(g, c, &points_of(1, &sa)))
        }
        op => Err(format!(
            "{id} ({}) combines the points with {a}, a value computed from parameters alone, \
             in a way the per-point Jacobian does not separate",
            op.mnemonic()
        )),
    }
}

/// `B̄ₙ` for `C = A·op(B)` per point: `A[n]ᵀ ⊗ C̄[n]` (`[N, K, M]`), or `C̄[n]ᵀ ⊗ A[n]`
/// (`[N, M, K]`) when `tb` — `[N] ++ shape(B)` either way.
fn outer(g: &mut Graph, a: NodeId, cbar: NodeId, tb: bool, n: usize) -> NodeId {
    let (left, right) = if tb { (cbar, a) } else { (a, cbar) };
    let (r, c) = (g.shape(left).dims()[1], g.shape(right).dims()[1]);
    let l3 = reshape_to(g, left, &[n, r, 1]);
    let r3 = reshape_to(g, right, &[n, 1, c]);
    g.binary(BinOp::Mul, l3, r3)
}

/// `[n] ++ s`.
fn points_of(n: usize, s: &Shape) -> Vec<usize> {
    [&[n], s.dims()].concat()
}

/// `x: [N] ++ T` summed over the axes of `T` that a broadcast from `keep` added or
/// stretched (the summed axes are dropped: reshape to put back kept 1s).
fn unbroadcast_points(g: &mut Graph, x: NodeId, keep: &Shape) -> NodeId {
    let xs = g.shape(x).clone();
    let t = &xs.dims()[1..];
    let off = t.len() - keep.rank();
    let mut r = x;
    for k in (0..t.len()).rev() {
        if k < off || (keep.dims()[k - off] == 1 && t[k] != 1) {
            r = g.add_or_panic(Op::Sum((k + 1) as u8), &[r]);
        }
    }
    r
}

/// `x: [N] ++ (S with axis `axis − 1` of length `len`)` padded with zeros along `axis` to
/// `[N] ++ S`, the slice starting at `start`.
fn pad_points(
    g: &mut Graph,
    x: NodeId,
    s: &Shape,
    axis: usize,
    start: usize,
    len: usize,
) -> NodeId {
    let full = points_of(g.shape(x).dims()[0], s);
    let d = g.dtype(x);
    let zeros = |g: &mut Graph, k: usize| {
        let mut z = full.clone();
        z[axis] = k;
        g.fill(0.0, d, &Shape::new(&z))
    };
    let after = full[axis] - start - len;
    let mut parts = Vec::new();
    if start > 0 {
        parts.push(zeros(g, start));
    }
    parts.push(x);
    if after > 0 {
        parts.push(zeros(g, after));
    }
    if parts.len() == 1 {
        return x;
    }
    g.add_or_panic(Op::Concat(axis as u8), &parts)
}

/// `x` reshaped to `dims` (no node when it already has them).
fn reshape_to(g: &mut Graph, x: NodeId, dims: &[usize]) -> NodeId {
    if g.shape(x).dims() == dims {
        return x;
    }
    g.add_or_panic(Op::Reshape(Shape::new(dims)), &[x])
}

/// The per-point adjoint of operand `pos` of batch-free node `id` (per-point adjoint
/// `ybar: [N] ++ shape(id)`): the ordinary rule, lifted by the batch axis (an operand of
/// shape `S` broadcasts against `[N] ++ S`).
fn lifted(g: &mut Graph, id: NodeId, pos: usize, ybar: NodeId, n: usize) -> Result<Tan, String> {
    let node = g.node(id).clone();
    let a = node.args[pos];
    let sa = g.shape(a).clone();
    let to = points_of(n, &sa);
    Ok(match &node.op {
        // āₙ += φ'(a) ȳₙ
        Op::Unary(u) => {
            let d = deriv1(g, *u, a, id);
            mul_t(g, d, Some(ybar))
        }
        // āₙ += k aᵏ⁻¹ ȳₙ
        Op::Powi(k) => {
            let d = powi_deriv1(g, a, *k);
            Some(mul(g, d, ybar))
        }
        Op::Binary(b) => binary(g, *b, id, node.args[0], node.args[1], pos, ybar),
        Op::Reshape(_) => Some(reshape_to(g, ybar, &to)),
        Op::Broadcast(_) => {
            let summed = unbroadcast_points(g, ybar, &sa);
            Some(reshape_to(g, summed, &to))
        }
        // āₙ += ȳₙ broadcast back along the reduced axis (÷ its length for a mean)
        Op::Sum(axis) | Op::Mean(axis) => {
            let mut kept = to.clone();
            kept[*axis as usize + 1] = 1;
            let y = reshape_to(g, ybar, &kept);
            let y = g.broadcast(y, &Shape::new(&to));
            let len = sa.dims()[*axis as usize] as f64;
            let mean = matches!(node.op, Op::Mean(_));
            Some(if mean { scale(g, y, 1.0 / len) } else { y })
        }
        // āₙ += ȳₙ padded with zeros outside the slice
        Op::Slice { axis, start, len } => {
            let (ax, start, len) = (*axis as usize + 1, *start as usize, *len as usize);
            Some(pad_points(g, ybar, &sa, ax, start, len))
        }
        // āₙ += the part of ȳₙ that operand `pos` supplied
        Op::Concat(axis) => {
            let ax = *axis as usize;
            let start: usize = (node.args[..pos].iter())
                .map(|p| g.shape(*p).dims()[ax])
                .sum();
            Some(g.slice(ybar, (ax + 1) as u8, start, sa.dims()[ax]))
        }
        op => {
            return Err(format!(
                "{id} ({}) computes from parameters before the points enter; the per-point \
                 Jacobian lifts only elementwise ops, powers and the view, broadcast, sum, \
                 slice and concat ops there",
                op.mnemonic()
            ))
        }
    })
}
