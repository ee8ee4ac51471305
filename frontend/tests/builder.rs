//! `ProblemBuilder`: every construct of the problem language stated in Rust gives the same
//! objective graph as the file; declarations that cannot work are refused with their
//! reason; `let`s are traced once per residual; a handle of another builder is refused
//! wherever it is used; the standalone sampler draws inside its box.

use nabla_frontend::lang;
use nabla_frontend::prelude::*;
use nabla_frontend::problem::{BuildError, PointSpec, ProblemError};
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
    assert!(built.owner.is_some() && file.owner.is_none());
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

/// The refusal of [`base`] with a residual of `u` on a point set `name` of `spec`.
fn spec_refused(name: &str, spec: PointSpec) -> BuildError {
    build_error(|p| {
        let (_, u, _) = base(p);
        let f = p.points(name, spec);
        p.residual("r", f, move |c| c[u]);
    })
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
    // a spec written out with an index past the declarations is refused, not sampled
    let (value, n, owner) = (0.0, 4, None);
    let no_input = spec_refused(
        "f",
        PointSpec::Face {
            input: 3,
            value,
            n,
            owner,
        },
    );
    let want = "point set `f`: the face of input #3, which is not declared";
    assert_eq!(reason(no_input), want);
    let no_domain = spec_refused(
        "z",
        PointSpec::BoundaryOf {
            domain: 0,
            n,
            owner,
        },
    );
    assert_eq!(
        reason(no_domain),
        "point set `z`: domain #0 is not declared"
    );
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

/// The handles of [`declare`].
#[derive(Clone, Copy)]
struct Decls {
    x: Input,
    u: Output,
    k: Param,
    g: Let,
    s: Points,
}

/// An input, a net, a param, a `let` and a point set, in that order.
fn declare(p: &mut ProblemBuilder) -> Decls {
    let (x, u, s) = base(p);
    let k = p.param("k", 2.0);
    let g = p.define("g", move |c| c[u] * c[k]);
    Decls { x, u, k, g, s }
}

/// Problem `mine`, its handles, and those of another builder that declared the same kinds
/// in the same order: each of the other's is in range in `mine`, where read as an index
/// it names `mine`'s own declaration.
fn twins() -> (ProblemBuilder, Decls, Decls) {
    let mut other = ProblemBuilder::new("other");
    let theirs = declare(&mut other);
    let mut mine = ProblemBuilder::new("mine");
    let ours = declare(&mut mine);
    (mine, ours, theirs)
}

/// Why problem `p`, which builds, has no objective on `s` of 8 points.
fn objective_error(p: ProblemBuilder) -> ProblemError {
    let p = p.build().expect("the problem builds");
    let sizes = [("s".to_string(), 8)];
    let obj = p.objective(&sizes, DType::F64, false);
    obj.err().expect("the objective is refused")
}

/// The error of a `what` handle of another builder used in problem `mine`.
fn foreign(what: &str) -> ProblemError {
    ProblemError::Dsl(DslError::ForeignHandle {
        what: what.into(),
        problem: "mine".into(),
    })
}

/// `c[x]` with another builder's input whose index is that of `mine`'s `x` traced `mine`'s
/// `x`: it is an error that names the problem.
#[test]
fn an_input_of_another_builder_is_an_error_naming_the_problem() {
    let (mut p, ours, theirs) = twins();
    p.residual("r", ours.s, move |c| c[ours.u] - c[theirs.x]);
    let err = objective_error(p);
    assert_eq!(err, foreign("input"));
    assert_eq!(
        err.to_string(),
        "problem `mine` does not declare this input handle: a handle indexes only the problem \
         whose ProblemBuilder declared it"
    );
}

/// As for inputs, another builder's output, `let` and param named `mine`'s own.
#[test]
fn outputs_lets_and_params_of_another_builder_are_errors() {
    let (mut p, ours, theirs) = twins();
    p.residual("r", ours.s, move |c| c[theirs.u]);
    assert_eq!(objective_error(p), foreign("output"));
    let (mut p, ours, theirs) = twins();
    p.residual("r", ours.s, move |c| c[ours.u] - c[theirs.g]);
    assert_eq!(objective_error(p), foreign("let"));
    let (mut p, ours, theirs) = twins();
    p.residual("r", ours.s, move |c| c[ours.u] * c[theirs.k]);
    assert_eq!(objective_error(p), foreign("param"));
}

/// The `Ctx` methods that take handles refuse another builder's too, in residuals and in
/// exact solutions.
#[test]
fn ctx_methods_refuse_handles_of_another_builder() {
    let (mut p, o, t) = twins();
    p.residual("r", o.s, move |c| c.d(c[o.u], &[t.x]));
    assert_eq!(objective_error(p), foreign("input"));
    let (mut p, o, t) = twins();
    p.residual("r", o.s, move |c| c.lap_over(c[o.u], &[t.x]));
    assert_eq!(objective_error(p), foreign("input"));
    let (mut p, o, t) = twins();
    p.residual("r", o.s, move |c| c.lap_sampled_over(c[o.u], &[t.x], 2));
    assert_eq!(objective_error(p), foreign("input"));
    let (mut p, o, t) = twins();
    p.residual("r", o.s, move |c| c.at(c[o.u], &[(t.x, c.num(0.0))]));
    assert_eq!(objective_error(p), foreign("input"));
    let (mut p, o, t) = twins();
    p.residual("r", o.s, move |c| c[o.u] * c.normal(t.x));
    assert_eq!(objective_error(p), foreign("input"));
    let (mut p, o, t) = twins();
    p.residual("r", o.s, move |c| c.call(t.u, &[c[o.x]]));
    assert_eq!(objective_error(p), foreign("output"));
    let (mut p, o, t) = twins();
    p.residual("r", o.s, move |c| c[o.u]);
    p.exact(o.u, move |c| c[t.x]);
    let p = p.build().unwrap();
    let exact = p.expression("u*", &p.exact[0].expr, "grid", 5, DType::F64);
    assert_eq!(exact.err(), Some(foreign("input")));
}

/// Handles of another builder with an index past `mine`'s declarations of their kind are
/// the same errors, not a panic.
#[test]
fn a_foreign_handle_out_of_range_is_an_error_not_a_panic() {
    let mut other = ProblemBuilder::new("other");
    declare(&mut other);
    let y = other.input("y", [0.0, 1.0]);
    let [_, v] = other.net_outputs("flow", &[y], ["v0", "v1"], mlp(&[4]));
    let k2 = other.param("k2", 1.0);
    let h = other.define("h", move |c| c[y]);
    let (mut p, ours, _) = twins();
    p.residual("r", ours.s, move |c| c[ours.u] - c[y]);
    assert_eq!(objective_error(p), foreign("input"));
    let (mut p, ours, _) = twins();
    p.residual("r", ours.s, move |c| c[ours.u] - c[v]);
    assert_eq!(objective_error(p), foreign("output"));
    let (mut p, ours, _) = twins();
    p.residual("r", ours.s, move |c| c[ours.u] - c[k2]);
    assert_eq!(objective_error(p), foreign("param"));
    let (mut p, ours, _) = twins();
    p.residual("r", ours.s, move |c| c[ours.u] - c[h]);
    assert_eq!(objective_error(p), foreign("let"));
    let (mut p, ours, _) = twins();
    p.residual("r", ours.s, move |c| c[ours.u] * c.normal(y));
    assert_eq!(objective_error(p), foreign("input"));
    let (mut p, ours, _) = twins();
    p.net("w", &[y], mlp(&[4]));
    p.residual("r", ours.s, move |c| c[ours.u]);
    let refused = BuildError::Foreign {
        what: "input",
        used_in: "net `w`".into(),
    };
    assert_eq!(p.build().err(), Some(refused));
}

/// Builder methods given another builder's handles (in range here, where they named this
/// builder's own declarations) refuse the problem, naming the declaration.
#[test]
fn builder_methods_refuse_handles_of_another_builder() {
    let mut other = ProblemBuilder::new("other");
    let t = declare(&mut other);
    let y = other.input("y", [0.0, 1.0]);
    let hole = other.domain("hole", &[t.x, y], disk([0.5, 0.5], 0.25));
    let refused = |what, used_in: &str| BuildError::Foreign {
        what,
        used_in: used_in.into(),
    };
    let net = build_error(|p| {
        let (_, u, s) = base(p);
        p.net("w", &[t.x], mlp(&[4]));
        p.residual("r", s, move |c| c[u]);
    });
    assert_eq!(net, refused("input", "net `w`"));
    let periodic = build_error(|p| {
        let (x, u, s) = base(p);
        p.net("w", &[x], mlp(&[4]).periodic(&[t.x]));
        p.residual("r", s, move |c| c[u]);
    });
    assert_eq!(periodic, refused("input", "net `w`"));
    let domain = build_error(|p| {
        let (_, u, s) = base(p);
        let y = p.input("y", [0.0, 1.0]);
        p.domain("d", &[t.x, y], disk([0.5, 0.5], 0.25));
        p.residual("r", s, move |c| c[u]);
    });
    assert_eq!(domain, refused("input", "domain `d`"));
    let face = build_error(|p| {
        let (_, u, _) = base(p);
        let f = p.points("f", interior(4) + face(t.x, 0.0, 4));
        p.residual("r", f, move |c| c[u]);
    });
    assert_eq!(face, refused("input", "point set `f`"));
    for spec in [interior_of(hole, 4), boundary_of(hole, 4)] {
        let inside = build_error(|p| {
            let (x, u, _) = base(p);
            let y = p.input("y", [0.0, 1.0]);
            p.domain("ring", &[x, y], disk([0.5, 0.5], 0.25));
            let z = p.points("z", spec);
            p.residual("r", z, move |c| c[u]);
        });
        assert_eq!(inside, refused("domain", "point set `z`"));
    }
    let residual = build_error(|p| {
        let (_, u, _) = base(p);
        p.residual("r", t.s, move |c| c[u]);
    });
    assert_eq!(residual, refused("point set", "residual `r`"));
    let exact = build_error(|p| {
        let (x, u, s) = base(p);
        p.residual("r", s, move |c| c[u]);
        p.exact(t.u, move |c| c[x]);
    });
    assert_eq!(exact, refused("output", "an exact solution"));
    let exact_let = build_error(|p| {
        let (x, u, s) = base(p);
        p.define("g", move |c| c[u]);
        p.residual("r", s, move |c| c[u]);
        p.exact(t.g, move |c| c[x]);
    });
    assert_eq!(exact_let, refused("let", "an exact solution"));
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
