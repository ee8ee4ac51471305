//! Finite differences: central stencils built in the graph.
//!
//! `∂ⁿf/∂vⁿ ≈ h⁻ⁿ Σⱼ wⱼ f(v + j·h)` over the points `j = -p..=p`, `p = ⌈n/2⌉`, the smallest
//! symmetric stencil of second-order accuracy for order `n`. The weights come from
//! Fornberg's algorithm. The shifted evaluations `f(v + j·h)` are one evaluation of `f`
//! with its leaf stacked on a new leading axis, one row per point ([`super::lift`]), and the
//! weighted sum a reduction along it: a network is compiled once whatever the stencil, its
//! products taking all the points' rows at once. (Where the batch axis must stay first — a
//! per-point Jacobian, a pointwise reverse-mode derivative — each point is `f` with the
//! leaf substituted instead, the machinery of `at`.) A Laplacian over `D` leaves is one
//! stencil of `2D` shifted points and the centre. The default step `h = ε^(1/(2+n))` of
//! the dtype balances the `O(h²)` truncation error against the `O(ε/hⁿ)` rounding error.

use super::build::*;
use super::lift;
use super::subst::substitute;
use nabla_ir::{BinOp, Graph, NodeId, Op, Shape};

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

/// How a stencil evaluates `f` at its points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Points {
    /// One substituted copy of `f` per shifted point; the centre is `f` (the batch axis
    /// stays first in everything, as a per-point Jacobian or a pointwise reverse-mode
    /// derivative needs).
    Copies,
    /// One evaluation of `f` with the shifted points stacked on a leading axis; the
    /// centre is `f`.
    Stacked,
    /// The centre among the points and the stack point-major, where the cone of `f`
    /// works row by row and the centre's weight is not zero; `Stacked` otherwise. For an
    /// `f` that nothing else uses.
    Rows,
}

/// `∂ⁿf/∂vⁿ` by the central stencil with step `h`, its points evaluated as `points` says.
pub fn derivative(g: &mut Graph, f: NodeId, v: NodeId, n: usize, h: f64, points: Points) -> NodeId {
    let p = n.div_ceil(2) as i64;
    let at: Vec<f64> = (-p..=p).map(|j| j as f64).collect();
    let w = weights(n, &at);
    let big = w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let mut st = Stencil::new(&[v]);
    for (&j, &w) in at.iter().zip(&w) {
        if w.abs() > 1e-12 * big {
            st.point(j * h, w / h.powi(n as i32));
        }
    }
    st.build(g, f, points)
}

/// `Σᵢ ∂²f/∂vᵢ²` by the central stencils `h⁻² (f(v − h·eᵢ) − 2f(v) + f(v + h·eᵢ))`, one per
/// leaf `f` depends on (`2D` shifted points and the centre), added up after each is formed
/// (their terms are `h⁻²` times larger than the result; adding all `2D + 1` at once would
/// round at `2D` times that).
pub fn laplacian(g: &mut Graph, f: NodeId, vs: &[NodeId], h: f64, points: Points) -> NodeId {
    let live = g.live(&[f]);
    let vs: Vec<NodeId> = vs.iter().copied().filter(|v| live[v.index()]).collect();
    let mut st = Stencil::new(&vs);
    let w = 1.0 / (h * h);
    st.point(-h, w);
    st.point(0.0, -2.0 * w);
    st.point(h, w);
    st.build(g, f, points)
}

/// `Σ_g Σ_b w_b f(v_g + δ_b)`: one stencil per group `g`, each a weighted sum of `f` at
/// points where the group's leaf `v_g` is shifted by the constant `δ_b` (`δ = 0`: the
/// centre, `f` itself). Each group's sum is formed before the groups are added.
struct Stencil {
    /// The distinct leaves.
    leaves: Vec<NodeId>,
    /// Each group's leaf, an index in `leaves` (a leaf may be listed twice: `Δ` over
    /// `x, x` counts `x` twice).
    groups: Vec<usize>,
    /// The shifted points of every group: offset and weight.
    points: Vec<(f64, f64)>,
    centre: f64,
}

impl Stencil {
    /// One group per leaf of `given`.
    fn new(given: &[NodeId]) -> Stencil {
        let mut leaves: Vec<NodeId> = Vec::new();
        let groups = (given.iter())
            .map(|v| match leaves.iter().position(|l| l == v) {
                Some(i) => i,
                None => {
                    leaves.push(*v);
                    leaves.len() - 1
                }
            })
            .collect();
        Stencil {
            leaves,
            groups,
            points: Vec::new(),
            centre: 0.0,
        }
    }

    /// The point of every group whose leaf is shifted by `delta`, with weight `w`.
    fn point(&mut self, delta: f64, w: f64) {
        if delta == 0.0 {
            self.centre += w;
        } else {
            self.points.push((delta, w));
        }
    }

