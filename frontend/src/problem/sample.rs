//! Sampling point sets: uniform in the box, on its faces, on one face; unions.

use super::{DomainDecl, InputDecl, PointSpec};
use crate::nn::Rng;

impl PointSpec {
    /// Number of points.
    pub fn len(&self) -> usize {
        match self {
            PointSpec::Interior(n) | PointSpec::Boundary(n) | PointSpec::Face { n, .. } => *n,
            PointSpec::InteriorOf { n, .. } | PointSpec::BoundaryOf { n, .. } => *n,
            PointSpec::Union(parts) => parts.iter().map(PointSpec::len).sum(),
        }
    }

    /// The domain (index) whose boundary this set samples, when it is made only of
    /// `boundary(D, N)` terms of one domain D.
    pub fn boundary_domain(&self) -> Option<usize> {
        match self {
            PointSpec::BoundaryOf { domain, .. } => Some(*domain),
            PointSpec::Union(parts) => {
                let ds: Option<Vec<usize>> = parts.iter().map(|p| p.boundary_domain()).collect();
                let ds = ds?;
                let first = *ds.first()?;
                ds.iter().all(|d| *d == first).then_some(first)
            }
            _ => None,
        }
    }

    /// The domains (indices) whose interiors this set samples.
    pub fn interior_domains(&self) -> Vec<usize> {
        match self {
            PointSpec::InteriorOf { domain, .. } => vec![*domain],
            PointSpec::Union(parts) => parts.iter().flat_map(|p| p.interior_domains()).collect(),
            _ => vec![],
        }
    }

    /// Whether the set has no points.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Draws the points of a set without domains: rows of coordinates in input order.
    pub fn sample(&self, inputs: &[InputDecl], rng: &mut Rng) -> Vec<Vec<f64>> {
        self.sample_in(inputs, &[], rng)
    }

    /// Draws the points: rows of coordinates in input order. A domain that yields no point
    /// (one the builder or checker would have refused as empty) gives NaN coordinates.
    pub fn sample_in(
        &self,
        inputs: &[InputDecl],
        domains: &[DomainDecl],
        rng: &mut Rng,
    ) -> Vec<Vec<f64>> {
        match self {
            PointSpec::InteriorOf { domain, n, .. } | PointSpec::BoundaryOf { domain, n, .. }
                if domains.get(*domain).is_none() =>
            {
                // A domain this sampler does not know (a `Sampler` has none): no points.
                vec![vec![f64::NAN; inputs.len()]; *n]
            }
            PointSpec::InteriorOf { domain, n, .. } => {
                let d = &domains[*domain];
                (0..*n)
                    .map(|_| in_domain(inputs, d, rng, |r| d.shape.sample_interior(r)))
                    .collect()
            }
            PointSpec::BoundaryOf { domain, n, .. } => {
                // Rows carry the outward normal after the inputs.
                let d = &domains[*domain];
                (0..*n)
                    .map(|_| {
                        let b = d.shape.sample_boundary(rng);
                        let normal = b.as_ref().map(|b| b.normal.clone());
                        let x = b.map(|b| b.x);
                        let mut row = in_domain(inputs, d, rng, |_| x);
                        row.extend(normal.unwrap_or_else(|| vec![f64::NAN; d.coords.len()]));
                        row
                    })
                    .collect()
            }
            PointSpec::Interior(n) => (0..*n).map(|_| uniform_point(inputs, rng)).collect(),
            PointSpec::Boundary(n) => boundary_points(inputs, *n, rng),
            PointSpec::Face {
                input, value, n, ..
            } => (0..*n)
                .map(|_| {
                    let mut p = uniform_point(inputs, rng);
                    p[*input] = *value;
                    p
                })
                .collect(),
            PointSpec::Union(parts) => (parts.iter())
                .flat_map(|p| p.sample_in(inputs, domains, rng))
                .collect(),
        }
    }
}

/// A point whose domain coordinates come from `draw` and whose other inputs are uniform.
fn in_domain(
    inputs: &[InputDecl],
    d: &DomainDecl,
    rng: &mut Rng,
    draw: impl FnOnce(&mut Rng) -> Option<Vec<f64>>,
) -> Vec<f64> {
    let mut p = uniform_point(inputs, rng);
    let x = draw(rng).unwrap_or_else(|| vec![f64::NAN; d.coords.len()]);
    for (&k, v) in d.coords.iter().zip(x) {
        p[k] = v;
    }
    p
}

fn uniform_point(inputs: &[InputDecl], rng: &mut Rng) -> Vec<f64> {
    inputs
        .iter()
        .map(|d| d.lo + (d.hi - d.lo) * rng.uniform())
        .collect()
}

