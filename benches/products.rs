//! The products of a tile program, alone, in f32 and in f64: `cargo bench --bench products`
//! prints, for the operand layouts a network's layer takes and the extents of B4's and B3's
//! tiles, the GFLOP/s of nabla's product step and the f64 time over the f32 time. The step
//! is compiled as any program is (the same choice of the panel kernels, `gemm`, `faer`,
//! `nano-gemm` or the register kernels; a weight packed once, as a run of many tiles
//! does) for one thread, its operands hot in cache; each time is the median of five
//! rounds of 21 runs, f32 and f64 alternating, after a fifth of a second of warm-up.
//!
//! AVX-512 holds 16 f32 lanes and 8 f64 lanes, so a product whose f64 kernel is as good as
//! its f32 one takes twice the time; the ratio column says how far each layout is from
//! that. The layouts, for a layer `z = h·Wᵀ` with `h: [rows, w]` and `W: [w, w]`:
//!
//! - `h·Wᵀ`, the layer forward (and every jet component's);
//! - `δ·W`, back through the weight;
//! - `hᵀ·δ`, the weight's gradient (inner extent `rows`: both operands read down their
//!   columns), and `Σ₄ hᵀ·δ`, four of them summed as a tile program forms a weight's
//!   gradient over the jet components (the later three added in place).
//!
//! `-- 128` (or any list of row counts) measures those extents only.

use nabla::backends::cranelift::{compile, CraneliftExecutable, Options};
use nabla::backends::Executable;
use nabla::ir::testing::{leaf, values};
use nabla::ir::{verify, DType, Graph, NodeId, Op};
use std::time::{Duration, Instant};

/// Columns of every operand: B3's and B4's hidden width.
const WIDTH: usize = 128;

fn main() {
    let args: Vec<usize> = (std::env::args().skip(1))
        .filter_map(|a| a.parse().ok())
        .collect();
    let rows = if args.is_empty() {
        vec![128, 256, 3200]
    } else {
        args
    };
    println!("nabla's product step, one thread, hot, median of 5 × 21 runs; GFLOP/s f32 / f64 (f64 time ÷ f32 time)");
    println!("| product | rows | f32 | f64 | f64/f32 |");
    println!("|---|---|---|---|---|");
    for &r in &rows {
        for layout in Layout::ALL {
            let g = layout.graph(r);
            let flops = layout.flops(r);
            let (t32, t64) = times(&g);
            let rate = |t: Duration| flops as f64 / t.as_secs_f64() / 1e9;
            println!(
                "| `{}` | {r} | {:.0} | {:.0} | {:.2} |",
                layout.name(),
                rate(t32),
                rate(t64),
                t64.as_secs_f64() / t32.as_secs_f64()
            );
        }
    }
}

#[derive(Clone, Copy)]
enum Layout {
    Forward,
    Back,
    Gradient,
    GradientSum,
}

impl Layout {
    const ALL: [Layout; 4] = [
        Layout::Forward,
        Layout::Back,
        Layout::Gradient,
        Layout::GradientSum,
    ];

    fn name(self) -> &'static str {
        match self {
            Layout::Forward => "h·Wᵀ",
            Layout::Back => "δ·W",
            Layout::Gradient => "hᵀ·δ",
            Layout::GradientSum => "Σ₄ hᵀ·δ",
        }
    }

    /// Multiply-adds times two, and the additions of a sum's later terms.
    fn flops(self, rows: usize) -> u64 {
        let one = 2 * (rows * WIDTH * WIDTH) as u64;
        match self {
            Layout::GradientSum => 4 * one + 3 * (WIDTH * WIDTH) as u64,
            _ => one,
        }
    }

    /// The product as a program: leaves in, the product out.
    fn graph(self, rows: usize) -> Graph {
        let mut g = Graph::new();
        let z = match self {
            Layout::Forward => {
                let h = leaf(&mut g, "h", &[rows, WIDTH], false);
                let w = leaf(&mut g, "W", &[WIDTH, WIDTH], true);
                product(&mut g, (false, true), h, w)
            }
            Layout::Back => {
                let d = leaf(&mut g, "d", &[rows, WIDTH], false);
                let w = leaf(&mut g, "W", &[WIDTH, WIDTH], true);
                product(&mut g, (false, false), d, w)
            }
            Layout::Gradient => gradient(&mut g, rows, 0),
            Layout::GradientSum => {
                let mut sum = gradient(&mut g, rows, 0);
                for c in 1..4 {
                    let term = gradient(&mut g, rows, c);
                    sum = g.binary(nabla::ir::BinOp::Add, sum, term);
                }
                sum
            }
        };
        g.set_output("z", z);
        g
    }
}

fn product(g: &mut Graph, (ta, tb): (bool, bool), a: NodeId, b: NodeId) -> NodeId {
    g.add_or_panic(Op::MatMul { ta, tb }, &[a, b])
}

/// `hᵀ·δ` of jet component `c`.
fn gradient(g: &mut Graph, rows: usize, c: usize) -> NodeId {
    let h = leaf(g, &format!("h{c}"), &[rows, WIDTH], false);
    let d = leaf(g, &format!("d{c}"), &[rows, WIDTH], false);
    product(g, (true, false), h, d)
}

/// The program compiled for one thread in `dtype`, its leaves bound, run for a fifth of a
/// second (caches, and the core's clock for wide vectors, settled).
fn ready(g: &Graph, dtype: DType) -> CraneliftExecutable {
    let info = verify(g).expect("a well-formed product");
    let opts = Options {
        dtype,
        threads: 1,
        ..Options::default()
    };
    let mut exe = compile(g, &info, &opts).expect("the product compiles");
    for (i, b) in exe.bindings().to_vec().iter().enumerate() {
        let n = b.shape.numel();
        exe.set(&b.name, &values(n, i as u64 + 1, -1.0, 1.0))
            .expect("a value for every leaf");
    }
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        exe.run().expect("the product runs");
    }
    exe
}

/// The median time of the program's steps (a product, or a sum of products formed in
/// place) over 21 runs.
fn median(exe: &mut CraneliftExecutable) -> Duration {
    let mut times: Vec<Duration> = (0..21)
        .map(|_| exe.profile().iter().map(|s| s.time).sum())
        .collect();
    times.sort();
    times[10]
}

/// The f32 and f64 times of `g`: five rounds of 21 runs each, the two alternating so that
/// the host's drift falls on both; the median round of each.
fn times(g: &Graph) -> (Duration, Duration) {
    let mut e32 = ready(g, DType::F32);
    let mut e64 = ready(g, DType::F64);
    let (mut t32, mut t64): (Vec<Duration>, Vec<Duration>) =
        (0..5).map(|_| (median(&mut e32), median(&mut e64))).unzip();
    t32.sort();
    t64.sort();
    (t32[2], t64[2])
}
