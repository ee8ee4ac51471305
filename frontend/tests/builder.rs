//! `ProblemBuilder`: every construct of the problem language stated in Rust gives the same
//! objective graph as the file; declarations that cannot work are refused with their
//! reason; `let`s are traced once per residual; the standalone sampler draws inside its box.

use nabla_frontend::lang;
use nabla_frontend::prelude::*;
use nabla_frontend::problem::{BuildError, PointSpec};
use nabla_ir::{text, DType, Op};
use std::f64::consts::PI;

/// Multi-output net, a trainable scalar, `let`, `lap` over some inputs, `at`, nets at other
/// arguments, a union of faces, a weight and an exact solution.
const RICH: &str = "problem rich
input t in [0, 1]
input x in [-1, 1]
param mu = 0.5
net flow(t, x) -> (u, v) = mlp(widths = [8, 8], act = sin, seed = 2)
let g = d(u, x) * v
points inner = interior(32)
points sides = face(x = -1, 8) + face(x = 1, 8)
residual a on inner = d(u, t) - mu * lap(u; x) + g * g
residual b on inner = at(d(v, x, x); x = -x) + u(t, -1) - v(t, 1 - x)
residual c on sides weight 2 = u - v^3
exact u = sin(pi * x) * t
";

fn rich() -> Problem {
    let mut p = ProblemBuilder::new("rich");
    let t = p.input("t", [0.0, 1.0]);
    let x = p.input("x", [-1.0, 1.0]);
    let mu = p.param("mu", 0.5);
    let spec = mlp(&[8, 8]).act(Act::Sin).seed(2);
    let [u, v] = p.net_outputs("flow", &[t, x], ["u", "v"], spec);
    let g = p.define("g", move |c| c.d(c[u], &[x]) * c[v]);
    let inner = p.points("inner", interior(32));
    let sides = p.points("sides", face(x, -1.0, 8) + face(x, 1.0, 8));
    p.residual("a", inner, move |c| {
        c.d(c[u], &[t]) - c[mu] * c.lap_over(c[u], &[x]) + c[g] * c[g]
    });
    p.residual("b", inner, move |c| {
        let v_xx = c.at(c.d(c[v], &[x, x]), &[(x, -c[x])]);
        v_xx + c.call(u, &[c[t], c.num(-1.0)]) - c.call(v, &[c[t], 1.0 - c[x]])
    });
    p.residual("c", sides, move |c| c[u] - c[v].powi(3))
        .weight(2.0);
    p.exact(u, move |c| (PI * c[x]).sin() * c[t]);
    p.build().unwrap()
}

fn objective_text(p: &Problem) -> String {
    let sizes = [("inner".to_string(), 32), ("sides".to_string(), 16)];
    let obj = p.objective(&sizes, DType::F64, true).unwrap();
    text::print(&obj.graph.canonical())
}

#[test]
fn every_construct_gives_the_files_graph() {
    let file = lang::load("rich.nabla", RICH).unwrap().problem;
    let built = rich();
    assert_eq!(built.nets, file.nets);
    assert_eq!(built.point_sets, file.point_sets);
    assert_eq!(objective_text(&built), objective_text(&file));
    let exact = |p: &Problem| {
        let obj = p.expression("u*", &p.exact[0].expr, "grid", 5, DType::F64);
        text::print(&obj.unwrap().graph.canonical())
    };
    assert_eq!(exact(&built), exact(&file));
}

/// `g = d(u, x) · v` appears twice in residual `a` but is traced once: the objective has
/// one `diff` per derivative written (`d(u, t)`, `d(u, x)` in `g`, `d(v, x, x)`), not four.
#[test]
fn a_let_is_traced_once_per_residual() {
    let p = rich();
    let sizes = [("inner".to_string(), 32), ("sides".to_string(), 16)];
    let obj = p.objective(&sizes, DType::F64, false).unwrap();
    let g = &obj.graph;
    let diffs = g
        .ids()
        .filter(|&i| matches!(g.op(i), Op::Diff { .. }))
        .count();
    assert_eq!(diffs, 3);
}