/// `n` points on the box's faces. The `2·d` faces (`lo` then `hi` of each input) share `n`
/// in proportion to their measure — the product of the other intervals' lengths, so both
/// ends of a 1-D interval count alike — by largest remainder: each face gets the floor of
/// its quota, and the points left over go to the faces with the largest fractional parts,
/// ties broken at random. The counts are therefore fixed whenever `n` divides evenly
/// (`boundary(2)` in 1-D is one point at each end, for every seed) and never more than one
/// away from the exact share otherwise. Points are uniform on their face and returned in
/// random order, so the first `k` of them (`bench --points k`) are a uniform subsample.
fn boundary_points(inputs: &[InputDecl], n: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    let mut pts = Vec::with_capacity(n);
    for (face, count) in face_counts(inputs, n, rng).into_iter().enumerate() {
        let (i, d) = (face / 2, &inputs[face / 2]);
        let side = if face % 2 == 0 { d.lo } else { d.hi };
        for _ in 0..count {
            let mut p = uniform_point(inputs, rng);
            p[i] = side;
            pts.push(p);
        }
    }
    shuffle(&mut pts, rng);
    pts
}

/// How many of `n` boundary points each face gets (see [`boundary_points`]).
fn face_counts(inputs: &[InputDecl], n: usize, rng: &mut Rng) -> Vec<usize> {
    let len: Vec<f64> = inputs.iter().map(|d| d.hi - d.lo).collect();
    let measure =
        |i: usize| -> f64 { (0..len.len()).filter(|&j| j != i).map(|j| len[j]).product() };
    let mut m: Vec<f64> = (0..2 * len.len()).map(|f| measure(f / 2)).collect();
    if m.iter().sum::<f64>() <= 0.0 {
        m.iter_mut().for_each(|v| *v = 1.0);
    }
    let total: f64 = m.iter().sum();
    let quota: Vec<f64> = m.iter().map(|v| n as f64 * v / total).collect();
    let mut counts: Vec<usize> = quota.iter().map(|q| q.floor() as usize).collect();
    let left = n.saturating_sub(counts.iter().sum());
    // Fractional parts on a 1e-9 grid, so equal shares tie exactly and the tie is random.
    let mut order: Vec<(i64, u64, usize)> = (quota.iter().enumerate())
        .map(|(f, q)| (-((q - q.floor()) * 1e9).round() as i64, rng.next_u64(), f))
        .collect();
    order.sort_unstable();
    for &(_, _, f) in order.iter().take(left) {
        counts[f] += 1;
    }
    counts
}

/// Fisher–Yates.
fn shuffle<T>(xs: &mut [T], rng: &mut Rng) {
    for i in (1..xs.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        xs.swap(i, j);
    }
}

/// Collocation points for a training loop of one's own: a box (one interval per
/// coordinate, in order) and a seeded stream, drawing any [`PointSpec`] (`interior`,
/// `boundary`, unions, and faces as `PointSpec::Face { input, value, n, owner: None }`
/// with the coordinate's index) from the same distributions as a problem's point sets.
/// The stream is the sampler's own: the same seed gives other points than
/// `Problem::sample`.
///
/// ```
/// use nabla_frontend::problem::{boundary, interior, Sampler};
/// let mut s = Sampler::new(&[[0.0, 1.0], [-1.0, 1.0]], 7);
/// let cols = s.columns(&(interior(100) + boundary(20)));
/// assert_eq!((cols.len(), cols[0].len()), (2, 120));
/// assert!(cols[1].iter().all(|y| (-1.0..=1.0).contains(y)));
/// ```
pub struct Sampler {
    inputs: Vec<InputDecl>,
    rng: Rng,
}

impl Sampler {
    /// A sampler of the box `intervals` (`[lo, hi]` per coordinate) seeded with `seed`.
    ///
    /// # Panics
    ///
    /// If an interval is not finite with `lo < hi` (a programming error, like an empty
    /// range).
    pub fn new(intervals: &[[f64; 2]], seed: u64) -> Sampler {
        for (i, &[lo, hi]) in intervals.iter().enumerate() {
            let ok = lo.is_finite() && hi.is_finite() && lo < hi;
            assert!(ok, "Sampler: coordinate {i} has the interval [{lo}, {hi}]");
        }
        let inputs = (intervals.iter().enumerate())
            .map(|(i, &[lo, hi])| InputDecl {
                name: format!("x{i}"),
                lo,
                hi,
            })
            .collect();
        Sampler {
            inputs,
            rng: Rng::new(seed),
        }
    }

    /// Draws `spec`'s points as rows (one coordinate per column).
    pub fn rows(&mut self, spec: &PointSpec) -> Vec<Vec<f64>> {
        spec.sample(&self.inputs, &mut self.rng)
    }

    /// Draws `spec`'s points as columns (one `Vec` per coordinate), ready to bind to `[N, 1]`
    /// inputs with `Executable::set`.
    pub fn columns(&mut self, spec: &PointSpec) -> Vec<Vec<f64>> {
        let rows = self.rows(spec);
        (0..self.inputs.len())
            .map(|k| rows.iter().map(|r| r[k]).collect())
            .collect()
    }
}
