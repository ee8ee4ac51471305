//! Derivatives with closed forms, by every method, and the errors the pass reports.

mod ad_util;

use ad_util::*;
use nabla_ir::{interp, BinOp, DType, Graph, Method, NodeId, Op, Shape, Tensor, UnOp};
use nabla_passes::ad::{expand, AdError, AdOptions};

const EXACT: [Method; 3] = [Method::Forward, Method::Taylor, Method::Reverse];

fn xs() -> Tensor {
    Tensor::column(vec![-1.5, -0.3, 0.7, 2.0])
}

/// `diff{order}[f(x), x]` by `method`, evaluated at [`xs`].
fn derivative(
    order: u8,
    method: Method,
    f: impl Fn(&mut Graph, NodeId) -> NodeId,
    x: &Tensor,
) -> Vec<f64> {
    let mut g = Graph::new();
    let xi = input(&mut g, "x", x.shape.dims());
    let y = f(&mut g, xi);
    let d = diff(&mut g, y, xi, order, method);
    g.set_output("d", d);
    eval_expanded(&g, &AdOptions::default(), &env(&[("x", x.clone())]))
        .remove(0)
        .data
}

fn cube(g: &mut Graph, x: NodeId) -> NodeId {
    op(g, Op::Powi(3), &[x])
}

#[test]
fn derivatives_of_x_cubed() {
    let x = xs();
    let d1: Vec<f64> = x.data.iter().map(|x| 3.0 * x * x).collect();
    let d2: Vec<f64> = x.data.iter().map(|x| 6.0 * x).collect();
    let d3 = vec![6.0; 4];
    for m in EXACT {
        assert_close(
            &format!("x³' {m:?}"),
            &derivative(1, m, cube, &x),
            &d1,
            1e-14,
        );
        assert_close(
            &format!("x³'' {m:?}"),
            &derivative(2, m, cube, &x),
            &d2,
            1e-14,
        );
        assert_close(
            &format!("x³''' {m:?}"),
            &derivative(3, m, cube, &x),
            &d3,
            1e-14,
        );
    }
    // x·x·x through products instead of powi
    let prod = |g: &mut Graph, x: NodeId| {
        let x2 = bin(g, BinOp::Mul, x, x);
        bin(g, BinOp::Mul, x2, x)
    };
    assert_close(
        "x·x·x'' taylor",
        &derivative(2, Method::Taylor, prod, &x),
        &d2,
        1e-14,
    );
    // central differences: O(h²) truncation is exact for a cubic up to rounding
    let fd = Method::FiniteDiff(None);
    assert_close("x³' fd", &derivative(1, fd, cube, &x), &d1, 1e-9);
    assert_close("x³'' fd", &derivative(2, fd, cube, &x), &d2, 1e-7);
}

type Form = fn(&mut Graph, NodeId) -> NodeId;

/// `d⁶/dx⁶ (1/x) = 720 / x⁷`, at 4 (and elsewhere), written three ways.
#[test]
fn sixth_derivative_of_reciprocal() {
    let x = Tensor::column(vec![4.0, 0.5, -2.0]);
    let exact: Vec<f64> = x.data.iter().map(|x| 720.0 / x.powi(7)).collect();
    let forms: [(&str, Form); 3] = [
        ("recip", |g, x| un(g, UnOp::Recip, x)),
        ("powi -1", |g, x| op(g, Op::Powi(-1), &[x])),
        ("1/x", |g, x| {
            let one = cst(g, 1.0);
            bin(g, BinOp::Div, one, x)
        }),
    ];
    for (name, f) in forms {
        for m in [Method::Taylor, Method::Forward] {
            let got = derivative(6, m, f, &x);
            for (a, b) in got.iter().zip(&exact) {
                assert!((a - b).abs() <= 1e-12 * b.abs(), "{name} {m:?}: {a} vs {b}");
            }
        }
    }
    assert!((exact[0] - 720.0 / 16384.0).abs() < 1e-18);
}

