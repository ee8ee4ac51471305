//! Domains beyond boxes: boxes, balls and simple polygons combined by union, difference and
//! intersection (constructive solid geometry), and exact sampling of their interiors and
//! boundaries.
//!
//! A [`Region`] answers three questions:
//! - **inside or not**: the sign of a signed distance bound, negative inside
//!   ([`Region::sdf`]; for CSG `min`, `max` and `max(a, −b)` of the pieces' distances, whose
//!   sign and zero set are exact even where the value is only a bound);
//! - **interior points**: uniform in the shape by rejection from its bounding box, used only
//!   where the acceptance rate stays reasonable ([`Region::occupancy`] checks it when the
//!   domain is declared);
//! - **boundary points**: uniform by length (area) over the boundary of the result. A piece
//!   is chosen in proportion to its boundary measure, a point drawn uniformly on it, and the
//!   point kept when it bounds the result: a small step against the piece's outward
//!   normal is inside the result and a step along it is outside. What is kept is uniform
//!   on the parts of each piece's boundary that bound the result (a hole's circle, the
//!   outer square's sides), and the normal is the piece's, reversed for a piece subtracted
//!   an odd number of times.

use crate::nn::Rng;
use std::f64::consts::PI;

/// A domain's shape in its coordinates.
#[derive(Clone, Debug, PartialEq)]
pub enum Region {
    /// The box `[lo₁, hi₁] × … × [lo_d, hi_d]` (`rect` is the 2-D one).
    Box {
        /// Lower corner.
        lo: Vec<f64>,
        /// Upper corner.
        hi: Vec<f64>,
    },
    /// The ball of radius `r` around `center` (`disk` is the 2-D one).
    Ball {
        /// Center.
        center: Vec<f64>,
        /// Radius.
        r: f64,
    },
    /// A simple polygon, vertices in order (either orientation).
    Polygon(Vec<[f64; 2]>),
    /// `A + B`.
    Union(Box<Region>, Box<Region>),
    /// `A - B`.
    Difference(Box<Region>, Box<Region>),
    /// `A & B`.
    Intersection(Box<Region>, Box<Region>),
}

/// A point on a domain's boundary and the outward unit normal there.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundaryPoint {
    /// The point.
    pub x: Vec<f64>,
    /// The outward unit normal.
    pub normal: Vec<f64>,
}

/// Acceptance rates below this make rejection sampling of the interior (or of the
/// boundary) an error.
pub const MIN_OCCUPANCY: f64 = 1e-3;

/// Draws before a sampler gives up: at the smallest acceptance rate allowed, the chance of
/// a miss is `(1 − 1e-3)^50000 ≈ e⁻⁵⁰`.
const TRIES: usize = 50_000;

