//! The case that motivates the project: the parameter gradient of an ODE residual loss that
//! contains the input derivative of a network, taken through a closure that captures the
//! parameters (reverse mode over forward mode).
//!
//! `u(t) = t·NN(t)` with `NN: 1 → 12 → 12 → 12 → 1` (tanh), `loss = mean((u'(t) - cos t)²)`
//! over 20 points, `grad` w.r.t. every weight and bias, against f64 central differences
//! of the loss.

mod ad_util;

use ad_util::*;
use nabla_ir::{interp, BinOp, DType, Graph, Method, NodeId, Op, Tensor, UnOp};
use nabla_passes::ad::{expand, AdOptions};

const N: usize = 20;

fn build() -> (Graph, Vec<NodeId>) {
    let mut g = Graph::new();
    let t = input(&mut g, "t", &[N, 1]);
    let mut params = Vec::new();
    let ut = diff_closure(&mut g, t, 1, Method::Auto, |g, z| {
        let nn = mlp(g, z, &[1, 12, 12, 12, 1], "theta");
        params = nn.params();
        bin(g, BinOp::Mul, z, nn.out)
    });
    let c = un(&mut g, UnOp::Cos, t);
    let r = bin(&mut g, BinOp::Sub, ut, c);
    let r2 = un(&mut g, UnOp::Square, r);
    let m = op(&mut g, Op::Mean(0), &[r2]);
    let loss = op(&mut g, Op::Mean(0), &[m]);
    g.set_output("loss", loss);
    let level = g.fresh_level();
    for &p in &params {
        let gp = op(&mut g, Op::Grad { level }, &[loss, p]);
        let Op::Param { name, .. } = g.op(p).clone() else {
            unreachable!()
        };
        g.set_output(&format!("d {name}"), gp);
    }
    (g, params)
}

/// Max over entries of `|g - fd| / max(|fd|, ‖fd‖∞ · 1e-3)`: the relative error of each
/// entry, measured against the tensor's largest entry for entries near zero.
fn rel_error(grad: &[f64], fd: &[f64]) -> f64 {
    let big = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    grad.iter()
        .zip(fd)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-3 * big))
        .fold(0.0, f64::max)
}

#[test]
fn parameter_gradient_of_the_ode_residual_matches_central_differences() {
    let (g, params) = build();
    let mut rng = Rng(7);
    let mut e = env(&[(
        "t",
        Tensor::column((0..N).map(|i| 2.0 * i as f64 / (N - 1) as f64).collect()),
    )]);
    param_env(&g, &params, &mut rng, &mut e);
    // every method of the inner derivative gives the same exact gradient
    let mut per_method = Vec::new();
    for m in [Method::Forward, Method::Taylor, Method::Reverse] {
        let (x, _) = expand(&g, &AdOptions { method: Some(m) }).unwrap();
        per_method.push(interp::eval_outputs(&x, &e, DType::F64).unwrap());
    }
    let (x, _) = expand(&g, &AdOptions::default()).unwrap();
    let loss_graph = {
        let mut l = x.clone();
        l.clear_outputs();
        l.set_output("loss", x.output("loss").unwrap());
        l
    };
    let out = interp::eval_outputs(&x, &e, DType::F64).unwrap();
    // the fourth-order central stencil with h = 1e-3: truncation h⁴/30·L⁽⁵⁾ and
    // rounding ~ε·L/h are both near 1e-13
    let h = 1e-3;
    let mut worst = 0.0f64;
    for (k, (name, grad)) in out.iter().enumerate().skip(1) {
        let pname = name.strip_prefix("d ").unwrap();
        let fd: Vec<f64> = (0..grad.data.len())
            .map(|i| {
                let at = |s: f64| {
                    let mut e2 = e.clone();
                    e2.get_mut(pname).unwrap().data[i] += s;
                    interp::eval_outputs(&loss_graph, &e2, DType::F64).unwrap()[0]
                        .1
                        .item()
                };
                (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * h)
            })
            .collect();
        let err = rel_error(&grad.data, &fd);
        worst = worst.max(err);
        assert!(err < 1e-8, "{name}: relative error {err:.2e}");
        for (m, o) in per_method.iter().enumerate() {
            assert_close(
                &format!("{name} method {m}"),
                &o[k].1.data,
                &grad.data,
                1e-12,
            );
        }
    }
    println!("seed case: worst relative error of the parameter gradient vs central differences: {worst:.2e}");
}
