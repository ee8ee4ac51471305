//! Where the time of one run goes: `cargo bench --bench profile -- B1` prints, for the
//! loss+grad of each selected objective in f32, where its compile time goes (each pass of
//! the pipeline, then Cranelift: scheduling and code generation), the median of 11 whole
//! runs beside the sum of the steps' medians, the total time per kind of step and the ten
//! slowest steps (each step run alone on one thread, median of 5 runs). The high-dimensional objectives run when named exactly: `-- H100 H100s H1000s`.
//! With `f64` among the arguments (`-- B4 f64`) everything runs in f64 instead; with
//! `rows=N` (`-- B8 rows=250`) the B objectives have N points, the size of one of the
//! tiles `nabla bench` and training run (their caches see one tile at a time); with
//! `top=N` (`-- B4 rows=128 top=100`) the N slowest steps are listed instead of ten (every
//! step: the lists of an f32 and an f64 run compare kernel by kernel).

mod objectives;

use nabla::backends::cranelift;
use nabla::backends::StepTime;
use nabla::ir::{verify, DType};
use nabla::{lower, Backend, Executable};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let top = match args.iter().position(|a| a.starts_with("top=")) {
        Some(i) => {
            let n = args.remove(i);
            n["top=".len()..]
                .parse()
                .expect("top=N takes a number of steps")
        }
        None => 10,
    };
    let dtype = match args.iter().position(|a| a == "f64") {
        Some(i) => {
            args.remove(i);
            DType::F64
        }
        None => DType::F32,
    };
    for o in objectives::chosen(true, &args) {
        let opts = nabla::Options {
            backend: Backend::Cranelift,
            dtype,
            derivs: None,
            simplify: true,
            threads: Some(1),
            device: None,
            device_memory: None,
        };
        let t0 = Instant::now();
        let lowered = lower(&o.graph, &opts).unwrap();
        let lower_s = t0.elapsed().as_secs_f64();
        let info = verify(&lowered).unwrap();
        let copts = cranelift::Options {
            dtype,
            ..cranelift::Options::default()
        };
        let t0 = Instant::now();
        let mut exe = cranelift::compile(&lowered, &info, &copts).unwrap();
        let jit_s = t0.elapsed().as_secs_f64();
        print_compile_time(&o.graph, &opts, lower_s, jit_s);
        for (name, v) in &o.binds {
            if exe.bindings().iter().any(|b| &b.name == name) {
                exe.set(name, v).unwrap();
            }
        }
        let mut whole: Vec<Duration> = (0..11)
            .map(|_| {
                let t0 = Instant::now();
                exe.run().unwrap();
                t0.elapsed()
            })
            .collect();
        whole.sort();
        let mut runs: Vec<Vec<StepTime>> = (0..5).map(|_| exe.profile()).collect();
        let steps: Vec<(String, Duration)> = (0..runs[0].len())
            .map(|i| {
                let mut t: Vec<Duration> = runs.iter().map(|r| r[i].time).collect();
                t.sort();
                (runs[0][i].name.clone(), t[2])
            })
            .collect();
        runs.clear();
        let total: Duration = steps.iter().map(|s| s.1).sum();
        println!(
            "{} loss+grad {dtype}: {} steps, {:.3} ms (whole runs: median {:.3} ms)",
            o.id,
            steps.len(),
            total.as_secs_f64() * 1e3,
            whole[5].as_secs_f64() * 1e3
        );
        let mut kinds: BTreeMap<&str, (usize, Duration)> = BTreeMap::new();
        for (name, t) in &steps {
            let kind = name.split_whitespace().nth(1).unwrap_or("?");
            let e = kinds.entry(kind).or_default();
            e.0 += 1;
            e.1 += *t;
        }
        for (k, (n, t)) in kinds {
            println!("  {k:>8}: {n:4} steps {:8.3} ms", t.as_secs_f64() * 1e3);
        }
        print_products_by_shape(&steps);
        let mut slow = steps.clone();
        slow.sort_by_key(|s| std::cmp::Reverse(s.1));
        for (name, t) in slow.iter().take(top) {
            println!("    {:8.3} ms  {name}", t.as_secs_f64() * 1e3);
        }
    }
}

/// The products grouped by shape (`matmul MxNxK`: result rows, columns, inner extent):
/// how many of each and their total time, slowest first.
fn print_products_by_shape(steps: &[(String, Duration)]) {
    let mut shapes: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    for (name, t) in steps {
        let mut words = name.split_whitespace().skip(1);
        if words.next() == Some("matmul") {
            let shape = words.next().unwrap_or("?").to_string();
            let e = shapes.entry(shape).or_default();
            e.0 += 1;
            e.1 += *t;
        }
    }
    let mut by_time: Vec<_> = shapes.into_iter().collect();
    by_time.sort_by_key(|s| std::cmp::Reverse(s.1 .1));
    for (shape, (n, t)) in by_time {
        println!(
            "    products {shape:>14}: {n:4} {:8.3} ms",
            t.as_secs_f64() * 1e3
        );
    }
}

/// The compile time of one objective: every pass of the pipeline (run again, alone, for
/// its report) and the Cranelift backend.
fn print_compile_time(g: &nabla::ir::Graph, opts: &nabla::Options, lower_s: f64, jit_s: f64) {
    let typed = g.with_dtype(opts.dtype);
    let (_, report) = nabla::passes::pipeline::run(&typed, &opts.pipeline()).unwrap();
    let passes: Vec<String> = (report.passes.iter())
        .map(|p| {
            format!(
                "{} {:.3} s ({} nodes)",
                p.name,
                p.time.as_secs_f64(),
                p.nodes
            )
        })
        .collect();
    println!(
        "  compile {:.3} s: lower {lower_s:.3} s [{}], cranelift {jit_s:.3} s",
        lower_s + jit_s,
        passes.join(", ")
    );
    if let Some(s) = &report.simplify {
        println!(
            "  simplify: {} iterations, {} e-nodes, {}",
            s.iterations, s.egraph_nodes, s.stop_reason
        );
    }
}
