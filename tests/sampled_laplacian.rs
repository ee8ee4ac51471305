//! The sampled Laplacian `(1/K) Σₖ sₖᵀ H sₖ` (stochastic Taylor estimator) against closed
//! forms on the f64 interpreter and the JIT: each term is the exact quadratic form along its
//! direction; over all 2^D sign patterns the estimate is the exact Laplacian (the cross
//! terms cancel), and its parameter gradient is the gradient of the estimate.

use nabla::prelude::*;
use std::collections::HashMap;

fn run(g: &Graph, opts: &Options, binds: &[(String, Vec<f64>)]) -> HashMap<String, Vec<f64>> {
    let mut exe = compile(g, opts).unwrap();
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

const PTS: [[f64; 3]; 4] = [
    [0.1, 0.2, 0.3],
    [-0.5, 0.7, 0.25],
    [0.9, -0.4, -0.6],
    [0.3, 0.95, -0.1],
];

/// `f = x²y + sin(x) z³ + yz` and its Hessian.
fn f_and_hessian(p: [f64; 3]) -> [[f64; 3]; 3] {
    let [x, y, z] = p;
    let fxx = 2.0 * y - x.sin() * z.powi(3);
    let fxy = 2.0 * x;
    let fxz = 3.0 * x.cos() * z * z;
    let fzz = 6.0 * x.sin() * z;
    [[fxx, fxy, fxz], [fxy, 0.0, 1.0], [fxz, 1.0, fzz]]
}

/// Every sign pattern of length 3, as probe columns: pattern `k`, variable `i`.
fn patterns() -> Vec<[f64; 3]> {
    (0..8)
        .map(|k| [0, 1, 2].map(|i| if k >> i & 1 == 1 { -1.0 } else { 1.0 }))
        .collect()
}

fn traced(patterns: &[[f64; 3]]) -> (Graph, Vec<(String, Vec<f64>)>) {
    let b = Builder::new();
    let n = PTS.len();
    let names = ["x", "y", "z"];
    let vs: Vec<Var<'_>> = names.iter().map(|s| b.input(s, n)).collect();
    let (x, y, z) = (vs[0], vs[1], vs[2]);
    let f = x * x * y + x.sin() * z.powi(3) + y * z;
    let mut binds: Vec<(String, Vec<f64>)> = (0..3)
        .map(|i| (names[i].to_string(), PTS.iter().map(|p| p[i]).collect()))
        .collect();
    let probes: Vec<Vec<Var<'_>>> = (0..patterns.len())
        .map(|k| {
            (0..3)
                .map(|i| {
                    let name = format!("s{k}.{i}");
                    binds.push((name.clone(), vec![patterns[k][i]; n]));
                    b.input(&name, n)
                })
                .collect()
        })
        .collect();
    b.output("estimate", laplacian_sampled(f, &vs, &probes));
    b.output("exact", laplacian_of(f, &vs));
    (b.finish().unwrap(), binds)
}

fn quadratic(h: [[f64; 3]; 3], s: [f64; 3]) -> f64 {
    (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .map(|(i, j)| s[i] * h[i][j] * s[j])
        .sum()
}

#[test]
fn one_probe_is_the_quadratic_form_along_it() {
    for s in patterns() {
        let (g, binds) = traced(&[s]);
        for opts in [
            Options::interp(),
            Options::new(Backend::Cranelift, DType::F64, None),
        ] {
            let out = run(&g, &opts, &binds);
            for (p, got) in PTS.iter().zip(&out["estimate"]) {
                let want = quadratic(f_and_hessian(*p), s);
                assert!(
                    (got - want).abs() < 1e-12,
                    "{s:?} at {p:?}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn all_sign_patterns_average_to_the_exact_laplacian() {
    let (g, binds) = traced(&patterns());
    let out = run(&g, &Options::interp(), &binds);
    for (i, p) in PTS.iter().enumerate() {
        let h = f_and_hessian(*p);
        let trace = h[0][0] + h[1][1] + h[2][2];
        assert!((out["estimate"][i] - trace).abs() < 1e-12);
        assert!((out["exact"][i] - trace).abs() < 1e-12);
    }
}

/// A problem file with a sampled Laplacian of a known function and of a network.
const FILE: &str = "\
input x in [-1, 1]
input y in [-1, 1]
input z in [-1, 1]
net u(x, y, z) = mlp(widths = [8], act = tanh, seed = 3)
let f = x^2 * y + sin(x) * z^3 + y * z
points inner = interior(16)
residual known on inner = lap(f; sample = 1)
residual partial on inner = lap(f; x, z; sample = 2)
residual net on inner = lap(u; sample = 3) - 1
";

struct Compiled {
    exe: Box<dyn nabla::Executable>,
    rows: Vec<Vec<f64>>,
    names: Vec<String>,
}

impl Compiled {
    fn new(grad: bool) -> Compiled {
        let problem = nabla::frontend::lang::load("s.nabla", FILE)
            .unwrap()
            .problem;
        let sizes = nabla::train::model::sizes(&problem);
        let obj = problem.objective(&sizes, DType::F64, grad).unwrap();
        let mut exe = compile(
            &obj.graph,
            &Options::new(Backend::Cranelift, DType::F64, None),
        )
        .unwrap();
        let sets = problem.sample(7);
        for (set, rows) in &sets {
            nabla::data::bind_points(exe.as_mut(), &problem, set, rows).unwrap();
        }
        let init: Vec<(String, Vec<f64>)> = obj
            .init
            .iter()
            .map(|(n, t)| (n.clone(), t.data.clone()))
            .collect();
        nabla::data::bind_params(exe.as_mut(), init.iter().map(|(n, v)| (n.as_str(), &v[..])))
            .unwrap();
        let names = exe.output_names();
        Compiled {
            exe,
            rows: sets[0].1.clone(),
            names,
        }
    }

    fn output(&mut self, name: &str) -> Vec<f64> {
        let i = self.names.iter().position(|n| n == name).unwrap();
        self.exe.output(i)
    }

    /// Residual `r` with the probe directions of `seed`.
    fn residual(&mut self, r: &str, seed: u64) -> Vec<f64> {
        assert!(nabla::data::bind_probes(self.exe.as_mut(), seed, 0).unwrap());
        self.exe.run().unwrap();
        self.output(&format!("residual.{r}"))
    }
}

/// Over many seeds, the mean estimate converges to the exact Laplacian: at each point the
/// estimate is `tr H + 2 Σ_{i<j} sᵢ sⱼ Hᵢⱼ` with variance `4 Σ_{i<j} Hᵢⱼ²` per direction,
/// so the mean of M draws is within 5 standard errors (a false alarm about once in 1.7
/// million points) of the trace.
#[test]
fn the_estimate_is_unbiased() {
    let mut c = Compiled::new(false);
    let m = 4000;
    let n = c.rows.len();
    let (mut full, mut part) = (vec![0.0; n], vec![0.0; n]);
    let traces: Vec<f64> = (c.rows.iter())
        .map(|r| {
            (0..3)
                .map(|k| f_and_hessian([r[0], r[1], r[2]])[k][k])
                .sum()
        })
        .collect();
    let mut spread: f64 = 0.0;
    for seed in 0..m {
        let a = c.residual("known", seed);
        spread = (a.iter().zip(&traces)).fold(spread, |s, (x, t)| s.max((x - t).abs()));
        let b = c.residual("partial", seed);
        for i in 0..n {
            full[i] += a[i] / m as f64;
            part[i] += b[i] / m as f64;
        }
    }
    // single draws do scatter: the test is not of a constant
    assert!(spread > 0.5, "{spread}");
    for (i, r) in c.rows.iter().enumerate() {
        let h = f_and_hessian([r[0], r[1], r[2]]);
        let off = h[0][1].powi(2) + h[0][2].powi(2) + h[1][2].powi(2);
        let se = (4.0 * off / m as f64).sqrt();
        let trace = h[0][0] + h[1][1] + h[2][2];
        assert!(
            (full[i] - trace).abs() < 5.0 * se + 1e-12,
            "{i}: {} vs {trace} (se {se})",
            full[i]
        );
        // over x and z only, with 2 directions per draw: variance 4 H_xz² / 2 per draw
        let se = (2.0 * h[0][2].powi(2) / m as f64).sqrt();
        let want = h[0][0] + h[2][2];
        assert!(
            (part[i] - want).abs() < 5.0 * se + 1e-12,
            "{i}: {} vs {want}",
            part[i]
        );
    }
}

/// A seed fixes the directions; another seed draws others, and so does another step.
#[test]
fn the_directions_are_reproducible_for_a_seed() {
    let mut c = Compiled::new(false);
    let a = c.residual("net", 11);
    assert_eq!(a, c.residual("net", 11));
    assert_ne!(a, c.residual("net", 12));
    let name = "inner.probe.0.0.x";
    let v = nabla::frontend::problem::probe_values(name, 11, 0, 64);
    assert!(v.iter().all(|s| *s == 1.0 || *s == -1.0));
    assert_ne!(v, nabla::frontend::problem::probe_values(name, 11, 1, 64));
    assert_ne!(
        v,
        nabla::frontend::problem::probe_values("inner.probe.0.1.x", 11, 0, 64)
    );
}

/// The parameter gradient of the loss is the gradient of the estimate (directions fixed):
/// reverse mode over the sampled jets against f64 central differences of the loss.
#[test]
fn the_gradient_is_the_gradient_of_the_estimate() {
    let mut c = Compiled::new(true);
    let seed = 5;
    c.residual("net", seed);
    let grad = c.output("grad.u.0.W");
    let init = c.output("grad.u.0.W").len();
    let problem = nabla::frontend::lang::load("s.nabla", FILE)
        .unwrap()
        .problem;
    let sizes = nabla::train::model::sizes(&problem);
    let obj = problem.objective(&sizes, DType::F64, false).unwrap();
    let w0 = obj
        .init
        .iter()
        .find(|(n, _)| n == "u.0.W")
        .unwrap()
        .1
        .data
        .clone();
    assert_eq!(w0.len(), init);
    let mut plain = Compiled::new(false);
    let h = 1e-6;
    for j in (0..w0.len()).step_by(5) {
        let mut loss_at = |d: f64| {
            let mut w = w0.clone();
            w[j] += d;
            plain.exe.set("u.0.W", &w).unwrap();
            plain.residual("net", seed);
            plain.output("loss")[0]
        };
        let fd = (loss_at(h) - loss_at(-h)) / (2.0 * h);
        assert!(
            (grad[j] - fd).abs() < 1e-6 * fd.abs().max(1.0),
            "W[{j}]: {} vs {fd}",
            grad[j]
        );
    }
}

/// Exact operators stay exact whatever `--derivs` asks: no method turns `lap(u)` into an
/// estimate (no probe leaves in the compiled program), every exact method gives the same
/// loss to rounding, and that loss is the one of f64 central differences (`fd`, truncation
/// ~h² with h = ε^(1/4)) to 1e-6 relative: an independent reference that an estimate,
/// off by its noise, would miss.
#[test]
fn no_derivative_method_estimates_an_exact_operator() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/poisson10d.nabla");
    let src = std::fs::read_to_string(path).unwrap();
    let problem = nabla::frontend::lang::load(path, &src).unwrap().problem;
    let sizes = nabla::train::model::sizes(&problem);
    let obj = problem.objective(&sizes, DType::F64, false).unwrap();
    let mut losses = Vec::new();
    for m in ["auto", "forward", "taylor", "collapsed", "reverse", "fd"] {
        let derivs = nabla::parse_derivs(m).unwrap();
        let opts = Options::new(Backend::Interp, DType::F64, derivs);
        let mut exe = compile(&obj.graph, &opts).unwrap();
        assert!(
            exe.bindings().iter().all(|b| !b.name.contains(".probe.")),
            "{m}"
        );
        for (set, rows) in problem.sample(0) {
            nabla::data::bind_points(exe.as_mut(), &problem, &set, &rows).unwrap();
        }
        let init = obj.init.iter().map(|(n, t)| (n.as_str(), &t.data[..]));
        nabla::data::bind_params(exe.as_mut(), init).unwrap();
        assert!(!nabla::data::bind_probes(exe.as_mut(), 0, 0).unwrap());
        exe.run().unwrap();
        let i = exe.output_names().iter().position(|n| n == "loss").unwrap();
        losses.push(exe.output(i)[0]);
    }
    let fd = losses.pop().unwrap();
    for l in &losses {
        assert!((l - losses[0]).abs() < 1e-9 * losses[0].abs(), "{losses:?}");
    }
    assert!(
        (fd - losses[0]).abs() < 1e-6 * losses[0].abs(),
        "fd {fd} vs {losses:?}"
    );
}

/// Training redraws the directions at every step from the run's seed: with a learning rate
/// of 1e-300 the parameters stay put (to far below the loss's rounding) and the loss still
/// changes from step to step;
/// a run is reproducible for its seed, and another seed draws other directions.
#[test]
fn training_redraws_reproducibly() {
    use nabla::{OptimizerKind, Training};
    let problem = nabla::frontend::lang::load("s.nabla", FILE)
        .unwrap()
        .problem;
    let losses = |seed: u64, lr: f64| -> Vec<f64> {
        let t = Training::new(OptimizerKind::Adam)
            .steps(6)
            .lr(lr)
            .seed(seed);
        let run = nabla::train(&problem, &t).unwrap();
        run.result.history.iter().map(|r| r.loss).collect()
    };
    let frozen = losses(3, 1e-300);
    assert!(frozen.windows(2).all(|w| w[0] != w[1]), "{frozen:?}");
    let a = losses(3, 1e-3);
    assert_eq!(a, losses(3, 1e-3));
    assert_ne!(a, losses(4, 1e-3));
}

/// The trainer adds the loss up itself from per-point squares (so that several processes
/// reproduce one): with sampled operators those are the program's `%square.R` (`r·r′` of
/// two independent traces, not `r²`), and the sum is the program's own `loss` to rounding.
#[test]
fn the_trainer_adds_up_the_programs_loss() {
    use nabla::train::model::Model;
    use nabla::train::Objective;
    let problem = nabla::frontend::lang::load("s.nabla", FILE)
        .unwrap()
        .problem;
    let mut c = Compiled::new(false);
    assert!(nabla::data::bind_probes(c.exe.as_mut(), 7, 0).unwrap());
    c.exe.run().unwrap();
    let want = c.output("loss")[0];
    for r in ["known", "partial", "net"] {
        let sq = c.output(&format!("%square.{r}"));
        let res = c.output(&format!("residual.{r}"));
        let mean = sq.iter().sum::<f64>() / sq.len() as f64;
        let part = c.output(&format!("loss.{r}"))[0];
        assert!(
            (mean - part).abs() <= 1e-13 * part.abs(),
            "{r}: {mean} vs {part}"
        );
        // r·r′ is not r²: the two traces draw their own directions
        assert!(sq
            .iter()
            .zip(&res)
            .any(|(s, r)| (s - r * r).abs() > 1e-6 * s.abs()));
    }
    let opts = Options::new(Backend::Cranelift, DType::F64, None);
    let (mut model, theta, _) = Model::compile(&problem, &opts).unwrap();
    model.bind_points(7).unwrap();
    let mut g = vec![0.0; theta.len()];
    let got = model.eval(&theta, &mut g).unwrap();
    assert!((got - want).abs() <= 1e-13 * want.abs(), "{got} vs {want}");
}
