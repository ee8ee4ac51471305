//! The pseudo-spectral ETDRK4 reference of `examples/allen_cahn.nabla`: it converges in
//! the time step and in the resolution, satisfies the PDE, starts at the initial
//! condition, and the committed file is what the generator writes.

#[path = "../examples/allen_cahn_reference.rs"]
#[allow(dead_code)]
mod reference;

use reference::{initial, Solver, EPS};

const TIMES: [f64; 3] = [0.25, 0.5, 1.0];

/// The largest difference between two solutions on 41 points of `x`, at every time.
fn max_diff(
    a: &Solver,
    b: &Solver,
    h_a: &[Vec<rustfft::num_complex::Complex64>],
    h_b: &[Vec<rustfft::num_complex::Complex64>],
) -> f64 {
    let mut worst = 0.0f64;
    for (va, vb) in h_a.iter().zip(h_b) {
        for j in 0..=40 {
            let x = -1.0 + 0.05 * j as f64;
            worst = worst.max((a.eval(va, x, 0) - b.eval(vb, x, 0)).abs());
        }
    }
    worst
}

#[test]
fn converged_in_the_time_step_and_the_resolution() {
    let base = Solver::new(512, 1e-4);
    let vs = base.solve(&TIMES);
    // Halving h changes the solution by 7e-12 (fourth order in h). Doubling N changes it
    // by 1.8e-5: the initial slope jumps at x = ±1 (2 against −2 when extended
    // periodically), so the Fourier series converges algebraically there; still 500×
    // below the 1e-2 a trained network is measured against.
    let fine_t = Solver::new(512, 5e-5);
    let d_t = max_diff(&base, &fine_t, &vs, &fine_t.solve(&TIMES));
    let fine_x = Solver::new(1024, 1e-4);
    let d_x = max_diff(&base, &fine_x, &vs, &fine_x.solve(&TIMES));
    eprintln!("time step {d_t:e}, resolution {d_x:e}");
    assert!(d_t < 1e-7, "time step: {d_t}");
    assert!(d_x < 5e-5, "resolution: {d_x}");
}

#[test]
fn satisfies_the_pde_and_the_initial_condition() {
    let s = Solver::new(512, 1e-4);
    let v0 = &s.solve(&[0.0])[0];
    let worst = (0..=20)
        .map(|j| -1.0 + 0.1 * j as f64)
        .map(|x| (s.eval(v0, x, 0) - initial(x)).abs())
        .fold(0.0f64, f64::max);
    eprintln!("initial condition {worst:e}");
    // The same slope jump limits the series' fit of u(0, x) (4.6e-5 near the ends).
    assert!(worst < 1e-4, "u(0, x): {worst}");
    // u_t by a central difference of ±0.001 in t against ε u_xx + 5u − 5u³, spectrally in x.
    let dt = 1e-3;
    for t in [0.3, 0.7] {
        let v = s.solve(&[t - dt, t, t + dt]);
        for j in 0..=20 {
            let x = -1.0 + 0.1 * j as f64;
            let u_t = (s.eval(&v[2], x, 0) - s.eval(&v[0], x, 0)) / (2.0 * dt);
            let u = s.eval(&v[1], x, 0);
            let rhs = EPS * s.eval(&v[1], x, 2) + 5.0 * u - 5.0 * u * u * u;
            assert!(
                (u_t - rhs).abs() < 1e-4 * (1.0 + rhs.abs()),
                "t {t} x {x}: {u_t} vs {rhs}"
            );
        }
    }
}

#[test]
fn the_committed_file_is_the_generators() {
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/allen_cahn_reference.json"
    ))
    .unwrap();
    assert_eq!(file, reference::reference_json());
}
