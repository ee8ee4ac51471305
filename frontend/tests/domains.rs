//! Domains: over random CSG trees of rectangles, disks and polygons, interior points lie
//! inside, boundary points lie on the boundary, and normals are unit and outward; boundary
//! and interior sampling are uniform by measure (statistical tests with stated false-alarm
//! rates); degenerate and self-intersecting shapes, shapes outside their intervals and
//! empty results are refused with their reason.

use nabla_frontend::nn::Rng;
use nabla_frontend::prelude::*;
use nabla_frontend::problem::domain::{check_domain, Region};
use nabla_frontend::problem::{BuildError, PointSpec};
use proptest::prelude::*;
use std::f64::consts::PI;

/// A regular polygon (convex, counter-clockwise or clockwise).
fn regular(c: [f64; 2], r: f64, k: usize, turn: f64, cw: bool) -> Region {
    let mut v: Vec<[f64; 2]> = (0..k)
        .map(|i| {
            let a = turn + 2.0 * PI * i as f64 / k as f64;
            [c[0] + r * a.cos(), c[1] + r * a.sin()]
        })
        .collect();
    if cw {
        v.reverse();
    }
    polygon(&v)
}

fn primitive() -> impl Strategy<Value = Region> {
    let c = (0.3..0.7f64, 0.3..0.7f64);
    prop_oneof![
        (c.clone(), 0.05..0.3f64, 0.05..0.3f64)
            .prop_map(|((x, y), w, h)| rect([x - w, x + w], [y - h, y + h])),
        (c.clone(), 0.05..0.3f64).prop_map(|((x, y), r)| disk([x, y], r)),
        (c, 0.05..0.3f64, 3..8usize, 0.0..6.3f64, any::<bool>())
            .prop_map(|((x, y), r, k, t, cw)| regular([x, y], r, k, t, cw)),
    ]
}

fn csg() -> impl Strategy<Value = Region> {
    primitive().prop_recursive(3, 8, 2, |inner| {
        (inner.clone(), inner, 0..3u8).prop_map(|(a, b, op)| match op {
            0 => a + b,
            1 => a - b,
            _ => a & b,
        })
    })
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn samples_lie_where_they_should_and_normals_point_out(shape in csg(), seed in 0..1000u64) {
        shape.check().unwrap();
        // Shapes too thin or empty are refused at declaration (tested below); skip them.
        prop_assume!(shape.occupancy(4000) > 0.01);
        let mut rng = Rng::new(seed);
        prop_assume!(shape.sample_boundary(&mut rng).is_some());
        check_samples(&shape, &mut rng)?;
    }
}

/// 100 interior and boundary points of `shape` drawn in turn: interior points lie
/// inside, boundary points on the boundary with unit outward normals.
fn check_samples(shape: &Region, rng: &mut Rng) -> Result<(), TestCaseError> {
    let diam = shape.diameter();
    for _ in 0..100 {
        let p = shape.sample_interior(rng).unwrap();
        prop_assert!(shape.contains(&p), "{p:?} is not inside");
        let b = shape.sample_boundary(rng).unwrap();
        // On the boundary: the result's signed distance vanishes to rounding.
        prop_assert!(
            shape.sdf(&b.x).abs() <= 1e-12 * diam,
            "{:?}: sdf {}",
            b.x,
            shape.sdf(&b.x)
        );
        prop_assert!((norm(&b.normal) - 1.0).abs() <= 1e-12);
        // Outward: a step along the normal leaves the domain, one against it enters:
        // 10× the step the sampler uses to choose points, except near a corner, where
        // the domain may be thinner than that step (two faces meeting at 2° leave a
        // sliver 4e-7 wide 1e-5 from the corner), the sampler's own step.
        let step =
            |s: f64| -> Vec<f64> { b.x.iter().zip(&b.normal).map(|(x, n)| x + s * n).collect() };
        let h = match near_corner(shape, &b.x, 1e-3 * diam) {
            false => 1e-6 * diam,
            true => 1e-7 * diam,
        };
        prop_assert!(!shape.contains(&step(h)), "{:?} + h n is inside", b.x);
        prop_assert!(shape.contains(&step(-h)), "{:?} - h n is outside", b.x);
    }
    Ok(())
}

