//! Perturbation confusion: nested derivatives of closures, built with `bound` variables and
//! `at` exactly as a closure-tracing front end builds them. Each case has a known value
//! that a confused implementation gets wrong.

mod ad_util;

use ad_util::*;
use nabla_ir::{BinOp, DType, Graph, Method, NodeId, Op, Shape, Tensor, UnOp};
use nabla_passes::ad::AdOptions;

const METHODS: [Method; 4] = [
    Method::Auto,
    Method::Forward,
    Method::Taylor,
    Method::Reverse,
];

/// Evaluates the single output of `g` with every method forced in turn.
fn each_method(g: &Graph, e: &nabla_ir::interp::Env, check: impl Fn(Method, &[f64])) {
    for m in METHODS {
        let out = eval_expanded(g, &AdOptions { method: Some(m) }, e);
        check(m, &out[0].data);
    }
}

fn xs() -> Tensor {
    Tensor::column(vec![-1.5, 0.5, 2.0])
}

fn fill(g: &mut Graph, v: f64) -> NodeId {
    g.fill(v, DType::F64, &Shape::matrix(3, 1))
}

/// `d/dx [x · (d/dy (x + y))|_{y=1}] = 1`.
#[test]
fn inner_derivative_of_a_sum() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3, 1]);
    let d = diff_closure(&mut g, x, 1, Method::Auto, |g, zx| {
        let one = fill(g, 1.0);
        let inner = diff_closure(g, one, 1, Method::Auto, |g, zy| bin(g, BinOp::Add, zx, zy));
        bin(g, BinOp::Mul, zx, inner)
    });
    g.set_output("d", d);
    each_method(&g, &env(&[("x", xs())]), |m, v| {
        assert_eq!(v, [1.0; 3], "{m:?}")
    });
}

/// `d/dx [x · (d/dy (x · y))|_{y=2}] = d/dx x² = 2x`.
#[test]
fn inner_derivative_of_a_product() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3, 1]);
    let d = diff_closure(&mut g, x, 1, Method::Auto, |g, zx| {
        let two = fill(g, 2.0);
        let inner = diff_closure(g, two, 1, Method::Auto, |g, zy| bin(g, BinOp::Mul, zx, zy));
        bin(g, BinOp::Mul, zx, inner)
    });
    g.set_output("d", d);
    let expect: Vec<f64> = xs().data.iter().map(|x| 2.0 * x).collect();
    each_method(&g, &env(&[("x", xs())]), |m, v| {
        assert_eq!(v, expect, "{m:?}")
    });
}

/// `d/dx [x · (d/dy x)|_{y=0}] = 0`: the inner closure ignores its argument.
#[test]
fn inner_derivative_of_a_captured_variable() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3, 1]);
    let d = diff_closure(&mut g, x, 1, Method::Auto, |g, zx| {
        let zero = fill(g, 0.0);
        let inner = diff_closure(g, zero, 1, Method::Auto, |_, _zy| zx);
        bin(g, BinOp::Mul, zx, inner)
    });
    g.set_output("d", d);
    each_method(&g, &env(&[("x", xs())]), |m, v| {
        assert_eq!(v, [0.0; 3], "{m:?}")
    });
}

/// `d/dv [v · (d/dy (y · |v|))|_{y=1}] = d/dv [v |v|] = 2|v|`: 4 at `v = 2`.
#[test]
fn inner_derivative_through_abs() {
    let mut g = Graph::new();
    let x = input(&mut g, "v", &[3, 1]);
    let d = diff_closure(&mut g, x, 1, Method::Auto, |g, zv| {
        let one = fill(g, 1.0);
        let inner = diff_closure(g, one, 1, Method::Auto, |g, zy| {
            let a = un(g, UnOp::Abs, zv);
            bin(g, BinOp::Mul, zy, a)
        });
        bin(g, BinOp::Mul, zv, inner)
    });
    g.set_output("d", d);
    let v = Tensor::column(vec![2.0, -3.0, 0.5]);
    each_method(&g, &env(&[("v", v)]), |m, out| {
        assert_eq!(out, [4.0, 6.0, 1.0], "{m:?}")
    });
}

/// `D_x D_y (x · y) = 1`.
#[test]
fn nested_mixed_derivative() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3, 1]);
    let y = input(&mut g, "y", &[3, 1]);
    let d = diff_closure(&mut g, x, 1, Method::Auto, |g, zx| {
        diff_closure(g, y, 1, Method::Auto, |g, zy| bin(g, BinOp::Mul, zx, zy))
    });
    g.set_output("d", d);
    let e = env(&[("x", xs()), ("y", Tensor::column(vec![3.0, -1.0, 0.25]))]);
    each_method(&g, &e, |m, v| assert_eq!(v, [1.0; 3], "{m:?}"));
}

/// `D (D x³)` at 2 = 6·2 = 12: the inner derivative is taken at the outer variable.
#[test]
fn nested_derivative_of_a_cube() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3, 1]);
    let d = diff_closure(&mut g, x, 1, Method::Auto, |g, z1| {
        diff_closure(g, z1, 1, Method::Auto, |g, z2| op(g, Op::Powi(3), &[z2]))
    });
    g.set_output("d", d);
    let v = Tensor::column(vec![2.0, -1.0, 0.5]);
    each_method(&g, &env(&[("x", v)]), |m, out| {
        assert_eq!(out, [12.0, -6.0, 3.0], "{m:?}")
    });
}

