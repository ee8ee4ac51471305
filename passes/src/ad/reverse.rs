//! Reverse mode (VJP): adjoints swept from a result back to variable leaves.
//!
//! [`vjp`] visits the cone of the result in reverse id order. Only nodes that depend on a
//! requested leaf receive adjoints; each node's adjoint is the sum of its users'
//! contributions. The graph it runs over may itself have come out of forward or Taylor
//! mode: it is ordinary IR, so reverse-over-forward needs no special case.
//!
//! [`pointwise`] uses the same sweep for per-point derivatives (`Method::Reverse`): the
//! adjoint of `Σ f` w.r.t. `v` equals `∂f/∂v` pointwise only when no value mixes points
//! between `v` and `f`, which [`check_pointwise`] enforces.

use super::build::*;
use super::forward::{atan2_partials, deriv1, pow_partials, powi_deriv1};
use nabla_ir::{BinOp, Graph, NodeId, Op, Shape};
use smallvec::SmallVec;
use std::collections::HashMap;

/// The adjoints of the leaves `wrt` for the result `y` with output adjoint `seed`
/// (`None` for a leaf `y` does not depend on).
pub fn vjp(g: &mut Graph, y: NodeId, seed: NodeId, wrt: &[NodeId]) -> Vec<Tan> {
    let Some(lo) = wrt.iter().copied().filter(|w| *w <= y).min() else {
        return vec![None; wrt.len()];
    };
    let dep = depends(g, y, lo, wrt);
    let mut adj: HashMap<NodeId, NodeId> = HashMap::from([(y, seed)]);
    for i in (lo.0..=y.0).rev() {
        let id = NodeId(i);
        let Some(&ybar) = adj.get(&id) else { continue };
        if g.op(id).is_leaf() {
            continue;
        }
        let args: SmallVec<[NodeId; 4]> = g.args(id).into();
        for (pos, a) in args.into_iter().enumerate() {
            if a < lo || !dep[(a.0 - lo.0) as usize] {
                continue;
            }
            if let Some(c) = contribution(g, id, pos, ybar) {
                let acc = add_t(g, adj.get(&a).copied(), Some(c));
                adj.insert(a, acc.expect("nonzero"));
            }
        }
    }
    wrt.iter().map(|w| adj.get(w).copied()).collect()
}

/// For ids `lo..=y`: whether the node lies on a path from a leaf of `wrt` to `y`'s inputs.
pub(super) fn depends(g: &Graph, y: NodeId, lo: NodeId, wrt: &[NodeId]) -> Vec<bool> {
    let n = (y.0 - lo.0 + 1) as usize;
    let mut dep = vec![false; n];
    for i in lo.0..=y.0 {
        let id = NodeId(i);
        dep[(i - lo.0) as usize] = wrt.contains(&id)
            || g.args(id)
                .iter()
                .any(|a| *a >= lo && dep[(a.0 - lo.0) as usize]);
    }
    dep
}

