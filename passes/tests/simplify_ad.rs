//! The simplifier on graphs that the AD pass expands: the Taylor-mode Laplacian, once
//! simplified, costs no more than the collapsed (Forward Laplacian) expansion simplified,
//! and values are preserved; the pipeline runs the `collapse` phase exactly when the AD
//! added up derivatives along separate directions.

mod simplify_util;

use nabla_ir::BinOp;
use nabla_ir::{verify, Graph, Method, NodeId, Op};
use nabla_passes::ad::{expand, AdOptions};
use nabla_passes::pipeline::{self, PipelineOptions};
use nabla_passes::simplify::{simplify, Report, SimplifyOptions};
use simplify_util::*;

/// `laplacian[u, x0..x(D-1)]` of the MLP with the given method, expanded by AD.
fn expanded(m: Mlp, method: Method) -> Graph {
    expand(&traced(m, method), &AdOptions::default())
        .expect("expands")
        .0
}

/// `laplacian[u, x0..x(D-1)]` of the MLP with the given method, as traced.
fn traced(m: Mlp, method: Method) -> Graph {
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
    g
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

/// The pipeline's simplifier report for `g` (AD, then the default simplifier).
fn piped(g: &Graph) -> Report {
    let opts = PipelineOptions {
        ad: AdOptions::default(),
        simplify: Some(SimplifyOptions::default()),
    };
    let (out, report) = pipeline::run(g, &opts).expect("lowers");
    verify(&out).expect("verifies");
    report.simplify.expect("simplified")
}

#[test]
fn the_pipeline_collapses_only_sums_over_directions() {
    let m = Mlp {
        dims: 5,
        width: 16,
        layers: 2,
        batch: 3,
    };
    // Taylor mode adds five jets: `collapse` runs and reaches the Forward Laplacian's cost
    let t = piped(&traced(m, Method::Taylor));
    assert!(t.stop_reason.contains("collapse:"), "{t}");
    // the collapsed expansion sums while propagating: nothing for `collapse` to regroup,
    // and skipping it (with the short `cleanup`) costs at most 0.5% over the full schedule
    let c = piped(&traced(m, Method::Collapsed));
    assert!(!c.stop_reason.contains("collapse:"), "{c}");
    let (_, _, full) = run(m, Method::Collapsed);
    assert!(c.flops_after <= 1.005 * full.flops_after, "{c}\n{full}");
    assert!(t.flops_after <= 1.05 * c.flops_after, "{t}\n{c}");
}

#[test]
fn two_second_derivatives_written_out_are_a_sum_over_directions() {
    let m = Mlp {
        dims: 2,
        width: 8,
        layers: 1,
        batch: 3,
    };
    let mut g = mlp_value(m);
    let u = g.output("u").expect("u");
    let coords: Vec<NodeId> = (g.ids())
        .filter(|&i| matches!(g.op(i), Op::Input { .. }))
        .collect();
    let second = |g: &mut Graph, x: NodeId| {
        let (level, method) = (g.fresh_level(), Method::Auto);
        g.add_or_panic(
            Op::Diff {
                level,
                order: 2,
                method,
            },
            &[u, x],
        )
    };
    let (uxx, uyy) = (second(&mut g, coords[0]), second(&mut g, coords[1]));
    let lap = g.binary(BinOp::Add, uxx, uyy);
    g.set_output("lap", lap);
    let (_, ad) = expand(&g, &AdOptions::default()).expect("expands");
    assert!(ad.sums_over_directions(), "{ad:?}");
    assert!(piped(&g).stop_reason.contains("collapse:"));
    // one second derivative alone is not a sum
    g.set_output("lap", uxx);
    let (_, ad) = expand(&g, &AdOptions::default()).expect("expands");
    assert!(!ad.sums_over_directions(), "{ad:?}");
}

#[test]
fn mixed_partials_collapse_and_nested_laplacians_clean_up_until_it_stops_paying() {
    let m = Mlp {
        dims: 3,
        width: 8,
        layers: 1,
        batch: 3,
    };
    let base = mlp_value(m);
    let u = base.output("u").expect("u");
    let xs: Vec<NodeId> = (base.ids())
        .filter(|&i| matches!(base.op(i), Op::Input { .. }))
        .collect();
    let diff = |g: &mut Graph, f: NodeId, x: NodeId| {
        let (level, method) = (g.fresh_level(), Method::Auto);
        g.add_or_panic(
            Op::Diff {
                level,
                order: 1,
                method,
            },
            &[f, x],
        )
    };
    // d(u, x0, x1) + d(u, x2, x1): two mixed partials, each two nested first-order diffs
    let mut g = base.clone();
    let (a, b) = (diff(&mut g, u, xs[0]), diff(&mut g, u, xs[2]));
    let (ab, bc) = (diff(&mut g, a, xs[1]), diff(&mut g, b, xs[1]));
    let r = g.binary(BinOp::Add, ab, bc);
    g.set_output("r", r);
    let (_, ad) = expand(&g, &AdOptions::default()).expect("expands");
    assert!(ad.sums_over_directions(), "{ad:?}");
    assert!(piped(&g).stop_reason.contains("collapse:"));
    // lap(lap(u)), both collapsed: nested, but no sum, so no `collapse`
    let mut g = base.clone();
    let lap = |g: &mut Graph, f: NodeId| {
        let level = g.fresh_level();
        let mut args = vec![f];
        args.extend(&xs);
        let method = Method::Auto;
        g.add_or_panic(Op::Laplacian { level, method }, &args)
    };
    let l1 = lap(&mut g, u);
    let l2 = lap(&mut g, l1);
    g.set_output("r", l2);
    let (expanded, ad) = expand(&g, &AdOptions::default()).expect("expands");
    assert!(!ad.sums_over_directions(), "{ad:?}");
    let p = piped(&g);
    assert!(!p.stop_reason.contains("collapse:"), "{p}");
    // `collapse` would find nothing more (within 0.5%) ...
    let (_, full) = simplify(&expanded, &SimplifyOptions::default());
    println!(
        "pipeline: {p}
with collapse: {full}"
    );
    assert!(p.flops_after <= 1.005 * full.flops_after, "{p}\n{full}");
    // ... and `cleanup` runs for as long as it pays: moving the negations of tanh's
    // derivatives into constant factors takes it past its first round here
    assert!(p.flops_after <= 0.9 * p.flops_before, "{p}");
}
