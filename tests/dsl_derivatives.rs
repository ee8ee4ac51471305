//! The DSL end to end through `nabla::compile`: the motivating case of the README
//! (`examples/dsl_mlp.rs`) and the classic perturbation-confusion cases, checked against
//! closed forms and f64 finite differences.

mod opencl_check;

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

/// Every exact expansion a derivative can be forced to.
const EXPANSIONS: [Method; 4] = [
    Method::Forward,
    Method::Taylor,
    Method::Collapsed,
    Method::Reverse,
];

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

/// `x.pow(2.0)` and `x.pow(3.0)` at 0 and at a negative base, by every exact method: the
/// real power differentiates through `log x` (NaN at 0 and below), so a whole exponent is
/// the integer power. Closed forms: `d/dx x² = 2x`, `d²/dx² x² = 2`, `d³/dx³ x³ = 6`, and
/// `Δ (x² + y²)²` = `16 (x² + y²)` (0 at the origin).
#[test]
fn whole_real_powers_differentiate_at_zero_and_below() {
    let xs = [0.0, 0.5, -0.5];
    let methods = [
        Method::Auto,
        Method::Forward,
        Method::Taylor,
        Method::Collapsed,
        Method::Reverse,
    ];
    for m in methods {
        let d1 = eval1(&xs, |_, x| diff_with(m, 1, |x| x.pow(2.0), x));
        let d2 = eval1(&xs, |_, x| diff_with(m, 2, |x| x.pow(2.0), x));
        let d3 = eval1(&xs, |_, x| diff_with(m, 3, |x| x.pow(3.0), x));
        assert_eq!(d1, vec![0.0, 1.0, -1.0], "{m:?}");
        assert_eq!(d2, vec![2.0; 3], "{m:?}");
        assert_eq!(d3, vec![6.0; 3], "{m:?}");
    }
    let b = Builder::new();
    let x = b.input("x", 2);
    let y = b.input("y", 2);
    b.output("lap", laplacian_of((x * x + y * y).pow(2.0), &[x, y]));
    b.output("v", x.pow(2.0));
    let g = b.finish().unwrap();
    let out = run(
        &g,
        &[("x".into(), vec![0.0, 0.5]), ("y".into(), vec![0.0, -1.0])],
    );
    assert_eq!(out["lap"], vec![0.0, 16.0 * 1.25]);
    assert_eq!(out["v"], vec![0.0, 0.25]);
    // a power that is not whole keeps the real power (NaN below 0, as `powf`)
    let half = eval1(&[-0.5, 4.0], |_, x| x.pow(0.5));
    assert!(half[0].is_nan() && half[1] == 2.0, "{half:?}");
}

/// A real power differentiated with its exponent held: `d/dx x^1.5`, `d²/dx² x^2.5`,
/// `d³/dx³ x^3.5` at 0 are 0 and `Δ(x² + y²)^2.5` at the origin is 0 with every method,
/// interpreted and compiled. Taylor and collapsed mode took `aᵇ` as `exp(b·log a)`, whose
/// `log` jet is infinite at 0 and its product with `aᵇ = 0` NaN (also at `x = 1e-300`,
/// where `aᵇ` underflows). Closed forms: `c·x^0.5` and `25·ρ³`.
#[test]
fn real_powers_with_a_held_exponent_differentiate_at_zero() {
    let xs: [f64; 3] = [0.0, 0.25, 1e-300];
    let root = |c: f64| xs.map(|x| c * x.sqrt());
    let wants = [root(1.5), root(3.75), root(13.125)];
    let lap_want = [0.0, 25.0 * 1.0625f64.powf(1.5), 0.0];
    for m in std::iter::once(Method::Auto).chain(EXPANSIONS) {
        let b = Builder::new();
        let x = b.input("x", xs.len());
        let y = b.input("y", xs.len());
        b.output("d1", diff_with(m, 1, |x| x.pow(1.5), x));
        b.output("d2", diff_with(m, 2, |x| x.pow(2.5), x));
        b.output("d3", diff_with(m, 3, |x| x.pow(3.5), x));
        b.output(
            "lap",
            laplacian_of_with(m, (x * x + y * y).pow(2.5), &[x, y]),
        );
        let g = b.finish().unwrap();
        let binds = [
            ("x".to_string(), xs.to_vec()),
            ("y".to_string(), vec![0.0, -1.0, 0.0]),
        ];
        for backend in [Backend::Interp, Backend::Cranelift] {
            let opts = Options::new(backend, DType::F64, None);
            let mut exe = compile(&g, &opts).unwrap();
            for (name, v) in &binds {
                exe.set(name, v).unwrap();
            }
            exe.run().unwrap();
            for (i, want) in wants.iter().enumerate() {
                let got = exe.output(i);
                for (g, w) in got.iter().zip(want) {
                    let ok = (g - w).abs() <= 1e-13 * w.abs().max(1e-300);
                    assert!(ok, "{m:?} d{}: {got:?} against {want:?}", i + 1);
                }
            }
            let lap = exe.output(3);
            let close = lap.iter().zip(lap_want).all(|(l, w)| (l - w).abs() < 1e-12);
            assert!(close, "{m:?}: {lap:?} against {lap_want:?}");
        }
    }
}