/// The contribution of node `id` (adjoint `ybar`) to the adjoint of its operand `pos`.
pub(super) fn contribution(g: &mut Graph, id: NodeId, pos: usize, ybar: NodeId) -> Tan {
    let n = g.node(id).clone();
    let a = |i: usize| n.args[i];
    match &n.op {
        // ā += φ'(a) ȳ
        Op::Unary(u) => {
            let d = deriv1(g, *u, a(0), id);
            mul_t(g, d, Some(ybar))
        }
        // ā += k aᵏ⁻¹ ȳ
        Op::Powi(k) => {
            let d = powi_deriv1(g, a(0), *k);
            Some(mul(g, d, ybar))
        }
        Op::Binary(b) => binary(g, *b, id, a(0), a(1), pos, ybar),
        // ā += Σ over the broadcast axes of ȳ
        Op::Broadcast(_) => Some(unbroadcast(g, ybar, &g.shape(a(0)).clone())),
        // ā += reshape(ȳ)
        Op::Reshape(_) => Some(reshape(g, ybar, &g.shape(a(0)).clone())),
        // ā += ȳ broadcast back along the summed axis
        Op::Sum(axis) => Some(expand(g, ybar, *axis, &g.shape(a(0)).clone())),
        // ā += ȳ / n broadcast back along the averaged axis
        Op::Mean(axis) => {
            let s = g.shape(a(0)).clone();
            let e = expand(g, ybar, *axis, &s);
            Some(scale(g, e, 1.0 / s.dims()[*axis as usize] as f64))
        }
        Op::MatMul { ta, tb } => Some(matmul(g, *ta, *tb, a(0), a(1), pos, ybar)),
        // ā += ȳ padded with zeros outside the slice
        Op::Slice { axis, start, len } => Some(pad(g, ybar, a(0), *axis, *start, *len)),
        // āᵢ += the part of ȳ that came from operand i
        Op::Concat(axis) => Some(unconcat(g, ybar, &n.args, *axis, pos)),
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

pub(super) fn binary(
    g: &mut Graph,
    b: BinOp,
    y: NodeId,
    a0: NodeId,
    a1: NodeId,
    pos: usize,
    ybar: NodeId,
) -> Tan {
    Some(match (b, pos) {
        // ā += ȳ, b̄ += ±ȳ
        (BinOp::Add, _) | (BinOp::Sub, 0) => ybar,
        (BinOp::Sub, _) => neg(g, ybar),
        // ā += ȳ b, b̄ += ȳ a
        (BinOp::Mul, 0) => mul(g, ybar, a1),
        (BinOp::Mul, _) => mul(g, ybar, a0),
        // ā += ȳ / b, b̄ += -ȳ y / b
        (BinOp::Div, 0) => div(g, ybar, a1),
        (BinOp::Div, _) => {
            let q = div(g, y, a1);
            let p = mul(g, ybar, q);
            neg(g, p)
        }
        // ā += ȳ b aᵇ⁻¹, b̄ += ȳ aᵇ log a
        (BinOp::Pow, p) => {
            let (pa, pb) = pow_partials(g, y, a0, a1);
            mul(g, ybar, if p == 0 { pa } else { pb })
        }
        // ā += ȳ b / (a² + b²), b̄ += -ȳ a / (a² + b²)
        (BinOp::Atan2, p) => {
            let (pa, pb) = atan2_partials(g, a0, a1);
            mul(g, ybar, if p == 0 { pa } else { pb })
        }
    })
}

/// `C = op(A)·op(B)`: `d op(A) = dC·op(B)ᵀ`, `d op(B) = op(A)ᵀ·dC`, transposed back
/// when the operand was transposed.
fn matmul(
    g: &mut Graph,
    ta: bool,
    tb: bool,
    a: NodeId,
    b: NodeId,
    pos: usize,
    c: NodeId,
) -> NodeId {
    let mm = |g: &mut Graph, ta, tb, x, y| g.add_or_panic(Op::MatMul { ta, tb }, &[x, y]);
    match (pos, ta, tb) {
        // Ā = dC·op(B)ᵀ
        (0, false, _) => mm(g, false, !tb, c, b),
        // Ā = (dC·op(B)ᵀ)ᵀ = op(B)·dCᵀ
        (0, true, _) => mm(g, tb, true, b, c),
        // B̄ = op(A)ᵀ·dC
        (_, _, false) => mm(g, !ta, false, a, c),
        // B̄ = (op(A)ᵀ·dC)ᵀ = dCᵀ·op(A)
        (_, _, true) => mm(g, true, ta, c, a),
    }
}

/// `x` with the broadcast axes of `to`'s broadcast summed away (the adjoint of a
/// broadcast from shape `to`).
pub fn unbroadcast(g: &mut Graph, x: NodeId, to: &Shape) -> NodeId {
    let from = g.shape(x).clone();
    let off = from.rank() - to.rank();
    let mut r = x;
    for k in (0..from.rank()).rev() {
        if k < off || (to.dims()[k - off] == 1 && from.dims()[k] != 1) {
            r = g.add_or_panic(Op::Sum(k as u8), &[r]);
        }
    }
    reshape(g, r, to)
}

/// `x` reshaped to `to` (no node when already of that shape).
fn reshape(g: &mut Graph, x: NodeId, to: &Shape) -> NodeId {
    if g.shape(x) == to {
        return x;
    }
    g.add_or_panic(Op::Reshape(to.clone()), &[x])
}

/// `x` (shape `to` without `axis`) broadcast back along `axis` to `to`.
fn expand(g: &mut Graph, x: NodeId, axis: u8, to: &Shape) -> NodeId {
    let mut dims = to.0.clone();
    dims[axis as usize] = 1;
    let r = reshape(g, x, &Shape(dims));
    g.broadcast(r, to)
}

/// `x` (a slice of `like` along `axis`) padded with zeros to `like`'s shape.
fn pad(g: &mut Graph, x: NodeId, like: NodeId, axis: u8, start: u32, len: u32) -> NodeId {
    let full = g.shape(like).clone();
    let d = g.dtype(x);
    let mut parts = Vec::new();
    let zeros = |g: &mut Graph, n: usize| {
        let mut s = full.0.clone();
        s[axis as usize] = n;
        g.fill(0.0, d, &Shape(s))
    };
    if start > 0 {
        parts.push(zeros(g, start as usize));
    }
    parts.push(x);
    let after = full.dims()[axis as usize] - (start + len) as usize;
    if after > 0 {
        parts.push(zeros(g, after));
    }
    if parts.len() == 1 {
        return x;
    }
    g.add_or_panic(Op::Concat(axis), &parts)
}

/// The part of `x` (a concat of `parts` along `axis`) that operand `pos` supplied.
fn unconcat(g: &mut Graph, x: NodeId, parts: &[NodeId], axis: u8, pos: usize) -> NodeId {
    let ax = axis as usize;
    let start: usize = parts[..pos].iter().map(|p| g.shape(*p).dims()[ax]).sum();
    let len = g.shape(parts[pos]).dims()[ax];
    slice(g, x, axis, start, len)
}

/// `∂f/∂v` pointwise by one reverse sweep of `Σ f` (checked by [`check_pointwise`]).
pub fn pointwise(g: &mut Graph, f: NodeId, v: NodeId) -> Result<NodeId, String> {
    // ∂f/∂v = 0 where f does not depend on v (a constant, a param): zeros of f's shape,
    // as forward mode gives, whatever the shapes (`d(3, x)` was refused for them)
    if v > f || !g.live(&[f])[v.index()] {
        return Ok(fill_like(g, f, 0.0));
    }
    check_pointwise(g, f, v)?;
    let seed = fill_like(g, f, 1.0);
    let adj = vjp(g, f, seed, &[v])[0];
    Ok(or_zeros(g, adj, f))
}

/// Whether the adjoint of `Σ f` w.r.t. `v` is the pointwise derivative of `f`: `f` and
/// `v` have the same shape with the batch axis first, and no node between them reduces,
/// slices, concatenates or contracts over the batch axis or moves it.
pub fn check_pointwise(g: &Graph, f: NodeId, v: NodeId) -> Result<(), String> {
    let (fs, vs) = (g.shape(f), g.shape(v));
    if fs != vs || vs.rank() == 0 {
        return Err(format!(
            "the result has shape {fs} and the variable {vs}; reverse mode gives a per-point \
             derivative only for equal shapes with a batch axis"
        ));
    }
    let n = vs.dims()[0];
    if v > f {
        return Ok(());
    }
    let live = g.live(&[f]);
    let dep = depends(g, f, v, &[v]);
    for i in v.0..=f.0 {
        let id = NodeId(i);
        if live[id.index()] && dep[(i - v.0) as usize] {
            let is_dep = |a: NodeId| a >= v && dep[(a.0 - v.0) as usize];
            separable(g, id, n, is_dep).map_err(|why| format!("{id} {why}"))?;
        }
    }
    Ok(())
}

/// One node's part of [`check_pointwise`]: `n` is the batch extent.
pub(super) fn separable(
    g: &Graph,
    id: NodeId,
    n: usize,
    is_dep: impl Fn(NodeId) -> bool,
) -> Result<(), &'static str> {
    let s = g.shape(id);
    if s.rank() == 0 || s.dims()[0] != n {
        return Err("does not keep the batch axis first");
    }
    let args = g.args(id);
    match g.op(id) {
        Op::Sum(0) | Op::Mean(0) => Err("reduces over the batch axis"),
        Op::Slice { axis: 0, .. } | Op::Concat(0) => Err("slices or joins along the batch axis"),
        Op::MatMul { ta, .. } if *ta && is_dep(args[0]) => Err("contracts the batch axis"),
        Op::MatMul { .. } if is_dep(args[1]) => Err("mixes points through its right operand"),
        Op::Broadcast(_) | Op::Reshape(_) => {
            let a = g.shape(args[0]);
            if a.rank() == s.rank() && a.dims()[0] == n {
                Ok(())
            } else {
                Err("moves the batch axis")
            }
        }
        _ => Ok(()),
    }
}
