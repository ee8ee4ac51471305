//! PINN objectives B1–B8 (`BENCHMARKS.md`, `benches/problems/`) on the Cranelift backend.
//!
//! `cargo bench --bench pinn` first prints a Markdown table (one row per objective, work
//! and dtype: compile time, median run time, statically counted FLOPs, GFLOP/s and share
//! of the 200 GFLOP/s f32 peak of the 2-core development machine), then runs criterion
//! on B1, B4 and B5 for its statistics. Pass a filter (`cargo bench --bench pinn -- B1`)
//! to restrict both to matching objectives, and `threads=N` to set the thread count
//! (default: one per core); `table` prints the table only; `tanh=0`, `simd=0`, `fma=0`
//! turn off inline `tanh`, SIMD or FMA contraction. The high-dimensional objectives
//! (H10, H10s, H100, H100s, H1000, H1000s: exact and sampled Laplacians) join the table
//! when named exactly (`cargo bench --bench pinn -- table H1000s`).

mod objectives;

use criterion::{criterion_group, Criterion};
use nabla::backends::cranelift::{self, CraneliftExecutable};
use nabla::ir::{verify, DType};
use nabla::{lower, Backend, Executable};
use objectives::Objective;
use std::time::{Duration, Instant};

/// Peak f32 FLOP/s of the development machine (2 cores × 2 FMA units × 8 lanes × 2 ×
/// ~3.2 GHz, measured at about 200 GFLOP/s by an AVX2 FMA loop).
const PEAK_F32: f64 = 200e9;

/// The value of `key=N` among the arguments.
fn arg(key: &str) -> Option<usize> {
    let prefix = format!("{key}=");
    std::env::args().find_map(|a| a.strip_prefix(&prefix)?.parse().ok())
}

/// Threads: `threads=N` among the arguments, else one per core.
fn threads() -> usize {
    arg("threads").unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Backend options: `tanh=0` calls the host `tanh`, `simd=0` runs scalar loops, `fma=0`
/// turns off FMA contraction (for measuring what each is worth).
fn backend_options(dtype: DType) -> cranelift::Options {
    let on = |k: &str| arg(k) != Some(0);
    cranelift::Options {
        dtype,
        threads: threads(),
        inline_tanh: on("tanh"),
        simd: on("simd"),
        fma: on("fma"),
        ..cranelift::Options::default()
    }
}

/// Lowers and compiles `o` for the CPU in `dtype`; returns the executable, bound, and
/// the compile time (AD, simplification, scheduling and code generation).
fn build(o: &Objective, dtype: DType) -> (CraneliftExecutable, Duration) {
    let start = Instant::now();
    let opts = nabla::Options {
        backend: Backend::Cranelift,
        dtype,
        derivs: None,
        simplify: true,
        threads: Some(threads()),
        device: None,
        device_memory: None,
    };
    let lowered = lower(&o.graph, &opts).expect("objective lowers");
    let info = verify(&lowered).expect("lowered graph verifies");
    let copts = backend_options(dtype);
    let mut exe = cranelift::compile(&lowered, &info, &copts).expect("objective compiles");
    let elapsed = start.elapsed();
    for (name, v) in &o.binds {
        if exe.bindings().iter().any(|b| &b.name == name) {
            exe.set(name, v).expect("binding has the right length");
        }
    }
    (exe, elapsed)
}

/// CPU seconds this process has used (user + system, all threads), from
/// `/proc/self/stat` in clock ticks of 10 ms; NaN where unavailable.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (tick(11), tick(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Median wall time of one run (3 warm-up runs, then at least 10 runs and 1 s) and the
/// mean CPU time per run over the same runs. On a busy machine the CPU time of a
/// one-thread run is the better estimate of its time on an idle one.
fn median_run(exe: &mut CraneliftExecutable) -> (Duration, f64) {
    for _ in 0..3 {
        exe.run().unwrap();
    }
    let mut times = Vec::new();
    let start = Instant::now();
    let cpu = cpu_seconds();
    while times.len() < 10 || start.elapsed() < Duration::from_secs(1) {
        let t = Instant::now();
        exe.run().unwrap();
        times.push(t.elapsed());
    }
    let cpu = (cpu_seconds() - cpu) / times.len() as f64;
    times.sort();
    (times[times.len() / 2], cpu)
}

/// The objective filters on the command line.
fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && !a.contains('=') && a != "table")
        .collect()
}

fn selected(id: &str) -> bool {
    let args = args();
    args.is_empty() || args.iter().any(|a| objectives::named(id, a))
}

/// Prints the summary table.
fn summary() {
    println!("| id | work | dtype | compile (s) | median run (ms) | CPU/run (ms) | MFLOP/run | GFLOP/s | % of f32 peak | loss |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for with_grad in [false, true] {
        for o in &objectives::chosen(with_grad, &args()) {
            for dtype in [DType::F32, DType::F64] {
                row(o, with_grad, dtype);
            }
        }
    }
}

fn row(o: &Objective, with_grad: bool, dtype: DType) {
    let (mut exe, compile) = build(o, dtype);
    let (t, cpu) = median_run(&mut exe);
    let flops = exe.program().flops() as f64;
    let gflops = flops / t.as_secs_f64() / 1e9;
    let work = if with_grad { "loss+grad" } else { "loss" };
    println!(
        "| {} | {work} | {dtype} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {:.1}% | {:.6e} |",
        o.id,
        compile.as_secs_f64(),
        t.as_secs_f64() * 1e3,
        cpu * 1e3,
        flops / 1e6,
        gflops,
        100.0 * gflops * 1e9 / PEAK_F32,
        exe.output(0)[0],
    );
}

fn bench(c: &mut Criterion) {
    for o in objectives::all(true, None) {
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
