//! A problem on a domain beyond the box trains end to end: errors are measured on the
//! domain's points only, the solution maps are blank outside the domain, and the point
//! sets are drawn over the domain's outline.

#[path = "../examples/poisson_holes_dsl.rs"]
#[allow(dead_code)]
mod poisson_holes_dsl;

use nabla::train::accuracy::Grid;
use nabla::{OptimizerKind, Training};
use std::f64::consts::PI;

#[test]
fn errors_are_measured_on_the_domain_only() {
    let problem = poisson_holes_dsl::problem().unwrap();
    let grid = Grid::of(&problem);
    let shape = &problem.domains[0].shape;
    assert!(grid.rows.iter().all(|r| shape.contains(r)));
    // The box grid has 101² points, 99² of them off the square's sides (points on the
    // boundary are not inside); the plate covers 1 − 4π/100 ≈ 87% of the square.
    let share = grid.rows.len() as f64 / (101.0 * 101.0);
    let want = (99.0f64 / 101.0).powi(2) * (1.0 - 0.04 * std::f64::consts::PI);
    assert!((share - want).abs() < 0.01, "{share} vs {want}");
    assert!(grid.axes.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let t = Training::new(OptimizerKind::Adam).steps(30).out(dir.path());
    let run = nabla::train(&problem, &t).unwrap();
    assert_eq!(run.rel_l2.len(), 1);
    assert!(run.rel_l2[0].1.is_finite());
    assert!(dir.path().join("loss.svg").is_file());
    assert!(dir.path().join("params.json").is_file());
    for f in ["u.svg", "u_exact.svg", "u_error.svg", "points.svg"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    // Blank outside: the plate's map has fewer cells than the full square's.
    let cells = |svg: &str| svg.matches("<rect").count();
    let map = std::fs::read_to_string(dir.path().join("u.svg")).unwrap();
    let full = (50 * 50) as f64;
    let share = cells(&map) as f64 / full;
    assert!(share < 0.95 && share > 0.7, "{share}");
}

/// A domain too small for the box's grid gets random points inside it instead.
#[test]
fn a_small_domain_is_measured_on_points_inside_it() {
    use nabla::prelude::*;
    let mut p = ProblemBuilder::new("speck");
    let x = p.input("x", [0.0, 1.0]);
    let y = p.input("y", [0.0, 1.0]);
    let d = p.domain("speck", &[x, y], disk([0.505, 0.505], 0.004));
    let u = p.net("u", &[x, y], mlp(&[4]));
    let s = p.points("s", interior_of(d, 16));
    p.residual("r", s, move |c| c[u]);
    let problem = p.build().unwrap();
    let grid = Grid::of(&problem);
    assert!(grid.rows.len() > 1000);
    let shape = &problem.domains[0].shape;
    assert!(grid.rows.iter().all(|r| shape.contains(r)));
}

/// A 1-D problem on two separate intervals gets a line plot whose lines break over the gap:
/// the trained solution is drawn in two pieces, not joined across (1, 2).
#[test]
fn a_one_dimensional_domain_is_plotted_in_pieces() {
    use nabla::prelude::*;
    let mut p = ProblemBuilder::new("two_rods");
    let x = p.input("x", [0.0, 3.0]);
    let d = p.domain("rods", &[x], cuboid(&[[0.0, 1.0]]) + cuboid(&[[2.0, 3.0]]));
    let u = p.net("u", &[x], mlp(&[8]));
    let s = p.points("s", interior_of(d, 32));
    p.residual("r", s, move |c| c[u] - (PI * c[x]).sin());
    p.exact(u, move |c| (PI * c[x]).sin());
    let problem = p.build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = Training::new(OptimizerKind::Adam).steps(5).out(dir.path());
    nabla::train(&problem, &t).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("u.svg")).unwrap();
    // The trained series is the only one drawn 2 px wide: two pieces and the legend's sample.
    let wide = svg
        .match_indices("<polyline")
        .filter(|(i, _)| {
            svg[*i..]
                .split('>')
                .next()
                .unwrap()
                .contains("stroke-width=\"2\"")
        })
        .count();
    assert_eq!(wide, 3, "{svg}");
}
