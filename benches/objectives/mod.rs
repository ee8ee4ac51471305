//! The benchmark objectives B1–B8 (`BENCHMARKS.md`; problem files in `benches/problems/`),
//! traced with the DSL, and their seeded collocation points.

use nabla::prelude::*;
use nabla_ir::testing::values;
use std::f64::consts::PI;

/// One objective: the traced graph (loss, or loss and its parameter gradient) and the
/// values of every leaf.
pub struct Objective {
    /// `B1` ... `B8`.
    pub id: &'static str,
    /// The traced graph.
    pub graph: Graph,
    /// Values for every input and param.
    pub binds: Vec<(String, Vec<f64>)>,
}

fn finish(
    id: &'static str,
    b: &Builder,
    inputs: &[(&str, usize)],
    loss: Var<'_>,
    grads: Option<Vec<Var<'_>>>,
) -> Objective {
    b.output("loss", loss);
    for (k, gk) in grads.into_iter().flatten().enumerate() {
        b.output(&format!("grad{k}"), gk);
    }
    let graph = b.finish().expect("benchmark objective traces");
    let mut binds: Vec<(String, Vec<f64>)> = b
        .initial_params()
        .into_iter()
        .map(|(n, t)| (n, t.data))
        .collect();
    for (i, (name, n)) in inputs.iter().enumerate() {
        // `n` points uniform in `[0, 1)`, seeded per input: reproducible everywhere
        binds.push((name.to_string(), values(*n, i as u64 + 1, 0.0, 1.0)));
    }
    Objective { id, graph, binds }
}

fn widths(d: usize, hidden: &[usize]) -> Vec<usize> {
    let mut w = vec![d];
    w.extend_from_slice(hidden);
    w.push(1);
    w
}

/// `f = −d·π²·∏ⱼ sin(π xⱼ)`: the right-hand side of B1–B5 and H10–H1000s.
fn rhs<'g>(xs: &[Var<'g>]) -> Var<'g> {
    let prod = (xs[1..].iter()).fold(sin(xs[0] * PI), |p, &x| p * sin(x * PI));
    prod * (-(xs.len() as f64) * PI * PI)
}

/// B1–B5: `mean((Δu − f)²)`, `f = −d·π²·∏ⱼ sin(π xⱼ)`.
pub fn laplacian_objective(
    id: &'static str,
    d: usize,
    hidden: &[usize],
    n: usize,
    with_grad: bool,
) -> Objective {
    let b = Builder::new();
    let names: Vec<String> = (0..d).map(|j| format!("x{j}")).collect();
    let xs: Vec<Var<'_>> = names.iter().map(|nm| b.input(nm, n)).collect();
    let u = Mlp::new(&widths(d, hidden), Act::Tanh).params(&b, "u", 0);
    let lap = laplacian(|v| u.apply_to(v), &xs);
    let f = rhs(&xs);
    let loss = mean(square(lap - f));
    let grads = with_grad.then(|| grad(loss, &u));
    let inputs: Vec<(&str, usize)> = names.iter().map(|s| (s.as_str(), n)).collect();
    finish(id, &b, &inputs, loss, grads)
}

/// B6: `mean((d/dt[t·u(t)] − cos t)²)`, widths 12,12,12, N = 100.
pub fn closure_objective(n: usize, with_grad: bool) -> Objective {
    let b = Builder::new();
    let t = b.input("t", n);
    let u = Mlp::new(&widths(1, &[12, 12, 12]), Act::Tanh).params(&b, "u", 0);
    let ut = diff(|s| s * u.apply(s), t);
    let loss = mean(square(ut - cos(t)));
    let grads = with_grad.then(|| grad(loss, &u));
    finish("B6", &b, &[("t", n)], loss, grads)
}

/// B7: `mean((Δ²u − 4π⁴ sin(πx) sin(πy))²)`, widths 32,32,32, N = 2048.
pub fn biharmonic_objective(n: usize, with_grad: bool) -> Objective {
    let b = Builder::new();
    let (x, y) = (b.input("x", n), b.input("y", n));
    let u = Mlp::new(&widths(2, &[32, 32, 32]), Act::Tanh).params(&b, "u", 0);
    let bih = laplacian(|v| laplacian(|w| u.apply_to(w), v), &[x, y]);
    let f = sin(x * PI) * sin(y * PI) * (4.0 * PI.powi(4));
    let loss = mean(square(bih - f));
    let grads = with_grad.then(|| grad(loss, &u));
    finish("B7", &b, &[("x", n), ("y", n)], loss, grads)
}

/// B8: Burgers, `mean((u_t + u·u_x − (0.01/π)·u_xx)²)`, widths 20×8, N = 10000.
pub fn burgers_objective(n: usize, with_grad: bool) -> Objective {
    let b = Builder::new();
    let (t, x) = (b.input("t", n), b.input("x", n));
    let u = Mlp::new(&widths(2, &[20; 8]), Act::Tanh).params(&b, "u", 0);
    let uv = u.apply_to(&[t, x]);
    let ut = diff(|s| u.apply_to(&[s, x]), t);
    let ux = diff(|s| u.apply_to(&[t, s]), x);
    let uxx = diff_n(2, |s| u.apply_to(&[t, s]), x);
    let r = ut + uv * ux - uxx * (0.01 / PI);
    let loss = mean(square(r));
    let grads = with_grad.then(|| grad(loss, &u));
    finish("B8", &b, &[("t", n), ("x", n)], loss, grads)
}

