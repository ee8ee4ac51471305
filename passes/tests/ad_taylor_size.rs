//! Graph size after Taylor expansion grows polynomially in the order `K` (`O(K²)` nodes per
//! op), against nested forward mode for comparison. Printed with `--nocapture`.

mod ad_util;

use ad_util::*;
use nabla_ir::{Graph, Method, UnOp};
use nabla_passes::ad::{expand, flops_per_point, AdOptions};

/// Nodes and FLOPs per point of `dᴷu/dxᴷ` for a tanh MLP `1 → 8 → 8 → 1` after expansion.
fn size(k: u8, method: Method) -> (usize, f64) {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 1]);
    let u = mlp(&mut g, x, &[1, 8, 8, 1], "u").out;
    let s = un(&mut g, UnOp::Sin, u);
    let d = diff(&mut g, s, x, k, method);
    g.set_output("d", d);
    let (e, _) = expand(&g, &AdOptions::default()).unwrap();
    (e.len(), flops_per_point(&e, 4))
}

#[test]
fn taylor_graph_size_grows_polynomially() {
    println!(" K  taylor nodes  forward nodes  taylor FLOP/pt  forward FLOP/pt");
    let mut taylor = [0usize; 9];
    let mut forward = [0usize; 9];
    for k in 1..=8u8 {
        let (tn, tf) = size(k, Method::Taylor);
        let (fnn, ff) = size(k, Method::Forward);
        taylor[k as usize] = tn;
        forward[k as usize] = fnn;
        println!("{k:>2} {tn:>13} {fnn:>14} {tf:>15.0} {ff:>16.0}");
    }
    let t_ratio = taylor[8] as f64 / taylor[4] as f64;
    let f_ratio = forward[8] as f64 / forward[4] as f64;
    println!("size(8)/size(4): taylor {t_ratio:.2}, nested forward {f_ratio:.2}");
    // quadratic growth bounds the ratio by (8/4)² = 4 plus lower-order terms
    assert!(
        t_ratio < 4.0,
        "taylor grows faster than quadratically: {t_ratio:.2}"
    );
    assert!(
        t_ratio < f_ratio,
        "taylor {t_ratio:.2} vs nested forward {f_ratio:.2}"
    );
    // the first order costs about what forward mode costs
    assert!(taylor[1] as f64 <= 1.2 * forward[1] as f64);
}