/// The derivative of `x^k` in its exponent at `x = 0` is 0 (there `x^k = 0` for every
/// `k > 0` near the point) — in the gradient of a loss with respect to a `param k` (an
/// inverse problem's exponent, a collocation point at the origin) and in `d/dy x^(y+1)`.
/// It was `0·log 0`, NaN, which made the whole gradient NaN. Closed form of the loss
/// `mean(x^k + d/dx x^k)`: `∂/∂k = mean(x^k log x + x^(k−1) (1 + k log x))`, 0 at `x = 0`.
#[test]
fn an_exponent_derivative_at_base_zero_is_zero() {
    let xs = [0.0, 0.5, 0.9];
    let k0 = 2.5;
    let term = |x: f64| match x {
        0.0 => 0.0,
        x => x.powf(k0) * x.ln() + x.powf(k0 - 1.0) * (1.0 + k0 * x.ln()),
    };
    let want = xs.iter().map(|&x| term(x)).sum::<f64>() / 3.0;
    for m in EXPANSIONS {
        let b = Builder::new();
        let x = b.input("x", xs.len());
        let y = b.input("y", xs.len());
        let k = b.param("k", nabla::ir::Tensor::scalar(k0));
        let loss = mean(x.pow(k) + diff_with(m, 1, |x| x.pow(k), x));
        b.output("dk", grad(loss, &[k])[0]);
        // the exponent varies with y; forward and reverse mode (the taylor and collapsed
        // expansions take aᵇ as exp(b·log a) and are NaN there)
        if matches!(m, Method::Forward | Method::Reverse) {
            b.output("dy", diff_with(m, 1, |y| x.pow(y + 1.0), y));
        }
        let g = b.finish().unwrap();
        let binds = [
            ("x".to_string(), xs.to_vec()),
            ("y".to_string(), vec![0.5; 3]),
            ("k".to_string(), vec![k0]),
        ];
        for backend in [Backend::Interp, Backend::Cranelift] {
            let out = run_with(&g, &binds, &Options::new(backend, DType::F64, None));
            let dk = out[0][0];
            assert!(
                (dk - want).abs() <= 1e-13 * want.abs(),
                "{m:?}: {dk} against {want}"
            );
            if let Some(dy) = out.get(1) {
                // x^1.5 log x: 0 at the origin
                let want = xs.map(|x| match x {
                    0.0 => 0.0,
                    x => x.powf(1.5) * x.ln(),
                });
                let ok = dy.iter().zip(&want).all(|(g, w)| (g - w).abs() <= 1e-14);
                assert!(ok, "{m:?}: {dy:?} against {want:?}");
            }
        }
    }
}

/// A per-point Jacobian is with respect to parameters: asked for an input (which it gave
/// as zeros), compiling says so.
#[test]
fn a_jacobian_with_respect_to_an_input_is_refused() {
    let b = Builder::new();
    let x = b.input("x", 3);
    b.output("j", jacobian(x * x, &[x])[0]);
    let g = b.finish().unwrap();
    let e = compile(&g, &Options::interp())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("`x` is an input") && e.contains("parameters"),
        "{e}"
    );
}

/// The first error `finish` reports for a program traced by `f`.
fn traced_error(f: impl for<'g> Fn(&'g Builder, Var<'g>, Var<'g>)) -> String {
    let b = Builder::new();
    let x = b.input("x", 2);
    let y = b.input("y", 2);
    f(&b, x, y);
    b.finish().expect_err("an error").to_string()
}