/// H10–H1000s: B3's network and points (`[128, 128, 128]`, 256 points) at D = 10, 100,
/// 1000, the loss of B1–B5 with the exact Laplacian (`H100` is B3) or, with `s`, the
/// sampled one from 4 Rademacher directions per point (one draw, as one training step
/// sees): the rows `benches/peers/jax_bench.py H10 H100 H1000 --methods folx,stde4` times
/// in JAX. Not in [`all`]: the exact H1000 takes a minute to compile.
pub fn high_dim(with_grad: bool) -> Vec<Objective> {
    let mut v = Vec::new();
    for (d, exact, sampled) in [
        (10, "H10", "H10s"),
        (100, "H100", "H100s"),
        (1000, "H1000", "H1000s"),
    ] {
        v.push(laplacian_objective(
            exact,
            d,
            &[128, 128, 128],
            256,
            with_grad,
        ));
        v.push(sampled_objective(sampled, d, 4, with_grad));
    }
    v
}

/// `mean((Δ̂u − f)²)` of [`laplacian_objective`] with the Laplacian estimated from `k`
/// directions per point.
fn sampled_objective(id: &'static str, d: usize, k: usize, with_grad: bool) -> Objective {
    let n = 256;
    let b = Builder::new();
    let names: Vec<String> = (0..d).map(|j| format!("x{j}")).collect();
    let xs: Vec<Var<'_>> = names.iter().map(|nm| b.input(nm, n)).collect();
    let u = Mlp::new(&widths(d, &[128, 128, 128]), Act::Tanh).params(&b, "u", 0);
    let probe = |i: usize, j: usize| format!("s{i}.{j}");
    let probes: Vec<Vec<Var<'_>>> = (0..k)
        .map(|i| (0..d).map(|j| b.input(&probe(i, j), n)).collect())
        .collect();
    let lap = laplacian_sampled(u.apply_to(&xs), &xs, &probes);
    let f = rhs(&xs);
    let loss = mean(square(lap - f));
    let grads = with_grad.then(|| grad(loss, &u));
    let inputs: Vec<(&str, usize)> = names.iter().map(|s| (s.as_str(), n)).collect();
    let mut o = finish(id, &b, &inputs, loss, grads);
    for i in 0..k {
        for j in 0..d {
            let name = probe(i, j);
            let signs = nabla::frontend::problem::probe_values(&name, 0, 0, n);
            o.binds.push((name, signs));
        }
    }
    o
}

/// Whether a bench's command-line argument `arg` names objective `id`: any part of a B id
/// (`B1`), the exact id of a high-dimensional one (`H100` is not `H1000`).
pub fn named(id: &str, arg: &str) -> bool {
    if id.starts_with('H') {
        id == arg
    } else {
        id.contains(arg)
    }
}

/// The objectives `args` name (every one of [`all`] when `args` is empty), the
/// high-dimensional ones included when named. An argument `rows=N` builds the B
/// objectives with N points instead of their own (`rows=256`: one tile, as `nabla bench`
/// and training run them).
pub fn chosen(with_grad: bool, args: &[String]) -> Vec<Objective> {
    let rows = args.iter().find_map(|a| a.strip_prefix("rows="));
    let rows = rows.map(|r| r.parse().expect("rows=N takes a number of points"));
    let args: Vec<&String> = args.iter().filter(|a| !a.starts_with("rows=")).collect();
    let wanted = |o: &Objective| args.is_empty() || args.iter().any(|a| named(o.id, a));
    let mut v: Vec<Objective> = all(with_grad, rows).into_iter().filter(wanted).collect();
    if args.iter().any(|a| a.starts_with('H')) {
        v.extend(high_dim(with_grad).into_iter().filter(wanted));
    }
    v
}

/// Every objective, loss only (`false`) or loss and gradient (`true`), with `rows`
/// points each or (`None`) its own number.
pub fn all(with_grad: bool, rows: Option<usize>) -> Vec<Objective> {
    let n = |own: usize| rows.unwrap_or(own);
    vec![
        laplacian_objective("B1", 2, &[64, 64, 64], n(4096), with_grad),
        laplacian_objective("B2", 10, &[128, 128, 128], n(1024), with_grad),
        laplacian_objective("B3", 100, &[128, 128, 128], n(256), with_grad),
        laplacian_objective("B4", 2, &[128, 128, 128, 128], n(8192), with_grad),
        laplacian_objective("B5", 2, &[32, 32, 32], n(1024), with_grad),
        closure_objective(n(100), with_grad),
        biharmonic_objective(n(2048), with_grad),
        burgers_objective(n(10_000), with_grad),
    ]
}
