//! Shared helpers for the simplifier tests: random environments with special values,
//! comparison with tolerances, and hand-built MLP Laplacian graphs. The seeded generator
//! and the leaves come from `nabla_ir::testing`.
#![allow(dead_code)]

#[allow(unused_imports)] // each test binary uses its own subset
pub use nabla_ir::testing::{input, param, Rng};

use nabla_ir::interp::{eval_outputs, Env};
use nabla_ir::testing::leaf_env;
use nabla_ir::{BinOp, DType, Graph, NodeId, Num, Op, Shape, UnOp};
use std::sync::Arc;

/// How leaf values are drawn.
#[derive(Clone, Copy, Debug)]
pub enum Draw {
    /// Magnitudes in [0.3, 2), either sign.
    Mixed,
    /// Values in [0.3, 2).
    Positive,
    /// IEEE special values mixed with ordinary ones.
    Special,
}

/// A value for a leaf.
pub fn draw(rng: &mut Rng, how: Draw) -> f64 {
    const SPECIAL: [f64; 8] = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1.5,
        -0.75,
        1e300,
    ];
    match how {
        Draw::Mixed => {
            let m = rng.uniform(0.3, 2.0);
            if rng.unit() < 0.5 {
                -m
            } else {
                m
            }
        }
        Draw::Positive => rng.uniform(0.3, 2.0),
        Draw::Special => SPECIAL[(rng.unit() * 8.0) as usize],
    }
}

/// Values for every `input` and `param` leaf of `g`.
pub fn random_env(g: &Graph, rng: &mut Rng, how: Draw) -> Env {
    leaf_env(g, |n| (0..n).map(|_| draw(rng, how)).collect())
}

/// Whether two values agree: equal, both NaN, or within `tol` relative to their size.
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// Asserts that `a` and `b` have the same outputs on `env` within `tol`.
pub fn assert_same_outputs(a: &Graph, b: &Graph, env: &Env, tol: f64) {
    let va = eval_outputs(a, env, DType::F64).expect("evaluate first graph");
    let vb = eval_outputs(b, env, DType::F64).expect("evaluate second graph");
    assert_eq!(va.len(), vb.len());
    for ((na, ta), (nb, tb)) in va.iter().zip(&vb) {
        assert_eq!(na, nb);
        assert_eq!(ta.shape, tb.shape, "output {na}");
        for (x, y) in ta.data.iter().zip(&tb.data) {
            assert!(close(*x, *y, tol), "output {na}: {x} vs {y}");
        }
    }
}

/// An MLP `D → H → … → H → 1` with tanh activations, batch `n`.
#[derive(Clone, Copy, Debug)]
pub struct Mlp {
    /// Input dimension (number of Laplacian directions).
    pub dims: usize,
    /// Hidden width.
    pub width: usize,
    /// Hidden layers.
    pub layers: usize,
    /// Batch size.
    pub batch: usize,
}

/// The MLP's leaves: the coordinate inputs concatenated, and `(W, b)` per layer.
struct Net {
    x: NodeId,
    layers: Vec<(NodeId, NodeId)>,
}

fn build_net(g: &mut Graph, m: Mlp) -> Net {
    let coords: Vec<NodeId> = (0..m.dims)
        .map(|j| input(g, &format!("x{j}"), &[m.batch, 1]))
        .collect();
    let x = if m.dims == 1 {
        coords[0]
    } else {
        g.add_or_panic(Op::Concat(1), &coords)
    };
    let mut layers = Vec::new();
    for l in 0..=m.layers {
        let fan_in = if l == 0 { m.dims } else { m.width };
        let out = if l == m.layers { 1 } else { m.width };
        let w = param(g, &format!("u.{l}.W"), &[out, fan_in]);
        let b = param(g, &format!("u.{l}.b"), &[out]);
        layers.push((w, b));
    }
    Net { x, layers }
}

fn nt() -> Op {
    Op::MatMul {
        ta: false,
        tb: true,
    }
}

/// `h · Wᵀ + b`.
fn affine(g: &mut Graph, h: NodeId, (w, b): (NodeId, NodeId)) -> NodeId {
    let z = g.add_or_panic(nt(), &[h, w]);
    g.binary(BinOp::Add, z, b)
}

/// `h · Wᵀ` (tangent coefficients carry no bias).
fn linear(g: &mut Graph, h: NodeId, (w, _): (NodeId, NodeId)) -> NodeId {
    g.add_or_panic(nt(), &[h, w])
}

/// The tanh derivative factors at `z`: `d = 1 − t²` (φ') and `e = −t·d` (φ''/2).
fn tanh_factors(g: &mut Graph, z: NodeId) -> (NodeId, NodeId, NodeId) {
    let t = g.unary(UnOp::Tanh, z);
    let sz = g.shape(z).clone();
    let one = g.fill(1.0, DType::F64, &sz);
    let t2 = g.unary(UnOp::Square, t);
    let d = g.binary(BinOp::Sub, one, t2);
    let td = g.binary(BinOp::Mul, t, d);
    let e = g.unary(UnOp::Neg, td);
    (t, d, e)
}

/// The one-hot seed `e_i` broadcast over the batch: `[n, D]`.
fn seed(g: &mut Graph, m: Mlp, i: usize) -> NodeId {
    let data: Vec<Num> = (0..m.dims)
        .map(|j| Num::new(if i == j { 1.0 } else { 0.0 }))
        .collect();
    let t = g.add_or_panic(
        Op::Tensor {
            data: Arc::from(data),
            dtype: DType::F64,
            shape: Shape::new(&[m.dims]),
        },
        &[],
    );
    g.broadcast(t, &Shape::matrix(m.batch, m.dims))
}

