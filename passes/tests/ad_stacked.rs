//! The collapsed Laplacian with its tangents stacked on a leading axis (16 or more
//! variables) against the same Laplacian from one Taylor jet per direction and against f64
//! finite differences: on an MLP (values and the parameter gradient of a loss built on
//! them), and on a graph that goes through every rule of the stacked expansion.

mod ad_util;

use ad_util::*;
use nabla_ir::interp::Env;
use nabla_ir::{BinOp, Graph, Method, NodeId, Op, Shape, Tensor, UnOp};
use nabla_passes::ad::{expand, AdOptions};

fn forced(m: Method) -> AdOptions {
    AdOptions { method: Some(m) }
}

fn inputs(g: &mut Graph, d: usize, n: usize) -> Vec<NodeId> {
    (0..d)
        .map(|i| input(g, &format!("x{i}"), &[n, 1]))
        .collect()
}

fn point_env(d: usize, n: usize, seed: u64) -> Env {
    let mut rng = Rng(seed);
    let mut e = env(&[]);
    for i in 0..d {
        e.insert(format!("x{i}"), Tensor::column(rng.vec(n, -0.8, 0.8)));
    }
    e
}

/// `Σᵢ (f(x + h·1ᵢ) − 2f(x) + f(x − h·1ᵢ)) / h²` over the listed variables (an input
/// listed twice counts twice), `h = 1e-4`: error ~1e-8 per term.
fn fd_laplacian(g: &Graph, out: &str, e: &Env, vars: &[String]) -> Vec<f64> {
    let mut plain = g.clone();
    plain.clear_outputs();
    plain.set_output(out, g.output(out).unwrap());
    let h = 1e-4;
    let f = |e: &Env| eval_plain(&plain, e, nabla_ir::DType::F64).remove(0).data;
    let c = f(e);
    let mut lap = vec![0.0; c.len()];
    for v in vars {
        for s in [h, -h] {
            let mut e2 = e.clone();
            e2.get_mut(v).unwrap().data.iter_mut().for_each(|x| *x += s);
            for (l, (a, b)) in lap.iter_mut().zip(f(&e2).iter().zip(&c)) {
                *l += (a - b) / (h * h);
            }
        }
    }
    lap
}

/// Whether the expanded graph holds a `[D, …]` value: the stacked path was taken.
fn stacks(g: &Graph, opts: &AdOptions, d: usize) -> bool {
    let (e, _) = expand(g, opts).unwrap();
    e.ids().any(|i| {
        let s = e.shape(i);
        s.rank() == 3 && s.dims()[0] == d
    })
}

