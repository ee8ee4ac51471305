//! MLP graphs on the Cranelift backend: the forward pass, a hand-built forward-Laplacian
//! (collapsed Taylor) graph and a hand-built reverse-mode gradient, each differential
//! against the interpreter at batch sizes 1, 3, 5, 1023 and, independently, against
//! central finite differences of the compiled forward pass.

mod jit_support;

use jit_support::{check_all, env, leaf, run};
use nabla_backends::cranelift::Options;
use nabla_backends::Executable;
use nabla_ir::testing::{mlp_named, Mlp};
use nabla_ir::{BinOp, DType, Graph, NodeId, Op, Shape, Tensor, UnOp};

const WIDTHS: [usize; 4] = [2, 12, 12, 1];

fn affine(g: &mut Graph, h: NodeId, w: NodeId, b: Option<NodeId>) -> NodeId {
    let z = g.add_or_panic(
        Op::MatMul {
            ta: false,
            tb: true,
        },
        &[h, w],
    );
    match b {
        Some(b) => g.binary(BinOp::Add, z, b),
        None => z,
    }
}

/// The tanh MLP 2 → 12 → 12 → 1 on `x: [n, 2]`, params `W{i}: [out,in]`, `b{i}: [out]`.
fn net(g: &mut Graph, x: NodeId) -> Mlp {
    mlp_named(g, x, &WIDTHS, |l, p| format!("{p}{l}"))
}

fn mlp_forward(n: usize) -> Graph {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[n, 2], false);
    let u = net(&mut g, x).out;
    g.set_output("u", u);
    let sq = g.unary(UnOp::Square, u);
    let loss = g.add_or_panic(Op::Mean(0), &[sq]);
    g.set_output("loss", loss);
    g
}

/// The forward Laplacian: propagates `(h, ∂₁h, ∂₂h, Δh)` through the layers.
/// Linear: `∂ⱼz = ∂ⱼh·Wᵀ`, `Δz = Δh·Wᵀ`. tanh: `t' = 1 − t²`, `t'' = −2t·t'`,
/// `∂ⱼh = t'·∂ⱼz`, `Δh = t'·Δz + t''·Σⱼ(∂ⱼz)²`.
fn laplacian(g: &mut Graph, x: NodeId, ps: &[(NodeId, NodeId)], n: usize) -> (NodeId, NodeId) {
    let unit = |g: &mut Graph, j: usize| {
        let data: Vec<f64> = (0..2).map(|k| if k == j { 1.0 } else { 0.0 }).collect();
        let e = g.tensor(&data, DType::F64, &Shape::new(&[2]));
        g.broadcast(e, &Shape::new(&[n, 2]))
    };
    let mut h = x;
    let mut d = [unit(g, 0), unit(g, 1)];
    let mut lap = g.fill(0.0, DType::F64, &Shape::new(&[n, 2]));
    for (i, &(w, b)) in ps.iter().enumerate() {
        let z = affine(g, h, w, Some(b));
        let dz = [affine(g, d[0], w, None), affine(g, d[1], w, None)];
        let lz = affine(g, lap, w, None);
        if i + 1 == ps.len() {
            return (z, lz);
        }
        let t = g.unary(UnOp::Tanh, z);
        let one = g.constant(1.0, DType::F64);
        let t2 = g.unary(UnOp::Square, t);
        let t1 = g.binary(BinOp::Sub, one, t2);
        let m2 = g.constant(-2.0, DType::F64);
        let tt = g.binary(BinOp::Mul, t, t1);
        let tpp = g.binary(BinOp::Mul, m2, tt);
        d = [
            g.binary(BinOp::Mul, t1, dz[0]),
            g.binary(BinOp::Mul, t1, dz[1]),
        ];
        let s0 = g.unary(UnOp::Square, dz[0]);
        let s1 = g.unary(UnOp::Square, dz[1]);
        let ss = g.binary(BinOp::Add, s0, s1);
        let a = g.binary(BinOp::Mul, t1, lz);
        let c = g.binary(BinOp::Mul, tpp, ss);
        lap = g.binary(BinOp::Add, a, c);
        h = t;
    }
    unreachable!("the last layer returns")
}

fn mlp_laplacian(n: usize) -> Graph {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[n, 2], false);
    let ps = net(&mut g, x).layers;
    let (u, lap) = laplacian(&mut g, x, &ps, n);
    // PDE residual of Δu = f, f = −2π² sin(πx) sin(πy), and its mean square.
    let pi = g.constant(std::f64::consts::PI, DType::F64);
    let px = g.binary(BinOp::Mul, x, pi);
    let s = g.unary(UnOp::Sin, px);
    let s0 = g.slice(s, 1, 0, 1);
    let s1 = g.slice(s, 1, 1, 1);
    let prod = g.binary(BinOp::Mul, s0, s1);
    let k = g.constant(-2.0 * std::f64::consts::PI.powi(2), DType::F64);
    let f = g.binary(BinOp::Mul, k, prod);
    let r = g.binary(BinOp::Sub, lap, f);
    let r2 = g.unary(UnOp::Square, r);
    let loss = g.add_or_panic(Op::Mean(0), &[r2]);
    g.set_output("u", u);
    g.set_output("lap", lap);
    g.set_output("loss", loss);
    g
}

