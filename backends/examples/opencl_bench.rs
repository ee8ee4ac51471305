//! Times MLP objectives on an OpenCL device: the loss alone, and the loss with its
//! parameter gradient (the reverse sweep written out as ordinary ops), in f32 and f64.
//!
//! `cargo run --release -p nabla-backends --example opencl_bench -- [--device NAME] [--quick]`
//!
//! Prints the device, then one row per objective: steps, GFLOP per evaluation, the sum
//! of kernel device times (OpenCL profiling events), the wall time of `run` (kernels plus
//! reading the outputs back), throughput, and the slowest kernel. The first configuration
//! is also checked against the f64 interpreter.

use nabla_backends::opencl::{compile, samples, select, Options};
use nabla_backends::Executable;
use nabla_ir::{interp, verify, DType, Graph, Tensor};
use std::time::Instant;

struct Config {
    objective: &'static str,
    n: usize,
    widths: Vec<usize>,
}

fn configs(quick: bool) -> Vec<Config> {
    let n = if quick { 4096 } else { 65536 };
    let mut out = Vec::new();
    for widths in [vec![2, 64, 64, 64, 1], vec![2, 128, 128, 128, 1]] {
        for objective in ["loss", "loss+grad"] {
            out.push(Config {
                objective,
                n,
                widths: widths.clone(),
            });
        }
    }
    out
}

fn graph(c: &Config) -> Graph {
    match c.objective {
        "loss" => samples::mlp_loss(c.n, &c.widths),
        _ => samples::mlp_loss_grad(c.n, &c.widths),
    }
}

/// Leaf values as the differential tests use them: inputs in [0.5, 1.5), params in
/// [-0.5, 0.5), scaled down for wide layers so tanh does not saturate.
fn leaves(g: &Graph) -> Vec<(String, Tensor)> {
    let info = verify(g).expect("samples verify");
    let inputs = info.inputs().iter().map(|l| (l, 0.5, 1.0));
    let params = info.params().iter().map(|l| (l, -0.5, 0.25));
    inputs
        .chain(params)
        .enumerate()
        .map(|(i, ((name, id), lo, scale))| {
            let shape = g.shape(*id).clone();
            let v = samples::leaf_values(shape.numel(), i, lo);
            let v = v.into_iter().map(|x| x * scale).collect();
            (name.clone(), Tensor::new(shape, v))
        })
        .collect()
}

struct Row {
    label: String,
    dtype: DType,
    kernels: usize,
    gflop: f64,
    device_ms: f64,
    wall_ms: f64,
    slowest: String,
    /// The five slowest kernels: name, mean ms, GFLOP/s.
    top: Vec<(String, f64, f64)>,
}

fn time(c: &Config, dtype: DType, device: Option<&str>, reps: usize) -> Result<Row, String> {
    let g = graph(c);
    let info = verify(&g).map_err(|e| e.to_string())?;
    let opts = Options {
        dtype,
        device: device.map(String::from),
        profile: true,
        ..Options::default()
    };
    let t0 = Instant::now();
    let mut exe = compile(&g, &info, &opts).map_err(|e| e.to_string())?;
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    for (n, t) in leaves(&g) {
        exe.set(&n, &t.data).map_err(|e| e.to_string())?;
    }
    for _ in 0..3 {
        exe.run().map_err(|e| e.to_string())?;
    }
    let (mut device_s, mut wall_s) = (0.0, 0.0);
    let mut per_kernel = vec![0.0; exe.kernel_times().len()];
    for _ in 0..reps {
        let t = Instant::now();
        exe.run().map_err(|e| e.to_string())?;
        wall_s += t.elapsed().as_secs_f64();
        for (acc, k) in per_kernel.iter_mut().zip(exe.kernel_times()) {
            *acc += k.time.as_secs_f64();
            device_s += k.time.as_secs_f64();
        }
    }
    let times = exe.kernel_times();
    let (worst, worst_s) =
        per_kernel
            .iter()
            .enumerate()
            .fold((0, 0.0), |b, (i, &s)| if s > b.1 { (i, s) } else { b });
    let flops: u64 = times.iter().map(|k| k.flops).sum();
    let slowest = times.get(worst).map_or(String::new(), |k| {
        let ms = worst_s / reps as f64 * 1e3;
        format!("{} {ms:.3} ms", k.name)
    });
    let mut top: Vec<(String, f64, f64)> = times
        .iter()
        .zip(&per_kernel)
        .map(|(k, s)| {
            let mean = s / reps as f64;
            (k.name.clone(), mean * 1e3, k.flops as f64 * 1e-9 / mean)
        })
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(5);
    let widths: Vec<String> = c.widths.iter().map(|w| w.to_string()).collect();
    Ok(Row {
        top,
        label: format!(
            "{:<9} N={:<6} [{}] (compile {compile_ms:.0} ms)",
            c.objective,
            c.n,
            widths.join(",")
        ),
        dtype,
        kernels: times.len(),
        gflop: flops as f64 * 1e-9,
        device_ms: device_s / reps as f64 * 1e3,
        wall_ms: wall_s / reps as f64 * 1e3,
        slowest,
    })
}

