//! A static FLOP count: the figure `nabla bench` (GFLOP/s) and `nabla dump-ir` (FLOPs per
//! point) report, counted as the benchmarks' documentation says.
//!
//! Counted over the nodes reachable from the outputs: a matrix product `m×k · k×n` costs
//! `2mnk`; an elementwise op one FLOP per element, transcendental functions (`exp`, `tanh`,
//! a real power, …) included, as the scheduled program's count does
//! (`nabla_passes::schedule::Program::flops`); an integer power one per squaring or
//! multiply; a reduction one per input element; leaves and data movement (broadcast,
//! reshape, slice, concat) nothing. (Transcendentals weighed 10 until 2026-12-05, which
//! put `nabla bench`'s count 0.4–0.9% above the documented one on B1–B8.)

use nabla_ir::{Graph, NodeId, Op};

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
        Op::Unary(_) | Op::Binary(_) => n,
        // by repeated squaring
        Op::Powi(k) => n * (32 - k.unsigned_abs().leading_zeros()).max(1) as f64,
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
