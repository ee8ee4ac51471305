//! The simplifier on graphs that the AD pass expands: the Taylor-mode Laplacian, once
//! simplified, costs no more than the collapsed (Forward Laplacian) expansion simplified,
//! and values are preserved.

mod simplify_util;

use nabla_ir::{verify, Graph, Method, NodeId, Op};
use nabla_passes::ad::{expand, AdOptions};
use nabla_passes::simplify::{simplify, Report, SimplifyOptions};
use simplify_util::*;

/// `laplacian[u, x0..x(D-1)]` of the MLP with the given method, expanded by AD.
fn expanded(m: Mlp, method: Method) -> Graph {
    let mut g = mlp_value(m);
    let u = g.output("u").expect("u");
    let coords: Vec<NodeId> = g
        .ids()
        .filter(|&i| matches!(g.op(i), Op::Input { .. }))
        .collect();
    let level = g.fresh_level();
    let mut args = vec![u];
    args.extend(coords);
    let lap = g.add_or_panic(Op::Laplacian { level, method }, &args);
    g.set_output("lap", lap);
    expand(&g, &AdOptions::default()).expect("expands").0
}

fn run(m: Mlp, method: Method) -> (Graph, Graph, Report) {
    let g = expanded(m, method);
    let (s, r) = simplify(&g, &SimplifyOptions::default());
    verify(&s).expect("verifies");
    let mut rng = Rng(5);
    let env = random_env(&g, &mut rng, Draw::Mixed);
    assert_same_outputs(&g, &s, &env, 1e-10);
    (g, s, r)
}

/// Simplifies the Taylor and collapsed expansions of `m`'s Laplacian; the Taylor one must
/// end within 5% of the collapsed one's cost.
fn collapses(m: Mlp) {
    let (_, _, t) = run(m, Method::Taylor);
    let (_, _, c) = run(m, Method::Collapsed);
    let n = m.batch as f64;
    println!(
        "D={} width {} x{}: Taylor {:.0} -> {:.0} FLOPs/point, collapsed {:.0} -> {:.0}\n  {t}\n  {c}",
        m.dims,
        m.width,
        m.layers,
        t.flops_before / n,
        t.flops_after / n,
        c.flops_before / n,
        c.flops_after / n
    );
    assert!(t.flops_after <= 1.05 * c.flops_after, "{t}\n{c}");
}

#[test]
fn ad_taylor_laplacian_simplifies_to_collapsed_cost() {
    for dims in [2, 5] {
        collapses(Mlp {
            dims,
            width: 16,
            layers: 2,
            batch: 3,
        });
    }
}

#[test]
fn ad_benchmark_sized_laplacian() {
    // 3 hidden layers of width 64 (the benchmark network), expanded by AD, in 3 and 10
    // dimensions. At D = 10 the `algebra` phase needs all 30 default iterations: the
    // regrouped sums have to travel through every layer.
    for dims in [3, 10] {
        collapses(Mlp {
            dims,
            width: 64,
            layers: 3,
            batch: 2,
        });
    }
}