impl Region {
    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        match self {
            Region::Box { lo, .. } => lo.len(),
            Region::Ball { center, .. } => center.len(),
            Region::Polygon(_) => 2,
            Region::Union(a, _) | Region::Difference(a, _) | Region::Intersection(a, _) => a.dim(),
        }
    }

    /// A signed distance bound: negative inside, positive outside, zero on the boundary.
    pub fn sdf(&self, p: &[f64]) -> f64 {
        match self {
            Region::Box { lo, hi } => box_sdf(lo, hi, p),
            Region::Ball { center, r } => dist(p, center) - r,
            Region::Polygon(v) => polygon_sdf(v, p),
            Region::Union(a, b) => a.sdf(p).min(b.sdf(p)),
            Region::Difference(a, b) => a.sdf(p).max(-b.sdf(p)),
            Region::Intersection(a, b) => a.sdf(p).max(b.sdf(p)),
        }
    }

    /// Whether `p` lies strictly inside.
    pub fn contains(&self, p: &[f64]) -> bool {
        self.sdf(p) < 0.0
    }

    /// The bounding box `(lo, hi)` of the result.
    pub fn bbox(&self) -> (Vec<f64>, Vec<f64>) {
        match self {
            Region::Box { lo, hi } => (lo.clone(), hi.clone()),
            Region::Ball { center, r } => (
                center.iter().map(|c| c - r).collect(),
                center.iter().map(|c| c + r).collect(),
            ),
            Region::Polygon(v) => (
                (0..2)
                    .map(|k| v.iter().map(|p| p[k]).fold(f64::INFINITY, f64::min))
                    .collect(),
                (0..2)
                    .map(|k| v.iter().map(|p| p[k]).fold(f64::NEG_INFINITY, f64::max))
                    .collect(),
            ),
            Region::Union(a, b) => {
                let ((al, ah), (bl, bh)) = (a.bbox(), b.bbox());
                (zip_with(&al, &bl, f64::min), zip_with(&ah, &bh, f64::max))
            }
            Region::Difference(a, _) => a.bbox(),
            Region::Intersection(a, b) => {
                let ((al, ah), (bl, bh)) = (a.bbox(), b.bbox());
                (zip_with(&al, &bl, f64::max), zip_with(&ah, &bh, f64::min))
            }
        }
    }

    /// The length of the bounding box's diagonal (the domain's scale for tolerances).
    pub fn diameter(&self) -> f64 {
        let (lo, hi) = self.bbox();
        dist(&lo, &hi)
    }

    /// The primitive pieces with, for each, whether it is subtracted an odd number of times
    /// (its outward normal points into the result).
    fn pieces(&self) -> Vec<(&Region, bool)> {
        let mut out = Vec::new();
        self.collect_pieces(false, &mut out);
        out
    }

    fn collect_pieces<'a>(&'a self, flip: bool, out: &mut Vec<(&'a Region, bool)>) {
        match self {
            Region::Union(a, b) | Region::Intersection(a, b) => {
                a.collect_pieces(flip, out);
                b.collect_pieces(flip, out);
            }
            Region::Difference(a, b) => {
                a.collect_pieces(flip, out);
                b.collect_pieces(!flip, out);
            }
            piece => out.push((piece, flip)),
        }
    }

    /// The fraction of the bounding box inside the shape, estimated from `samples` seeded
    /// uniform draws (0 when the box itself is empty).
    pub fn occupancy(&self, samples: usize) -> f64 {
        let (lo, hi) = self.bbox();
        if lo.iter().zip(&hi).any(|(l, h)| !below(*l, *h)) {
            return 0.0;
        }
        let mut rng = Rng::new(0x0CC0);
        let inside = (0..samples)
            .filter(|_| self.contains(&uniform_in(&lo, &hi, &mut rng)))
            .count();
        inside as f64 / samples as f64
    }

    /// A point uniform in the shape: drawn directly in a lone box or ball, by rejection
    /// from the bounding box otherwise (the caller has checked [`Region::occupancy`]).
    /// `None` after [`TRIES`] misses (at the smallest occupancy allowed, a chance of e⁻⁵⁰).
    pub fn sample_interior(&self, rng: &mut Rng) -> Option<Vec<f64>> {
        if let Region::Ball { center, r } = self {
            return Some(ball_point(center, *r, rng));
        }
        let (lo, hi) = self.bbox();
        (0..TRIES)
            .map(|_| uniform_in(&lo, &hi, rng))
            .find(|p| self.contains(p))
    }

    /// A point uniform by measure on the result's boundary, with its outward normal.
    /// `None` after [`TRIES`] candidates that do not bound the result (an empty boundary;
    /// [`check_domain`] refuses boundaries that keep less than [`MIN_OCCUPANCY`] of the
    /// candidates).
    pub fn sample_boundary(&self, rng: &mut Rng) -> Option<BoundaryPoint> {
        let pieces = Pieces::of(self);
        (0..TRIES).find_map(|_| pieces.candidate(self, rng))
    }

    /// The fraction of boundary candidates that bound the result, from `samples` seeded
    /// draws.
    pub fn boundary_occupancy(&self, samples: usize) -> f64 {
        let mut rng = Rng::new(0xB0B0);
        let pieces = Pieces::of(self);
        let kept = (0..samples)
            .filter(|_| pieces.candidate(self, &mut rng).is_some())
            .count();
        kept as f64 / samples as f64
    }

    /// The boundary measure of a primitive (perimeter or surface area).
    fn piece_measure(&self) -> f64 {
        match self {
            Region::Box { lo, hi } => {
                let len: Vec<f64> = lo.iter().zip(hi).map(|(l, h)| h - l).collect();
                (0..len.len())
                    .map(|i| {
                        2.0 * (0..len.len())
                            .filter(|&j| j != i)
                            .map(|j| len[j])
                            .product::<f64>()
                    })
                    .sum()
            }
            Region::Ball { center, r } => sphere_area(center.len(), *r),
            Region::Polygon(v) => edges(v).map(|(a, b)| dist(&a, &b)).sum(),
            _ => unreachable!("pieces are primitives"),
        }
    }

    /// Whether [`Region::sample_interior`] draws without rejection (a lone box or ball), so
    /// that the shape's share of its bounding box does not matter: a ball in 100
    /// dimensions fills 1e-70 of its box.
    pub fn direct(&self) -> bool {
        matches!(self, Region::Box { .. } | Region::Ball { .. })
    }

    /// A point uniform on a primitive's boundary and its outward normal.
    fn piece_boundary(&self, rng: &mut Rng) -> BoundaryPoint {
        match self {
            Region::Box { lo, hi } => box_boundary(lo, hi, rng),
            Region::Ball { center, r } => {
                let normal = unit_direction(center.len(), rng);
                let x = center.iter().zip(&normal).map(|(c, n)| c + r * n).collect();
                BoundaryPoint { x, normal }
            }
            Region::Polygon(v) => polygon_boundary(v, rng),
            _ => unreachable!("pieces are primitives"),
        }
    }

    /// The outward normal of the nearest piece of the result's boundary to `p`, and the
    /// distance to it (for given points: `nabla eval --points`). Only the stretches of the
    /// pieces that bound the result count: of every face of every piece (a box's sides, a
    /// polygon's edges, a ball's sphere), the point nearest `p` must itself bound the
    /// result — not a side shared by two tiles of a union, nor the part of a piece that
    /// another one removed. The test is made a step inside the face from that point, so a
    /// corner or an edge of a face bounds as its face does. The distance is infinite when
    /// no face's nearest point bounds the result: `p` is then not near the boundary.
    pub fn nearest_normal(&self, p: &[f64]) -> (Vec<f64>, f64) {
        let eps = 1e-7 * self.diameter();
        let mut best = (vec![0.0; p.len()], f64::INFINITY);
        for (piece, flip) in self.pieces() {
            for f in piece.faces_near(flip, p) {
                let d = dist(p, &f.q);
                if d < best.1 && f.bounds(self, eps, SLIDE * eps) {
                    best = (f.n, d);
                }
            }
        }
        best
    }

    /// Every face of a primitive with its outward normal (reversed for a piece subtracted
    /// an odd number of times) and its point nearest `p`.
    fn faces_near(&self, flip: bool, p: &[f64]) -> Vec<Face> {
        let mut faces = match self {
            Region::Box { lo, hi } => box_faces(lo, hi, p),
            Region::Ball { center, r } => {
                let d = dist(p, center);
                let n: Vec<f64> = match d > 0.0 {
                    true => p.iter().zip(center).map(|(a, c)| (a - c) / d).collect(),
                    false => (0..p.len()).map(|i| f64::from(i == 0)).collect(),
                };
                let q: Vec<f64> = center.iter().zip(&n).map(|(c, v)| c + r * v).collect();
                vec![Face {
                    n,
                    center: q.clone(),
                    q,
                }]
            }
            Region::Polygon(v) => {
                let ccw = signed_area(v) > 0.0;
                let face = |(a, b): ([f64; 2], [f64; 2])| Face {
                    n: edge_normal(&a, &b, ccw),
                    q: segment_nearest(&a, &b, p).to_vec(),
                    center: vec![(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0],
                };
                edges(v).map(face).collect()
            }
            _ => unreachable!("pieces are primitives"),
        };
        if flip {
            for f in &mut faces {
                f.n.iter_mut().for_each(|x| *x = -*x);
            }
        }
        faces
    }

    /// What is wrong with the shape as declared: a degenerate primitive, a polygon that
    /// intersects itself, pieces of different dimensions.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Region::Box { lo, hi } => match lo.iter().zip(hi).position(|(l, h)| !below(*l, *h)) {
                Some(i) => Err(format!(
                    "the box is empty along coordinate {}: [{}, {}]",
                    i + 1,
                    lo[i],
                    hi[i]
                )),
                None => Ok(()),
            },
            Region::Ball { r, .. } if !below(0.0, *r) => {
                Err(format!("the radius is {r}; it must be positive"))
            }
            Region::Ball { .. } => Ok(()),
            Region::Polygon(v) => check_polygon(v),
            Region::Union(a, b) | Region::Difference(a, b) | Region::Intersection(a, b) => {
                if a.dim() != b.dim() {
                    return Err(format!(
                        "a {}-D shape combined with a {}-D one",
                        a.dim(),
                        b.dim()
                    ));
                }
                a.check().and(b.check())
            }
        }
    }
}

