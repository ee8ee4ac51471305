//! The standard test MLP: the project's convention, built leaf by leaf so that tests,
//! sample graphs and goldens share one construction (and one node order).

use crate::graph::{Graph, NodeId};
use crate::op::{BinOp, Op, UnOp};

/// An MLP built by [`mlp`] or [`mlp_named`].
#[derive(Clone, Debug)]
pub struct Mlp {
    /// The output `[N, widths.last()]`.
    pub out: NodeId,
    /// `(W, b)` of each layer, first layer first.
    pub layers: Vec<(NodeId, NodeId)>,
    /// The layer inputs: `x`, then each hidden activation.
    pub hidden: Vec<NodeId>,
}

impl Mlp {
    /// The parameter leaves in layer order: `W₀, b₀, W₁, b₁, …`.
    pub fn params(&self) -> Vec<NodeId> {
        self.layers.iter().flat_map(|&(w, b)| [w, b]).collect()
    }
}

/// A tanh MLP `x ↦ W_L tanh(… tanh(x·W₁ᵀ + b₁) …) + b_L` of `widths = [d, h₁, …, out]`
/// on `x: [N, d]`, with params named `{prefix}.{l}.W` and `{prefix}.{l}.b`.
pub fn mlp(g: &mut Graph, x: NodeId, widths: &[usize], prefix: &str) -> Mlp {
    mlp_named(g, x, widths, |l, p| format!("{prefix}.{l}.{p}"))
}

/// [`mlp`] with the name of layer `l`'s param `p` (`"W"` or `"b"`) given by `name(l, p)`.
/// Each layer adds `W: [out, in]`, `b: [out]`, `x·Wᵀ`, `+ b` and (hidden layers) `tanh`, in
/// that order.
pub fn mlp_named(
    g: &mut Graph,
    x: NodeId,
    widths: &[usize],
    name: impl Fn(usize, &str) -> String,
) -> Mlp {
    let last = widths.len() - 1;
    let mut net = Mlp {
        out: x,
        layers: Vec::new(),
        hidden: vec![x],
    };
    for (l, w) in widths.windows(2).enumerate() {
        let wm = super::param(g, &name(l, "W"), &[w[1], w[0]]);
        let b = super::param(g, &name(l, "b"), &[w[1]]);
        let z = g.add_or_panic(
            Op::MatMul {
                ta: false,
                tb: true,
            },
            &[net.out, wm],
        );
        net.out = g.binary(BinOp::Add, z, b);
        if l + 1 < last {
            net.out = g.unary(UnOp::Tanh, net.out);
            net.hidden.push(net.out);
        }
        net.layers.push((wm, b));
    }
    net
}
