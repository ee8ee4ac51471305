//! One residual, one set of jets, one adjoint per jet: the Burgers residual
//! `u_t + u·u_x − c·u_xx` (B8) of an MLP needs, per layer, the value, the `t` tangent,
//! the `x` tangent and the second `x` coefficient — four products forward — and its
//! gradient needs one adjoint chain back for each of them, fewer where two adjoints are
//! one up to a constant factor.
//!
//! Two things make that so, and each is checked here by counting the products with one
//! hidden layer's weight in the lowered graph:
//!
//! - `d(u, x)` (forward mode) and `d(u, x, x)` (Taylor mode) build the same `x` tangent
//!   (`φ'(z)·z'` in one operand order), so hash-consing makes it one node before reverse
//!   mode runs, and reverse mode builds one adjoint chain for it instead of two;
//! - the adjoints of `u_t` and of the second coefficient `u_xx` go back through the same
//!   linear maps (`·W`, `·φ'(z)`) from seeds `δ` and `−c·δ`, so the simplifier's
//!   `mul-scale-out` and `matmul-*-scale-left` rules prove the second `−c` times the
//!   first at every layer and keep one chain; `add-matmul-common` then sums the two
//!   gradient terms `δᵀ·h_t` and `(k·δ)ᵀ·h_xx` of each weight as one product.
//!
//! The values do not change: loss and gradient through the simplified graph agree with the
//! reference interpreter's unsimplified graph to 1e-12, and the gradient agrees with f64
//! central differences of the loss.

use nabla::lower;
use nabla::prelude::*;
use nabla_ir::{Graph as IrGraph, Op};
use std::collections::HashMap;

/// Hidden widths of the network (`[2, 8, 8, 8, 1]`).
const HIDDEN: [usize; 3] = [8, 8, 8];

/// The Burgers loss `mean((u_t + u·u_x − c·u_xx)²)` of an MLP and its parameter gradient,
/// at `n` points, with the values to bind.
fn burgers(n: usize) -> (Graph, Vec<(String, Vec<f64>)>) {
    let b = Builder::new();
    let (t, x) = (b.input("t", n), b.input("x", n));
    let mut widths = vec![2];
    widths.extend(HIDDEN);
    widths.push(1);
    let u = Mlp::new(&widths, Act::Tanh).params(&b, "u", 3);
    let uv = u.apply_to(&[t, x]);
    let ut = diff(|s| u.apply_to(&[s, x]), t);
    let ux = diff(|s| u.apply_to(&[t, s]), x);
    let uxx = diff_n(2, |s| u.apply_to(&[t, s]), x);
    let r = ut + uv * ux - uxx * (0.01 / std::f64::consts::PI);
    let loss = mean(square(r));
    b.output("loss", loss);
    for (k, gk) in grad(loss, &u).into_iter().enumerate() {
        b.output(&format!("g{k}"), gk);
    }
    let g = b.finish().expect("traces");
    let mut binds: Vec<(String, Vec<f64>)> = (b.initial_params().into_iter())
        .map(|(name, t)| (name, t.data))
        .collect();
    let pts = |s: f64| (0..n).map(|i| (i as f64 * s + 0.1).fract()).collect();
    binds.push(("t".into(), pts(0.37)));
    binds.push(("x".into(), pts(0.61)));
    (g, binds)
}

/// The pipeline's output for `g` in f64, simplified or not.
fn lowered(g: &Graph, simplify: bool) -> IrGraph {
    let mut opts = Options::new(Backend::Cranelift, DType::F64, None);
    opts.simplify = simplify;
    lower(g, &opts).expect("lowers")
}

/// Products in `g` with the weight `name` as right operand: (forward `h·Wᵀ`, back `δ·W`).
fn products_with(g: &IrGraph, name: &str) -> (usize, usize) {
    let is_w = |i| matches!(g.op(i), Op::Param { name: n, .. } if n == name);
    let (mut fwd, mut back) = (0, 0);
    for i in g.ids() {
        if let Op::MatMul { ta: false, tb } = g.op(i) {
            if is_w(g.args(i)[1]) {
                if *tb {
                    fwd += 1;
                } else {
                    back += 1;
                }
            }
        }
    }
    (fwd, back)
}

#[test]
fn forward_and_taylor_share_the_x_tangent_so_reverse_builds_one_chain_for_it() {
    let (g, _) = burgers(4);
    // value, t tangent, x tangent, second x coefficient: four forward products, one
    // adjoint chain back for each (the Taylor jet's own x tangent made five of each)
    assert_eq!(products_with(&lowered(&g, false), "u.1.W"), (4, 4));
}

/// Gradient products `δᵀ·h` in `g` of a hidden weight's shape.
fn gradient_products(g: &IrGraph) -> usize {
    let w = nabla_ir::Shape::matrix(HIDDEN[0], HIDDEN[0]);
    (g.ids())
        .filter(|&i| matches!(g.op(i), Op::MatMul { ta: true, .. }) && g.shape(i) == &w)
        .count()
}

#[test]
fn the_adjoints_of_u_t_and_u_xx_become_one_chain() {
    let (g, _) = burgers(4);
    let s = lowered(&g, true);
    // the adjoint of u_xx is −c times that of u_t at every layer: three chains back
    for layer in 1..HIDDEN.len() {
        let w = format!("u.{layer}.W");
        assert_eq!(products_with(&s, &w), (4, 3), "{w}");
    }
    // and each hidden weight's gradient is three products, not four: `δ_tᵀ·h_t` and
    // `(−c·δ_t)ᵀ·h_xx` are `δ_tᵀ·(h_t − c·h_xx)` (`add-matmul-common`)
    assert_eq!(gradient_products(&s), 3 * (HIDDEN.len() - 1));
}

/// Every output of `g` on `opts`'s backend with `binds`.
fn run(g: &Graph, opts: &Options, binds: &[(String, Vec<f64>)]) -> HashMap<String, Vec<f64>> {
    let mut exe = compile(g, opts).expect("compiles");
    for (name, v) in binds {
        exe.set(name, v).expect("binds");
    }
    exe.run().expect("runs");
    (exe.output_names().into_iter().enumerate())
        .map(|(i, n)| (n, exe.output(i)))
        .collect()
}

#[test]
fn the_shared_program_computes_the_same_loss_and_gradient() {
    let (g, binds) = burgers(16);
    let reference = run(&g, &Options::interp(), &binds);
    let cpu = Options::new(Backend::Cranelift, DType::F64, None);
    let out = run(&g, &cpu, &binds);
    for (name, want) in &reference {
        for (k, (w, got)) in want.iter().zip(&out[name]).enumerate() {
            assert!(
                (w - got).abs() <= 1e-12 * (1.0 + w.abs()),
                "{name}[{k}]: {got} against {w}"
            );
        }
    }
    // and the gradient is the loss's: f64 central differences on a few weights of each
    // hidden layer
    let h = 1e-6;
    for (k, (name, values)) in binds
        .iter()
        .enumerate()
        .filter(|(_, b)| b.0.ends_with(".W"))
    {
        let grad = &reference[&format!("g{}", k)];
        for j in (0..values.len()).step_by(13) {
            let at = |d: f64| {
                let mut b = binds.clone();
                b[k].1[j] += d;
                run(&g, &Options::interp(), &b)["loss"][0]
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (fd - grad[j]).abs() <= 1e-7 * (1.0 + fd.abs()),
                "{name}[{j}]: {} against central differences {fd}",
                grad[j]
            );
        }
    }
}
