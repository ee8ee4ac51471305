//! The Gauss–Newton products on B1, B5 and B8 (`benches/problems/`) in f64 on the Cranelift
//! backend: the residual Jacobian `J` (the compiled per-point reverse sweep), `JᵀJ` and
//! `Jᵀr` (`faer`'s triangular GEMM), and one damped Cholesky solve — the work of one
//! Levenberg–Marquardt trial — and the same system added up tile by tile without keeping
//! `J` (what `lm` does when `J` is too large to keep).
//!
//! `cargo bench --bench jacobian` prints one Markdown row per problem and product: the
//! median of `reps=N` runs (default 5) after a warm-up, the FLOPs (the schedule's count
//! for `J`, the dense products' for the rest), GFLOP/s, and the share of the 2-core
//! development machine's f64 peak
//! (100 GFLOP/s: half the f32 peak of `benches/pinn.rs`). The loss-and-gradient program
//! on the same points is timed too, as the unit `J` is measured against. Pass `B1`, `B5`
//! or `B8` to run one; `profile` also prints the ten slowest steps of the compiled Jacobian
//! program (one thread, median of 5 runs).

use nabla::frontend::lang;
use nabla::ir::DType;
use nabla::train::lm::GaussNewton;
use nabla::train::model::Model;
use nabla::train::Objective;
use nabla::{Backend, Options};
use std::time::Instant;

/// Peak f64 FLOP/s of the development machine (2 cores × 2 FMA units × 4 lanes × 2 ×
/// ~3.2 GHz).
const PEAK_F64: f64 = 100e9;

fn reps() -> usize {
    std::env::args()
        .find_map(|a| a.strip_prefix("reps=")?.parse().ok())
        .unwrap_or(5)
}