/// `x` to 12 significant digits, for messages (`-0.2`, not `-0.19999999999999996`).
fn short(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(11 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// A region's primitive pieces with their boundary measures, gathered once for the many
/// candidates of boundary sampling.
struct Pieces<'a> {
    /// Each piece, and whether it is subtracted an odd number of times.
    pieces: Vec<(&'a Region, bool)>,
    measures: Vec<f64>,
    total: f64,
    /// The step of the "bounds the result" test.
    eps: f64,
}

impl<'a> Pieces<'a> {
    fn of(region: &'a Region) -> Pieces<'a> {
        let pieces = region.pieces();
        let measures: Vec<f64> = pieces.iter().map(|(s, _)| s.piece_measure()).collect();
        let total = measures.iter().sum();
        let eps = 1e-7 * region.diameter();
        Pieces {
            pieces,
            measures,
            total,
            eps,
        }
    }

    /// One candidate of [`Region::sample_boundary`]: a point uniform on the pieces'
    /// boundaries, kept when it bounds `region`. A stretch shared by several pieces that
    /// bound the result there (two rectangles with a common side, a notch's side on a
    /// tile's) is kept only from the first of them, so it is not drawn twice as often; an
    /// earlier piece through the point whose own side there does not bound the result (it
    /// faces into the domain) does not count, or the stretch would be drawn from no piece.
    fn candidate(&self, region: &Region, rng: &mut Rng) -> Option<BoundaryPoint> {
        let mut u = rng.uniform() * self.total;
        let k = (self.measures.iter())
            .position(|m| {
                u -= m;
                u < 0.0
            })
            .unwrap_or(self.pieces.len() - 1);
        let (piece, flip) = self.pieces[k];
        let mut bp = piece.piece_boundary(rng);
        if flip {
            bp.normal.iter_mut().for_each(|n| *n = -*n);
        }
        let eps = self.eps;
        if !bounds(region, &bp.x, &bp.normal, eps) {
            return None;
        }
        let shared = (self.pieces[..k].iter()).any(|&(q, flip)| {
            if q.sdf(&bp.x).abs() > eps {
                return false; // (the cheap test first: most points are on no other piece)
            }
            let faces = q.faces_near(flip, &bp.x);
            (faces.iter()).any(|f| dist(&bp.x, &f.q) <= eps && f.bounds(region, eps, 0.0))
        });
        (!shared).then_some(bp)
    }
}

/// A face of a primitive near a point: its outward normal, its point nearest the point,
/// and a point inside it (the centre of a box's side or a polygon's edge; the nearest
/// point itself on a sphere, which has no edges).
struct Face {
    n: Vec<f64>,
    q: Vec<f64>,
    center: Vec<f64>,
}

/// How far inside a face, in steps of the bounds test, [`Region::nearest_normal`] tests
/// whether it bounds: at a vertex of angle θ the step against the normal stays inside for
/// `tan θ > 1/SLIDE`, every angle above 0.6°.
const SLIDE: f64 = 100.0;

impl Face {
    /// Whether the face bounds `region` at its nearest point, tested `slide` toward the
    /// face's centre from it (at most half way): at a corner, a step against the normal
    /// would run along the other side. Sampled points are never at a corner and take 0.
    fn bounds(&self, region: &Region, eps: f64, slide: f64) -> bool {
        let to = dist(&self.q, &self.center);
        let t = if to > 0.0 { (slide / to).min(0.5) } else { 0.0 };
        let x: Vec<f64> = (self.q.iter().zip(&self.center))
            .map(|(q, c)| q + t * (c - q))
            .collect();
        bounds(region, &x, &self.n, eps)
    }
}

/// The sides of the box `[lo, hi]`, each with its point nearest `p` (the distance to the
/// side itself, not to its plane).
fn box_faces(lo: &[f64], hi: &[f64], p: &[f64]) -> Vec<Face> {
    let inside: Vec<f64> = (0..p.len()).map(|j| p[j].clamp(lo[j], hi[j])).collect();
    let mid: Vec<f64> = lo.iter().zip(hi).map(|(l, h)| (l + h) / 2.0).collect();
    let mut faces = Vec::with_capacity(2 * p.len());
    for i in 0..p.len() {
        for (end, sign) in [(lo[i], -1.0), (hi[i], 1.0)] {
            let (mut n, mut q, mut center) = (vec![0.0; p.len()], inside.clone(), mid.clone());
            (n[i], q[i], center[i]) = (sign, end, end);
            faces.push(Face { n, q, center });
        }
    }
    faces
}

/// Whether the surface through `x` with outward normal `n` bounds `region` there: a step
/// of `eps` against `n` is inside and one along it is not.
fn bounds(region: &Region, x: &[f64], n: &[f64], eps: f64) -> bool {
    let step = |s: f64| -> Vec<f64> { x.iter().zip(n).map(|(x, n)| x + s * n).collect() };
    region.contains(&step(-eps)) && !region.contains(&step(eps))
}

/// `a < b`, false when either is NaN.
fn below(a: f64, b: f64) -> bool {
    a.partial_cmp(&b) == Some(std::cmp::Ordering::Less)
}

fn zip_with(a: &[f64], b: &[f64], f: fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| f(*x, *y)).collect()
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// A direction uniform on the unit sphere in `d` dimensions: a normalised Gaussian vector.
fn unit_direction(d: usize, rng: &mut Rng) -> Vec<f64> {
    let g: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
    let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
    g.iter().map(|x| x / norm.max(f64::MIN_POSITIVE)).collect()
}

/// A point uniform in the ball: a uniform direction at radius `r·u^(1/d)` (the volume
/// within radius ρ grows as ρᵈ).
fn ball_point(center: &[f64], r: f64, rng: &mut Rng) -> Vec<f64> {
    let dir = unit_direction(center.len(), rng);
    let rho = r * rng.uniform().powf(1.0 / center.len() as f64);
    center.iter().zip(&dir).map(|(c, u)| c + rho * u).collect()
}

fn uniform_in(lo: &[f64], hi: &[f64], rng: &mut Rng) -> Vec<f64> {
    lo.iter()
        .zip(hi)
        .map(|(l, h)| l + (h - l) * rng.uniform())
        .collect()
}

/// The exact signed distance to a box.
fn box_sdf(lo: &[f64], hi: &[f64], p: &[f64]) -> f64 {
    // q = |p − center| − half-widths: outside where some q > 0.
    let q: Vec<f64> = (0..p.len())
        .map(|i| (p[i] - 0.5 * (lo[i] + hi[i])).abs() - 0.5 * (hi[i] - lo[i]))
        .collect();
    let outside = q.iter().map(|v| v.max(0.0).powi(2)).sum::<f64>().sqrt();
    let inside = q.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v)).min(0.0);
    outside + inside
}

/// The surface measure of the sphere of radius `r` in `d` dimensions:
/// `2 π^(d/2) r^(d−1) / Γ(d/2)` (2πr for d = 2, 4πr² for d = 3).
fn sphere_area(d: usize, r: f64) -> f64 {
    // Γ(d/2) by the recurrence from Γ(1) = 1 or Γ(1/2) = √π.
    let mut gamma = if d.is_multiple_of(2) { 1.0 } else { PI.sqrt() };
    let mut k = if d.is_multiple_of(2) { 1.0 } else { 0.5 };
    while k < d as f64 / 2.0 {
        gamma *= k;
        k += 1.0;
    }
    2.0 * PI.powf(d as f64 / 2.0) * r.powi(d as i32 - 1) / gamma
}

/// A point uniform on a box's faces (each in proportion to its measure) and its normal.
fn box_boundary(lo: &[f64], hi: &[f64], rng: &mut Rng) -> BoundaryPoint {
    let d = lo.len();
    let len: Vec<f64> = lo.iter().zip(hi).map(|(l, h)| h - l).collect();
    let face = |i: usize| (0..d).filter(|&j| j != i).map(|j| len[j]).product::<f64>();
    let total: f64 = (0..d).map(|i| 2.0 * face(i)).sum();
    let mut u = rng.uniform() * total;
    let mut pick = (d - 1, 1.0);
    'faces: for i in 0..d {
        for sign in [-1.0, 1.0] {
            u -= face(i);
            if u < 0.0 {
                pick = (i, sign);
                break 'faces;
            }
        }
    }
    let (i, sign) = pick;
    let mut x = uniform_in(lo, hi, rng);
    x[i] = if sign < 0.0 { lo[i] } else { hi[i] };
    let mut normal = vec![0.0; d];
    normal[i] = sign;
    BoundaryPoint { x, normal }
}