/// A box's right side and a triangle's left edge crossing at 2.1° (found by the property
/// test above): a boundary point 1e-6 from the crossing lies in a sliver narrower than
/// 10× the sampler's step, so a step that long against its (correct) normal left the
/// domain. Near corners the check takes the sampler's own step.
#[test]
fn boundary_points_in_a_sliver_between_crossing_edges_check_at_the_samplers_step() {
    let triangle = polygon(&[
        [0.500_188_309_891_943_3, 0.186_569_050_253_749_9],
        [0.892_414_702_731_811_7, 0.433_086_246_840_268_53],
        [0.482_811_351_598_229_5, 0.649_505_668_781_070_1],
    ]);
    let ball = disk(
        [0.590_000_927_187_630_2, 0.511_102_375_967_181_4],
        0.171_999_220_323_099_58,
    );
    let tile = rect(
        [0.228_808_154_513_694_9, 0.483_775_200_907_098_86],
        [0.360_612_417_893_128_26, 0.925_968_946_262_814],
    );
    let shape = triangle & (ball & tile);
    let corner = [0.483_775_200_907_098_86, 0.623_832_036_026_820_5];
    assert!(near_corner(&shape, &corner, 1e-3 * shape.diameter()));
    check_samples(&shape, &mut Rng::new(465)).unwrap();
}

/// The primitives of a CSG tree.
fn primitives(r: &Region) -> Vec<&Region> {
    match r {
        Region::Union(a, b) | Region::Difference(a, b) | Region::Intersection(a, b) => {
            let mut v = primitives(a);
            v.extend(primitives(b));
            v
        }
        p => vec![p],
    }
}

/// Whether `x` (2-D) lies within `r` of a corner of `shape`: of two primitives' boundaries
/// at once, or of a polygon's vertex or a rectangle's corner.
fn near_corner(shape: &Region, x: &[f64], r: f64) -> bool {
    let prims = primitives(shape);
    let on = prims.iter().filter(|p| p.sdf(x).abs() <= r).count();
    let vertex = |v: &[f64; 2]| norm(&[v[0] - x[0], v[1] - x[1]]) <= r;
    on >= 2
        || prims.iter().any(|p| match p {
            Region::Polygon(vs) => vs.iter().any(vertex),
            Region::Box { lo, hi } => {
                (0..2).all(|j| (x[j] - lo[j]).abs().min((x[j] - hi[j]).abs()) <= r)
            }
            _ => false,
        })
}

/// `count` of `n` draws fell in a part of probability `p`: within 5 standard deviations
/// (a false alarm with probability 5.7e-7 per check).
fn assert_share(what: &str, count: usize, n: usize, p: f64) {
    let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
    let z = (count as f64 - mean) / sd;
    assert!(
        z.abs() < 5.0,
        "{what}: {count} of {n}, expected {mean:.0} ± {sd:.0}"
    );
}