/// Median seconds of `reps` runs of `f` after one warm-up run.
fn median(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn row(what: &str, secs: f64, flops: Option<f64>) {
    let (gf, share) = match flops {
        Some(f) => (
            format!("{:.1}", f / secs / 1e9),
            format!("{:.0}%", 100.0 * f / secs / PEAK_F64),
        ),
        None => ("".into(), "".into()),
    };
    let fl = flops.map_or(String::new(), |f| format!("{:.2e}", f));
    println!("| {what} | {:.1} | {fl} | {gf} | {share} |", secs * 1e3);
}

/// The benchmark problem `id` (`benches/problems/ID.nabla`).
fn load(id: &str) -> nabla::frontend::problem::Problem {
    let path = format!("benches/problems/{id}.nabla");
    let src = std::fs::read_to_string(&path).expect("benchmark problem");
    lang::load(&path, &src)
        .unwrap_or_else(|d| panic!("{}", d.render()))
        .problem
}

fn bench(id: &str, problem: &nabla::frontend::problem::Problem) {
    let opts = Options::new(Backend::Cranelift, DType::F64, None);
    let (mut model, theta, _) = Model::compile(problem, &opts).expect("compiles");
    model.add_jacobian(&opts).expect("the Jacobian compiles");
    model.bind_points(0).expect("points bind");
    let reps = reps();
    let ls = model.least_squares(&theta).expect("runs");
    let (m, p) = (ls.r.len(), ls.cols);
    println!("\n{id}: M = {m} residual values, P = {p} parameters, f64, {reps} reps\n");
    println!("| product | median ms | FLOPs | GFLOP/s | of f64 peak |\n|---|---|---|---|---|");
    let mut g = vec![0.0; p];
    row(
        "loss + gradient",
        median(reps, || drop(model.eval(&theta, &mut g))),
        None,
    );
    let j = median(reps, || drop(model.least_squares(&theta)));
    row(
        "residuals + J (program and gather)",
        j,
        Some(jacobian_flops(problem, &opts)),
    );
    // Parameter space: JᵀJ lower half M·P(P+1), Jᵀr 2MP; Cholesky P³/3, solves 2P².
    // Point space: ĴĴᵀ lower half P·M(M+1), Jᵀr 2MP; Cholesky M³/3, solves 2M², Ĵᵀy 2MP.
    for points in [false, true] {
        let (k, n) = if points { (m, p) } else { (p, m) };
        let space = if points {
            "point space"
        } else {
            "parameter space"
        };
        let build = (n * k * (k + 1) + 2 * m * p) as f64;
        let t = median(reps, || drop(GaussNewton::with_form(&ls, points)));
        row(&format!("{space}: Gram matrix + Jᵀr"), t, Some(build));
        let gn = GaussNewton::with_form(&ls, points);
        let solve = (k * k * k) as f64 / 3.0
            + 2.0 * (k * k) as f64
            + if points { 2.0 * (m * p) as f64 } else { 0.0 };
        let t = median(reps, || drop(gn.solve(1e-3)));
        row(&format!("{space}: damped solve (Cholesky)"), t, Some(solve));
    }
    // Parameter space without keeping J: each tile's rows added to JᵀJ and Jᵀr, and the
    // Jᵀw an accelerated trial then needs, one more pass over the tiles.
    let build = (m * p * (p + 1) + 2 * m * p) as f64;
    for (keep_j, what) in [(false, "J dropped"), (true, "J kept")] {
        let t = median(reps, || drop(model.tiled_gauss_newton(&theta, keep_j)));
        let what = format!("by tiles, {what}: residuals + J + Gram + Jᵀr");
        row(&what, t, Some(build));
    }
    let t = median(reps, || drop(model.jacobian_transpose_times(&theta, &ls.r)));
    row("by tiles, J dropped: Jᵀw (one more pass)", t, None);
}

/// FLOPs of the compiled Jacobian program as its schedule counts them (`dump-ir
/// --jacobian --stage scheduled` prints the same number).
fn jacobian_flops(problem: &nabla::frontend::problem::Problem, opts: &Options) -> f64 {
    use nabla::passes::schedule::{schedule, ScheduleOptions};
    let sizes = nabla::train::model::sizes(problem);
    let obj = problem
        .jacobian_objective(&sizes, DType::F64)
        .expect("traces");
    let lowered = nabla::lower(&obj.graph, opts).expect("lowers");
    let info = nabla::ir::verify(&lowered).expect("verifies");
    schedule(&lowered, &info, &ScheduleOptions::default()).flops() as f64
}

/// The ten slowest steps of the Jacobian program of `problem` (f64, one thread).
fn profile(problem: &nabla::frontend::problem::Problem) {
    use nabla::backends::{cranelift, Executable};
    let sizes = nabla::train::model::sizes(problem);
    let obj = problem
        .jacobian_objective(&sizes, DType::F64)
        .expect("traces");
    let opts = Options::new(Backend::Cranelift, DType::F64, None);
    let lowered = nabla::lower(&obj.graph, &opts).expect("lowers");
    let info = nabla::ir::verify(&lowered).expect("verifies");
    let copts = cranelift::Options {
        dtype: DType::F64,
        threads: 1,
        ..Default::default()
    };
    let mut exe = cranelift::compile(&lowered, &info, &copts).expect("compiles");
    for b in exe.bindings().to_vec() {
        let n = b.shape.numel();
        let v: Vec<f64> = (0..n)
            .map(|i| ((i * 37 % 101) as f64 / 101.0) - 0.5)
            .collect();
        exe.set(&b.name, &v).expect("binds");
    }
    let runs: Vec<Vec<nabla::backends::StepTime>> = (0..5).map(|_| exe.profile()).collect();
    let mut steps: Vec<(String, f64)> = (0..runs[0].len())
        .map(|i| {
            let mut t: Vec<f64> = runs.iter().map(|r| r[i].time.as_secs_f64()).collect();
            t.sort_by(f64::total_cmp);
            (runs[0][i].name.clone(), t[2])
        })
        .collect();
    let total: f64 = steps.iter().map(|s| s.1).sum();
    println!(
        "\nJacobian program, one thread: {} steps, {:.2} ms",
        steps.len(),
        total * 1e3
    );
    steps.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (name, t) in steps.iter().take(10) {
        println!("  {:8.3} ms  {name}", t * 1e3);
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for id in ["B5", "B1", "B8"] {
        if args.iter().all(|a| a.contains('=')) || args.iter().any(|a| a == id) {
            let problem = load(id);
            bench(id, &problem);
            if args.iter().any(|a| a == "profile") {
                profile(&problem);
            }
        }
    }
}
