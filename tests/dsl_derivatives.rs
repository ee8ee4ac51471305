//! The DSL end to end through `nabla::compile`: the motivating case of the README
//! (`examples/dsl_mlp.rs`) and the classic perturbation-confusion cases, checked against
//! closed forms and f64 finite differences.

use nabla::prelude::*;
use std::collections::HashMap;

/// Runs every output of `g` on the interpreter in f64 with `binds`.
fn run(g: &Graph, binds: &[(String, Vec<f64>)]) -> HashMap<String, Vec<f64>> {
    let mut exe = compile(g, &Options::interp()).unwrap();
    for (name, v) in binds {
        exe.set(name, v).unwrap();
    }
    exe.run().unwrap();
    let names = exe.output_names();
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, exe.output(i)))
        .collect()
}

/// The seed case: u(t) = t·NN(t), loss = mean((u' − cos t)²); ∇θ loss by reverse over
/// forward agrees with f64 central differences of the loss to 1e-8 relative.
#[test]
fn seed_case_gradient_matches_central_differences() {
    let ts: Vec<f64> = (0..20).map(|i| 0.1 + i as f64 * 0.1).collect();
    let b = Builder::new();
    let t = b.input("t", ts.len());
    let mlp = Mlp::new(&[1, 12, 12, 12, 1], Act::Tanh);
    let theta = mlp.params(&b, "theta", 0);
    let net = |x| x * theta.apply(x);
    let u_t = diff(net, t);
    let loss = mean(square(u_t - cos(t)));
    let grads = grad(loss, &theta);
    b.output("loss", loss);
    for (k, gk) in grads.iter().enumerate() {
        b.output(&format!("g{k}"), *gk);
    }
    let g = b.finish().unwrap();
    let init = b.initial_params();
    let mut binds: Vec<(String, Vec<f64>)> = init
        .iter()
        .map(|(n, t)| (n.clone(), t.data.clone()))
        .collect();
    binds.push(("t".into(), ts.clone()));
    let out = run(&g, &binds);

    // Loss alone, as a function of the flat parameters, for finite differences.
    let loss_at = |binds: &[(String, Vec<f64>)]| run(&g, binds)["loss"][0];
    let h = 1e-5;
    let mut checked = 0;
    for (k, (name, values)) in init.iter().enumerate() {
        let exact = &out[&format!("g{k}")];
        for j in (0..values.data.len()).step_by(7) {
            let mut plus = binds.clone();
            plus[k].1[j] += h;
            let mut minus = binds.clone();
            minus[k].1[j] -= h;
            let fd = (loss_at(&plus) - loss_at(&minus)) / (2.0 * h);
            let scale = exact[j].abs().max(1e-3);
            assert!(
                (exact[j] - fd).abs() <= 1e-8 * scale.max(1.0) + 1e-9,
                "{name}[{j}]: reverse-over-forward {} vs central difference {fd}",
                exact[j]
            );
            checked += 1;
        }
    }
    assert!(checked > 40);
}

/// Evaluates a scalar-valued program of one input `x` at the given points.
fn eval1(xs: &[f64], f: impl for<'g> Fn(&'g Builder, Var<'g>) -> Var<'g>) -> Vec<f64> {
    let b = Builder::new();
    let x = b.input("x", xs.len());
    let y = f(&b, x);
    b.output("y", y.broadcast_to(&Shape::matrix(xs.len(), 1)));
    let g = b.finish().unwrap();
    run(&g, &[("x".into(), xs.to_vec())])["y"].clone()
}

const XS: [f64; 4] = [-1.5, 0.3, 1.0, 2.0];

#[test]
fn confusion_x_times_d_dy_x_plus_y() {
    // d/dx [x · (d/dy (x + y))|_{y=1}] = 1
    let got = eval1(&XS, |b, x| {
        diff(|x| x * diff(|y| x + y, b.constant(1.0)), x)
    });
    assert!(got.iter().all(|&v| (v - 1.0).abs() < 1e-14), "{got:?}");
}

#[test]
fn confusion_x_times_d_dy_x_times_y() {
    // d/dx [x · (d/dy (x · y))|_{y=2}] = 2x
    let got = eval1(&XS, |b, x| {
        diff(|x| x * diff(|y| x * y, b.constant(2.0)), x)
    });
    for (g, x) in got.iter().zip(XS) {
        assert!((g - 2.0 * x).abs() < 1e-14, "{g} vs {}", 2.0 * x);
    }
}