/// The relative difference of the OpenCL f64 loss and the interpreter's on `c`.
fn sanity(c: &Config, device: Option<&str>) -> Result<f64, String> {
    let g = graph(c);
    let info = verify(&g).map_err(|e| e.to_string())?;
    let opts = Options {
        device: device.map(String::from),
        ..Options::default()
    };
    let mut exe = compile(&g, &info, &opts).map_err(|e| e.to_string())?;
    let env = leaves(&g);
    for (n, t) in &env {
        exe.set(n, &t.data).map_err(|e| e.to_string())?;
    }
    exe.run().map_err(|e| e.to_string())?;
    let want = interp::eval_outputs(&g, &env.into_iter().collect(), DType::F64)
        .map_err(|e| e.to_string())?;
    let i = want
        .iter()
        .position(|(n, _)| n == "loss")
        .ok_or("no loss")?;
    let (got, w) = (exe.output(i)[0], want[i].1.data[0]);
    Ok((got - w).abs() / w.abs())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let device = args
        .iter()
        .position(|a| a == "--device")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let dev = match select(device) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("opencl_bench: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "device: {} ({}), max work-group {}, local memory {} KiB, f64 {}",
        dev.name,
        dev.platform,
        dev.limits.max_work_group,
        dev.limits.local_mem / 1024,
        if dev.fp64 { "yes" } else { "no" }
    );
    let cfgs = configs(quick);
    let small = Config {
        n: 2048,
        ..Config {
            objective: "loss",
            n: 0,
            widths: cfgs[0].widths.clone(),
        }
    };
    match sanity(&small, device) {
        Ok(r) => println!("check: f64 loss vs interpreter at N=2048: relative difference {r:.2e}"),
        Err(e) => println!("check: failed: {e}"),
    }
    println!(
        "{:<52} {:<5} {:>7} {:>8} {:>10} {:>9} {:>9}  slowest kernel",
        "objective", "dtype", "kernels", "GFLOP", "device ms", "wall ms", "GFLOP/s"
    );
    let reps = if quick { 5 } else { 20 };
    let mut details = Vec::new();
    for dtype in [DType::F32, DType::F64] {
        if dtype == DType::F64 && !dev.fp64 {
            continue;
        }
        for c in &cfgs {
            match time(c, dtype, device, reps) {
                Ok(r) => {
                    println!(
                        "{:<52} {:<5} {:>7} {:>8.3} {:>10.3} {:>9.3} {:>9.1}  {}",
                        r.label,
                        r.dtype.name(),
                        r.kernels,
                        r.gflop,
                        r.device_ms,
                        r.wall_ms,
                        r.gflop / (r.device_ms * 1e-3),
                        r.slowest
                    );
                    details.push(r);
                }
                Err(e) => println!("{} {}: failed: {e}", c.objective, dtype),
            }
        }
    }
    println!("\nslowest kernels per objective (mean ms, GFLOP/s):");
    for r in details {
        let top: Vec<String> = r
            .top
            .iter()
            .map(|(n, ms, g)| format!("{n} {ms:.3} ({g:.0})"))
            .collect();
        println!("  {} {}: {}", r.label, r.dtype.name(), top.join(", "));
    }
}
