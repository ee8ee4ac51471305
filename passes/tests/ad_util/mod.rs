//! Shared helpers of the AD tests: graph construction the way a closure-tracing front end
//! does it, and evaluation through the interpreter. The seeded generator, leaves and the
//! MLP come from `nabla_ir::testing`.
#![allow(dead_code)]

#[allow(unused_imports)] // each test binary uses its own subset
pub use nabla_ir::testing::{input, mlp, param, Rng};

use nabla_ir::interp::{self, Env};
use nabla_ir::{BinOp, DType, Graph, Method, NodeId, Op, Shape, Tensor, UnOp};
use nabla_passes::ad::{expand, AdOptions};
use nabla_passes::simplify::{simplify, SimplifyOptions};

pub fn tensor(g: &mut Graph, t: &Tensor) -> NodeId {
    let op = Op::Tensor {
        data: t.data.iter().map(|v| nabla_ir::Num::new(*v)).collect(),
        dtype: DType::F64,
        shape: t.shape.clone(),
    };
    g.add(op, &[]).unwrap()
}

pub fn op(g: &mut Graph, op: Op, args: &[NodeId]) -> NodeId {
    g.add(op, args).unwrap()
}

pub fn un(g: &mut Graph, u: UnOp, a: NodeId) -> NodeId {
    g.unary(u, a)
}

pub fn bin(g: &mut Graph, b: BinOp, x: NodeId, y: NodeId) -> NodeId {
    g.binary(b, x, y)
}

pub fn cst(g: &mut Graph, v: f64) -> NodeId {
    g.constant(v, DType::F64)
}

/// `Σ` over every axis: a scalar.
pub fn sum_all(g: &mut Graph, mut x: NodeId) -> NodeId {
    while g.shape(x).rank() > 0 {
        x = op(g, Op::Sum(0), &[x]);
    }
    x
}

pub fn diff(g: &mut Graph, f: NodeId, v: NodeId, order: u8, method: Method) -> NodeId {
    let level = g.fresh_level();
    op(
        g,
        Op::Diff {
            level,
            order,
            method,
        },
        &[f, v],
    )
}

pub fn laplacian(g: &mut Graph, f: NodeId, vs: &[NodeId], method: Method) -> NodeId {
    let level = g.fresh_level();
    let mut args = vec![f];
    args.extend_from_slice(vs);
    op(g, Op::Laplacian { level, method }, &args)
}

pub fn at(g: &mut Graph, f: NodeId, pairs: &[(NodeId, NodeId)]) -> NodeId {
    let mut args = vec![f];
    for (v, a) in pairs {
        args.push(*v);
        args.push(*a);
    }
    op(g, Op::At, &args)
}

/// A fresh level's bound variable of the given shape.
pub fn bound(g: &mut Graph, shape: &Shape) -> (NodeId, nabla_ir::Level) {
    let level = g.fresh_level();
    let op = Op::Bound {
        level,
        index: 0,
        dtype: DType::F64,
        shape: shape.clone(),
    };
    (g.add(op, &[]).unwrap(), level)
}

/// `diff(|z| body(z), x)` as a closure-tracing DSL builds it: `at[diff_L[body(z), z], z, x]`
/// with `z = bound{L}`.
pub fn diff_closure(
    g: &mut Graph,
    x: NodeId,
    order: u8,
    method: Method,
    body: impl FnOnce(&mut Graph, NodeId) -> NodeId,
) -> NodeId {
    let shape = g.shape(x).clone();
    let (z, level) = bound(g, &shape);
    let f = body(g, z);
    let d = op(
        g,
        Op::Diff {
            level,
            order,
            method,
        },
        &[f, z],
    );
    at(g, d, &[(z, x)])
}

/// Expands with `opts` and evaluates the outputs.
///
/// Every AD test that evaluates through here also checks the simplifier: the expanded
/// graph is simplified at each of [`SIMPLIFY_SETTINGS`] and must give the same values
/// (to 1e-9 relative in f64, 1e-6 for finite differences, 1e-4 in f32: the `real_only`
/// rules reassociate, which changes rounding).
pub fn eval_expanded(g: &Graph, opts: &AdOptions, env: &Env) -> Vec<Tensor> {
    let (e, _) = expand(g, opts).unwrap();
    nabla_ir::verify(&e).unwrap();
    let want = eval_plain(&e, env, DType::F64);
    for s in SIMPLIFY_SETTINGS {
        let (simple, report) = simplify(&e, &s);
        nabla_ir::verify(&simple).unwrap();
        let got = eval_plain(&simple, env, DType::F64);
        for ((w, o), (_, id)) in want.iter().zip(&got).zip(e.outputs()) {
            // f32 graphs round every op: reassociation moves results by a few ulps,
            // amplified where derivative terms cancel; a finite-difference stencil
            // amplifies rounding by 1/h² (about 1e8 for a second derivative in f64)
            let fd = matches!(opts.method, Some(Method::FiniteDiff(_)));
            let tol = match (e.dtype(*id), fd) {
                (DType::F32, _) => 1e-4,
                (DType::F64, true) => 1e-6,
                (DType::F64, false) => 1e-9,
            };
            for (a, b) in w.data.iter().zip(&o.data) {
                let close = (a - b).abs() <= tol * (1.0 + a.abs()) || (a.is_nan() && b.is_nan());
                assert!(
                    close,
                    "simplified ({s:?}: {report}) gives {b}, expanded {a}"
                );
            }
        }
    }
    want
}

/// The simplifier limits the AD tests run under: the defaults, limits so tight that
/// saturation stops after two iterations and 500 e-nodes, and exact rules only.
pub const SIMPLIFY_SETTINGS: [SimplifyOptions; 3] = [
    SimplifyOptions {
        node_limit: 50_000,
        iter_limit: 30,
        real_only: true,
        collapse: true,
    },
    SimplifyOptions {
        node_limit: 500,
        iter_limit: 2,
        real_only: true,
        collapse: true,
    },
    SimplifyOptions {
        node_limit: 50_000,
        iter_limit: 30,
        real_only: false,
        collapse: true,
    },
];

/// Evaluates the outputs of a derivative-free graph.
pub fn eval_plain(g: &Graph, env: &Env, prec: DType) -> Vec<Tensor> {
    interp::eval_outputs(g, env, prec)
        .unwrap()
        .into_iter()
        .map(|o| o.1)
        .collect()
}

pub fn env(pairs: &[(&str, Tensor)]) -> Env {
    pairs
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect()
}

/// Random values for the named params of a graph (scaled like Xavier initialisation).
pub fn param_env(g: &Graph, params: &[NodeId], rng: &mut Rng, e: &mut Env) {
    for &p in params {
        let Op::Param { name, shape, .. } = g.op(p) else {
            panic!("not a param")
        };
        let fan_in = if shape.rank() == 2 {
            shape.dims()[1]
        } else {
            1
        };
        let a = (3.0 / fan_in as f64).sqrt();
        e.insert(name.clone(), rng.tensor(shape.dims(), -a, a));
    }
}

/// `|a - b| ≤ tol·max(1, |b|)` elementwise, with a message naming the case.
pub fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let err = (x - y).abs() / y.abs().max(1.0);
        assert!(
            err <= tol,
            "{what}[{i}]: {x} vs reference {y} (error {err:.2e} > {tol:.0e})"
        );
    }
}

/// Central difference of a scalar function.
pub fn central(f: &mut dyn FnMut(f64) -> f64, x: f64, h: f64) -> f64 {
    (f(x + h) - f(x - h)) / (2.0 * h)
}
