//! The Laplacian of an MLP by every method, against f64 finite differences of the network,
//! and the cost of the collapsed Taylor mode relative to `D` separate jets.

mod ad_util;

use ad_util::*;
use nabla_ir::interp::Env;
use nabla_ir::{DType, Graph, Method, NodeId, Op, Tensor};
use nabla_passes::ad::{expand, flops_per_point, AdOptions};

/// `u(x₁..x_D)`: a tanh MLP over the concatenated coordinates, and `Δu`.
fn build(d: usize, n: usize, hidden: usize, method: Method) -> (Graph, Vec<NodeId>, Vec<NodeId>) {
    let mut g = Graph::new();
    let xs: Vec<NodeId> = (0..d)
        .map(|i| input(&mut g, &format!("x{i}"), &[n, 1]))
        .collect();
    let x = op(&mut g, Op::Concat(1), &xs);
    let net = mlp(&mut g, x, &[d, hidden, hidden, 1], "u");
    let (u, params) = (net.out, net.params());
    g.set_output("u", u);
    let lap = laplacian(&mut g, u, &xs, method);
    g.set_output("lap", lap);
    (g, xs, params)
}

fn point_env(g: &Graph, params: &[NodeId], d: usize, n: usize) -> Env {
    let mut rng = Rng(d as u64);
    let mut e = env(&[]);
    param_env(g, params, &mut rng, &mut e);
    for i in 0..d {
        e.insert(format!("x{i}"), Tensor::column(rng.vec(n, -1.0, 1.0)));
    }
    e
}

/// `Σᵢ (u(x + h eᵢ) - 2u(x) + u(x - h eᵢ)) / h²` with `h = 1e-4` (error ~1e-8 per term).
fn fd_laplacian(g: &Graph, e: &Env, d: usize) -> Vec<f64> {
    let mut plain = g.clone();
    plain.clear_outputs();
    plain.set_output("u", g.output("u").unwrap());
    let h = 1e-4;
    let u = |e: &Env| eval_plain(&plain, e, DType::F64).remove(0).data;
    let c = u(e);
    let mut lap = vec![0.0; c.len()];
    for i in 0..d {
        for s in [h, -h] {
            let mut e2 = e.clone();
            e2.get_mut(&format!("x{i}"))
                .unwrap()
                .data
                .iter_mut()
                .for_each(|v| *v += s);
            for (l, (a, b)) in lap.iter_mut().zip(u(&e2).iter().zip(&c)) {
                *l += (a - b) / (h * h);
            }
        }
    }
    lap
}

#[test]
fn laplacian_of_an_mlp_by_every_method() {
    let (d, n) = (3, 5);
    let (g, _, params) = build(d, n, 8, Method::Auto);
    let e = point_env(&g, &params, d, n);
    let reference = fd_laplacian(&g, &e, d);
    let exact = [
        Method::Collapsed,
        Method::Taylor,
        Method::Forward,
        Method::Reverse,
        Method::Auto,
    ];
    let mut first: Option<Vec<f64>> = None;
    for m in exact {
        let lap = eval_expanded(&g, &AdOptions { method: Some(m) }, &e)
            .remove(1)
            .data;
        assert_close(
            &format!("{m:?} vs finite differences"),
            &lap,
            &reference,
            1e-6,
        );
        match &first {
            None => first = Some(lap),
            Some(f) => assert_close(&format!("{m:?} vs collapsed"), &lap, f, 1e-12),
        }
    }
    // the FD method's default step ε^(1/4) ≈ 1.2e-4: error ~1e-8 per direction
    let fd = eval_expanded(
        &g,
        &AdOptions {
            method: Some(Method::FiniteDiff(None)),
        },
        &e,
    );
    assert_close("fd method", &fd[1].data, &reference, 1e-5);
}

/// Collapsed Taylor propagates `2 + D` vectors per node where `D` order-2 jets propagate
/// `1 + 2D` (values shared): with matrix products dominating, the FLOP ratio approaches
/// `(2 + D) / (1 + 2D)`. Printed with `--nocapture`.
#[test]
fn collapsed_costs_two_plus_d_over_one_plus_two_d() {
    let (n, hidden) = (64, 64);
    println!("   D  collapsed FLOP/pt    taylor FLOP/pt   forward FLOP/pt   ratio  (2+D)/(1+2D)");
    for d in [2usize, 10, 50] {
        let flops = |m: Method| {
            let (g, _, _) = build(d, n, hidden, Method::Auto);
            let (x, _) = expand(&g, &AdOptions { method: Some(m) }).unwrap();
            let mut lap_only = x.clone();
            lap_only.clear_outputs();
            lap_only.set_output("lap", x.output("lap").unwrap());
            flops_per_point(&lap_only, n)
        };
        let (c, t, f) = (
            flops(Method::Collapsed),
            flops(Method::Taylor),
            flops(Method::Forward),
        );
        let ratio = c / t;
        let ideal = (2.0 + d as f64) / (1.0 + 2.0 * d as f64);
        println!("{d:>4} {c:>18.0} {t:>17.0} {f:>17.0} {ratio:>7.3} {ideal:>13.3}");
        assert!(
            (ratio / ideal - 1.0).abs() < 0.05,
            "D = {d}: ratio {ratio:.3}, ideal {ideal:.3}"
        );
    }
}