fn build_error(f: impl FnOnce(&mut ProblemBuilder)) -> BuildError {
    let mut p = ProblemBuilder::new("bad");
    f(&mut p);
    p.build().err().expect("the problem is refused")
}

/// A problem with one input, net and point set, ready for one more declaration.
fn base(p: &mut ProblemBuilder) -> (Input, Output, Points) {
    let x = p.input("x", [0.0, 1.0]);
    let u = p.net("u", &[x], mlp(&[4]));
    let s = p.points("s", interior(8));
    (x, u, s)
}

#[test]
fn declarations_that_cannot_work_are_refused() {
    let dup = build_error(|p| {
        let (_, u, s) = base(p);
        p.input("u", [0.0, 1.0]);
        p.residual("r", s, move |c| c[u]);
    });
    assert_eq!(dup, BuildError::Duplicate("u".into()));
    let interval = build_error(|p| {
        let (_, u, s) = base(p);
        p.input("y", [1.0, 1.0]);
        p.residual("r", s, move |c| c[u]);
    });
    assert!(interval.to_string().contains("[1, 1]"), "{interval}");
    let name = build_error(|p| {
        let (_, u, s) = base(p);
        p.param("2k", 1.0);
        p.residual("r", s, move |c| c[u]);
    });
    assert_eq!(name, BuildError::BadName("2k".into()));
    let width = build_error(|p| {
        let (x, u, s) = base(p);
        p.net("w", &[x], mlp(&[4, 0]));
        p.residual("r", s, move |c| c[u]);
    });
    assert!(width.to_string().contains("net `w`: a hidden width is 0"));
    // the faces of the box of no inputs: there are none (it sampled 0 rows for 4)
    let faces = build_error(|p| {
        let k = p.param("k", 1.0);
        let s = p.points("b", PointSpec::Boundary(4));
        p.residual("r", s, move |c| c[k] - 1.0);
    });
    let want = "point set `b`: `boundary(N)` samples the faces of the inputs' box";
    assert!(faces.to_string().contains(want), "{faces}");
    let weight = build_error(|p| {
        let (_, u, s) = base(p);
        p.residual("r", s, move |c| c[u]).weight(-1.0);
    });
    assert!(matches!(weight, BuildError::Weight { .. }));
    let twice = build_error(|p| {
        let (_, u, s) = base(p);
        p.residual("r", s, move |c| c[u]);
        p.residual("r", s, move |c| c[u] * 2.0);
    });
    assert_eq!(twice, BuildError::Duplicate("r".into()));
    let outputs = build_error(|p| {
        let (x, u, s) = base(p);
        p.net_outputs("flow", &[x], ["a", "a"], mlp(&[4]));
        p.residual("r", s, move |c| c[u]);
    });
    assert_eq!(outputs, BuildError::Duplicate("a".into()));
    let empty = build_error(|p| {
        base(p);
    });
    assert_eq!(empty, BuildError::NoResiduals);
    let reason = |e: BuildError| e.to_string();
    let face_out = build_error(|p| {
        let (x, u, _) = base(p);
        let f = p.points("f", face(x, 2.0, 4));
        p.residual("r", f, move |c| c[u]);
    });
    assert!(reason(face_out).contains("`x = 2` lies outside [0, 1]"));
    let no_points = build_error(|p| {
        let (_, u, _) = base(p);
        let z = p.points("z", interior(0) + boundary(2));
        p.residual("r", z, move |c| c[u]);
    });
    assert!(reason(no_points).contains("point set `z`: a part has no points"));
    let exact_twice = build_error(|p| {
        let (x, u, s) = base(p);
        p.residual("r", s, move |c| c[u]);
        p.exact(u, move |c| c[x]);
        p.exact(u, move |c| c[x] * 2.0);
    });
    assert_eq!(exact_twice, BuildError::ExactTwice("u".into()));
    let arg_twice = build_error(|p| {
        let (x, u, s) = base(p);
        p.net("w", &[x, x], mlp(&[4]));
        p.residual("r", s, move |c| c[u]);
    });
    assert!(reason(arg_twice).contains("an argument is listed twice"));
    let no_args = build_error(|p| {
        let (_, u, s) = base(p);
        p.net("w", &[], mlp(&[4]));
        p.residual("r", s, move |c| c[u]);
    });
    assert!(reason(no_args).contains("net `w`: it has no arguments"));
    let no_outputs = build_error(|p| {
        let (x, u, s) = base(p);
        let [] = p.net_outputs("w", &[x], [], mlp(&[4]));
        p.residual("r", s, move |c| c[u]);
    });
    assert!(reason(no_outputs).contains("net `w`: it has no outputs"));
    let csv = build_error(|p| {
        let (_, u, s) = base(p);
        p.residual("r,1", s, move |c| c[u]);
    });
    assert_eq!(csv, BuildError::BadName("r,1".into()));
}

