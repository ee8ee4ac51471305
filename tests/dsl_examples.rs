//! The Rust builder and the problem language state the same problems the same way. Every
//! `examples/*.nabla` file has a builder version — the three examples written in Rust
//! (`examples/NAME_dsl.rs`) and the others below — and for each the declarations are
//! equal and the objective graphs (loss and gradient, derivative operators unexpanded) are
//! the same graph; for the three examples the compiled loss and gradient also agree to the
//! last bit on the interpreter and the JIT.

use nabla::frontend::lang;
use nabla::frontend::problem::Problem;
use nabla::ir::{text, DType};
use nabla::prelude::*;
use nabla::train::model::{sizes, Model};
use nabla::train::Objective;
use nabla::{Backend, Options};
use std::f64::consts::PI;

#[path = "../examples/burgers_dsl.rs"]
#[allow(dead_code)]
mod burgers_dsl;
#[path = "../examples/inverse_dsl.rs"]
#[allow(dead_code)]
mod inverse_dsl;
#[path = "../examples/poisson_dsl.rs"]
#[allow(dead_code)]
mod poisson_dsl;
#[path = "../examples/poisson_holes_dsl.rs"]
#[allow(dead_code)]
mod poisson_holes_dsl;

fn from_file(name: &str) -> Problem {
    let path = format!("{}/examples/{name}.nabla", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).unwrap();
    lang::load(&path, &src)
        .unwrap_or_else(|d| panic!("{}", d.render()))
        .problem
}

fn assert_same_declarations(a: &Problem, b: &Problem) {
    assert_eq!(a.name, b.name);
    assert_eq!(a.inputs, b.inputs);
    assert_eq!(a.nets, b.nets);
    assert_eq!(a.params, b.params);
    assert_eq!(a.point_sets, b.point_sets);
    assert_eq!(a.domains, b.domains);
    let res = |p: &Problem| -> Vec<(String, String, f64)> {
        (p.residuals.iter())
            .map(|r| (r.name.clone(), r.points.clone(), r.weight))
            .collect()
    };
    assert_eq!(res(a), res(b));
    let exact = |p: &Problem| -> Vec<String> { p.exact.iter().map(|e| e.output.clone()).collect() };
    assert_eq!(exact(a), exact(b));
}

fn objective_text(p: &Problem) -> String {
    let obj = p.objective(&sizes(p), DType::F64, true).unwrap();
    text::print(&obj.graph.canonical())
}

/// Loss and gradient at the initial θ, on the points of seed 3.
fn loss_and_grad(p: &Problem, opts: &Options) -> (f64, Vec<f64>) {
    let (mut model, theta, _) = Model::compile(p, opts).unwrap();
    model.bind_points(3).unwrap();
    let mut grad = vec![0.0; theta.len()];
    let loss = model.eval(&theta, &mut grad).unwrap();
    (loss, grad)
}

/// Same declarations, same objective graph, same exact solutions; returns the file's
/// problem.
fn check_graph(name: &str, dsl: &Problem) -> Problem {
    let file = from_file(name);
    assert_same_declarations(dsl, &file);
    assert_eq!(objective_text(dsl), objective_text(&file), "{name}: graphs");
    let exact = |p: &Problem| -> Vec<String> {
        (p.exact.iter())
            .map(|e| {
                let obj = p.expression("e", &e.expr, "grid", 4, DType::F64).unwrap();
                text::print(&obj.graph.canonical())
            })
            .collect()
    };
    assert_eq!(exact(dsl), exact(&file), "{name}: exact solutions");
    file
}

fn check(name: &str, dsl: Problem) {
    let file = check_graph(name, &dsl);
    let jit = Options::new(Backend::Cranelift, DType::F64, None);
    for opts in [Options::interp(), jit] {
        let (l1, g1) = loss_and_grad(&dsl, &opts);
        let (l2, g2) = loss_and_grad(&file, &opts);
        assert!(l1.is_finite() && l1 > 0.0, "{name}: loss {l1}");
        assert_eq!(l1.to_bits(), l2.to_bits(), "{name}: loss {l1} vs {l2}");
        assert!(g1.iter().any(|g| *g != 0.0), "{name}: zero gradient");
        let same = g1.iter().zip(&g2).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name}: gradients differ");
    }
}