/// The unit square minus the disk of radius 1/4 at its center: boundary points fall on
/// each side and on the circle in proportion to length, uniformly around the circle; the
/// interior is uniform by area. 14 checks: false-alarm rate below 1e-5 in all.
#[test]
fn boundary_and_interior_sampling_are_uniform_by_measure() {
    let shape = rect([0.0, 1.0], [0.0, 1.0]) - disk([0.5, 0.5], 0.25);
    let n = 40_000;
    let mut rng = Rng::new(11);
    let pts: Vec<_> = (0..n)
        .map(|_| shape.sample_boundary(&mut rng).unwrap())
        .collect();
    let total = 4.0 + 2.0 * PI * 0.25;
    let on_circle: Vec<_> = pts
        .iter()
        .filter(|b| (norm(&[b.x[0] - 0.5, b.x[1] - 0.5]) - 0.25).abs() < 1e-12)
        .collect();
    assert_share("circle", on_circle.len(), n, 2.0 * PI * 0.25 / total);
    for (side, at) in [(0, 0.0), (0, 1.0), (1, 0.0), (1, 1.0)] {
        let c = pts.iter().filter(|b| b.x[side] == at).count();
        assert_share(&format!("side x{side} = {at}"), c, n, 1.0 / total);
    }
    // The hole's normals point into the hole (out of the domain).
    for b in &on_circle {
        let r = [(b.x[0] - 0.5) / 0.25, (b.x[1] - 0.5) / 0.25];
        assert!((b.normal[0] + r[0]).abs() < 1e-9 && (b.normal[1] + r[1]).abs() < 1e-9);
    }
    for k in 0..8 {
        let lo = -PI + 2.0 * PI * k as f64 / 8.0;
        let c = (on_circle.iter())
            .filter(|b| {
                let a = (b.x[1] - 0.5).atan2(b.x[0] - 0.5);
                a >= lo && a < lo + PI / 4.0
            })
            .count();
        assert_share(&format!("arc {k}"), c, on_circle.len(), 1.0 / 8.0);
    }
    let inside: Vec<Vec<f64>> = (0..n)
        .map(|_| shape.sample_interior(&mut rng).unwrap())
        .collect();
    let ring = (inside.iter())
        .filter(|p| norm(&[p[0] - 0.5, p[1] - 0.5]) < 0.35)
        .count();
    let area = 1.0 - PI * 0.0625;
    assert_share(
        "ring 1/4 < r < 0.35",
        ring,
        n,
        PI * (0.35f64.powi(2) - 0.0625) / area,
    );
}

/// A point set of a domain samples its coordinates in the domain and the other inputs in
/// their intervals.
#[test]
fn a_domain_set_is_the_domain_times_the_other_intervals() {
    let mut p = ProblemBuilder::new("ring");
    let t = p.input("t", [0.0, 2.0]);
    let x = p.input("x", [-1.0, 1.0]);
    let y = p.input("y", [-1.0, 1.0]);
    let u = p.net("u", &[t, x, y], mlp(&[4]));
    let ring = p.domain(
        "ring",
        &[x, y],
        disk([0.0, 0.0], 1.0) - disk([0.0, 0.0], 0.5),
    );
    let inner = p.points("inner", interior_of(ring, 500));
    let walls = p.points("walls", boundary_of(ring, 500));
    p.residual("r", inner, move |c| c[u]);
    p.residual("b", walls, move |c| c[u]);
    let problem = p.build().unwrap();
    // stored as a problem file states them: no builder on the parts
    let (domain, n, owner) = (0, 500, None);
    let specs = [&problem.point_sets[0].spec, &problem.point_sets[1].spec];
    let inside = PointSpec::InteriorOf { domain, n, owner };
    assert_eq!(
        specs,
        [&inside, &PointSpec::BoundaryOf { domain, n, owner }]
    );
    let sets = problem.sample(4);
    for (set, rows) in &sets {
        assert_eq!(rows.len(), 500);
        for r in rows {
            assert!((0.0..=2.0).contains(&r[0]));
            let rad = r[1].hypot(r[2]);
            if set == "inner" {
                assert!(rad > 0.5 && rad < 1.0, "{r:?}");
            } else {
                assert!(
                    (rad - 1.0).abs() < 1e-12 || (rad - 0.5).abs() < 1e-12,
                    "{r:?}"
                );
            }
        }
    }
    // Outer circle 2π, hole π: two thirds of the boundary points are on the outer one.
    let outer = sets[1].1.iter().filter(|r| r[1].hypot(r[2]) > 0.75).count();
    assert_share("outer circle", outer, 500, 2.0 / 3.0);
}

