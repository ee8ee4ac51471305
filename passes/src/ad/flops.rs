//! A static FLOP count: the cost model that picks derivative methods and the figure the
//! benchmarks report.
//!
//! Counted over the nodes reachable from the outputs: a matrix product `m×k · k×n` costs
//! `2mnk`; an elementwise op one FLOP per element, a transcendental function
//! [`TRANSCENDENTAL`] FLOPs; a reduction one per input element; leaves and data movement
//! (broadcast, reshape, slice, concat) nothing.

use nabla_ir::{BinOp, Graph, NodeId, Op, UnOp};

/// The weight of one evaluation of a transcendental function (exp, log, sin, tanh, …).
pub const TRANSCENDENTAL: f64 = 10.0;

/// The FLOPs of the live graph divided by `batch` (the number of collocation points).
pub fn flops_per_point(g: &Graph, batch: usize) -> f64 {
    let roots: Vec<NodeId> = g.outputs().iter().map(|o| o.1).collect();
    let live = g.live(&roots);
    let total: f64 = g
        .ids()
        .filter(|i| live[i.index()])
        .map(|i| node_flops(g, i))
        .sum();
    total / batch.max(1) as f64
}

/// The FLOPs of one node.
pub fn node_flops(g: &Graph, id: NodeId) -> f64 {
    let n = g.shape(id).numel() as f64;
    match g.op(id) {
        Op::Unary(u) => n * unary_weight(*u),
        // by repeated squaring
        Op::Powi(k) => n * (32 - k.unsigned_abs().leading_zeros()).max(1) as f64,
        Op::Binary(BinOp::Pow | BinOp::Atan2) => n * TRANSCENDENTAL,
        Op::Binary(_) => n,
        Op::Sum(_) | Op::Mean(_) => g.shape(g.args(id)[0]).numel() as f64,
        Op::MatMul { ta, .. } => {
            let a = g.shape(g.args(id)[0]).dims();
            let k = if *ta { a[0] } else { a[1] };
            2.0 * n * k as f64
        }
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Bound { .. }
        | Op::Const { .. }
        | Op::Tensor { .. }
        | Op::Broadcast(_)
        | Op::Reshape(_)
        | Op::Slice { .. }
        | Op::Concat(_)
        | Op::Diff { .. }
        | Op::Laplacian { .. }
        | Op::Grad { .. }
        | Op::Jacobian { .. }
        | Op::At => 0.0,
    }
}

fn unary_weight(u: UnOp) -> f64 {
    match u {
        UnOp::Neg | UnOp::Abs | UnOp::Square | UnOp::Recip | UnOp::Sign | UnOp::Sqrt => 1.0,
        UnOp::Exp
        | UnOp::Log
        | UnOp::Sin
        | UnOp::Cos
        | UnOp::Tan
        | UnOp::Tanh
        | UnOp::Sigmoid
        | UnOp::Softplus
        | UnOp::Silu
        | UnOp::Gelu => TRANSCENDENTAL,
    }
}