#[test]
fn poisson_in_rust_is_the_poisson_file() {
    check("poisson2d", poisson_dsl::problem().unwrap());
}

#[test]
fn burgers_in_rust_is_the_burgers_file() {
    check("burgers", burgers_dsl::problem().unwrap());
}

#[test]
fn the_inverse_problem_in_rust_is_the_inverse_file() {
    check("inverse", inverse_dsl::problem().unwrap());
}

/// The canonical form is not blind: a different constant or a swapped operand order is a
/// different graph.
#[test]
fn a_different_problem_is_a_different_graph() {
    let poisson = poisson_dsl::problem().unwrap();
    let mut other = poisson.clone();
    other.residuals[1].weight = 11.0;
    assert_ne!(objective_text(&poisson), objective_text(&other));
    let mut swapped = poisson.clone();
    swapped.residuals.swap(0, 1);
    assert_ne!(objective_text(&poisson), objective_text(&swapped));
}

/// The builder version of every other example file.
fn builder_version(name: &str) -> Option<Problem> {
    let p = match name {
        "poisson2d" => poisson_dsl::problem(),
        "burgers" => burgers_dsl::problem(),
        "inverse" => inverse_dsl::problem(),
        "ode" => ode(),
        "heat1d" => heat1d(),
        "helmholtz2d" => helmholtz(
            "helmholtz2d",
            [4.0, 1.0],
            mlp(&[50, 50]).act(Act::Sin),
            [2048, 512],
        ),
        "helmholtz2d_dense" => helmholtz(
            "helmholtz2d_dense",
            [4.0, 1.0],
            mlp(&[32, 32]),
            [16384, 2048],
        ),
        "helmholtz_k2" => helmholtz(
            "helmholtz_k2",
            [3.0, 2.0_f64.powi(2)],
            mlp(&[32, 32]),
            [1024, 256],
        ),
        "poisson10d" => poisson10d(),
        "stokes" => stokes(),
        "allen_cahn" => allen_cahn(),
        "allen_cahn_periodic" => allen_cahn_periodic(),
        "multiscale_fourier" => multiscale("multiscale_fourier", mlp(&[64, 64]).fourier(64, 5.0)),
        "poisson_hard" => poisson_hard(),
        "poisson_holes" => poisson_holes_dsl::problem(),
        "annulus_neumann" => annulus_neumann(),
        "lshape" => lshape(),
        "multiscale_plain" => multiscale("multiscale_plain", mlp(&[64, 64])),
        _ => return None,
    };
    Some(p.unwrap())
}

#[test]
fn every_example_file_has_the_graph_of_its_builder_version() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let stem = p.file_stem()?.to_str()?.to_string();
            (p.extension()? == "nabla").then_some(stem)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let dsl = builder_version(&name)
            .unwrap_or_else(|| panic!("examples/{name}.nabla has no builder version here"));
        check_graph(&name, &dsl);
    }
}

fn ode() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("ode");
    let t = p.input("t", [0.0, 1.0]);
    let n = p.net("n", &[t], mlp(&[12, 12, 12]));
    let u = p.define("u", move |c| c[t] * c[n]);
    let pts = p.points("pts", interior(100));
    p.residual("ode", pts, move |c| c.d(c[u], &[t]) - c[t].cos());
    p.build()
}