/// `u(a, b)`: a tanh MLP `2 → 6 → 6 → 1` over the columns `a`, `b`.
fn net(g: &mut Graph, a: NodeId, b: NodeId) -> NodeId {
    let ab = op(g, Op::Concat(1), &[a, b]);
    mlp(g, ab, &[2, 6, 6, 1], "u").out
}

fn net_params(rng: &mut Rng) -> nabla_ir::interp::Env {
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[1, 1]);
    let b = input(&mut g, "b", &[1, 1]);
    let ab = op(&mut g, Op::Concat(1), &[a, b]);
    let ps = mlp(&mut g, ab, &[2, 6, 6, 1], "u").params();
    let mut e = env(&[]);
    param_env(&g, &ps, rng, &mut e);
    e
}

/// `u_xy` and `u_yy` at `(x, y)` by f64 central differences of the network itself
/// (`h = 1e-4`: truncation `~h²`, rounding `~ε/h²`, both about `1e-8`).
fn fd_partials(params: &nabla_ir::interp::Env, x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[n, 1]);
    let b = input(&mut g, "b", &[n, 1]);
    let u = net(&mut g, a, b);
    g.set_output("u", u);
    let eval = |dx: f64, dy: f64| {
        let mut e = params.clone();
        e.insert(
            "a".into(),
            Tensor::column(x.iter().map(|v| v + dx).collect()),
        );
        e.insert(
            "b".into(),
            Tensor::column(y.iter().map(|v| v + dy).collect()),
        );
        eval_plain(&g, &e, DType::F64).remove(0).data
    };
    let h = 1e-4;
    let (pp, pm, mp, mm) = (eval(h, h), eval(h, -h), eval(-h, h), eval(-h, -h));
    let (c, yp, ym) = (eval(0.0, 0.0), eval(0.0, h), eval(0.0, -h));
    let uxy = (0..n)
        .map(|i| (pp[i] - pm[i] - mp[i] + mm[i]) / (4.0 * h * h))
        .collect();
    let uyy = (0..n)
        .map(|i| (yp[i] - 2.0 * c[i] + ym[i]) / (h * h))
        .collect();
    (uxy, uyy)
}

/// `d/dx [(∂u/∂y)(x, x²)] = u_xy(x, x²) + 2x u_yy(x, x²)` for a tanh MLP, in the two ways
/// a front end traces it: the partial as a closure over the outer variable, and the
/// two-argument closure `(a, b) ↦ ∂u/∂b` substituted simultaneously.
#[test]
fn chain_rule_through_a_partial_of_an_mlp() {
    let xv = vec![-0.8, -0.1, 0.4, 0.9];
    let params = net_params(&mut Rng(42));
    let mut e = params.clone();
    e.insert("x".into(), Tensor::column(xv.clone()));
    let x2: Vec<f64> = xv.iter().map(|x| x * x).collect();
    let (uxy, uyy) = fd_partials(&params, &xv, &x2);
    let expect: Vec<f64> = (0..4).map(|i| uxy[i] + 2.0 * xv[i] * uyy[i]).collect();

    // diff(|x| diff(|t| u(x, t), x²), x)
    let mut g1 = Graph::new();
    let x = input(&mut g1, "x", &[4, 1]);
    let d = diff_closure(&mut g1, x, 1, Method::Auto, |g, zx| {
        let sq = un(g, UnOp::Square, zx);
        diff_closure(g, sq, 1, Method::Auto, |g, zt| net(g, zx, zt))
    });
    g1.set_output("d", d);

    // uy = |a, b| diff(|t| u(a, t), b);  diff(|x| uy(x, x²), x)
    let mut g2 = Graph::new();
    let x = input(&mut g2, "x", &[4, 1]);
    let s = Shape::matrix(4, 1);
    let (za, _) = bound(&mut g2, &s);
    let (zb, _) = bound(&mut g2, &s);
    let uy = diff_closure(&mut g2, zb, 1, Method::Auto, |g, zt| net(g, za, zt));
    let d = diff_closure(&mut g2, x, 1, Method::Auto, |g, zx| {
        let sq = un(g, UnOp::Square, zx);
        at(g, uy, &[(za, zx), (zb, sq)])
    });
    g2.set_output("d", d);

    for (name, g) in [("closure", &g1), ("two-argument closure", &g2)] {
        for m in METHODS {
            let out = eval_expanded(g, &AdOptions { method: Some(m) }, &e);
            assert_close(&format!("{name} {m:?}"), &out[0].data, &expect, 1e-6);
        }
        let fd = eval_expanded(
            g,
            &AdOptions {
                method: Some(Method::FiniteDiff(None)),
            },
            &e,
        );
        assert_close(&format!("{name} nested fd"), &fd[0].data, &expect, 1e-3);
    }
}

/// `eval_expanded` checks the simplifier at its default limits among others.
#[test]
fn simplifier_settings_include_the_defaults() {
    let d = nabla_passes::simplify::SimplifyOptions::default();
    assert_eq!(SIMPLIFY_SETTINGS[0], d);
}