fn edges(v: &[[f64; 2]]) -> impl Iterator<Item = ([f64; 2], [f64; 2])> + '_ {
    (0..v.len()).map(move |i| (v[i], v[(i + 1) % v.len()]))
}

/// The signed area (positive for counter-clockwise vertices).
fn signed_area(v: &[[f64; 2]]) -> f64 {
    0.5 * edges(v)
        .map(|(a, b)| a[0] * b[1] - b[0] * a[1])
        .sum::<f64>()
}

/// The outward unit normal of edge `a → b` of a polygon of the given orientation.
fn edge_normal(a: &[f64; 2], b: &[f64; 2], ccw: bool) -> Vec<f64> {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let l = dx.hypot(dy);
    // Counter-clockwise: the interior is on the left, so outward is the right normal.
    if ccw {
        vec![dy / l, -dx / l]
    } else {
        vec![-dy / l, dx / l]
    }
}

fn segment_dist(a: &[f64; 2], b: &[f64; 2], p: &[f64]) -> f64 {
    dist(p, &segment_nearest(a, b, p))
}

/// The point of segment `ab` nearest `p` (no allocation: [`polygon_sdf`] calls it per
/// edge for every candidate of rejection sampling).
fn segment_nearest(a: &[f64; 2], b: &[f64; 2], p: &[f64]) -> [f64; 2] {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let t = (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    [a[0] + t * dx, a[1] + t * dy]
}

/// Distance to the nearest edge, negative inside (even–odd crossing rule).
fn polygon_sdf(v: &[[f64; 2]], p: &[f64]) -> f64 {
    let d = edges(v)
        .map(|(a, b)| segment_dist(&a, &b, p))
        .fold(f64::INFINITY, f64::min);
    let mut inside = false;
    for (a, b) in edges(v) {
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    if inside {
        -d
    } else {
        d
    }
}

fn polygon_boundary(v: &[[f64; 2]], rng: &mut Rng) -> BoundaryPoint {
    let lens: Vec<f64> = edges(v).map(|(a, b)| dist(&a, &b)).collect();
    let mut u = rng.uniform() * lens.iter().sum::<f64>();
    let k = lens
        .iter()
        .position(|l| {
            u -= l;
            u < 0.0
        })
        .unwrap_or(v.len() - 1);
    let (a, b) = (v[k], v[(k + 1) % v.len()]);
    let t = rng.uniform();
    let x = vec![a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
    BoundaryPoint {
        x,
        normal: edge_normal(&a, &b, signed_area(v) > 0.0),
    }
}

/// At least three vertices, no repeated vertex, no two edges that cross or touch except
/// neighbours at their shared vertex.
fn check_polygon(v: &[[f64; 2]]) -> Result<(), String> {
    if v.len() < 3 {
        return Err(format!(
            "a polygon needs at least 3 vertices; this one has {}",
            v.len()
        ));
    }
    let n = v.len();
    for i in 0..n {
        for j in i + 1..n {
            if v[i] == v[j] {
                return Err(format!("vertices {} and {} coincide", i + 1, j + 1));
            }
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            let (a, b) = (v[i], v[(i + 1) % n]);
            let (c, d) = (v[j], v[(j + 1) % n]);
            if !adjacent && segments_meet(&a, &b, &c, &d) {
                return Err(format!(
                    "the polygon intersects itself: edge {} ({:?}–{:?}) meets edge {} ({:?}–{:?})",
                    i + 1,
                    a,
                    b,
                    j + 1,
                    c,
                    d
                ));
            }
        }
    }
    if signed_area(v).abs() == 0.0 {
        return Err("the polygon has zero area".into());
    }
    Ok(())
}

fn orient(a: &[f64; 2], b: &[f64; 2], c: &[f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// Whether closed segments `ab` and `cd` share a point.
fn segments_meet(a: &[f64; 2], b: &[f64; 2], c: &[f64; 2], d: &[f64; 2]) -> bool {
    let (d1, d2) = (orient(c, d, a), orient(c, d, b));
    let (d3, d4) = (orient(a, b, c), orient(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    let on = |p: &[f64; 2], q: &[f64; 2], r: &[f64; 2]| {
        orient(p, q, r) == 0.0
            && r[0] >= p[0].min(q[0])
            && r[0] <= p[0].max(q[0])
            && r[1] >= p[1].min(q[1])
            && r[1] <= p[1].max(q[1])
    };
    on(c, d, a) || on(c, d, b) || on(a, b, c) || on(a, b, d)
}

/// The 2-D rectangle `[a₁, b₁] × [a₂, b₂]`.
pub fn rect(x: [f64; 2], y: [f64; 2]) -> Region {
    cuboid(&[x, y])
}

/// The d-D box `[a₁, b₁] × … × [a_d, b_d]` (the language's `box`).
pub fn cuboid(sides: &[[f64; 2]]) -> Region {
    Region::Box {
        lo: sides.iter().map(|s| s[0]).collect(),
        hi: sides.iter().map(|s| s[1]).collect(),
    }
}

/// The 2-D disk of radius `r` around `c`.
pub fn disk(c: [f64; 2], r: f64) -> Region {
    ball(&c, r)
}

/// The d-D ball of radius `r` around `c`.
pub fn ball(c: &[f64], r: f64) -> Region {
    Region::Ball {
        center: c.to_vec(),
        r,
    }
}

/// The simple polygon with these vertices, in order (either orientation).
pub fn polygon(vertices: &[[f64; 2]]) -> Region {
    Region::Polygon(vertices.to_vec())
}

/// `A + B`: the union.
impl std::ops::Add for Region {
    type Output = Region;
    fn add(self, rhs: Region) -> Region {
        Region::Union(Box::new(self), Box::new(rhs))
    }
}

/// `A - B`: the difference.
impl std::ops::Sub for Region {
    type Output = Region;
    fn sub(self, rhs: Region) -> Region {
        Region::Difference(Box::new(self), Box::new(rhs))
    }
}

/// `A & B`: the intersection.
impl std::ops::BitAnd for Region {
    type Output = Region;
    fn bitand(self, rhs: Region) -> Region {
        Region::Intersection(Box::new(self), Box::new(rhs))
    }
}

/// A shape so small against its coordinates that f64 cannot tell its inside from its
/// outside (a disk of radius 1e-12 at 0.5): the boundary test's step of 1e-7 of its
/// diameter must move a coordinate by more than its rounding, or every boundary point is
/// refused and the points come out NaN.
fn resolvable(shape: &Region) -> Result<(), String> {
    let (lo, hi) = shape.bbox();
    let size = (lo.iter().chain(&hi)).fold(0.0f64, |m, x| m.max(x.abs()));
    let d = shape.diameter();
    match d >= 1e-8 * size {
        true => Ok(()),
        false => Err(format!(
            "the shape is {d:.3e} across at coordinates up to {size:.3e}: too small to \
             resolve in f64 (it must be at least 1e-8 of its coordinates' size)"
        )),
    }
}

/// Why a shape cannot be a domain over coordinates with these intervals: a degenerate or
/// self-intersecting piece, the wrong number of coordinates, a shape reaching outside the
/// intervals, an empty result, or one too thin in its bounding box to sample by rejection.
pub fn check_domain(shape: &Region, intervals: &[[f64; 2]]) -> Result<(), String> {
    shape.check()?;
    if shape.dim() != intervals.len() {
        return Err(format!(
            "the shape has {} coordinates, the domain lists {}",
            shape.dim(),
            intervals.len()
        ));
    }
    let (lo, hi) = shape.bbox();
    for (k, iv) in intervals.iter().enumerate() {
        let slack = 1e-12 * (iv[1] - iv[0]).abs().max(1.0);
        if lo[k] < iv[0] - slack || hi[k] > iv[1] + slack {
            return Err(format!(
                "coordinate {} of the shape spans [{}, {}], outside its interval [{}, {}]",
                k + 1,
                short(lo[k]),
                short(hi[k]),
                iv[0],
                iv[1]
            ));
        }
    }
    resolvable(shape)?;
    if shape.direct() {
        // a checked box or ball is not empty and is sampled without rejection
        return Ok(());
    }
    const DRAWS: usize = 20_000;
    let occupancy = shape.occupancy(DRAWS);
    let boundary = shape.sample_boundary(&mut Rng::new(1)).is_some();
    if occupancy == 0.0 && !boundary {
        // (a ring a millionth wide is not empty, but no draw finds it either)
        return Err(format!(
            "the shape is empty or too thin to sample: none of {DRAWS} draws in its bounding \
             box fell inside it, and no point of its boundary was found"
        ));
    }
    if occupancy < MIN_OCCUPANCY {
        let fills = match occupancy {
            0.0 => format!(
                "less than {:.0e} (none of {DRAWS} draws)",
                1.0 / DRAWS as f64
            ),
            f => format!("{f:.1e}"),
        };
        return Err(format!(
            "the shape fills {fills} of its bounding box, too little to sample by rejection"
        ));
    }
    let kept = shape.boundary_occupancy(20_000);
    if kept < MIN_OCCUPANCY {
        // a boundary point is tested by a step of 1e-7 of the diameter to either side
        let thin = match kept {
            0.0 => {
                " (or thinner than 1e-7 of its bounding box's diagonal, where its sides \
                    cannot be told apart)"
            }
            _ => "",
        };
        return Err(format!(
            "its boundary is {kept:.1e} of its pieces' boundaries, too little to sample by \
             rejection{thin}"
        ));
    }
    Ok(())
}