/// The MLP's value `u` alone.
pub fn mlp_value(m: Mlp) -> Graph {
    let mut g = Graph::new();
    let net = build_net(&mut g, m);
    let mut h = net.x;
    for l in 0..m.layers {
        let z = affine(&mut g, h, net.layers[l]);
        h = g.unary(UnOp::Tanh, z);
    }
    let u = affine(&mut g, h, net.layers[m.layers]);
    g.set_output("u", u);
    g
}

/// The standard Taylor-mode Laplacian: one order-2 jet `(h, h₁ᵢ, h₂ᵢ)` per direction
/// `eᵢ` (coefficients in the `f''/2` convention), top coefficients summed at the end:
/// `Δu = Σᵢ 2·u₂ᵢ`.
pub fn taylor_laplacian(m: Mlp) -> Graph {
    let mut g = Graph::new();
    let net = build_net(&mut g, m);
    let zero = g.fill(0.0, DType::F64, &Shape::matrix(m.batch, m.dims));
    let mut h = net.x;
    let mut h1: Vec<NodeId> = (0..m.dims).map(|i| seed(&mut g, m, i)).collect();
    let mut h2: Vec<NodeId> = vec![zero; m.dims];
    for l in 0..m.layers {
        let z = affine(&mut g, h, net.layers[l]);
        let (t, d, e) = tanh_factors(&mut g, z);
        for i in 0..m.dims {
            let z1 = linear(&mut g, h1[i], net.layers[l]);
            let z2 = linear(&mut g, h2[i], net.layers[l]);
            // y₁ = φ'(z)·z₁,  y₂ = φ'(z)·z₂ + (φ''(z)/2)·z₁²
            h1[i] = g.binary(BinOp::Mul, d, z1);
            let a = g.binary(BinOp::Mul, d, z2);
            let sq = g.unary(UnOp::Square, z1);
            let b = g.binary(BinOp::Mul, e, sq);
            h2[i] = g.binary(BinOp::Add, a, b);
        }
        h = t;
    }
    let u = affine(&mut g, h, net.layers[m.layers]);
    let two = {
        let su = g.shape(u).clone();
        g.fill(2.0, DType::F64, &su)
    };
    let mut lap = None;
    for &y2 in &h2 {
        let u2 = linear(&mut g, y2, net.layers[m.layers]);
        let term = g.binary(BinOp::Mul, u2, two);
        lap = Some(match lap {
            None => term,
            Some(acc) => g.binary(BinOp::Add, acc, term),
        });
    }
    g.set_output("u", u);
    g.set_output("lap", lap.expect("at least one direction"));
    g
}

/// The collapsed Taylor (Forward Laplacian) form: first-order coefficients per direction,
/// one summed top coefficient `s` propagated: `s ← φ'(z)·(s·Wᵀ) + (φ''(z)/2)·Σᵢ z₁ᵢ²`.
pub fn collapsed_laplacian(m: Mlp) -> Graph {
    let mut g = Graph::new();
    let net = build_net(&mut g, m);
    let mut h = net.x;
    let mut h1: Vec<NodeId> = (0..m.dims).map(|i| seed(&mut g, m, i)).collect();
    let mut s: Option<NodeId> = None;
    for l in 0..m.layers {
        let z = affine(&mut g, h, net.layers[l]);
        let (t, d, e) = tanh_factors(&mut g, z);
        let mut sq_sum = None;
        for v in h1.iter_mut() {
            let z1 = linear(&mut g, *v, net.layers[l]);
            *v = g.binary(BinOp::Mul, d, z1);
            let sq = g.unary(UnOp::Square, z1);
            sq_sum = Some(match sq_sum {
                None => sq,
                Some(acc) => g.binary(BinOp::Add, acc, sq),
            });
        }
        let curv = g.binary(BinOp::Mul, e, sq_sum.expect("directions"));
        s = Some(match s {
            None => curv,
            Some(s) => {
                let zs = linear(&mut g, s, net.layers[l]);
                let lin = g.binary(BinOp::Mul, d, zs);
                g.binary(BinOp::Add, lin, curv)
            }
        });
        h = t;
    }
    let u = affine(&mut g, h, net.layers[m.layers]);
    let us = linear(&mut g, s.expect("at least one layer"), net.layers[m.layers]);
    let su = g.shape(u).clone();
    let two = g.fill(2.0, DType::F64, &su);
    let lap = g.binary(BinOp::Mul, us, two);
    g.set_output("u", u);
    g.set_output("lap", lap);
    g
}

/// The Laplacian of the MLP by central differences of its value, step `h`.
pub fn fd_laplacian(m: Mlp, env: &Env, h: f64) -> Vec<f64> {
    let g = mlp_value(m);
    let eval = |env: &Env| eval_outputs(&g, env, DType::F64).unwrap()[0].1.data.clone();
    let u0 = eval(env);
    let mut lap = vec![0.0; m.batch];
    for j in 0..m.dims {
        let name = format!("x{j}");
        let shifted = |delta: f64| {
            let mut e = env.clone();
            e.get_mut(&name)
                .unwrap()
                .data
                .iter_mut()
                .for_each(|v| *v += delta);
            eval(&e)
        };
        let (up, down) = (shifted(h), shifted(-h));
        for k in 0..m.batch {
            lap[k] += (up[k] - 2.0 * u0[k] + down[k]) / (h * h);
        }
    }
    lap
}
