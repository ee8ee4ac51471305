//! A static FLOP count: the figure `nabla bench` (GFLOP/s) and `nabla dump-ir` (FLOPs per
//! point) report, counted as the benchmarks' documentation says.
//!
//! Counted over the nodes reachable from the outputs: a matrix product `m×k · k×n` costs
//! `2mnk`; an elementwise op one FLOP per element, transcendental functions (`exp`, `tanh`,
//! a real power, …) included, as the scheduled program's count
//! (`nabla_passes::schedule::Program::flops`) has them; an integer power the multiplies of
//! repeated squaring (`x²` 1, `x³` 2, `x⁴` 2, and one more for a negative exponent's
//! reciprocal), where the scheduled count has one instruction; a reduction one per input
//! element; leaves and data movement (broadcast, reshape, slice, concat) nothing.

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
        Op::Powi(k) => n * powi_multiplies(*k) as f64,
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

/// The multiplies of `x^k` by repeated squaring: a squaring per bit after the first, a
/// multiply per further set bit, a reciprocal for `k < 0`; at least 1.
fn powi_multiplies(k: i32) -> u32 {
    let m = k.unsigned_abs();
    let squarings = (32 - m.leading_zeros()).saturating_sub(1);
    let products = m.count_ones().saturating_sub(1);
    (squarings + products + u32::from(k < 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::powi_multiplies;

    #[test]
    fn integer_powers_cost_their_multiplies() {
        let got: Vec<u32> = [0, 1, 2, 3, 4, 5, 8, 15, -1, -2]
            .map(powi_multiplies)
            .to_vec();
        // x⁰, x: no multiply, counted 1; x² = x·x; x³ = x²·x; x⁴ = (x²)²; x⁵ = x⁴·x;
        // x⁸: three squarings; x¹⁵: three squarings and three products; 1/x; 1/x²
        assert_eq!(got, vec![1, 1, 1, 2, 2, 3, 3, 6, 1, 2]);
    }
}