/// The same sixth derivative in single precision: an f32 graph evaluated with every
/// intermediate rounded to f32. The Taylor recurrence for `1/x` takes one rounding per
/// coefficient, so the relative error stays within a few ulps (`1e-5` is stated).
#[test]
fn sixth_derivative_of_reciprocal_in_f32() {
    let mut g = Graph::new();
    let x = op(
        &mut g,
        Op::Input {
            name: "x".into(),
            dtype: DType::F32,
            shape: Shape::matrix(2, 1),
        },
        &[],
    );
    let r = un(&mut g, UnOp::Recip, x);
    let d = diff(&mut g, r, x, 6, Method::Taylor);
    g.set_output("d", d);
    let (e, _) = expand(&g, &AdOptions::default()).unwrap();
    let env = env(&[("x", Tensor::column(vec![4.0, 0.75]))]);
    let out = interp::eval_outputs(&e, &env, DType::F32).unwrap();
    for (got, x) in out[0].1.data.iter().zip([4.0f64, 0.75]) {
        let exact = 720.0 / x.powi(7);
        assert!((got - exact).abs() <= 1e-5 * exact, "{got} vs {exact}");
    }
}

/// `∂⁵/∂x²∂y³ (x² y³) = 12` by nesting an order-3 `diff` in `y` inside an order-2 `diff`
/// in `x`, with every combination of methods.
#[test]
fn mixed_fifth_partial_by_nesting() {
    for inner in EXACT {
        for outer in EXACT {
            let mut g = Graph::new();
            let x = input(&mut g, "x", &[3, 1]);
            let y = input(&mut g, "y", &[3, 1]);
            let x2 = op(&mut g, Op::Powi(2), &[x]);
            let y3 = op(&mut g, Op::Powi(3), &[y]);
            let f = bin(&mut g, BinOp::Mul, x2, y3);
            let dy = diff(&mut g, f, y, 3, inner);
            let dxy = diff(&mut g, dy, x, 2, outer);
            g.set_output("d", dxy);
            let e = env(&[
                ("x", Tensor::column(vec![0.5, -1.0, 2.0])),
                ("y", Tensor::column(vec![1.5, 0.0, -0.25])),
            ]);
            let out = eval_expanded(&g, &AdOptions::default(), &e);
            assert_eq!(out[0].data, vec![12.0; 3], "{inner:?} inside {outer:?}");
        }
    }
}

/// The `k`-th derivative of `tanh` as a polynomial in `t = tanh x`: `P₀ = t`,
/// `P_{k+1} = P_k'(t) (1 - t²)` (computed here on coefficient vectors, independently of the
/// pass).
fn tanh_derivative(k: usize, x: f64) -> f64 {
    let mut p = vec![0.0, 1.0];
    for _ in 0..k {
        let dp: Vec<f64> = (1..p.len()).map(|i| i as f64 * p[i]).collect();
        let mut next = vec![0.0; dp.len() + 2];
        for (i, c) in dp.iter().enumerate() {
            next[i] += c;
            next[i + 2] -= c;
        }
        p = next;
    }
    let t = x.tanh();
    p.iter().rev().fold(0.0, |acc, c| acc * t + c)
}

#[test]
fn pure_chains_to_order_six_against_closed_forms() {
    let x = xs();
    for k in 1..=6u8 {
        let kf = k as f64;
        let sin_ref: Vec<f64> = x
            .data
            .iter()
            .map(|x| (x + kf * std::f64::consts::FRAC_PI_2).sin())
            .collect();
        let exp_ref: Vec<f64> = x
            .data
            .iter()
            .map(|x| 2f64.powi(k as i32) * (2.0 * x).exp())
            .collect();
        let tanh_ref: Vec<f64> = x
            .data
            .iter()
            .map(|x| tanh_derivative(k as usize, *x))
            .collect();
        for m in [Method::Taylor, Method::Forward] {
            let s = derivative(k, m, |g, x| un(g, UnOp::Sin, x), &x);
            assert_close(&format!("sin^({k}) {m:?}"), &s, &sin_ref, 1e-13);
            let e = derivative(
                k,
                m,
                |g, x| {
                    let x2 = bin(g, BinOp::Add, x, x);
                    un(g, UnOp::Exp, x2)
                },
                &x,
            );
            assert_close(&format!("exp(2x)^({k}) {m:?}"), &e, &exp_ref, 1e-13);
            let t = derivative(k, m, |g, x| un(g, UnOp::Tanh, x), &x);
            assert_close(&format!("tanh^({k}) {m:?}"), &t, &tanh_ref, 1e-12);
        }
    }
}