fn heat1d() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("heat1d");
    let t = p.input("t", [0.0, 1.0]);
    let x = p.input("x", [0.0, 1.0]);
    let alpha = 0.1;
    let u = p.net("u", &[t, x], mlp(&[32, 32]));
    let inner = p.points("inner", interior(2048));
    let start = p.points("start", face(t, 0.0, 256));
    let sides = p.points("sides", face(x, 0.0, 128) + face(x, 1.0, 128));
    p.residual("pde", inner, move |c| {
        c.d(c[u], &[t]) - alpha * c.d(c[u], &[x, x])
    });
    p.residual("ic", start, move |c| c[u] - (PI * c[x]).sin())
        .weight(10.0);
    p.residual("bc", sides, move |c| c[u]).weight(10.0);
    p.exact(u, move |c| {
        (-alpha * PI.powi(2) * c[t]).exp() * (PI * c[x]).sin()
    });
    p.build()
}

/// `Δu + k²u = q` on [−1, 1]² with `u = sin(πx) sin(a πy)`, so `q = (k² − (1 + a²)π²) u`;
/// `[a, k²]`.
fn helmholtz(
    name: &str,
    [a, k2]: [f64; 2],
    net: nabla::frontend::problem::NetSpec,
    [n_in, n_bc]: [usize; 2],
) -> Result<Problem, BuildError> {
    let q0 = k2 - (1.0 + a * a) * PI.powi(2);
    let mut p = ProblemBuilder::new(name);
    let x = p.input("x", [-1.0, 1.0]);
    let y = p.input("y", [-1.0, 1.0]);
    let u = p.net("u", &[x, y], net);
    let q = p.define("q", move |c| q0 * (PI * c[x]).sin() * (a * PI * c[y]).sin());
    let inner = p.points("inner", interior(n_in));
    let walls = p.points("walls", boundary(n_bc));
    p.residual("pde", inner, move |c| c.lap(c[u]) + k2 * c[u] - c[q]);
    p.residual("bc", walls, move |c| c[u]).weight(10.0);
    p.exact(u, move |c| (PI * c[x]).sin() * (a * PI * c[y]).sin());
    p.build()
}

fn poisson10d() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("poisson10d");
    let xs: Vec<Input> = (1..=10)
        .map(|i| p.input(&format!("x{i}"), [0.0, 1.0]))
        .collect();
    let u = p.net("u", &xs, mlp(&[64, 64, 64]));
    let xs1 = xs.clone();
    let s = p.define("s", move |c| {
        let terms = xs1.iter().map(|&x| (PI * c[x] / 2.0).sin());
        terms.reduce(|a, b| a + b).unwrap()
    });
    let inner = p.points("inner", interior(1024));
    let walls = p.points("walls", boundary(512));
    p.residual("pde", inner, move |c| c.lap(c[u]) + PI.powi(2) / 4.0 * c[s]);
    p.residual("bc", walls, move |c| c[u] - c[s]).weight(10.0);
    p.exact(u, move |c| c[s]);
    p.build()
}

fn stokes() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("stokes");
    let x = p.input("x", [0.0, 1.0]);
    let y = p.input("y", [0.0, 1.0]);
    let mu = 1.0;
    let spec = mlp(&[50, 50, 50]).seed(1);
    let [u, v, pr] = p.net_outputs("flow", &[x, y], ["u", "v", "p"], spec);
    let us = p.define("us", move |c| (PI * c[x]).sin() * (PI * c[y]).cos());
    let vs = p.define("vs", move |c| -(PI * c[x]).cos() * (PI * c[y]).sin());
    let ps = p.define("ps", move |c| (PI * c[x]).sin() * (PI * c[y]).sin());
    let f1 = p.define("f1", move |c| {
        2.0 * PI.powi(2) * mu * c[us] + PI * (PI * c[x]).cos() * (PI * c[y]).sin()
    });
    let f2 = p.define("f2", move |c| {
        2.0 * PI.powi(2) * mu * c[vs] + PI * (PI * c[x]).sin() * (PI * c[y]).cos()
    });
    let inner = p.points("inner", interior(2048));
    let walls = p.points("walls", boundary(512));
    p.residual("mom_x", inner, move |c| {
        -mu * c.lap(c[u]) + c.d(c[pr], &[x]) - c[f1]
    });
    p.residual("mom_y", inner, move |c| {
        -mu * c.lap(c[v]) + c.d(c[pr], &[y]) - c[f2]
    });
    p.residual("mass", inner, move |c| c.d(c[u], &[x]) + c.d(c[v], &[y]));
    p.residual("bc_u", walls, move |c| c[u] - c[us])
        .weight(10.0);
    p.residual("bc_v", walls, move |c| c[v] - c[vs])
        .weight(10.0);
    p.residual("bc_p", walls, move |c| c[pr] - c[ps]);
    p.exact(u, move |c| (PI * c[x]).sin() * (PI * c[y]).cos());
    p.exact(v, move |c| -(PI * c[x]).cos() * (PI * c[y]).sin());
    p.exact(pr, move |c| (PI * c[x]).sin() * (PI * c[y]).sin());
    p.build()
}

