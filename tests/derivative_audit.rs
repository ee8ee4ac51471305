//! An audit of every derivative entry point — the DSL's `diff`, `diff_n`, `partial`,
//! `laplacian`, `laplacian_of`, `hessian`, `jvp`, `grad`, `at` and net application with
//! explicit arguments, and the problem language's `d`, `lap` and `at` — against f64 central
//! differences of an independent evaluation.
//!
//! The functions have two and three inputs, evaluated at points whose coordinates all
//! differ, so an operator that merged its variables (traced `u(x, y)` as `u(t, t)`) or
//! differentiated along the wrong one cannot agree by accident. The reference is a plain
//! Rust forward pass of the same MLP (the weights `Mlp::init` draws), differenced in f64:
//! it shares no code with the compiler beyond the initial weights.
//!
//! Tolerances: first derivatives by central differences with h = 1e-5 are accurate to about
//! h²·|u'''| + ε/h ≈ 1e-10; second derivatives with h = 1e-4 to about 1e-7 (ε/h² dominates).
//! Every comparison allows 1e-6 relative to max(1, |value|), a thousand times tighter than
//! the errors a merged variable produces (the closure Laplacian was off by 0.3 on 0.06).

use nabla::frontend::lang;
use nabla::frontend::nn::Layer;
use nabla::prelude::*;
use proptest::prelude::*;
use std::collections::HashMap;

/// Points with distinct coordinates in every row and column.
const PTS2: [[f64; 2]; 3] = [[0.1, 0.3], [0.5, -0.45], [0.9, 0.7]];
const PTS3: [[f64; 3]; 3] = [[0.1, 0.3, -0.2], [0.55, -0.45, 0.15], [-0.9, 0.7, 0.4]];

const TOL: f64 = 1e-6;

/// A plain f64 forward pass of an MLP whose weights are `layers` (`W[out][in]`, tanh).
fn mlp_ref(layers: &[Layer], x: &[f64]) -> f64 {
    let mut h = x.to_vec();
    for (l, layer) in layers.iter().enumerate() {
        let (out, inp) = (layer.w.shape.dims()[0], layer.w.shape.dims()[1]);
        let mut next: Vec<f64> = (0..out)
            .map(|o| {
                layer.b.data[o]
                    + (0..inp)
                        .map(|i| layer.w.data[o * inp + i] * h[i])
                        .sum::<f64>()
            })
            .collect();
        if l + 1 < layers.len() {
            next.iter_mut().for_each(|v| *v = v.tanh());
        }
        h = next;
    }
    h[0]
}

/// `∂f/∂x_i` by central differences, h = 1e-5.
fn fd1(f: &dyn Fn(&[f64]) -> f64, x: &[f64], i: usize) -> f64 {
    let h = 1e-5;
    let at = |d: f64| {
        let mut p = x.to_vec();
        p[i] += d;
        f(&p)
    };
    (at(h) - at(-h)) / (2.0 * h)
}

/// `∂²f/∂x_i∂x_j` by central differences, h = 1e-4 (the 3-point stencil when i = j).
fn fd2(f: &dyn Fn(&[f64]) -> f64, x: &[f64], i: usize, j: usize) -> f64 {
    let h = 1e-4;
    let at = |di: f64, dj: f64| {
        let mut p = x.to_vec();
        p[i] += di;
        p[j] += dj;
        f(&p)
    };
    if i == j {
        (at(h, 0.0) - 2.0 * f(x) + at(-h, 0.0)) / (h * h)
    } else {
        (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4.0 * h * h)
    }
}

/// `Σᵢ ∂²f/∂xᵢ²` by central differences.
fn fd_lap(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> f64 {
    (0..x.len()).map(|i| fd2(f, x, i, i)).sum()
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= TOL * w.abs().max(1.0),
            "{what} at point {k}: nabla {g} vs central differences {w}"
        );
    }
}

/// A DSL program over `D` inputs `x0, x1, ...` at `pts`, with a tanh MLP `D-16-16-1` of
/// `seed`: `body` returns the outputs to check; the result holds their values per point.
struct Case<const D: usize> {
    pts: Vec<[f64; D]>,
    mlp: Mlp,
    seed: u64,
}

impl<const D: usize> Case<D> {
    fn new(pts: &[[f64; D]], seed: u64) -> Self {
        Case {
            pts: pts.to_vec(),
            mlp: Mlp::new(&[D, 16, 16, 1], Act::Tanh),
            seed,
        }
    }

    /// The reference network as a plain function.
    fn u(&self) -> impl Fn(&[f64]) -> f64 {
        let layers = self.mlp.init(self.seed);
        move |x: &[f64]| mlp_ref(&layers, x)
    }