/// Loss `mean((u − y)²)` of a one-hidden-layer net and its gradient by hand-written
/// reverse mode: `ū = 2(u − y)/N`, `W̄₁ = ūᵀ·h`, `h̄ = ū·W₁`, `z̄ = h̄·(1 − h²)`,
/// `W̄₀ = z̄ᵀ·x`, `b̄₀ = Σᵢ z̄`.
fn mlp_gradient(n: usize) -> Graph {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[n, 2], false);
    let y = leaf(&mut g, "y", &[n, 1], false);
    let w0 = leaf(&mut g, "W0", &[12, 2], true);
    let b0 = leaf(&mut g, "b0", &[12], true);
    let w1 = leaf(&mut g, "W1", &[1, 12], true);
    let z = affine(&mut g, x, w0, Some(b0));
    let h = g.unary(UnOp::Tanh, z);
    let u = affine(&mut g, h, w1, None);
    let r = g.binary(BinOp::Sub, u, y);
    let r2 = g.unary(UnOp::Square, r);
    let loss = g.add_or_panic(Op::Mean(0), &[r2]);
    let k = g.constant(2.0 / n as f64, DType::F64);
    let ubar = g.binary(BinOp::Mul, r, k);
    let w1bar = g.add_or_panic(
        Op::MatMul {
            ta: true,
            tb: false,
        },
        &[ubar, h],
    );
    let hbar = g.add_or_panic(
        Op::MatMul {
            ta: false,
            tb: false,
        },
        &[ubar, w1],
    );
    let one = g.constant(1.0, DType::F64);
    let h2 = g.unary(UnOp::Square, h);
    let dh = g.binary(BinOp::Sub, one, h2);
    let zbar = g.binary(BinOp::Mul, hbar, dh);
    let w0bar = g.add_or_panic(
        Op::MatMul {
            ta: true,
            tb: false,
        },
        &[zbar, x],
    );
    let b0bar = g.add_or_panic(Op::Sum(0), &[zbar]);
    for (name, v) in [("loss", loss), ("W0", w0bar), ("b0", b0bar), ("W1", w1bar)] {
        g.set_output(name, v);
    }
    g
}

#[test]
fn mlp_forward_matches_interpreter() {
    check_all(mlp_forward, -1.0, 1.0);
}

#[test]
fn forward_laplacian_matches_interpreter() {
    check_all(mlp_laplacian, -1.0, 1.0);
}

#[test]
fn reverse_gradient_matches_interpreter() {
    check_all(mlp_gradient, -1.0, 1.0);
}

/// Replaces the values of leaf `name` in `e`.
fn with(e: &[(String, Tensor)], name: &str, f: impl Fn(&mut Vec<f64>)) -> Vec<(String, Tensor)> {
    let mut e = e.to_vec();
    let t = &mut e.iter_mut().find(|l| l.0 == name).unwrap().1;
    f(&mut t.data);
    e
}

#[test]
fn compiled_laplacian_agrees_with_finite_differences() {
    let n = 5;
    let lap_g = mlp_laplacian(n);
    let fwd_g = mlp_forward(n);
    let e = env(&lap_g, -1.0, 1.0);
    let o = Options::default();
    let lap = run(&lap_g, &o, &e)[1].clone();
    let h = 1e-3;
    let u = |dx: f64, dy: f64| {
        run(
            &fwd_g,
            &o,
            &with(&e, "x", |x| {
                for p in x.chunks_mut(2) {
                    p[0] += dx;
                    p[1] += dy;
                }
            }),
        )[0]
        .clone()
    };
    let (c, xp, xm, yp, ym) = (u(0.0, 0.0), u(h, 0.0), u(-h, 0.0), u(0.0, h), u(0.0, -h));
    for i in 0..n {
        let fd = (xp[i] + xm[i] + yp[i] + ym[i] - 4.0 * c[i]) / (h * h);
        assert!(
            (fd - lap[i]).abs() < 1e-5 * (1.0 + lap[i].abs()),
            "point {i}: fd {fd} vs {}",
            lap[i]
        );
    }
}