#[test]
fn shapes_that_cannot_be_domains_are_refused_with_their_reason() {
    let unit = [[0.0, 1.0], [0.0, 1.0]];
    let reason = |s: Region, iv: &[[f64; 2]]| check_domain(&s, iv).unwrap_err();
    let bowtie = polygon(&[[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]);
    assert!(reason(bowtie, &unit).contains("intersects itself: edge 1"));
    assert!(reason(polygon(&[[0.1, 0.1], [0.9, 0.9]]), &unit).contains("at least 3 vertices"));
    let flat = polygon(&[[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]);
    assert!(check_domain(&flat, &unit).is_err());
    assert!(reason(disk([0.5, 0.5], 0.0), &unit).contains("radius is 0"));
    assert!(reason(disk([0.5, 0.5], 0.6), &unit).contains("outside its interval [0, 1]"));
    assert!(reason(disk([0.5, 0.5], 0.2) - disk([0.5, 0.5], 0.3), &unit).contains("empty"));
    // Two specks in opposite corners: 2e-4 of their bounding box.
    let thin = rect([0.0, 0.01], [0.0, 0.01]) + rect([0.99, 1.0], [0.99, 1.0]);
    assert!(reason(thin, &unit).contains("too little to sample"));
    // A ring 1e-5 wide fills 3e-5 of its box: too thin, not empty (none of the draws
    // landed inside it).
    let ring = disk([0.5, 0.5], 0.5) - disk([0.5, 0.5], 0.49999);
    let why = reason(ring, &unit);
    assert!(
        why.contains("fills less than 5e-5") && !why.contains("empty"),
        "{why}"
    );
    // A disk too small for f64 at its position: its boundary points would all be refused
    // (and came out NaN); a small one that f64 resolves is fine.
    let why = reason(disk([0.5, 0.5], 1e-12), &unit);
    assert!(why.contains("too small to resolve in f64"), "{why}");
    assert!(check_domain(&disk([0.5, 0.5], 1e-6), &unit).is_ok());
    assert!(reason(ball(&[0.5, 0.5, 0.5], 0.2), &unit).contains("3 coordinates"));
    // The unit disk in [-1, 1]² touches its intervals' ends: fine.
    assert!(check_domain(&disk([0.0, 0.0], 1.0), &[[-1.0, 1.0], [-1.0, 1.0]]).is_ok());
    // In a builder, the same reasons name the domain.
    let mut p = ProblemBuilder::new("bad");
    let x = p.input("x", [0.0, 1.0]);
    let y = p.input("y", [0.0, 1.0]);
    let u = p.net("u", &[x, y], mlp(&[4]));
    let d = p.domain("hole", &[x, y], disk([0.5, 0.5], 0.7));
    let s = p.points("s", interior_of(d, 8));
    p.residual("r", s, move |c| c[u]);
    let e = p.build().err().unwrap();
    assert!(
        matches!(&e, BuildError::Domain { name, .. } if name == "hole"),
        "{e}"
    );
    assert!(matches!(
        interior_of(d, 8),
        PointSpec::InteriorOf { n: 8, .. }
    ));
}

/// Nearest-boundary normals (for given points): at points on the boundary they agree with
/// the sampler's.
#[test]
fn nearest_normals_agree_with_sampled_normals() {
    let shape = regular([0.5, 0.5], 0.4, 5, 0.3, true) - disk([0.5, 0.5], 0.1);
    let mut rng = Rng::new(3);
    for _ in 0..500 {
        let b = shape.sample_boundary(&mut rng).unwrap();
        let (n, d) = shape.nearest_normal(&b.x);
        assert!(d < 1e-12, "{d}");
        let dot: f64 = n.iter().zip(&b.normal).map(|(a, c)| a * c).sum();
        // Sampled points are never at a corner (probability 0), where either piece's
        // normal could be the nearest one's.
        assert!(dot > 1.0 - 1e-9, "{:?} vs {:?}", n, b.normal);
    }
}

/// A side of a shape: its name, a test for points on it, its length.
type Side = (&'static str, fn(&[f64]) -> bool, f64);

/// Pieces that share a stretch of boundary (an L made of two rectangles with a common
/// corner edge) do not draw it twice: each side of the L gets its share by length. 6
/// checks at 5σ.
#[test]
fn shared_sides_are_not_drawn_twice() {
    let l = rect([0.0, 2.0], [0.0, 1.0]) + rect([0.0, 1.0], [0.0, 2.0]);
    let n = 40_000;
    let mut rng = Rng::new(5);
    let pts: Vec<_> = (0..n)
        .map(|_| l.sample_boundary(&mut rng).unwrap())
        .collect();
    // Perimeter 8: y = 0 and x = 0 have length 2, the other four sides length 1.
    let sides: [Side; 6] = [
        ("y = 0", |x| x[1] == 0.0, 2.0),
        ("x = 0", |x| x[0] == 0.0, 2.0),
        ("x = 2", |x| x[0] == 2.0, 1.0),
        ("y = 1, x > 1", |x| x[1] == 1.0 && x[0] > 1.0, 1.0),
        ("x = 1, y > 1", |x| x[0] == 1.0 && x[1] > 1.0, 1.0),
        ("y = 2", |x| x[1] == 2.0, 1.0),
    ];
    for (what, on, len) in sides {
        let c = pts.iter().filter(|b| on(&b.x)).count();
        assert_share(what, c, n, len / 8.0);
    }
}

/// The nearest normal is that of the nearest point of a face, not of its line, and of a
/// piece that bounds the result; a point inside is far from the boundary.
#[test]
fn nearest_normals_use_faces_that_bound_the_result() {
    let two = rect([0.0, 1.0], [0.0, 1.0]) + rect([2.0, 3.0], [1.0, 2.0]);
    let (n, d) = two.nearest_normal(&[2.5, 1.0]);
    assert_eq!((n, d), (vec![0.0, -1.0], 0.0));
    let holed = disk([0.0, 0.0], 1.0) - rect([-0.2, 0.2], [-0.2, 0.2]);
    let (_, d) = holed.nearest_normal(&[0.2, 0.9]);
    assert!(d > 0.07, "{d}");
    let (n, d) = holed.nearest_normal(&[0.2, 0.1]);
    assert!(d < 1e-15 && n == vec![-1.0, 0.0], "{n:?} {d}");
}

/// A stretch of boundary shared by several pieces is drawn from the first piece that bounds
/// the result there, not from the first piece through it: the notch's right side x = 1
/// lies on the left tile's side (facing into the domain there), the right tile's and the
/// notch's. It got no points at all. Perimeter 8, each notch side 0.5. 4 checks at 5σ,
/// and the same with the tiles swapped and with an intersection.
#[test]
fn a_shared_stretch_is_drawn_from_a_piece_that_bounds_the_result() {
    let notch = || rect([0.5, 1.0], [0.25, 0.75]);
    let tiles = rect([0.0, 1.0], [0.0, 1.0]) + rect([1.0, 2.0], [0.0, 1.0]);
    let swapped = rect([1.0, 2.0], [0.0, 1.0]) + rect([0.0, 1.0], [0.0, 1.0]);
    let n = 40_000;
    for (k, shape) in [tiles - notch(), swapped - notch()].into_iter().enumerate() {
        let mut rng = Rng::new(11 + k as u64);
        let pts: Vec<_> = (0..n)
            .map(|_| shape.sample_boundary(&mut rng).unwrap())
            .collect();
        let right = pts.iter().filter(|b| b.x[0] == 1.0).count();
        let left = pts.iter().filter(|b| b.x[0] == 0.5).count();
        assert_share(&format!("notch x = 1 ({k})"), right, n, 0.5 / 8.0);
        assert_share(&format!("notch x = 0.5 ({k})"), left, n, 0.5 / 8.0);
        for b in pts.iter().filter(|b| b.x[0] == 1.0) {
            assert_eq!(b.normal, vec![-1.0, 0.0], "{:?}", b.x);
        }
    }
    // x = 1 bounds the intersection; the first piece through it faces into the domain.
    let both = (rect([1.0, 2.0], [0.0, 1.0]) + rect([0.0, 1.0], [0.0, 1.0]))
        & rect([0.0, 1.0], [0.0, 1.0]);
    let mut rng = Rng::new(13);
    let pts: Vec<_> = (0..n)
        .map(|_| both.sample_boundary(&mut rng).unwrap())
        .collect();
    let right = pts.iter().filter(|b| b.x[0] == 1.0).count();
    assert_share("x = 1 of the intersection", right, n, 0.25);
}

/// A given point where no piece bounds the result is not a boundary point, however near a
/// piece's own side: the seam of two tiles (0.5 from the top and bottom sides), a side a
/// disk bit away. They got the piece's normal and passed as boundary points.
#[test]
fn points_on_a_side_that_does_not_bound_the_result_are_far_from_the_boundary() {
    // the seam is inside: the boundary nearest it is the top or bottom side, 0.5 away
    let tiles = rect([0.0, 1.0], [0.0, 1.0]) + rect([1.0, 2.0], [0.0, 1.0]);
    assert_eq!(tiles.nearest_normal(&[1.0, 0.5]).1, 0.5);
    let bitten = rect([0.0, 1.0], [0.0, 1.0]) - disk([1.0, 0.5], 0.3);
    for y in [0.5, 0.3, 0.6] {
        let (_, d) = bitten.nearest_normal(&[1.0, y]);
        assert!(d > 0.09, "(1, {y}): {d}");
    }
    // on the bite's arc: the disk's normal, reversed
    let (n, d) = bitten.nearest_normal(&[0.7, 0.5]);
    assert!(d < 1e-15 && n == vec![1.0, 0.0], "{n:?} {d}");
    // on the square's side below the bite
    let (n, d) = bitten.nearest_normal(&[1.0, 0.1]);
    assert!(d == 0.0 && n == vec![1.0, 0.0], "{n:?} {d}");
}

/// Corners, vertices and edges are on the boundary: the test of whether a face bounds the
/// result is made inside the face, where a step against the normal at a corner would run
/// along the other side (they were refused as "not near the boundary").
#[test]
fn corners_and_edges_are_boundary_points() {
    let on = |shape: &Region, p: &[f64], normals: &[&[f64]]| {
        let (n, d) = shape.nearest_normal(p);
        assert!(d == 0.0 && normals.contains(&&n[..]), "{p:?}: {n:?} at {d}");
    };
    let square = rect([0.0, 1.0], [0.0, 1.0]);
    on(&square, &[1.0, 1.0], &[&[1.0, 0.0], &[0.0, 1.0]]);
    on(&square, &[0.0, 0.0], &[&[-1.0, 0.0], &[0.0, -1.0]]);
    let cube = cuboid(&[[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]);
    on(
        &cube,
        &[1.0, 1.0, 0.5],
        &[&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0]],
    );
    on(&cube, &[1.0, 0.5, 0.5], &[&[1.0, 0.0, 0.0]]);
    let triangle = polygon(&[[0.0, 0.0], [1.0, 0.0], [0.0, 0.2]]);
    on(
        &triangle,
        &[1.0, 0.0],
        &[&[0.0, -1.0], &[0.2 / 1.04f64.sqrt(), 1.0 / 1.04f64.sqrt()]],
    );
    let ell = polygon(&[
        [0.0, 0.0],
        [2.0, 0.0],
        [2.0, 1.0],
        [1.0, 1.0],
        [1.0, 2.0],
        [0.0, 2.0],
    ]);
    on(&ell, &[1.0, 1.0], &[&[1.0, 0.0], &[0.0, 1.0]]);
    on(&ell, &[2.0, 1.0], &[&[1.0, 0.0], &[0.0, 1.0]]);
    // the top side of two tiles at their seam, and 1e-9 below it
    let tiles = rect([0.0, 1.0], [0.0, 1.0]) + rect([1.0, 2.0], [0.0, 1.0]);
    on(&tiles, &[1.0, 1.0], &[&[0.0, 1.0]]);
    let (n, d) = tiles.nearest_normal(&[0.9999999999, 0.999999999]);
    assert!(d < 2e-9 && n == vec![0.0, 1.0], "{n:?} {d}");
    assert_eq!(tiles.nearest_normal(&[1.0, 0.5]).1, 0.5);
}