/// Values of another builder, lists that do not match, a variable or an output name given
/// twice: errors at `finish`, where they computed something else (`x + w` took the node of
/// `w`'s id in this graph, `jvp` and the sampled Laplacian dropped terms, `at` kept the
/// last value, a second output replaced the first).
#[test]
fn misused_operators_are_errors_not_other_numbers() {
    let other = Builder::new();
    let _z = other.input("z", 2);
    let w = other.input("w", 2);
    let foreign = |what: &str, e: String| {
        assert!(e.contains(what) && e.contains("another Builder"), "{e}");
    };
    foreign("add", traced_error(|b, x, _| b.output("o", x + w)));
    foreign("output `o`", traced_error(|b, _, _| b.output("o", w)));
    foreign(
        "partial",
        traced_error(|b, x, _| b.output("o", partial(x * x, w))),
    );
    foreign(
        "grad",
        traced_error(|b, x, _| b.output("o", grad((x * x).sum(), &[w])[0])),
    );
    foreign(
        "diff",
        traced_error(|b, x, _| b.output("o", diff(|_| w, x))),
    );
    foreign(
        "matmul",
        traced_error(|b, x, _| b.output("o", x.matmul(w, true, false))),
    );
    foreign(
        "concat",
        traced_error(|b, x, _| b.output("o", concat(&[x, w], 1))),
    );
    // a node id beyond this graph's (it indexed the graph out of bounds: a panic)
    let big = Builder::new();
    let far = (0..5).fold(big.input("v", 2), |v, _| v * 2.0);
    foreign("pow", traced_error(|b, x, _| b.output("o", x.pow(far))));
    let usage = |want: &str, e: String| assert!(e.contains(want), "{e}");
    usage(
        "jvp: 2 variables and 1 tangents",
        traced_error(|b, x, y| b.output("o", jvp(x * y, &[x, y], &[x]))),
    );
    usage(
        "a probe has 1 entries for 2 variables",
        traced_error(|b, x, y| {
            let s = b.constant(1.0);
            b.output("o", laplacian_sampled(x * x + y * y, &[x, y], &[vec![s]]))
        }),
    );
    usage(
        "no probe directions",
        traced_error(|b, x, y| b.output("o", laplacian_sampled(x * y, &[x, y], &[]))),
    );
    usage(
        "is listed twice",
        traced_error(|b, x, _| b.output("o", laplacian_of(x.powi(3), &[x, x]))),
    );
    usage(
        "at: variable",
        traced_error(|b, x, _| b.output("o", at(x * x, &[(x, x + 1.0), (x, x + 2.0)]))),
    );
    usage(
        "output `o`: named twice",
        traced_error(|b, x, y| {
            b.output("o", x);
            b.output("o", y)
        }),
    );
    usage(
        "jvp: 0 variables",
        traced_error(|b, x, _| b.output("o", jvp(x, &[], &[]))),
    );
}

/// `output` before any run, or past the last output: the same panic on every backend,
/// saying which (the interpreter panicked on an index, the JIT returned zeros).
#[test]
fn reading_an_output_before_a_run_or_past_the_last_panics_alike_everywhere() {
    let b = Builder::new();
    let x = b.input("x", 2);
    b.output("o", x * x + 1.0);
    let g = b.finish().unwrap();
    let cpu = Options::new(Backend::Cranelift, DType::F64, None);
    let mut backends = vec![Options::interp(), cpu];
    if opencl_check::opencl_available() {
        backends.push(Options::new(Backend::OpenCl, DType::F64, None));
    }
    for opts in backends {
        let mut exe = compile(&g, &opts).unwrap();
        exe.set("x", &[0.3, 0.7]).unwrap();
        let message = |r: std::thread::Result<Vec<f64>>| -> String {
            let e = r.expect_err("a panic");
            (e.downcast_ref::<String>().cloned())
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        };
        let before = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exe.output(0)));
        assert_eq!(message(before), "output 0 read before the program has run");
        exe.run().unwrap();
        assert_eq!(exe.output(0), vec![1.09, 1.49]);
        let past = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exe.output(1)));
        assert_eq!(
            message(past),
            "output 1 asked for: the program has 1 outputs"
        );
    }
}