#[test]
fn compiled_gradient_agrees_with_finite_differences() {
    let g = mlp_gradient(7);
    let e = env(&g, -1.0, 1.0);
    let o = Options::default();
    let out = run(&g, &o, &e);
    let h = 1e-6;
    for (name, grad) in [("W0", &out[1]), ("b0", &out[2]), ("W1", &out[3])] {
        for i in [0, 3, grad.len() - 1] {
            let lp = run(&g, &o, &with(&e, name, |v| v[i] += h))[0][0];
            let lm = run(&g, &o, &with(&e, name, |v| v[i] -= h))[0][0];
            let fd = (lp - lm) / (2.0 * h);
            assert!(
                (fd - grad[i]).abs() < 1e-7,
                "{name}[{i}]: fd {fd} vs {}",
                grad[i]
            );
        }
    }
}

/// The three products of a layer 96 or more wide — forward `x·Wᵀ`, back `D·W`, the
/// weight's gradient `Dᵀ·x` and a sum of two gradients formed in place — which run
/// through the AVX-512 panel kernels where the host has AVX-512F (a weight, an input
/// packed once per write; a computed `tanh(x)` packed per product), in f64 and f32, on
/// one and two threads, against the interpreter; widths 100 and 120 end mid-panel and
/// mid-vector. Each executable runs three times with new values written in between
/// (the third time the first's again), so a packed operand left stale by a write
/// shows as a wrong value.
#[test]
fn wide_products_follow_every_write_of_their_operands() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[130, 100], false);
    let d = leaf(&mut g, "D", &[130, 120], false);
    let w = leaf(&mut g, "W", &[120, 100], true);
    let mm = |ta, tb| Op::MatMul { ta, tb };
    let z = g.add_or_panic(mm(false, true), &[x, w]);
    let back = g.add_or_panic(mm(false, false), &[d, w]);
    let grad = g.add_or_panic(mm(true, false), &[d, x]);
    let t = g.unary(UnOp::Tanh, x);
    let other = g.add_or_panic(mm(true, false), &[d, t]);
    let sum = g.binary(BinOp::Add, grad, other);
    // `grad` is no output of its own, so `sum` is formed in place (`+=`)
    for (name, v) in [("z", z), ("back", back), ("sum", sum)] {
        g.set_output(name, v);
    }
    let info = nabla_ir::verify(&g).unwrap();
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-4)] {
        for threads in [1, 2] {
            let opts = Options {
                dtype,
                threads,
                ..Options::default()
            };
            let mut exe = nabla_backends::cranelift::compile(&g, &info, &opts).unwrap();
            let adds = (exe.program().steps.iter())
                .any(|s| matches!(s, nabla_passes::schedule::Step::MatMul(m) if m.accumulate));
            assert!(adds, "the sum of gradients is formed in place");
            for (round, (lo, hi)) in [(-1.0, 1.0), (-0.5, 0.2), (-1.0, 1.0)]
                .into_iter()
                .enumerate()
            {
                let e = env(&g, lo, hi);
                for (name, t) in &e {
                    exe.set(name, &t.data).unwrap();
                }
                exe.run().unwrap();
                let ienv: nabla_ir::interp::Env = e.iter().cloned().collect();
                let want = nabla_ir::interp::eval_outputs(&g, &ienv, DType::F64).unwrap();
                for (o, (name, w)) in want.iter().enumerate() {
                    let got = exe.output(o);
                    assert_eq!(got.len(), w.data.len(), "{name}");
                    for (i, (w, v)) in w.data.iter().zip(&got).enumerate() {
                        assert!(
                            (w - v).abs() <= tol * (1.0 + w.abs()),
                            "{dtype} threads {threads} round {round} {name}[{i}]: {v} against {w}"
                        );
                    }
                }
            }
        }
    }
}

/// A product with no inner extent (`[100, 0]·[0, 100]`, as wide as a panel product) is
/// zero, whatever its result's arena space held before: here the values of an earlier,
/// unrelated `exp` that the memory plan puts at the same place.
#[test]
fn an_empty_wide_product_is_zero() {
    let mut g = Graph::new();
    let x1 = leaf(&mut g, "x1", &[100, 100], false);
    let e1 = g.unary(UnOp::Exp, x1);
    let s = g.add_or_panic(Op::Sum(0), &[e1]);
    g.set_output("s", s);
    let x0 = leaf(&mut g, "x0", &[100, 0], false);
    let w0 = leaf(&mut g, "w0", &[0, 100], true);
    let u = g.unary(UnOp::Exp, x0);
    let mm = Op::MatMul {
        ta: false,
        tb: false,
    };
    let p = g.add_or_panic(mm, &[u, w0]);
    let y = g.unary(UnOp::Tanh, p);
    g.set_output("y", y);
    for dtype in [DType::F64, DType::F32] {
        let opts = Options {
            dtype,
            ..Options::default()
        };
        let got = run(&g, &opts, &env(&g, -1.0, 1.0));
        assert!(
            got[1].iter().all(|&v| v == 0.0),
            "{dtype}: {:?}",
            &got[1][..4]
        );
    }
}
