//! Small sample graphs that exercise every kind of kernel: the emitted-source goldens
//! (`tests/out/opencl/*.cl`), the differential tests against the interpreter and the GPU
//! check all use them, so what is timed on a GPU is what is tested on the CPU. Test support:
//! compiled only with the `testing` feature.
//!
//! The MLP convention is the project's: `x: [N, d]`, layer `l` has `W: [out, in]` and
//! `b: [out]`, a layer is `act(x·Wᵀ + b)`, the last layer is linear.

use nabla_ir::testing::{input, mlp_named, param, Mlp};
use nabla_ir::{BinOp, DType, Graph, NodeId, Op, Shape, UnOp};

/// A named sample and its graph.
pub struct Sample {
    /// File-name-safe name.
    pub name: &'static str,
    /// The graph (f64 leaves; backends compute in their own dtype).
    pub graph: Graph,
}

/// The forward pass of a tanh MLP with `widths = [d, h1, ..., out]` on `x: [n, d]`, params
/// `W<l>: [out, in]`, `b<l>: [out]`.
fn forward(g: &mut Graph, x: NodeId, widths: &[usize]) -> Mlp {
    mlp_named(g, x, widths, |l, p| format!("{p}{l}"))
}

/// `u = mlp(x)` and `loss = mean((u - y)²)` for a tanh MLP of `widths` on `n` points.
pub fn mlp_loss(n: usize, widths: &[usize]) -> Graph {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[n, widths[0]]);
    let y = input(&mut g, "y", &[n, *widths.last().expect("widths")]);
    let u = forward(&mut g, x, widths).out;
    let r = g.binary(BinOp::Sub, u, y);
    let sq = g.unary(UnOp::Square, r);
    let loss = g.add_or_panic(Op::Mean(0), &[sq]);
    g.set_output("u", u);
    g.set_output("loss", loss);
    g
}

/// [`mlp_loss`] with one output column plus the gradient of the loss with respect to
/// every parameter, written out by hand as reverse mode would produce it:
/// `ḡ_u = 2(u − y)/N`, and per layer from the top `ḡ_W = ḡ_zᵀ·h`, `ḡ_b = Σ_batch ḡ_z`,
/// `ḡ_h = ḡ_z·W`, `ḡ_z = ḡ_h ⊙ (1 − h²)` through tanh.
pub fn mlp_loss_grad(n: usize, widths: &[usize]) -> Graph {
    let mut g = mlp_loss(n, widths);
    let u = g.output("u").expect("u");
    let loss = g.output("loss").expect("loss");
    let (hs, ws) = rebuild_refs(&mut g, n, widths);
    let y = input(&mut g, "y", &[n, *widths.last().expect("widths")]);
    let r = g.binary(BinOp::Sub, u, y);
    let scale = g.constant(2.0 / n as f64, DType::F64);
    let mut gz = g.binary(BinOp::Mul, r, scale);
    g.clear_outputs();
    g.set_output("loss", loss);
    for l in (0..widths.len() - 1).rev() {
        let gw = g.add_or_panic(
            Op::MatMul {
                ta: true,
                tb: false,
            },
            &[gz, hs[l]],
        );
        let gb = g.add_or_panic(Op::Sum(0), &[gz]);
        g.set_output(&format!("grad_W{l}"), gw);
        g.set_output(&format!("grad_b{l}"), gb);
        if l == 0 {
            break;
        }
        let gh = g.add_or_panic(
            Op::MatMul {
                ta: false,
                tb: false,
            },
            &[gz, ws[l]],
        );
        let h2 = g.unary(UnOp::Square, hs[l]);
        let one = g.constant(1.0, DType::F64);
        let d = g.binary(BinOp::Sub, one, h2);
        gz = g.binary(BinOp::Mul, gh, d);
    }
    g
}

/// The activations and weights of the forward pass already in `g` (hash-consing returns
/// the existing nodes).
fn rebuild_refs(g: &mut Graph, n: usize, widths: &[usize]) -> (Vec<NodeId>, Vec<NodeId>) {
    let x = input(g, "x", &[n, widths[0]]);
    let net = forward(g, x, widths);
    (net.hidden, net.layers.iter().map(|l| l.0).collect())
}

