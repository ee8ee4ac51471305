//! The cost model and DAG-aware extraction.
//!
//! ## Cost model
//!
//! The cost of a node is the floating-point work to compute it, shapes included: the
//! number of result elements times a per-element weight. FMA-class operations
//! (`add`, `sub`, `mul`, `neg`, `square`, `abs`) weigh 1; divisions, reciprocals and
//! square roots 4; transcendentals 10–16; `pow` 25. A matrix product costs `2·m·n·k`, a
//! reduction one addition per input element. Data movement (`broadcast`, `slice`,
//! `concat`, `reshape`) weighs a little (0.1 or 0.01 per element) so that, other things
//! equal, fewer copies win; leaves and constants are free.
//!
//! Extraction with this model is in [`super::extract`].

use super::analysis::EG;
use super::lang::ENode;
use nabla_ir::{BinOp, Graph, Op, Shape, UnOp};

/// Per-element weight of a unary op.
fn unary_weight(u: UnOp) -> f64 {
    match u {
        UnOp::Neg | UnOp::Abs | UnOp::Square | UnOp::Sign => 1.0,
        UnOp::Recip | UnOp::Sqrt => 4.0,
        UnOp::Exp | UnOp::Log | UnOp::Sin | UnOp::Cos | UnOp::Tanh => 10.0,
        UnOp::Sigmoid | UnOp::Silu => 12.0,
        UnOp::Tan | UnOp::Softplus => 15.0,
        UnOp::Gelu => 16.0,
    }
}

/// Per-element weight of a binary op.
fn binary_weight(b: BinOp) -> f64 {
    match b {
        BinOp::Add | BinOp::Sub | BinOp::Mul => 1.0,
        BinOp::Div => 4.0,
        BinOp::Pow | BinOp::Atan2 => 25.0,
    }
}

/// Multiplications for `x^k` by repeated squaring (plus a reciprocal when `k < 0`).
fn powi_weight(k: i32) -> f64 {
    let m = k.unsigned_abs();
    let muls = if m <= 1 {
        0
    } else {
        (31 - m.leading_zeros()) + m.count_ones() - 1
    };
    muls as f64 + if k < 0 { 4.0 } else { 0.0 }
}

/// The cost of `op` producing shape `out` from operands of shapes `args`.
pub fn op_cost(op: &Op, out: &Shape, args: &[&Shape]) -> f64 {
    let n = out.numel() as f64;
    match op {
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Bound { .. }
        | Op::Const { .. }
        | Op::Tensor { .. } => 0.0,
        Op::Unary(u) => n * unary_weight(*u),
        Op::Powi(k) => n * powi_weight(*k),
        Op::Binary(b) => n * binary_weight(*b),
        Op::Broadcast(_) | Op::Slice { .. } | Op::Concat(_) => 0.1 * n,
        Op::Reshape(_) => 0.01 * n,
        Op::Sum(_) => args[0].numel() as f64,
        Op::Mean(_) => args[0].numel() as f64 + n,
        Op::MatMul { ta, .. } => {
            let d = args[0].dims();
            let k = if *ta { d[0] } else { d[1] };
            2.0 * n * k as f64
        }
        Op::Diff { .. } | Op::Laplacian { .. } | Op::Grad { .. } | Op::Jacobian { .. } | Op::At => {
            0.0
        }
    }
}

/// The cost of an e-node of `eg` whose result has shape `out`.
pub fn enode_cost(eg: &EG, out: &Shape, n: &ENode) -> f64 {
    let args: Vec<&Shape> = n.args.iter().map(|&a| &eg[a].data.ty.shape).collect();
    op_cost(&n.op, out, &args)
}

/// The total cost of the nodes of `g` that its outputs use.
pub fn graph_cost(g: &Graph) -> f64 {
    let roots: Vec<_> = g.outputs().iter().map(|o| o.1).collect();
    let live = g.live(&roots);
    g.ids()
        .filter(|i| live[i.index()])
        .map(|i| {
            let args: Vec<&Shape> = g.args(i).iter().map(|&a| g.shape(a)).collect();
            op_cost(g.op(i), g.shape(i), &args)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(powi_weight(2), 1.0);
        assert_eq!(powi_weight(3), 2.0);
        assert_eq!(powi_weight(8), 3.0);
        assert_eq!(powi_weight(-1), 4.0);
        let m = Op::MatMul {
            ta: false,
            tb: true,
        };
        let (a, w) = (Shape::matrix(5, 3), Shape::matrix(4, 3));
        assert_eq!(
            op_cost(&m, &Shape::matrix(5, 4), &[&a, &w]),
            2.0 * 5.0 * 4.0 * 3.0
        );
    }
}
