//! The DSL traces what it is given: checked against hand-written f64 evaluation.

use nabla_frontend::dsl::*;
use nabla_frontend::nn::{Act, Layer, Mlp, Rng};
use nabla_ir::{interp, DType, Op, Shape, Tensor};
use std::collections::HashMap;

/// Hand-written forward pass of an MLP on one scalar input, in plain f64.
fn mlp_by_hand(layers: &[Layer], act: fn(f64) -> f64, x: f64) -> f64 {
    let mut h = vec![x];
    for (l, layer) in layers.iter().enumerate() {
        let (out, inp) = (layer.w.shape.dims()[0], layer.w.shape.dims()[1]);
        let mut next = vec![0.0; out];
        for (o, v) in next.iter_mut().enumerate() {
            let dot: f64 = (0..inp).map(|i| layer.w.data[o * inp + i] * h[i]).sum();
            *v = dot + layer.b.data[o];
            if l + 1 < layers.len() {
                *v = act(*v);
            }
        }
        h = next;
    }
    h[0]
}

fn env_of(b: &Builder, inputs: &[(&str, Vec<f64>)]) -> interp::Env {
    let mut env: HashMap<String, Tensor> = b.initial_params().into_iter().collect();
    for (name, v) in inputs {
        env.insert(name.to_string(), Tensor::column(v.clone()));
    }
    env
}

#[test]
fn spec_mlp_matches_hand_evaluation() {
    let b = Builder::new();
    let ts: Vec<f64> = (0..100).map(|i| i as f64 / 99.0 * 4.0 - 2.0).collect();
    let t = b.input("t", ts.len());
    let mlp = Mlp::new(&[1, 12, 12, 12, 1], Act::Tanh);
    let theta = mlp.params(&b, "theta", 0);
    let net = |x| x * theta.apply(x);
    let u = net(t);
    b.output("u", u);
    let g = b.finish().unwrap();
    nabla_ir::verify(&g).unwrap();
    let out = interp::eval(&g, &[u.id()], &env_of(&b, &[("t", ts.clone())]), DType::F64).unwrap();
    let layers = mlp.init(0);
    for (i, &x) in ts.iter().enumerate() {
        let want = x * mlp_by_hand(&layers, f64::tanh, x);
        assert!(
            (out[0].data[i] - want).abs() <= 1e-12 * want.abs().max(1.0),
            "point {i}"
        );
    }
}

#[test]
fn glorot_init_is_reproducible_and_scaled() {
    let mlp = Mlp::new(&[2, 64, 64, 1], Act::Tanh);
    assert_eq!(mlp.init(7), mlp.init(7));
    assert_ne!(mlp.init(7), mlp.init(8));
    let layers = mlp.init(3);
    assert_eq!(layers[0].w.shape, Shape::matrix(64, 2));
    assert_eq!(layers[1].b.data, vec![0.0; 64]);
    // Sample variance of the 64x64 layer against Glorot's 2/(64+64).
    let w = &layers[1].w.data;
    let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    assert!((var / (2.0 / 128.0) - 1.0).abs() < 0.1, "variance {var}");
    assert_eq!(mlp.num_params(), 2 * 64 + 64 + 64 * 64 + 64 + 64 + 1);
}

#[test]
fn rng_normals_have_unit_moments() {
    let mut r = Rng::new(42);
    let n = 200_000;
    let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    assert!(
        mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
        "{mean} {var}"
    );
}

#[test]
fn every_activation_matches_its_formula() {
    type Formula = (Act, fn(f64) -> f64);
    let formulas: [Formula; 6] = [
        (Act::Tanh, f64::tanh),
        (Act::Sin, f64::sin),
        (Act::Sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
        (Act::Softplus, |x| (1.0 + x.exp()).ln()),
        (Act::Silu, |x| x / (1.0 + (-x).exp())),
        (Act::Gelu, |x| {
            0.5 * x
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
        }),
    ];
    for (act, f) in formulas {
        let b = Builder::new();
        let x = b.input("x", 5);
        let mlp = Mlp::new(&[1, 3, 1], act);
        let p = mlp.params(&b, "n", 1);
        let y = p.apply(x);
        b.output("y", y);
        let g = b.finish().unwrap();
        let xs = vec![-2.0, -0.5, 0.0, 0.7, 3.0];
        let out =
            interp::eval(&g, &[y.id()], &env_of(&b, &[("x", xs.clone())]), DType::F64).unwrap();
        let layers = mlp.init(1);
        for (i, &x) in xs.iter().enumerate() {
            let want = mlp_by_hand(&layers, f, x);
            assert!((out[0].data[i] - want).abs() < 1e-12, "{act:?} at {x}");
        }
    }
}

#[test]
fn scalars_on_either_side_and_broadcasting() {
    let b = Builder::new();
    let x = b.input("x", 3);
    let y = 2.0 - x * 3.0 + 1.0 / (x + 1.0) - (-x).powi(3);
    b.output("y", y);
    let g = b.finish().unwrap();
    let xs = vec![0.5, 1.0, 2.0];
    let out = interp::eval(&g, &[y.id()], &env_of(&b, &[("x", xs.clone())]), DType::F64).unwrap();
    for (i, &x) in xs.iter().enumerate() {
        let want = 2.0 - x * 3.0 + 1.0 / (x + 1.0) - (-x).powi(3);
        assert!((out[0].data[i] - want).abs() < 1e-15);
    }
}

#[test]
fn shape_errors_are_reported_not_panicked() {
    let b = Builder::new();
    let x = b.input("x", 3);
    let y = b.input("y", 4);
    let _ = x + y;
    let err = b.finish().unwrap_err();
    assert!(err.to_string().contains("do not broadcast"), "{err}");
}

#[test]
fn closures_are_traced_at_fresh_bound_variables() {
    let b = Builder::new();
    let x = b.input("x", 2);
    let d = diff(|z| z * x, x);
    b.output("d", d);
    let g = b.finish().unwrap();
    // diff traces the closure at a bound variable and substitutes x afterwards.
    let ops: Vec<&Op> = g.ids().map(|i| g.op(i)).collect();
    assert!(ops.iter().any(|o| matches!(o, Op::Bound { .. })));
    assert!(matches!(g.op(d.id()), Op::At));
    assert!(nabla_ir::verify(&g).unwrap().has_derivatives());
}

/// A closure of several arguments gets one bound variable per argument: same level, type
/// and shape, told apart by their index, so hash-consing cannot merge `f(x, y)` into
/// `f(t, t)`.
#[test]
fn each_closure_argument_has_its_own_bound_variable() {
    let b = Builder::new();
    let xs = [b.input("x", 2), b.input("y", 2), b.input("z", 2)];
    let lap = laplacian(|v| v[0] * v[1] * v[2], &xs);
    b.output("lap", lap);
    let g = b.finish().unwrap();
    let bound: Vec<(nabla_ir::Level, u32)> = g
        .ids()
        .filter_map(|i| match g.op(i) {
            Op::Bound { level, index, .. } => Some((*level, *index)),
            _ => None,
        })
        .collect();
    assert_eq!(bound.len(), 3, "{bound:?}");
    assert!(bound.iter().all(|(l, _)| *l == bound[0].0));
    let mut idx: Vec<u32> = bound.iter().map(|b| b.1).collect();
    idx.sort();
    assert_eq!(idx, [0, 1, 2]);
}