/// Every unary op, `powi`, `pow`, broadcasts of a row and a scalar, a slice and a concat
/// on `x: [n, 3]`, with arguments kept inside each function's domain.
pub fn elementwise_chain(n: usize) -> Graph {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[n, 3]);
    let c = param(&mut g, "c", &[3]);
    let xc = g.binary(BinOp::Mul, x, c);
    let mut acc = xc;
    for u in UnOp::ALL {
        let arg = domain(&mut g, u, xc);
        let v = g.unary(u, arg);
        acc = g.binary(BinOp::Add, acc, v);
    }
    let p3 = g.add_or_panic(Op::Powi(3), &[acc]);
    let pm2 = g.add_or_panic(Op::Powi(-2), &[acc]);
    let base = g.unary(UnOp::Exp, xc);
    let pw = g.binary(BinOp::Pow, base, x);
    let q = g.binary(BinOp::Div, p3, pw);
    let out = g.binary(BinOp::Sub, q, pm2);
    let col = g.slice(out, 1, 1, 1);
    let both = g.add_or_panic(Op::Concat(1), &[col, x]);
    g.set_output("out", out);
    g.set_output("cat", both);
    g
}

/// `f(x)` mapped into the domain of `u`: `log` and `sqrt` get `x² + 1`, `recip` gets
/// `x + 3` (x > 0 in the tests), `tan` gets `x / 4`.
fn domain(g: &mut Graph, u: UnOp, x: NodeId) -> NodeId {
    match u {
        UnOp::Log | UnOp::Sqrt => {
            let s = g.unary(UnOp::Square, x);
            let one = g.constant(1.0, DType::F64);
            g.binary(BinOp::Add, s, one)
        }
        UnOp::Recip => {
            let three = g.constant(3.0, DType::F64);
            g.binary(BinOp::Add, x, three)
        }
        UnOp::Tan => {
            let q = g.constant(0.25, DType::F64);
            g.binary(BinOp::Mul, x, q)
        }
        _ => x,
    }
}

/// Reductions of both kinds (one work-item per output for short axes, a work-group per
/// output for long ones) over contiguous, transposed and broadcast views.
pub fn reductions(n: usize) -> Graph {
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[n, 4]);
    let t = input(&mut g, "t", &[2, n, 3]);
    let p = param(&mut g, "p", &[4]);
    let col_sums = g.add_or_panic(Op::Sum(0), &[a]);
    let row_means = g.add_or_panic(Op::Mean(1), &[a]);
    let mid = g.add_or_panic(Op::Sum(1), &[t]);
    let pb = g.broadcast(p, &Shape::new(&[n, 4]));
    let bsum = g.add_or_panic(Op::Mean(0), &[pb]);
    let e = g.unary(UnOp::Exp, a);
    let s = g.slice(e, 1, 2, 2);
    let ssum = g.add_or_panic(Op::Sum(0), &[s]);
    let total = g.add_or_panic(Op::Sum(0), &[col_sums]);
    let outputs = [
        ("col_sums", col_sums),
        ("row_means", row_means),
        ("mid", mid),
        ("bcast_mean", bsum),
        ("slice_sum", ssum),
        ("total", total),
    ];
    for (name, id) in outputs {
        g.set_output(name, id);
    }
    g
}

/// `gᵀ·h` for `g: [n, 3]`, `h: [n, 5]`: the shape of a weight gradient, whose inner
/// extent is the batch (long enough at `n ≥ 2048` to be split across work-groups).
pub fn weight_gradient(n: usize) -> Graph {
    let mut g = Graph::new();
    let gz = input(&mut g, "g", &[n, 3]);
    let h = input(&mut g, "h", &[n, 5]);
    let gw = g.add_or_panic(
        Op::MatMul {
            ta: true,
            tb: false,
        },
        &[gz, h],
    );
    g.set_output("grad_W", gw);
    g
}

/// The samples the goldens and differential tests cover, at test sizes.
pub fn all() -> Vec<Sample> {
    vec![
        Sample {
            name: "mlp_forward",
            graph: mlp_loss(300, &[2, 8, 8, 1]),
        },
        Sample {
            name: "elementwise_chain",
            graph: elementwise_chain(5),
        },
        Sample {
            name: "reductions",
            graph: reductions(300),
        },
        Sample {
            name: "mlp_loss_grad",
            graph: mlp_loss_grad(300, &[2, 8, 8, 1]),
        },
        Sample {
            name: "weight_gradient",
            graph: weight_gradient(2500),
        },
    ]
}

/// Deterministic leaf values in `[lo, lo + 1)`, different for every leaf and element.
pub fn leaf_values(len: usize, salt: usize, lo: f64) -> Vec<f64> {
    (0..len)
        .map(|j| lo + ((j * 37 + salt * 101) % 97) as f64 / 97.0)
        .collect()
}