/// `sin(exp(tanh x))` to order 6: Taylor and nested forward agree to rounding; central
/// differences (default step `ε^(1/(2+k))`) agree loosely.
#[test]
fn composite_chain_taylor_forward_and_finite_differences() {
    let x = xs();
    let f = |g: &mut Graph, x: NodeId| {
        let t = un(g, UnOp::Tanh, x);
        let e = un(g, UnOp::Exp, t);
        un(g, UnOp::Sin, e)
    };
    for k in 1..=6u8 {
        let taylor = derivative(k, Method::Taylor, f, &x);
        let forward = derivative(k, Method::Forward, f, &x);
        assert_close(
            &format!("order {k} taylor vs forward"),
            &taylor,
            &forward,
            1e-11,
        );
        let fd = derivative(k, Method::FiniteDiff(None), f, &x);
        let scale = forward.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (a, b) in fd.iter().zip(&forward) {
            assert!((a - b).abs() <= 2e-2 * scale, "order {k} fd {a} vs {b}");
        }
    }
}

/// An explicit step overrides the default.
#[test]
fn finite_difference_step_can_be_given() {
    let x = xs();
    let exact: Vec<f64> = x.data.iter().map(|x| x.cos()).collect();
    let coarse = Method::FiniteDiff(Some(nabla_ir::Num::new(0.1)));
    let got = derivative(1, coarse, |g, x| un(g, UnOp::Sin, x), &x);
    // (sin(x+h) - sin(x-h)) / 2h = cos(x) · sin(h)/h exactly
    let expect: Vec<f64> = exact.iter().map(|c| c * 0.1f64.sin() / 0.1).collect();
    assert_close("fd h=0.1", &got, &expect, 1e-13);
}

/// `--derivs fd`: the global override replaces every operator's own method.
#[test]
fn global_method_override() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 1]);
    let s = un(&mut g, UnOp::Sin, x);
    let d = diff(&mut g, s, x, 2, Method::Taylor);
    g.set_output("d", d);
    let opts = AdOptions {
        method: Some(Method::FiniteDiff(Some(nabla_ir::Num::new(0.1)))),
    };
    let (e, report) = expand(&g, &opts).unwrap();
    assert_eq!(
        report.expansions[0].method,
        Some(Method::FiniteDiff(Some(nabla_ir::Num::new(0.1))))
    );
    let out = interp::eval_outputs(&e, &env(&[("x", xs())]), DType::F64).unwrap();
    // (sin(x+h) - 2 sin x + sin(x-h)) / h² = -sin(x) · 2(1 - cos h)/h²
    let k = 2.0 * (1.0 - 0.1f64.cos()) / 0.01;
    let expect: Vec<f64> = xs().data.iter().map(|x| -x.sin() * k).collect();
    assert_close("override", &out[0].1.data, &expect, 1e-12);
}