    /// The stencils' sum, zeros when `f` depends on none of the leaves, its points
    /// evaluated as `points` says: stacked, one evaluation of `f` whose products take
    /// the `S·N` rows at once (a graph the size of `f`'s), or substituted copies.
    fn build(&self, g: &mut Graph, f: NodeId, points: Points) -> NodeId {
        let live = g.live(&[f]);
        if self.points.is_empty() || !self.leaves.iter().any(|v| live[v.index()]) {
            return fill_like(g, f, 0.0);
        }
        if points == Points::Rows && self.centre != 0.0 {
            if let Some(rows) = self.rows(g, f) {
                return rows;
            }
        }
        match points {
            Points::Copies => self.copies(g, f),
            Points::Stacked | Points::Rows => self.stacked(g, f),
        }
    }

    /// As [`Stencil::stacked`], with the centre the last of each point's `S` values and
    /// the values point-major ([`lift::lift_rows`]): `F: [N, S] ++ r`, `F[n, b·G + g]`
    /// shifting group `g`'s leaf by point `b`'s offset, `F[n, S − 1]` the centre. Each
    /// group's sum is formed before the groups are added, as in `stacked`. `None` where
    /// the cone of `f` does not work row by row.
    fn rows(&self, g: &mut Graph, f: NodeId) -> Option<NodeId> {
        if !lift::works_row_by_row(g, f, &self.leaves) {
            return None;
        }
        let gs = self.groups.len();
        let s = self.points.len() * gs + 1;
        let dt = g.dtype(f);
        let mut subs = Vec::with_capacity(self.leaves.len());
        for (i, &v) in self.leaves.iter().enumerate() {
            // [N, 1] ++ r plus the offsets [1, S] ++ 1s (every leaf is [N] ++ r)
            let col = lift::mid(g.shape(v).dims(), 1);
            let v1 = lift::reshape(g, v, &col);
            let mut odims = vec![1; col.rank()];
            odims[1] = s;
            let offs: Vec<f64> = (self.points.iter())
                .flat_map(|&(d, _)| self.groups.iter().map(move |&l| (l == i) as u8 as f64 * d))
                .chain([0.0])
                .collect();
            let delta = g.tensor(&offs, dt, &Shape::new(&odims));
            subs.push((v, g.binary(BinOp::Add, v1, delta)));
        }
        let all = lift::lift_rows(g, f, &subs, s)?;
        let terms: Vec<Tan> = (self.points.iter().enumerate())
            .map(|(b, &(_, w))| {
                let rows = g.slice(all, 1, b * gs, gs);
                Some(scale(g, rows, w))
            })
            .collect();
        let centre = g.slice(all, 1, s - 1, 1);
        let centre = Some(scale(g, centre, self.centre));
        let each = sum_t(g, terms.into_iter().chain([centre])).expect("a shifted point");
        Some(g.add_or_panic(Op::Sum(1), &[each]))
    }

    /// `Σ_b w_b F_b + c·f` per group, `F_b` point `b`'s rows of the stacked `F` (row
    /// `b·G + g` shifts group `g`'s leaf), and the groups added by a reduction of the
    /// leading axis.
    fn stacked(&self, g: &mut Graph, f: NodeId) -> NodeId {
        let gs = self.groups.len();
        let s = self.points.len() * gs;
        let dt = g.dtype(f);
        let subs: Vec<(NodeId, NodeId)> = (self.leaves.iter().enumerate())
            .map(|(i, &v)| {
                let mut dims = vec![1; g.shape(v).rank() + 1];
                dims[0] = s;
                let offs: Vec<f64> = (self.points.iter())
                    .flat_map(|&(d, _)| self.groups.iter().map(move |&l| (l == i) as u8 as f64 * d))
                    .collect();
                let delta = g.tensor(&offs, dt, &Shape::new(&dims));
                (v, g.binary(BinOp::Add, delta, v))
            })
            .collect();
        let all = lift::lift(g, f, &subs, s).expect("f depends on a leaf");
        let terms: Vec<Tan> = (self.points.iter().enumerate())
            .map(|(b, &(_, w))| {
                let rows = g.slice(all, 0, b * gs, gs);
                Some(scale(g, rows, w))
            })
            .collect();
        let centre = (self.centre != 0.0).then(|| scale(g, f, self.centre));
        let each = sum_t(g, terms.into_iter().chain([centre])).expect("a shifted point");
        g.add_or_panic(Op::Sum(0), &[each])
    }

    fn copies(&self, g: &mut Graph, f: NodeId) -> NodeId {
        let groups: Vec<Tan> = (self.groups.iter())
            .map(|&l| {
                let v = self.leaves[l];
                let terms: Vec<Tan> = (self.points.iter())
                    .map(|&(d, w)| {
                        let c = fill_like(g, v, d);
                        let vd = add(g, v, c);
                        let fs = substitute(g, f, &[(v, vd)]);
                        Some(scale(g, fs, w))
                    })
                    .collect();
                let centre = (self.centre != 0.0).then(|| scale(g, f, self.centre));
                sum_t(g, terms.into_iter().chain([centre]))
            })
            .collect();
        let s = sum_t(g, groups);
        or_zeros(g, s, f)
    }
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
