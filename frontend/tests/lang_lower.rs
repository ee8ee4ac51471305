//! Lowering of the problem language through the DSL: values of derivative-free
//! expressions against closed forms (f64 interpreter), networks applied at other
//! arguments against a hand-written forward pass, and the derivative operators that
//! derivative expressions trace to.

use nabla_frontend::lang;
use nabla_frontend::problem::Problem;
use nabla_ir::{interp, verify, DType, Graph, Op, Tensor};

const PTS: [(f64, f64); 4] = [(0.1, 0.2), (0.5, 0.25), (0.9, 0.7), (0.3, 0.95)];

fn load(src: &str) -> lang::Loaded {
    lang::load("t.nabla", src).unwrap_or_else(|d| panic!("{}", d.render()))
}

const HEAD: &str = "input x in [0, 1]\ninput y in [0, 1]\n\
                    net flow(x, y) -> (u, v, p) = mlp(widths = [3], act = tanh, seed = 4)\n\
                    const c = 3\nparam k = 0.25\nlet f = c * x + y\n";

/// The graph of `--expr`-style expression `src` on the points [`PTS`].
fn trace(l: &lang::Loaded, src: &str) -> (Graph, interp::Env) {
    let f = l
        .expression("expr", src)
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let obj = l
        .problem
        .expression("e", &f, "s", PTS.len(), DType::F64)
        .unwrap();
    let mut env: interp::Env = obj.init.into_iter().collect();
    env.insert(
        "s.x".into(),
        Tensor::column(PTS.iter().map(|p| p.0).collect()),
    );
    env.insert(
        "s.y".into(),
        Tensor::column(PTS.iter().map(|p| p.1).collect()),
    );
    (obj.graph, env)
}

fn values(l: &lang::Loaded, src: &str) -> Vec<f64> {
    let (g, env) = trace(l, src);
    verify(&g).unwrap();
    interp::eval_outputs(&g, &env, DType::F64).unwrap()[0]
        .1
        .data
        .clone()
}

fn check(src: &str, want: impl Fn(f64, f64) -> f64) {
    let l = load(HEAD);
    let got = values(&l, src);
    for (i, &(x, y)) in PTS.iter().enumerate() {
        let w = want(x, y);
        assert!(
            (got[i] - w).abs() <= 1e-14 * w.abs().max(1.0),
            "{src} at ({x}, {y}): {} vs {w}",
            got[i]
        );
    }
}

#[test]
fn arithmetic_functions_and_constants() {
    use std::f64::consts::{E, PI};
    check("2 * pi^2 * sin(pi * x) * sin(pi * y)", |x, y| {
        2.0 * PI * PI * (PI * x).sin() * (PI * y).sin()
    });
    check("-x^2 + (-2)^3 * y - e", |x, y| -(x * x) - 8.0 * y - E);
    check("x^-2 + y^0.5 + 2^3^2", |x, y| {
        1.0 / (x * x) + y.sqrt() + 512.0
    });
    check("exp(x) / sqrt(y + 1) - log(x) * cos(y) + tan(x)", |x, y| {
        x.exp() / (y + 1.0).sqrt() - x.ln() * y.cos() + x.tan()
    });
    check(
        "tanh(x) + sigmoid(y) + softplus(-x) + abs(x - y)",
        |x, y| x.tanh() + 1.0 / (1.0 + (-y).exp()) + (1.0 + (-x).exp()).ln() + (x - y).abs(),
    );
    check("f * k + c / 2", |x, y| (3.0 * x + y) * 0.25 + 1.5);
}

/// `atan2(y, x)` in every quadrant (the points straddle (0.5, 0.5)), against the half-angle
/// form `2 atan(y / (r + x))`; a constant call is folded.
#[test]
fn atan2_in_every_quadrant() {
    use std::f64::consts::PI;
    let angle = |y: f64, x: f64| 2.0 * (y / ((x * x + y * y).sqrt() + x)).atan();
    check("atan2(y - 0.5, x - 0.5) + atan2(1, -1)", move |x, y| {
        angle(y - 0.5, x - 0.5) + 0.75 * PI
    });
    let l = load(&format!("{HEAD}const q = atan2(-1, -1)\n"));
    let q = l.scope.fold(&lang::parse_expr("q").unwrap()).unwrap();
    assert!((q + 0.75 * PI).abs() < 1e-15, "{q}");
}

/// The net `flow` by hand: `W1 tanh(W0 [a, b] + b0) + b1`, output column `j`.
fn flow_by_hand(l: &lang::Loaded, a: f64, b: f64, j: usize) -> f64 {
    let layers = l.problem.nets[0].mlp.init(4);
    let (w0, w1) = (&layers[0].w.data, &layers[1].w.data);
    let h: Vec<f64> = (0..3)
        .map(|o| (w0[o * 2] * a + w0[o * 2 + 1] * b).tanh())
        .collect();
    (0..3).map(|o| w1[j * 3 + o] * h[o]).sum()
}

#[test]
fn outputs_of_a_multi_output_net_at_other_arguments() {
    let l = load(HEAD);
    let bare = values(&l, "v");
    let swapped = values(&l, "p(y, 1 - x)");
    let constant_arg = values(&l, "u(x, -1)");
    for (i, &(x, y)) in PTS.iter().enumerate() {
        assert!((bare[i] - flow_by_hand(&l, x, y, 1)).abs() < 1e-14);
        assert!((swapped[i] - flow_by_hand(&l, y, 1.0 - x, 2)).abs() < 1e-14);
        assert!((constant_arg[i] - flow_by_hand(&l, x, -1.0, 0)).abs() < 1e-14);
    }
}

