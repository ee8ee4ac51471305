//! The Cole–Hopf reference of `examples/burgers.nabla` solves the problem: initial and
//! boundary values, the PDE residual by f64 central differences away from the shock, and
//! the committed file matches the generator.

#[path = "../examples/burgers_reference.rs"]
#[allow(dead_code)]
mod reference;

use reference::{burgers, NU, QUAD_POINTS};

const N: usize = QUAD_POINTS;

#[test]
fn initial_and_boundary_values() {
    for k in 0..=20 {
        let x = -1.0 + 0.1 * k as f64;
        let want = -(std::f64::consts::PI * x).sin();
        // t = 0 is exact; a short time later the solution has barely moved
        assert!((burgers(0.0, x, N) - want).abs() < 1e-15);
        assert!((burgers(1e-6, x, N) - want).abs() < 1e-4, "x = {x}");
    }
    for t in [0.1, 0.5, 1.0] {
        // odd in x: zero at the walls and at the centre
        for x in [-1.0, 0.0, 1.0] {
            assert!(burgers(t, x, N).abs() < 1e-10, "u({t}, {x})");
        }
    }
}

#[test]
fn satisfies_the_pde_away_from_the_shock() {
    let u = |t: f64, x: f64| burgers(t, x, N);
    let h = 1e-4;
    for t in [0.1, 0.3, 0.6, 0.9] {
        for x in [-0.8, -0.5, -0.3, 0.3, 0.5, 0.8] {
            let ut = (u(t + h, x) - u(t - h, x)) / (2.0 * h);
            let ux = (u(t, x + h) - u(t, x - h)) / (2.0 * h);
            let uxx = (u(t, x + h) - 2.0 * u(t, x) + u(t, x - h)) / (h * h);
            let r = ut + u(t, x) * ux - NU * uxx;
            // central differences at h = 1e-4: truncation ~1e-8 times the derivatives, and
            // rounding ~1e-16/h² ≈ 1e-8 in u_xx
            assert!(r.abs() < 1e-5, "residual {r} at ({t}, {x})");
        }
    }
}

#[test]
fn quadrature_has_converged_at_the_shock() {
    // the steepest point: x = 0 at late times (u_x ≈ -150 at t = 1)
    for (t, x) in [(1.0, 0.01), (0.5, 0.005), (0.8, -0.02)] {
        let (a, b) = (burgers(t, x, N), burgers(t, x, 2 * N));
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    // the shock: a jump of almost 2 across |x| < 0.05 at t = 1
    assert!(burgers(1.0, -0.05, N) > 0.7 && burgers(1.0, 0.05, N) < -0.7);
}

#[test]
fn committed_file_matches_the_generator() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/burgers_reference.json"
    );
    let parse = |s: &str| -> serde_json::Value { serde_json::from_str(s).unwrap() };
    let committed = parse(&std::fs::read_to_string(path).unwrap());
    let fresh = parse(&reference::reference_json());
    assert_eq!(committed["points"], fresh["points"]);
    let (a, b) = (
        committed["u"].as_array().unwrap(),
        fresh["u"].as_array().unwrap(),
    );
    assert_eq!(a.len(), 51 * 101);
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(b) {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        // ten significant digits are written
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1e-3),
            "{path} is stale ({a} vs {b}): cargo run --release --example burgers_reference"
        );
    }
}
