//! PINN objectives B1–B8 (`spec/benchmarks.md`) on the Cranelift backend.
//!
//! `cargo bench --bench pinn` first prints a Markdown table (one row per objective, work
//! and dtype: compile time, median run time, statically counted FLOPs, GFLOP/s and share
//! of the 200 GFLOP/s f32 peak of the 2-core development machine), then runs criterion
//! on B1, B4 and B5 for its statistics. Pass a filter (`cargo bench --bench pinn -- B1`)
//! to restrict both to matching objectives, and `threads=N` to set the thread count
//! (default: one per core); `table` prints the table only.

mod objectives;

use criterion::{criterion_group, Criterion};
use nabla::backends::cranelift::{self, CpuExecutable};
use nabla::ir::{verify, DType};
use nabla::{lower, Backend, Derivs, Executable};
use objectives::Objective;
use std::time::{Duration, Instant};

/// Peak f32 FLOP/s of the development machine (2 cores × 2 FMA units × 8 lanes × 2 ×
/// ~3.2 GHz, measured at about 200 GFLOP/s by an AVX2 FMA loop).
const PEAK_F32: f64 = 200e9;

/// Threads: `threads=N` among the arguments, else one per core.
fn threads() -> usize {
    let arg = std::env::args().find_map(|a| a.strip_prefix("threads=")?.parse().ok());
    arg.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Lowers and compiles `o` for the CPU in `dtype`; returns the executable, bound, and
/// the compile time (AD, simplification, scheduling and code generation).
fn build(o: &Objective, dtype: DType) -> (CpuExecutable, Duration) {
    let start = Instant::now();
    let opts = nabla::Options {
        backend: Backend::Cpu,
        dtype,
        derivs: Derivs::Auto,
        simplify: true,
        threads: Some(threads()),
    };
    let lowered = lower(&o.graph, &opts).expect("objective lowers");
    let info = verify(&lowered).expect("lowered graph verifies");
    let copts = cranelift::Options {
        dtype,
        threads: threads(),
        ..cranelift::Options::default()
    };
    let mut exe = cranelift::compile(&lowered, &info, &copts).expect("objective compiles");
    let elapsed = start.elapsed();
    for (name, v) in &o.binds {
        if exe.bindings().iter().any(|b| &b.name == name) {
            exe.set(name, v).expect("binding has the right length");
        }
    }
    (exe, elapsed)
}

/// Median wall time of one run: 3 warm-up runs, then at least 10 runs and 0.5 s.
fn median_run(exe: &mut CpuExecutable) -> Duration {
    for _ in 0..3 {
        exe.run().unwrap();
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 10 || start.elapsed() < Duration::from_millis(500) {
        let t = Instant::now();
        exe.run().unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn selected(id: &str) -> bool {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && !a.starts_with("threads=") && a != "table")
        .collect();
    args.is_empty() || args.iter().any(|a| id.contains(a.as_str()))
}

/// Prints the summary table.
fn summary() {
    println!("| id | work | dtype | compile (s) | median run (ms) | MFLOP/run | GFLOP/s | % of f32 peak | loss |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for with_grad in [false, true] {
        for o in objectives::all(with_grad).iter().filter(|o| selected(o.id)) {
            for dtype in [DType::F32, DType::F64] {
                row(o, with_grad, dtype);
            }
        }
    }
}

fn row(o: &Objective, with_grad: bool, dtype: DType) {
    let (mut exe, compile) = build(o, dtype);
    let t = median_run(&mut exe);
    let flops = exe.program().flops() as f64;
    let gflops = flops / t.as_secs_f64() / 1e9;
    let work = if with_grad { "loss+grad" } else { "loss" };
    println!(
        "| {} | {work} | {dtype} | {:.3} | {:.3} | {:.1} | {:.1} | {:.1}% | {:.6e} |",
        o.id,
        compile.as_secs_f64(),
        t.as_secs_f64() * 1e3,
        flops / 1e6,
        gflops,
        100.0 * gflops * 1e9 / PEAK_F32,
        exe.output(0)[0],
    );
}

fn bench(c: &mut Criterion) {
    for o in objectives::all(true) {
        if !["B1", "B4", "B5"].contains(&o.id) || !selected(o.id) {
            continue;
        }
        let mut group = c.benchmark_group(format!("{}/loss+grad", o.id));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
        for dtype in [DType::F32, DType::F64] {
            let (mut exe, _) = build(&o, dtype);
            group.bench_function(dtype.name(), |b| b.iter(|| exe.run().unwrap()));
        }
        group.finish();
    }
}

criterion_group!(benches, bench);

fn main() {
    summary();
    if std::env::args().any(|a| a == "table") {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