fn ops(g: &Graph) -> Vec<&Op> {
    g.ids().map(|i| g.op(i)).collect()
}

fn count(g: &Graph, f: impl Fn(&Op) -> bool) -> usize {
    ops(g).into_iter().filter(|o| f(o)).count()
}

#[test]
fn repeated_variables_become_one_higher_order_derivative() {
    let l = load(HEAD);
    let (g, _) = trace(&l, "d(u, x, x, y)");
    verify(&g).unwrap();
    let orders: Vec<u8> = ops(&g)
        .into_iter()
        .filter_map(|o| match o {
            Op::Diff { order, .. } => Some(*order),
            _ => None,
        })
        .collect();
    assert_eq!(orders, vec![2, 1]);
    // The outer derivative is with respect to the input leaf `s.y`, of the inner one.
    let outer = g
        .ids()
        .rev()
        .find(|&i| matches!(g.op(i), Op::Diff { .. }))
        .unwrap();
    let (f, v) = (g.args(outer)[0], g.args(outer)[1]);
    assert!(matches!(g.op(f), Op::Diff { order: 2, .. }));
    assert!(matches!(g.op(v), Op::Input { name, .. } if name == "s.y"));
}

#[test]
fn laplacians_over_all_or_listed_inputs() {
    let l = load(HEAD);
    let lap_vars = |src: &str| {
        let (g, _) = trace(&l, src);
        let id = g
            .ids()
            .find(|&i| matches!(g.op(i), Op::Laplacian { .. }))
            .unwrap();
        g.args(id).len() - 1
    };
    assert_eq!(lap_vars("lap(u)"), 2);
    assert_eq!(lap_vars("lap(u; y)"), 1);
    assert_eq!(lap_vars("-lap(u * v; x, y)"), 2);
}

#[test]
fn substitutions_are_simultaneous_at_nodes() {
    let l = load(HEAD);
    let (g, _) = trace(&l, "at(d(u, y); x = y, y = x^2)");
    verify(&g).unwrap();
    let at = g.ids().find(|&i| matches!(g.op(i), Op::At)).unwrap();
    let args = g.args(at);
    assert_eq!(args.len(), 5, "body, then (variable, value) twice");
    assert!(matches!(g.op(args[0]), Op::Diff { .. }));
    assert!(matches!(g.op(args[1]), Op::Input { name, .. } if name == "s.x"));
    assert!(matches!(g.op(args[2]), Op::Input { name, .. } if name == "s.y"));
    assert!(matches!(g.op(args[3]), Op::Input { name, .. } if name == "s.y"));
    assert!(matches!(g.op(args[4]), Op::Powi(2)));
}

#[test]
fn lets_are_traced_once_and_shared() {
    let src = format!("{HEAD}let g = sin(f) * exp(x)\n");
    let l = load(&src);
    let (g, _) = trace(&l, "g + g * g");
    assert_eq!(
        count(&g, |o| matches!(o, Op::Unary(nabla_ir::UnOp::Sin))),
        1
    );
}

#[test]
fn objectives_of_the_examples_trace_and_verify() {
    for name in ["poisson2d", "burgers", "stokes_inverse"] {
        let path = format!(
            "{}/tests/lang_examples/{name}.nabla",
            env!("CARGO_MANIFEST_DIR")
        );
        let l = load(&std::fs::read_to_string(path).unwrap());
        let p: &Problem = &l.problem;
        let sizes: Vec<(String, usize)> =
            p.point_sets.iter().map(|s| (s.name.clone(), 3)).collect();
        let obj = p.objective(&sizes, DType::F64, true).unwrap();
        let info = verify(&obj.graph).unwrap();
        assert!(info.has_derivatives(), "{name}");
        let derivs = count(&obj.graph, |o| {
            matches!(o, Op::Diff { .. } | Op::Laplacian { .. })
        });
        let want = match name {
            "poisson2d" => 1,
            "burgers" => 3,
            _ => 6,
        };
        assert_eq!(derivs, want, "{name}");
    }
}

/// `--expr` is evaluated on plain points, which have no normals: `normal` and `dn` in it,
/// directly or through a `let`, are errors with a place (at tracing they were an error
/// without one, naming a `normal(y)` never written).
#[test]
fn extra_expressions_take_no_normals() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/annulus_neumann.nabla"
    ))
    .unwrap();
    let l = load(&src);
    let refused = |label: &str, src: &str| {
        let e = l.expression_on_points(label, src).err();
        e.expect("refused").render()
    };
    let direct = refused("a", "u + dn(u)");
    assert!(direct.contains("`dn` outside a residual"), "{direct}");
    assert!(direct.contains("a:1:5"), "{direct}");
    let through = refused("b", "2 * flux");
    assert!(through.contains("through a `let`"), "{through}");
    assert!(l.expression_on_points("c", "2 * ue + d(u, x)").is_ok());
    // for a boundary set of the library's choosing, normals are the set's to give
    assert!(l.expression("n", "u + dn(u)").is_ok());
}