/// A net called with the wrong number of arguments is an error of the objective, naming
/// the net and both counts.
#[test]
fn a_net_called_with_the_wrong_arity_is_an_error() {
    let mut p = ProblemBuilder::new("arity");
    let (x, u, s) = base(&mut p);
    p.residual("r", s, move |c| c.call(u, &[c[x], c[x]]));
    let p = p.build().unwrap();
    let err = p
        .objective(&[("s".into(), 8)], DType::F64, false)
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "net `u` takes 1 arguments, 2 given");
}

/// `dn` on a point set that is not a boundary set is an error of the traced program that
/// names the set, not a panic.
#[test]
fn dn_off_a_boundary_set_is_an_error() {
    let mut p = ProblemBuilder::new("dn");
    let (_, u, s) = base(&mut p);
    p.residual("r", s, move |c| c.dn(c[u]));
    let p = p.build().unwrap();
    let err = p
        .objective(&[("s".into(), 8)], DType::F64, false)
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "normal(x) or dn(...) on point set `s`, which is not made only of boundary(D, N) terms \
         of one domain"
    );
}

#[test]
fn unions_of_point_sets_are_flat_as_in_files() {
    let mut p = ProblemBuilder::new("u");
    let x = p.input("x", [0.0, 1.0]);
    for spec in [
        face(x, 0.0, 1) + face(x, 1.0, 2) + interior(3),
        face(x, 0.0, 1) + (face(x, 1.0, 2) + interior(3)),
    ] {
        assert_eq!(spec.len(), 6);
        let PointSpec::Union(parts) = spec else {
            panic!("a union")
        };
        assert_eq!(parts.len(), 3);
    }
}

#[test]
fn the_sampler_draws_reproducibly_inside_its_box() {
    let bx = [[0.0, 2.0], [-1.0, 0.0]];
    let a = Sampler::new(&bx, 4).rows(&interior(200));
    assert_eq!(a, Sampler::new(&bx, 4).rows(&interior(200)));
    assert_ne!(a, Sampler::new(&bx, 5).rows(&interior(200)));
    for r in &a {
        assert!(
            (0.0..=2.0).contains(&r[0]) && (-1.0..=0.0).contains(&r[1]),
            "{r:?}"
        );
    }
    let walls = Sampler::new(&bx, 4).rows(&boundary(60));
    let on_face = |r: &Vec<f64>| r[0] == 0.0 || r[0] == 2.0 || r[1] == -1.0 || r[1] == 0.0;
    assert!(walls.iter().all(on_face));
    // The long faces (y = -1 and y = 0, length 2) get twice the points of the short ones.
    let long = walls.iter().filter(|r| r[1] == -1.0 || r[1] == 0.0).count();
    assert_eq!(long, 2 * (60 - long));
}
