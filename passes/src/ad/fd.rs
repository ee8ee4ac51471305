//! Finite differences: central stencils built in the graph.
//!
//! `∂ⁿf/∂vⁿ ≈ h⁻ⁿ Σⱼ wⱼ f(v + j·h)` over the points `j = -p..=p`, `p = ⌈n/2⌉`, the smallest
//! symmetric stencil of second-order accuracy for order `n`. The weights come from
//! Fornberg's algorithm; each shifted evaluation `f(v + j·h)` is `f` with the leaf
//! substituted (the machinery of `at`). The default step `h = ε^(1/(2+n))` of the dtype
//! balances the `O(h²)` truncation error against the `O(ε/hⁿ)` rounding error.

use super::build::*;
use super::subst::substitute;
use nabla_ir::{Graph, NodeId};

/// The weights of the derivative of order `m` at 0 for samples at `points` (Fornberg 1988,
/// "Generation of finite difference formulas on arbitrarily spaced grids").
pub fn weights(m: usize, points: &[f64]) -> Vec<f64> {
    let n = points.len();
    // c[j][k]: weight of point j for the derivative of order k, over the points seen so far.
    let mut c = vec![vec![0.0; m + 1]; n];
    c[0][0] = 1.0;
    let (mut c1, mut c4) = (1.0, points[0]);
    for i in 1..n {
        let mn = i.min(m);
        let (mut c2, c5) = (1.0, c4);
        c4 = points[i];
        for j in 0..i {
            let c3 = points[i] - points[j];
            c2 *= c3;
            if j == i - 1 {
                for k in (1..=mn).rev() {
                    c[i][k] = c1 * (k as f64 * c[i - 1][k - 1] - c5 * c[i - 1][k]) / c2;
                }
                c[i][0] = -c1 * c5 * c[i - 1][0] / c2;
            }
            for k in (1..=mn).rev() {
                c[j][k] = (c4 * c[j][k] - k as f64 * c[j][k - 1]) / c3;
            }
            c[j][0] = c4 * c[j][0] / c3;
        }
        c1 = c2;
    }
    c.iter().map(|w| w[m]).collect()
}

/// The default step for a derivative of order `n` in a dtype with machine epsilon `eps`.
pub fn default_step(eps: f64, n: usize) -> f64 {
    eps.powf(1.0 / (2.0 + n as f64))
}

/// `∂ⁿf/∂vⁿ` by the central stencil with step `h`.
pub fn derivative(g: &mut Graph, f: NodeId, v: NodeId, n: usize, h: f64) -> NodeId {
    let p = n.div_ceil(2) as i64;
    let points: Vec<f64> = (-p..=p).map(|j| j as f64).collect();
    let w = weights(n, &points);
    let big = w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let terms: Vec<Tan> = points
        .iter()
        .zip(&w)
        .filter(|(_, w)| w.abs() > 1e-12 * big)
        .map(|(&j, &w)| {
            let fj = shifted(g, f, v, j * h);
            Some(scale(g, fj, w / h.powi(n as i32)))
        })
        .collect();
    let s = sum_t(g, terms);
    or_zeros(g, s, f)
}

/// `f` with `v` replaced by `v + δ`.
fn shifted(g: &mut Graph, f: NodeId, v: NodeId, delta: f64) -> NodeId {
    if delta == 0.0 {
        return f;
    }
    let d = fill_like(g, v, delta);
    let vd = add(g, v, d);
    substitute(g, f, &[(v, vd)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
    }

    /// The textbook central stencils.
    #[test]
    fn fornberg_weights_match_known_stencils() {
        let three = [-1.0, 0.0, 1.0];
        let five = [-2.0, -1.0, 0.0, 1.0, 2.0];
        close(&weights(1, &three), &[-0.5, 0.0, 0.5]);
        close(&weights(2, &three), &[1.0, -2.0, 1.0]);
        close(&weights(3, &five), &[-0.5, 1.0, 0.0, -1.0, 0.5]);
        close(&weights(4, &five), &[1.0, -4.0, 6.0, -4.0, 1.0]);
        let w = weights(1, &five);
        close(&w, &[1.0 / 12.0, -2.0 / 3.0, 0.0, 2.0 / 3.0, -1.0 / 12.0]);
    }

    #[test]
    fn default_step_balances_truncation_and_rounding() {
        assert!((default_step(f64::EPSILON, 1) - f64::EPSILON.cbrt()).abs() < 1e-18);
        assert!((default_step(f64::EPSILON, 2) - f64::EPSILON.powf(0.25)).abs() < 1e-15);
    }
}