/// Reverse mode refuses a per-point derivative through a reduction over the batch.
#[test]
fn reverse_mode_checks_point_separability() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 1]);
    let m = op(&mut g, Op::Mean(0), &[x]);
    let mb = op(&mut g, Op::Broadcast(Shape::matrix(4, 1)), &[m]);
    let f = bin(&mut g, BinOp::Mul, mb, x);
    let d = diff(&mut g, f, x, 1, Method::Reverse);
    g.set_output("d", d);
    let err = expand(&g, &AdOptions::default()).unwrap_err();
    assert!(
        matches!(err, AdError::NotPointwise { node, .. } if node == d),
        "{err}"
    );
    // forward mode gives the all-ones directional derivative: mean(x) + x · 1/N·N... per point
    let (e, _) = expand(
        &g,
        &AdOptions {
            method: Some(Method::Forward),
        },
    )
    .unwrap();
    let xv = Tensor::column(vec![1.0, 2.0, 3.0, 6.0]);
    let out = interp::eval_outputs(&e, &env(&[("x", xv.clone())]), DType::F64).unwrap();
    // d/ds [mean(x + s) (x + s)] = 1·x + mean(x)
    let expect: Vec<f64> = xv.data.iter().map(|x| x + 3.0).collect();
    assert_close("forward through mean", &out[0].1.data, &expect, 1e-15);
}

/// The derivative of what does not depend on the variable (a constant, a param) is zero
/// in every method, reverse mode included, whatever the shapes: reverse mode refused
/// `d(3, x)` (shape `[]` against `[N, 1]`).
#[test]
fn every_method_differentiates_a_constant_to_zero() {
    for m in [
        Method::Forward,
        Method::Taylor,
        Method::Reverse,
        Method::Collapsed,
    ] {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[3, 1]);
        let k = g.add_or_panic(
            Op::Param {
                name: "k".into(),
                shape: Shape::scalar(),
                dtype: DType::F64,
            },
            &[],
        );
        let three = g.constant(3.0, DType::F64);
        let dk = diff(&mut g, k, x, 1, m);
        let d3 = diff(&mut g, three, x, 2, m);
        g.set_output("dk", dk);
        g.set_output("d3", d3);
        let (e, _) = expand(&g, &AdOptions::default()).unwrap_or_else(|err| panic!("{m:?}: {err}"));
        let vals = env(&[("x", xs()), ("k", Tensor::scalar(0.5))]);
        for (name, t) in interp::eval_outputs(&e, &vals, DType::F64).unwrap() {
            assert!(t.data.iter().all(|&v| v == 0.0), "{m:?} {name}: {t:?}");
        }
    }
}

/// A closure variable used outside its `at` is an error, not a crash.
#[test]
fn live_bound_variable_is_an_error() {
    let mut g = Graph::new();
    let (z, level) = bound(&mut g, &Shape::matrix(2, 1));
    let s = un(&mut g, UnOp::Sin, z);
    g.set_output("s", s);
    let err = expand(&g, &AdOptions::default()).unwrap_err();
    assert_eq!(err, AdError::UnboundVariable { node: z, level });
}

/// The report names each operator, its method and the node counts.
#[test]
fn report_lists_each_operator() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2, 1]);
    let d = diff_closure(&mut g, x, 2, Method::Auto, |g, z| un(g, UnOp::Tanh, z));
    g.set_output("d", d);
    let (_, r) = expand(&g, &AdOptions::default()).unwrap();
    let ops: Vec<_> = r.expansions.iter().map(|e| (e.op, e.method)).collect();
    assert_eq!(ops, vec![("diff", Some(Method::Taylor)), ("at", None)]);
    assert_eq!(r.expansions[0].nodes_before, 2);
    assert!(r.expansions[0].nodes_after > r.expansions[0].nodes_before);
    assert_eq!(r.nodes_before, g.len());
}

/// Operators that no output reaches are not expanded (and cannot fail).
#[test]
fn dead_operators_are_dropped() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 1]);
    let m = op(&mut g, Op::Mean(0), &[x]);
    let mb = op(&mut g, Op::Broadcast(Shape::matrix(4, 1)), &[m]);
    let f = bin(&mut g, BinOp::Mul, mb, x);
    let _dead = diff(&mut g, f, x, 1, Method::Reverse);
    let s = un(&mut g, UnOp::Sin, x);
    g.set_output("s", s);
    let (e, r) = expand(&g, &AdOptions::default()).unwrap();
    assert!(r.expansions.is_empty());
    assert_eq!(e.len(), 2);
}