    /// Traces `body(net, inputs)` and evaluates every output it names on the interpreter.
    fn run(
        &self,
        body: impl for<'g> Fn(&MlpParams<'g>, &[Var<'g>]) -> Vec<(&'static str, Var<'g>)>,
    ) -> HashMap<String, Vec<f64>> {
        let b = Builder::new();
        let n = self.pts.len();
        let xs: Vec<Var<'_>> = (0..D).map(|i| b.input(&format!("x{i}"), n)).collect();
        let net = self.mlp.params(&b, "u", self.seed);
        for (name, v) in body(&net, &xs) {
            b.output(name, v.broadcast_to(&Shape::matrix(n, 1)));
        }
        let g = b.finish().expect("traces");
        let mut exe = compile(&g, &Options::interp()).expect("compiles");
        for (name, t) in b.initial_params() {
            exe.set(&name, &t.data).unwrap();
        }
        for i in 0..D {
            let col: Vec<f64> = self.pts.iter().map(|p| p[i]).collect();
            exe.set(&format!("x{i}"), &col).unwrap();
        }
        exe.run().unwrap();
        let names = exe.output_names();
        (names.into_iter().enumerate())
            .map(|(i, n)| (n, exe.output(i)))
            .collect()
    }

    /// The reference `f` at every point.
    fn want(&self, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
        self.pts.iter().map(|p| f(p)).collect()
    }
}

/// The Laplacian of a 2-D and a 3-D net through every DSL form and every exact method.
#[test]
fn laplacian_forms_agree_with_central_differences() {
    let exact = Method::EXACT;
    fn check<const D: usize>(pts: &[[f64; D]], methods: &[Method]) {
        let c = Case::new(pts, 7);
        let u = c.u();
        let want = c.want(|p| fd_lap(&u, p));
        for &m in methods {
            let out = c.run(|net, xs| {
                let body = net.apply_to(xs);
                vec![
                    ("closure", laplacian_with(m, |v| net.apply_to(v), xs)),
                    ("of", laplacian_of_with(m, body, xs)),
                ]
            });
            assert_close(&format!("laplacian {D}-D {m:?}"), &out["closure"], &want);
            assert_close(&format!("laplacian_of {D}-D {m:?}"), &out["of"], &want);
        }
    }
    check(&PTS2, &exact);
    check(&PTS3, &exact);
    // 20 inputs: the collapsed Laplacian stacks its tangents (16 or more variables)
    let pts20: Vec<[f64; 20]> = (0..3)
        .map(|p| std::array::from_fn(|i| ((p * 20 + i) as f64 * 0.37).sin() * 0.8))
        .collect();
    check(&pts20, &exact);
}

/// Over 20 inputs the closure's arguments in reverse order: the concatenated inputs are
/// not the seeded variables in order, so the stacked expansion keeps one tangent per
/// direction through the network instead of taking the rows of `Wᵀ` (the same Laplacian
/// either way).
#[test]
fn stacked_closure_laplacian_with_permuted_arguments() {
    let pts: Vec<[f64; 20]> = (0..3)
        .map(|p| std::array::from_fn(|i| ((p * 20 + i) as f64 * 0.53).cos() * 0.7))
        .collect();
    let c = Case::new(&pts, 5);
    let u = c.u();
    let want = c.want(|p| fd_lap(&u, p));
    for m in [Method::Collapsed, Method::Taylor] {
        let out = c.run(|net, xs| {
            let rev: Vec<_> = xs.iter().rev().copied().collect();
            vec![(
                "rev",
                laplacian_with(
                    m,
                    |v| net.apply_to(&v.iter().rev().copied().collect::<Vec<_>>()),
                    &rev,
                ),
            )]
        });
        assert_close(&format!("reversed 20-D {m:?}"), &out["rev"], &want);
    }
}

/// The closure Laplacian over a subset of the inputs (`Δ_{x,z}` in 3-D) and with the
/// closure's arguments in another order than the inputs.
#[test]
fn closure_laplacian_over_some_inputs_and_permuted_arguments() {
    let c = Case::new(&PTS3, 11);
    let u = c.u();
    let want_xz = c.want(|p| fd2(&u, p, 0, 0) + fd2(&u, p, 2, 2));
    let want_all = c.want(|p| fd_lap(&u, p));
    let out = c.run(|net, xs| {
        let (x, y, z) = (xs[0], xs[1], xs[2]);
        vec![
            ("xz", laplacian(|v| net.apply_to(&[v[0], y, v[1]]), &[x, z])),
            (
                "perm",
                laplacian(|v| net.apply_to(&[v[2], v[0], v[1]]), &[y, z, x]),
            ),
        ]
    });
    assert_close("Δ_xz", &out["xz"], &want_xz);
    assert_close("Δ with permuted arguments", &out["perm"], &want_all);
}

/// First and second derivatives along each input of a 2-D and a 3-D net: closure (`diff`,
/// `diff_n`) and expression (`partial`, `partial_with`) forms.
#[test]
fn pure_derivatives_along_each_input() {
    fn check<const D: usize>(pts: &[[f64; D]]) {
        let c = Case::new(pts, 3);
        let u = c.u();
        for i in 0..D {
            let out = c.run(|net, xs| {
                let with = |s| {
                    let mut a = xs.to_vec();
                    a[i] = s;
                    a
                };
                let e = net.apply_to(xs);
                vec![
                    ("diff", diff(|s| net.apply_to(&with(s)), xs[i])),
                    ("diff_n", diff_n(2, |s| net.apply_to(&with(s)), xs[i])),
                    ("partial", partial(e, xs[i])),
                    ("partial2", partial_with(Method::Auto, 2, e, xs[i])),
                ]
            });
            let d1 = c.want(|p| fd1(&u, p, i));
            let d2 = c.want(|p| fd2(&u, p, i, i));
            assert_close(&format!("diff x{i} ({D}-D)"), &out["diff"], &d1);
            assert_close(&format!("diff_n x{i} ({D}-D)"), &out["diff_n"], &d2);
            assert_close(&format!("partial x{i} ({D}-D)"), &out["partial"], &d1);
            assert_close(&format!("partial² x{i} ({D}-D)"), &out["partial2"], &d2);
        }
    }
    check(&PTS2);
    check(&PTS3);
}

/// Every entry of the 3-D Hessian, and the mixed partial by nested closures.
#[test]
fn hessian_and_nested_closures() {
    let c = Case::new(&PTS3, 5);
    let u = c.u();
    const NAMES: [[&str; 3]; 3] = [
        ["h00", "h01", "h02"],
        ["h10", "h11", "h12"],
        ["h20", "h21", "h22"],
    ];
    let out = c.run(|net, xs| {
        let h = hessian(net.apply_to(xs), xs);
        let (x, y, z) = (xs[0], xs[1], xs[2]);
        let nested = diff(|s| diff(|t| net.apply_to(&[s, y, t]), z), x);
        let mut v: Vec<(&'static str, Var<'_>)> = vec![("nested_xz", nested)];
        for i in 0..3 {
            for j in 0..3 {
                v.push((NAMES[i][j], h[i][j]));
            }
        }
        v
    });
    for i in 0..3 {
        for j in 0..3 {
            let want = c.want(|p| fd2(&u, p, i, j));
            assert_close(&format!("hessian[{i}][{j}]"), &out[NAMES[i][j]], &want);
        }
    }
    assert_close(
        "d/dx d/dz",
        &out["nested_xz"],
        &c.want(|p| fd2(&u, p, 0, 2)),
    );
}

/// `jvp`, `grad` with respect to inputs (per-point adjoints of a sum), and `at`.
#[test]
fn jvp_grad_and_at() {
    let c = Case::new(&PTS2, 9);
    let u = c.u();
    let out = c.run(|net, xs| {
        let (x, y) = (xs[0], xs[1]);
        let e = net.apply_to(xs);
        let t = [x * 0.0 + 0.7, y * 0.0 - 1.3];
        let g = grad(e.sum(), &[x, y]);
        vec![
            ("jvp", jvp(e, xs, &t)),
            ("grad_x", g[0]),
            ("grad_y", g[1]),
            // u_y(x, x²): the derivative first, then the substitution.
            ("at", at(partial(e, y), &[(y, x * x)])),
            // Simultaneous substitution: u(y, x) by swapping.
            ("swap", at(e, &[(x, y), (y, x)])),
        ]
    });
    let jv = c.want(|p| 0.7 * fd1(&u, p, 0) - 1.3 * fd1(&u, p, 1));
    assert_close("jvp", &out["jvp"], &jv);
    assert_close("grad x", &out["grad_x"], &c.want(|p| fd1(&u, p, 0)));
    assert_close("grad y", &out["grad_y"], &c.want(|p| fd1(&u, p, 1)));
    let at = c.want(|p| fd1(&u, &[p[0], p[0] * p[0]], 1));
    assert_close("at(u_y; y = x²)", &out["at"], &at);
    assert_close("at swap", &out["swap"], &c.want(|p| u(&[p[1], p[0]])));
}

/// A net applied at explicit arguments, and differentiated through them (chain rule).
#[test]
fn net_application_with_explicit_arguments() {
    let c = Case::new(&PTS2, 13);
    let u = c.u();
    let out = c.run(|net, xs| {
        let (x, y) = (xs[0], xs[1]);
        vec![
            ("value", net.apply_to(&[x * 2.0, y + 1.0])),
            // d/dx u(x², y) = 2x·u_0(x², y)
            ("chain", diff(|s| net.apply_to(&[s * s, y]), x)),
            // d²/dy² u(y, x) = u_00(y, x)
            ("swapped", diff_n(2, |s| net.apply_to(&[s, x]), y)),
            // Δ of v(x, y) = u(x + y, x − y): 2·(u_00 + u_11)
            (
                "rotated",
                laplacian(|v| net.apply_to(&[v[0] + v[1], v[0] - v[1]]), xs),
            ),
        ]
    });
    assert_close(
        "u(2x, y+1)",
        &out["value"],
        &c.want(|p| u(&[2.0 * p[0], p[1] + 1.0])),
    );
    let chain = c.want(|p| 2.0 * p[0] * fd1(&u, &[p[0] * p[0], p[1]], 0));
    assert_close("d/dx u(x², y)", &out["chain"], &chain);
    assert_close(
        "d²/dy² u(y, x)",
        &out["swapped"],
        &c.want(|p| fd2(&u, &[p[1], p[0]], 0, 0)),
    );
    let rot = c.want(|p| {
        let q = [p[0] + p[1], p[0] - p[1]];
        2.0 * fd_lap(&u, &q)
    });
    assert_close("Δ u(x+y, x−y)", &out["rotated"], &rot);
}

/// The parameter gradient of a loss built on the closure Laplacian, against central
/// differences of the loss in the parameters.
#[test]
fn parameter_gradient_through_the_closure_laplacian() {
    let c = Case::new(&PTS3, 17);
    let b = Builder::new();
    let xs: Vec<Var<'_>> = (0..3).map(|i| b.input(&format!("x{i}"), 3)).collect();
    let net = c.mlp.params(&b, "u", c.seed);
    let loss = mean(square(laplacian(|v| net.apply_to(v), &xs) - 1.0));
    let g = grad(loss, &net);
    b.output("loss", loss);
    b.output("g0", g[0]);
    let graph = b.finish().unwrap();
    let mut binds: Vec<(String, Vec<f64>)> = b
        .initial_params()
        .into_iter()
        .map(|(n, t)| (n, t.data))
        .collect();
    for i in 0..3 {
        binds.push((format!("x{i}"), c.pts.iter().map(|p| p[i]).collect()));
    }
    let run = |binds: &[(String, Vec<f64>)]| {
        let mut exe = compile(&graph, &Options::interp()).unwrap();
        for (n, v) in binds {
            exe.set(n, v).unwrap();
        }
        exe.run().unwrap();
        (exe.output(0), exe.output(1))
    };
    // The loss's reference: the Laplacian by differences of the plain network, so the
    // gradient check does not lean on the operator it is checking.
    let loss_ref = |w0: &[f64]| {
        let mut layers = c.mlp.init(c.seed);
        layers[0].w.data = w0.to_vec();
        let u = |x: &[f64]| mlp_ref(&layers, x);
        c.pts
            .iter()
            .map(|p| (fd_lap(&u, p) - 1.0).powi(2))
            .sum::<f64>()
            / 3.0
    };
    let (loss_v, g0) = run(&binds);
    let w0 = binds[0].1.clone();
    assert!((loss_v[0] - loss_ref(&w0)).abs() <= 1e-6 * loss_v[0].abs().max(1.0));
    let h = 1e-5;
    for j in [0, 5, 17, 40] {
        let (mut p, mut m) = (binds.clone(), binds.clone());
        p[0].1[j] += h;
        m[0].1[j] -= h;
        let fd = (run(&p).0[0] - run(&m).0[0]) / (2.0 * h);
        assert!(
            (g0[j] - fd).abs() <= 1e-6 * fd.abs().max(1.0),
            "∂loss/∂W0[{j}]: {} vs {fd}",
            g0[j]
        );
    }
}

/// A reference value at a point, by differences of the plain network.
type Reference<'a> = Box<dyn Fn(&[f64]) -> f64 + 'a>;

/// The problem language's derivative forms, through `lang::load` and the objective
/// builder, against the same reference.
#[test]
fn language_derivative_forms() {
    const SRC: &str = "input x in [-1, 1]\ninput y in [-1, 1]\ninput z in [-1, 1]\n\
                       net u(x, y, z) = mlp(widths = [16, 16], act = tanh, seed = 21)\n";
    let l = lang::load("audit.nabla", SRC).unwrap_or_else(|d| panic!("{}", d.render()));
    let layers = Mlp::new(&[3, 16, 16, 1], Act::Tanh).init(21);
    let u = |x: &[f64]| mlp_ref(&layers, x);
    let cases: Vec<(&str, Reference)> = vec![
        ("d(u, x)", Box::new(|p| fd1(&u, p, 0))),
        ("d(u, z, z)", Box::new(|p| fd2(&u, p, 2, 2))),
        ("d(u, x, y)", Box::new(|p| fd2(&u, p, 0, 1))),
        ("d(u, y, z)", Box::new(|p| fd2(&u, p, 1, 2))),
        ("lap(u)", Box::new(|p| fd_lap(&u, p))),
        (
            "lap(u; x, z)",
            Box::new(|p| fd2(&u, p, 0, 0) + fd2(&u, p, 2, 2)),
        ),
        (
            "d(u(y, x, z), x)",
            Box::new(|p| fd1(&u, &[p[1], p[0], p[2]], 1)),
        ),
        (
            "lap(u(x, 2 * y, z); y)",
            Box::new(|p| 4.0 * fd2(&u, &[p[0], 2.0 * p[1], p[2]], 1, 1)),
        ),
        (
            "at(d(u, y); y = x * z)",
            Box::new(|p| fd1(&u, &[p[0], p[0] * p[2], p[2]], 1)),
        ),
    ];
    for (src, want) in cases {
        let f = l
            .expression("e", src)
            .unwrap_or_else(|d| panic!("{}", d.render()));
        let obj = l
            .problem
            .expression("e", &f, "s", PTS3.len(), DType::F64)
            .unwrap();
        let mut exe = compile(&obj.graph, &Options::interp()).unwrap();
        for (n, t) in &obj.init {
            exe.set(n, &t.data).unwrap();
        }
        for (i, name) in ["s.x", "s.y", "s.z"].iter().enumerate() {
            exe.set(name, &PTS3.iter().map(|p| p[i]).collect::<Vec<_>>())
                .unwrap();
        }
        exe.run().unwrap();
        let want: Vec<f64> = PTS3.iter().map(|p| want(p)).collect();
        assert_close(src, &exe.output(0), &want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random tanh MLPs (2 or 3 inputs, random widths and seeds) at random points: the
    /// closure Laplacian, `laplacian_of`, and the sum of `diff_n` along each input agree
    /// with central differences.
    #[test]
    fn random_mlps_closure_laplacian(
        d in 2usize..=3,
        w1 in 3usize..12,
        w2 in 3usize..12,
        seed in 0u64..1000,
        pts in proptest::collection::vec(proptest::collection::vec(-1.0f64..1.0, 3), 1..4),
    ) {
        let mlp = Mlp::new(&[d, w1, w2, 1], Act::Tanh);
        let layers = mlp.init(seed);
        let u = |x: &[f64]| mlp_ref(&layers, x);
        let b = Builder::new();
        let n = pts.len();
        let xs: Vec<Var<'_>> = (0..d).map(|i| b.input(&format!("x{i}"), n)).collect();
        let net = mlp.params(&b, "u", seed);
        b.output("closure", laplacian(|v| net.apply_to(v), &xs));
        b.output("of", laplacian_of(net.apply_to(&xs), &xs));
        let mut sum = diff_n(2, |s| { let mut a = xs.clone(); a[0] = s; net.apply_to(&a) }, xs[0]);
        for i in 1..d {
            sum = sum + diff_n(2, |s| { let mut a = xs.clone(); a[i] = s; net.apply_to(&a) }, xs[i]);
        }
        b.output("sum", sum);
        let g = b.finish().unwrap();
        let mut exe = compile(&g, &Options::interp()).unwrap();
        for (name, t) in b.initial_params() {
            exe.set(&name, &t.data).unwrap();
        }
        for i in 0..d {
            exe.set(&format!("x{i}"), &pts.iter().map(|p| p[i]).collect::<Vec<_>>()).unwrap();
        }
        exe.run().unwrap();
        let want: Vec<f64> = pts.iter().map(|p| fd_lap(&u, &p[..d])).collect();
        for (k, name) in exe.output_names().iter().enumerate() {
            assert_close(&format!("{name} (d={d}, widths {w1},{w2}, seed {seed})"), &exe.output(k), &want);
        }
    }
}