fn allen_cahn() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("allen_cahn");
    let t = p.input("t", [0.0, 1.0]);
    let x = p.input("x", [-1.0, 1.0]);
    let eps = 0.0001;
    let u = p.net("u", &[t, x], mlp(&[64, 64, 64]));
    let inner = p.points("inner", interior(4096));
    let start = p.points("start", face(t, 0.0, 256));
    let side = p.points("side", face(x, -1.0, 256));
    p.residual("pde", inner, move |c| {
        c.d(c[u], &[t]) - eps * c.d(c[u], &[x, x]) + 5.0 * c[u].powi(3) - 5.0 * c[u]
    });
    p.residual("ic", start, move |c| {
        c[u] - c[x].powi(2) * (PI * c[x]).cos()
    })
    .weight(10.0);
    p.residual("periodic", side, move |c| {
        c.call(u, &[c[t], c.num(-1.0)]) - c.call(u, &[c[t], c.num(1.0)])
    });
    p.residual("periodic_slope", side, move |c| {
        let u_x = |at: f64| c.at(c.d(c[u], &[x]), &[(x, c.num(at))]);
        u_x(-1.0) - u_x(1.0)
    });
    p.build()
}

fn allen_cahn_periodic() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("allen_cahn_periodic");
    let t = p.input("t", [0.0, 1.0]);
    let x = p.input("x", [-1.0, 1.0]);
    let eps = 0.0001;
    let u = p.net("u", &[t, x], mlp(&[32, 32, 32]).periodic(&[x]));
    let inner = p.points("inner", interior(8192));
    let start = p.points("start", face(t, 0.0, 512));
    p.residual("pde", inner, move |c| {
        c.d(c[u], &[t]) - eps * c.d(c[u], &[x, x]) + 5.0 * c[u].powi(3) - 5.0 * c[u]
    });
    p.residual("ic", start, move |c| {
        c[u] - c[x].powi(2) * (PI * c[x]).cos()
    })
    .weight(10.0);
    p.build()
}

/// -u'' = f on (0, 1), u = sin(2πx) + 0.1 sin(50πx).
fn multiscale(name: &str, net: nabla::frontend::problem::NetSpec) -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new(name);
    let x = p.input("x", [0.0, 1.0]);
    let u = p.net("u", &[x], net);
    let f = p.define("f", move |c| {
        4.0 * PI.powi(2) * (2.0 * PI * c[x]).sin() + 250.0 * PI.powi(2) * (50.0 * PI * c[x]).sin()
    });
    let inner = p.points("inner", interior(1024));
    let ends = p.points("ends", boundary(2));
    p.residual("pde", inner, move |c| -c.d(c[u], &[x, x]) - c[f]);
    p.residual("bc", ends, move |c| c[u]).weight(10.0);
    p.exact(u, move |c| {
        (2.0 * PI * c[x]).sin() + 0.1 * (50.0 * PI * c[x]).sin()
    });
    p.build()
}