#[test]
fn confusion_d_dy_of_x_is_zero() {
    // d/dx [x · (d/dy x)|_{y=0}] = 0
    let got = eval1(&XS, |b, x| diff(|x| x * diff(|_y| x, b.constant(0.0)), x));
    assert!(got.iter().all(|&v| v == 0.0), "{got:?}");
}

#[test]
fn confusion_abs_v() {
    // d/dv [v · (d/dy (y · |v|))|_{y=1}] at v = 2 is 4 (= 2|v| for v > 0)
    let got = eval1(&[2.0], |b, v| {
        diff(|v| v * diff(|y| y * abs(v), b.constant(1.0)), v)
    });
    assert!((got[0] - 4.0).abs() < 1e-14, "{got:?}");
}

#[test]
fn nested_derivatives_of_closures() {
    // D_x D_y (x·y) = 1 and D D x³ at 2 = 12, traced as nested closures.
    let mixed = eval1(&XS, |b, x| {
        let y0 = b.constant(0.7);
        diff(|x| diff(|y| x * y, y0), x)
    });
    assert!(mixed.iter().all(|&v| (v - 1.0).abs() < 1e-14));
    let dd = eval1(&[2.0], |_, x| diff(|x| diff(|z| z.powi(3), x), x));
    assert!((dd[0] - 12.0).abs() < 1e-12, "{dd:?}");
}

#[test]
fn every_method_gives_the_same_second_derivative() {
    // d²/dx² sin(x)·exp(x) = 2 cos(x) e^x
    let exact: Vec<f64> = XS.iter().map(|x| 2.0 * x.cos() * x.exp()).collect();
    for (m, tol) in [
        (Method::Forward, 1e-12),
        (Method::Taylor, 1e-12),
        (Method::FiniteDiff(None), 1e-4),
    ] {
        let got = eval1(&XS, |_, x| diff_with(m, 2, |x| sin(x) * exp(x), x));
        for (g, e) in got.iter().zip(&exact) {
            assert!((g - e).abs() <= tol * e.abs().max(1.0), "{m:?}: {g} vs {e}");
        }
    }
}

/// Runs every output of `g` with `opts`.
fn run_with(g: &Graph, binds: &[(String, Vec<f64>)], opts: &Options) -> Vec<Vec<f64>> {
    let mut exe = compile(g, opts).unwrap();
    for (name, v) in binds {
        exe.set(name, v).unwrap();
    }
    exe.run().unwrap();
    (0..exe.output_names().len())
        .map(|i| exe.output(i))
        .collect()
}

/// The JIT computes the same Laplacian-residual loss and gradient as the interpreter:
/// f64 to 1e-12 relative, f32 to 1e-4 relative (of the largest value of each output).
#[test]
fn cpu_backend_agrees_with_the_interpreter_on_loss_and_gradient() {
    let n = 37; // not a multiple of the SIMD width: exercises the scalar tail
    let b = Builder::new();
    let x = b.input("x", n);
    let y = b.input("y", n);
    let u = Mlp::new(&[2, 16, 16, 1], Act::Tanh).params(&b, "u", 1);
    let lap = laplacian(|v| u.apply_to(v), &[x, y]);
    let f = sin(x) * cos(y);
    let loss = mean(square(lap - f));
    b.output("loss", loss);
    for (k, gk) in grad(loss, &u).into_iter().enumerate() {
        b.output(&format!("g{k}"), gk);
    }
    let g = b.finish().unwrap();
    let mut binds: Vec<(String, Vec<f64>)> = b
        .initial_params()
        .into_iter()
        .map(|(n, t)| (n, t.data))
        .collect();
    binds.push((
        "x".into(),
        (0..n).map(|i| (i as f64 * 0.37).sin()).collect(),
    ));
    binds.push((
        "y".into(),
        (0..n).map(|i| (i as f64 * 0.91).cos()).collect(),
    ));
    let reference = run_with(&g, &binds, &Options::interp());
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-4)] {
        let opts = Options {
            backend: Backend::Cranelift,
            dtype,
            ..Options::interp()
        };
        let got = run_with(&g, &binds, &opts);
        for (k, (r, v)) in reference.iter().zip(&got).enumerate() {
            let scale = r.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
            for (a, b) in r.iter().zip(v) {
                assert!(
                    (a - b).abs() <= tol * scale,
                    "{dtype:?} output {k}: {a} vs {b}"
                );
            }
        }
    }
}