/// `Δu` of a tanh MLP over 20 inputs, and the parameter gradient of `Σ w·(Δu)²`: stacked
/// against per-direction Taylor jets (1e-12) and finite differences (1e-6).
#[test]
fn a_stacked_laplacian_of_an_mlp_is_the_per_direction_one() {
    let (d, n) = (20, 6);
    let mut g = Graph::new();
    let xs = inputs(&mut g, d, n);
    let x = op(&mut g, Op::Concat(1), &xs);
    let net = mlp(&mut g, x, &[d, 12, 12, 1], "u");
    let (u, params) = (net.out, net.params());
    g.set_output("u", u);
    let lap = laplacian(&mut g, u, &xs, Method::Auto);
    g.set_output("lap", lap);
    let mut e = point_env(d, n, 7);
    param_env(&g, &params, &mut Rng(8), &mut e);
    let vars: Vec<String> = (0..d).map(|i| format!("x{i}")).collect();
    let reference = fd_laplacian(&g, "u", &e, &vars);

    assert!(stacks(&g, &forced(Method::Collapsed), d));
    assert!(!stacks(&g, &forced(Method::Taylor), d));
    let stacked = eval_expanded(&g, &forced(Method::Collapsed), &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    assert_close(
        "stacked vs finite differences",
        &stacked[1].data,
        &reference,
        1e-6,
    );
    assert_close(
        "stacked vs Taylor jets",
        &stacked[1].data,
        &jets[1].data,
        1e-12,
    );

    // the gradient of a loss on the Laplacian w.r.t. every parameter
    let w = tensor(&mut g, &Rng(9).tensor(&[n, 1], -1.0, 1.0));
    let sq = un(&mut g, UnOp::Square, lap);
    let wsq = bin(&mut g, BinOp::Mul, w, sq);
    let loss = sum_all(&mut g, wsq);
    g.clear_outputs();
    for (k, &p) in params.iter().enumerate() {
        let level = g.fresh_level();
        let gr = op(&mut g, Op::Grad { level }, &[loss, p]);
        g.set_output(&format!("g{k}"), gr);
    }
    let stacked = eval_expanded(&g, &forced(Method::Collapsed), &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    for (k, (s, j)) in stacked.iter().zip(&jets).enumerate() {
        assert_close(&format!("gradient {k}"), &s.data, &j.data, 1e-10);
    }
}

/// One expression through every rule: unary and `powi` (elementwise), `div`, `pow`,
/// `atan2`, broadcast to more axes, reshape, sum, mean, slice, a concat that is not the
/// inputs in order (a constant part and a repeated input), products whose left operand
/// is contracted over its rows, whose right operand carries tangents, and whose two
/// operands both do; the Laplacian over 17 variables, one input listed twice.
#[test]
fn every_rule_of_the_stacked_expansion_against_taylor_jets() {
    let (d, n) = (16, 5);
    let mut g = Graph::new();
    let xs = inputs(&mut g, d, n);
    let c = tensor(&mut g, &Rng(3).tensor(&[n, 1], 0.5, 1.5));
    // [n, 4]: a constant column, x3, x0 and x5 again
    let mixed = op(&mut g, Op::Concat(1), &[c, xs[3], xs[0], xs[5]]);
    let s = un(&mut g, UnOp::Sin, mixed);
    let p3 = op(&mut g, Op::Powi(3), &[s]);
    let sum_x = xs
        .iter()
        .skip(1)
        .fold(xs[0], |a, &b| bin(&mut g, BinOp::Add, a, b));
    let wide = g.broadcast(sum_x, &Shape::matrix(n, 4));
    let q = bin(&mut g, BinOp::Div, p3, wide);
    let q = bin(&mut g, BinOp::Add, q, wide); // keep the quotient away from 0 in `pow`
    let two = cst(&mut g, 2.0);
    let two = g.broadcast(two, &Shape::matrix(n, 4));
    let base = bin(&mut g, BinOp::Add, q, two);
    let base = un(&mut g, UnOp::Square, base);
    let pw = bin(&mut g, BinOp::Pow, base, mixed);
    let at = bin(&mut g, BinOp::Atan2, pw, wide);
    // [n, 4] → [2n, 2] → back, a slice, and a sum and mean over columns
    let r = op(&mut g, Op::Reshape(Shape::matrix(2 * n, 2)), &[at]);
    let r = op(&mut g, Op::Reshape(Shape::matrix(n, 4)), &[r]);
    let sl = op(
        &mut g,
        Op::Slice {
            axis: 1,
            start: 1,
            len: 3,
        },
        &[r],
    );
    // tangents contracted over rows: sᵀ·sl is [3, 3], both operands carry tangents
    let tn = op(
        &mut g,
        Op::MatMul {
            ta: true,
            tb: false,
        },
        &[sl, sl],
    );
    // right operand with tangents: [n, 3] · [3, 3]
    let k = tensor(&mut g, &Rng(4).tensor(&[n, 3], -1.0, 1.0));
    let right = op(
        &mut g,
        Op::MatMul {
            ta: false,
            tb: false,
        },
        &[k, tn],
    );
    let total = bin(&mut g, BinOp::Mul, right, sl);
    let m = op(&mut g, Op::Mean(1), &[total]);
    let s1 = op(&mut g, Op::Sum(1), &[sl]);
    let f = bin(&mut g, BinOp::Add, m, s1);
    let f = op(&mut g, Op::Reshape(Shape::matrix(n, 1)), &[f]);
    g.set_output("f", f);
    let mut vs = xs.clone();
    vs.push(xs[5]);
    let lap = laplacian(&mut g, f, &vs, Method::Auto);
    g.set_output("lap", lap);
    let e = point_env(d, n, 11);
    let mut vars: Vec<String> = (0..d).map(|i| format!("x{i}")).collect();
    vars.push("x5".into());
    let reference = fd_laplacian(&g, "f", &e, &vars);

    assert!(stacks(&g, &forced(Method::Collapsed), d + 1));
    let stacked = eval_expanded(&g, &forced(Method::Collapsed), &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    assert_close(
        "stacked vs finite differences",
        &stacked[1].data,
        &reference,
        1e-5,
    );
    assert_close(
        "stacked vs Taylor jets",
        &stacked[1].data,
        &jets[1].data,
        1e-11,
    );
}

/// A per-point Jacobian needs the batch axis first everywhere: with one in the graph the
/// Laplacian keeps one tangent per direction, and the Jacobian of the Laplacian is the
/// one of the per-direction expansion.
#[test]
fn a_graph_with_a_per_point_jacobian_keeps_directions_apart() {
    let (d, n) = (16, 4);
    let mut g = Graph::new();
    let xs = inputs(&mut g, d, n);
    let x = op(&mut g, Op::Concat(1), &xs);
    let net = mlp(&mut g, x, &[d, 6, 1], "u");
    let lap = laplacian(&mut g, net.out, &xs, Method::Auto);
    let p = net.params()[0];
    let level = g.fresh_level();
    let j = op(&mut g, Op::Jacobian { level }, &[lap, p]);
    g.set_output("j", j);
    assert!(!stacks(&g, &AdOptions::default(), d));
    let mut e = point_env(d, n, 5);
    param_env(&g, &net.params(), &mut Rng(6), &mut e);
    let by_default = eval_expanded(&g, &AdOptions::default(), &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    assert_close("jacobian", &by_default[0].data, &jets[0].data, 1e-11);
}