/// A hard-constraint ansatz: `u = x(1 − x) y(1 − y) n` is a constrained output.
fn poisson_hard() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("poisson_hard");
    let x = p.input("x", [0.0, 1.0]);
    let y = p.input("y", [0.0, 1.0]);
    let n = p.net("n", &[x, y], mlp(&[32, 32]));
    let u = p.define("u", move |c| {
        c[x] * (1.0 - c[x]) * c[y] * (1.0 - c[y]) * c[n]
    });
    let f = p.define("f", move |c| {
        2.0 * PI.powi(2) * (PI * c[x]).sin() * (PI * c[y]).sin()
    });
    let inner = p.points("inner", interior(1024));
    p.residual("pde", inner, move |c| -c.lap(c[u]) - c[f]);
    p.exact(u, move |c| (PI * c[x]).sin() * (PI * c[y]).sin());
    p.build()
}

/// Dirichlet on the outer circle, a flux condition (normals, `dn`) on the hole.
fn annulus_neumann() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("annulus_neumann");
    let x = p.input("x", [-1.0, 1.0]);
    let y = p.input("y", [-1.0, 1.0]);
    let ring = p.domain(
        "ring",
        &[x, y],
        disk([0.0, 0.0], 1.0) - disk([0.0, 0.0], 0.5),
    );
    let outer = p.domain("outer", &[x, y], disk([0.0, 0.0], 1.0));
    let hole = p.domain("hole", &[x, y], disk([0.0, 0.0], 0.5));
    let u = p.net("u", &[x, y], mlp(&[32, 32]));
    let ue = p.define("ue", move |c| (PI * c[x]).sin() * (PI * c[y]).sin());
    let flux = p.define("flux", move |c| {
        c.normal(x) * PI * (PI * c[x]).cos() * (PI * c[y]).sin()
            + c.normal(y) * PI * (PI * c[x]).sin() * (PI * c[y]).cos()
    });
    let inner = p.points("inner", interior_of(ring, 2048));
    let rim = p.points("rim", boundary_of(outer, 256));
    let wall = p.points("wall", boundary_of(hole, 256));
    p.residual("pde", inner, move |c| {
        -c.lap(c[u]) - 2.0 * PI.powi(2) * c[ue]
    });
    p.residual("dirichlet", rim, move |c| c[u] - c[ue])
        .weight(10.0);
    p.residual("neumann", wall, move |c| c.dn(c[u]) - c[flux])
        .weight(10.0);
    p.exact(u, move |c| (PI * c[x]).sin() * (PI * c[y]).sin());
    p.build()
}

/// Laplace on the L-shaped domain with the corner-singular solution `r^(2/3) sin(2θ/3)`.
fn lshape() -> Result<Problem, BuildError> {
    let mut p = ProblemBuilder::new("lshape");
    let x = p.input("x", [-1.0, 1.0]);
    let y = p.input("y", [-1.0, 1.0]);
    let l = polygon(&[
        [-1.0, -1.0],
        [0.0, -1.0],
        [0.0, 0.0],
        [1.0, 0.0],
        [1.0, 1.0],
        [-1.0, 1.0],
    ]);
    let d = p.domain("L", &[x, y], l);
    let u = p.net("u", &[x, y], mlp(&[32, 32]));
    let r = p.define("r", move |c| (c[x].powi(2) + c[y].powi(2)).sqrt());
    let theta = p.define("theta", move |c| (-c[y]).atan2(-c[x]) + PI);
    let ue = p.define("ue", move |c| {
        c[r].pow(2.0 / 3.0) * (2.0 * c[theta] / 3.0).sin()
    });
    let inner = p.points("inner", interior_of(d, 1024));
    let walls = p.points("walls", boundary_of(d, 512));
    p.residual("pde", inner, move |c| c.lap(c[u]));
    p.residual("bc", walls, move |c| c[u] - c[ue]).weight(10.0);
    p.exact(u, move |c| c[ue]);
    p.build()
}
