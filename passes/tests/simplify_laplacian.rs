//! Collapsing by rewriting: the standard Taylor-mode Laplacian of an MLP, simplified,
//! costs no more than the Forward Laplacian (collapsed Taylor) simplified, and both
//! compute the finite-difference Laplacian. The simplified graphs themselves are pinned
//! by the file tests `tests/filetests/simplify/laplacian_*.ir`.

mod simplify_util;

use nabla_ir::{verify, DType};
use nabla_passes::simplify::{simplify, SimplifyOptions};
use simplify_util::*;

/// Simplifies both forms; checks values against each other and finite differences, and
/// the cost bound. Returns the FLOPs per point of (Taylor before, Taylor after, collapsed
/// after).
fn check(m: Mlp) -> [f64; 3] {
    let taylor = taylor_laplacian(m);
    let collapsed = collapsed_laplacian(m);
    let opts = SimplifyOptions::default();
    let (ts, tr) = simplify(&taylor, &opts);
    let (cs, cr) = simplify(&collapsed, &opts);
    verify(&ts).expect("simplified Taylor graph verifies");
    verify(&cs).expect("simplified collapsed graph verifies");
    println!("D={} taylor: {tr}", m.dims);
    println!("D={} collapsed: {cr}", m.dims);

    let mut rng = Rng(7 + m.dims as u64);
    let env = random_env(&taylor, &mut rng, Draw::Mixed);
    for g in [&collapsed, &ts, &cs] {
        assert_same_outputs(&taylor, g, &env, 1e-10);
    }
    let lap = nabla_ir::interp::eval_outputs(&ts, &env, DType::F64).unwrap()[1]
        .1
        .data
        .clone();
    for (a, b) in lap.iter().zip(fd_laplacian(m, &env, 1e-4)) {
        assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs fd {b}");
    }
    assert!(
        tr.flops_after <= 1.05 * cr.flops_after,
        "Taylor simplified {} > collapsed simplified {} (+5%)",
        tr.flops_after,
        cr.flops_after
    );
    let n = m.batch as f64;
    [tr.flops_before / n, tr.flops_after / n, cr.flops_after / n]
}

/// [`check`] on a `dims`-input MLP of `layers` hidden layers of `width`, at `batch` points.
fn check_mlp(dims: usize, width: usize, layers: usize, batch: usize) {
    let f = check(Mlp {
        dims,
        width,
        layers,
        batch,
    });
    println!("D={dims} width {width} x{layers} FLOPs/point: {f:?}");
}

#[test]
fn taylor_collapses_two_directions() {
    check_mlp(2, 8, 2, 3);
}

#[test]
fn taylor_collapses_ten_directions() {
    check_mlp(10, 8, 2, 3);
}

#[test]
fn benchmark_sized_mlp_collapses() {
    // The benchmark network: 3 hidden layers of width 64. The e-graph's size depends on
    // the number of directions and layers, not on the width.
    for dims in [3, 10] {
        check_mlp(dims, 64, 3, 2);
    }
}
