//! # nabla
//!
//! A compiler for exact nested derivatives of neural networks, for physics-informed neural
//! networks. This crate is the facade over the workspace and the home of the `nabla` CLI:
//!
//! - [`ir`]: the graph IR, verifier, text format and reference interpreter;
//! - [`passes`]: automatic differentiation, simplification, scheduling;
//! - [`backends`]: the interpreter, the Cranelift JIT and OpenCL;
//! - [`frontend`]: the Rust DSL, MLPs, the problem builder, the problem language;
//! - [`compile`]: the whole pipeline from a traced graph to an [`Executable`];
//! - [`train()`]: a problem trained as `nabla train` trains it ([`train`](mod@train) holds
//!   the optimizers, the loop, the reports, checkpoints, and training with several
//!   processes: [`train::dist`], over MPI with the `mpi` feature);
//! - [`data`]: parameters and points: their JSON files, binding them to a program.
//!
//! A crate that uses nabla from Rust only can leave out the command line's crates (clap,
//! indicatif, ctrlc) and plotters: `nabla = { path = "…/nabla", default-features = false }`.
//!
//! # A tour
//!
//! **A derivative of a closure**, traced, compiled and run on the reference interpreter
//! (f64). A [`Builder`](frontend::dsl::Builder) records the program; a
//! [`Var`](frontend::dsl::Var) is a copyable handle to a traced value.
//!
//! ```
//! use nabla::prelude::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let b = Builder::new();
//! let x = b.input("x", 3); // 3 points of one coordinate
//! b.output("dy", diff(|x| x * x.sin(), x)); // (x sin x)' = sin x + x cos x
//! let mut exe = compile(&b.finish()?, &Options::interp())?;
//! exe.set("x", &[0.0, 1.0, 2.0])?;
//! exe.run()?;
//! for (got, x) in exe.output(0).into_iter().zip([0.0_f64, 1.0, 2.0]) {
//!     assert!((got - (x.sin() + x * x.cos())).abs() < 1e-12);
//! }
//! # Ok(()) }
//! ```
//!
//! **Nesting never confuses perturbations.** Every derivative operator gets a level of its
//! own, and a closure is differentiated only with respect to its own argument, whatever it
//! captures. The classic test: `d/dx [x · d/dy (x + y)] = d/dx [x · 1] = 1`; an AD that
//! confuses the two perturbations answers 2.
//!
//! ```
//! # use nabla::prelude::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let b = Builder::new();
//! let x = b.input("x", 1);
//! b.output("d", diff(|x| x * diff(|y| x + y, x), x));
//! let mut exe = compile(&b.finish()?, &Options::interp())?;
//! exe.set("x", &[1.0])?;
//! exe.run()?;
//! assert_eq!(exe.output(0), [1.0]);
//! # Ok(()) }
//! ```
//!
//! **The gradient of a loss that contains derivatives**, with respect to parameters a
//! closure captures: reverse mode over forward mode, exact, compiled once for the CPU. The
//! closure is named with [`func`](frontend::dsl::func) because a `let` of a closure with an
//! annotated `|x: Var|` does not type-check on its own (its docs say why, and which other
//! spellings work).
//!
//! ```
//! # use nabla::prelude::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let b = Builder::new();
//! let t = b.input("t", 50);
//! let theta = Mlp::new(&[1, 8, 8, 1], Act::Tanh).params(&b, "theta", 0);
//! let net = func(|x: Var| x * theta.apply(x)); // u(t) = t·NN(t), so u(0) = 0
//! let loss = mean(square(diff(net, t) - cos(t))); // the residual of u' = cos t
//! b.output("loss", loss);
//! for (g, (name, _)) in grad(loss, &theta).into_iter().zip(b.initial_params()) {
//!     b.output(&format!("grad.{name}"), g);
//! }
//! let mut exe = compile(&b.finish()?, &Options::cranelift())?; // f32 on the JIT
//! let ts: Vec<f64> = (0..50).map(|i| i as f64 / 49.0).collect();
//! exe.set("t", &ts)?;
//! for (name, value) in b.initial_params() {
//!     exe.set(&name, &value.data)?;
//! }
//! exe.run()?;
//! assert_eq!(exe.output_names()[1], "grad.theta.0.W");
//! assert!(exe.output(0)[0] > 0.0 && exe.output(1).iter().all(|g| g.is_finite()));
//! # Ok(()) }
//! ```
//!
//! **A PINN problem, trained.** [`ProblemBuilder`](frontend::problem::ProblemBuilder)
//! states a problem in the order a paper does, with handles (`c[x]`, `c[u]`) instead of
//! names; [`train()`] trains it with the optimizers, defaults, error measurements and
//! report of `nabla train` ([`Training`] holds the command's flags; `out` writes the same
//! directory). Here `u'' = −π² sin(πx)` on (0, 1) with `u(0) = u(1) = 0`, whose solution is
//! `sin(πx)`, trained with Levenberg–Marquardt in f64:
//!
//! ```
//! # use nabla::prelude::*;
//! use std::f64::consts::PI;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut p = ProblemBuilder::new("sine");
//! let x = p.input("x", [0.0, 1.0]);
//! let u = p.net("u", &[x], mlp(&[16]));
//! let inner = p.points("inner", interior(64));
//! let ends = p.points("ends", boundary(2));
//! p.residual("pde", inner, move |c| c.d(c[u], &[x, x]) + PI.powi(2) * (PI * c[x]).sin());
//! p.residual("bc", ends, move |c| c[u]).weight(10.0);
//! p.exact(u, move |c| (PI * c[x]).sin());
//! let problem = p.build()?;
//!
//! let run = train(&problem, &Training::new(OptimizerKind::Lm).steps(100).dtype(DType::F64))?;
//! let (output, error) = &run.rel_l2[0];
//! assert!(output == "u" && *error < 1e-3, "relative L2 error {error}");
//! # Ok(()) }
//! ```
//!
//! **A loop of your own.** The pieces [`train()`] is made of work alone: a compiled problem
//! is an [`Objective`](train::Objective) for the optimizers of [`train`](mod@train), and a
//! [`Sampler`](frontend::problem::Sampler) draws collocation points for any graph.
//!
//! ```
//! # use nabla::prelude::*;
//! use nabla::train::{model::Model, optim::Adam};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut p = ProblemBuilder::new("sine");
//! # let x = p.input("x", [0.0, 1.0]);
//! # let u = p.net("u", &[x], mlp(&[16]));
//! # let inner = p.points("inner", interior(64));
//! # p.residual("pde", inner, move |c| c.d(c[u], &[x, x]) + 9.87 * c[x]);
//! # let problem = p.build()?;
//! let (mut model, mut theta, _compile_s) = Model::compile(&problem, &Options::cranelift())?;
//! let mut adam = Adam::new(theta.len(), 1e-2);
//! let mut losses = Vec::new();
//! for round in 0..4 {
//!     model.bind_points(round)?; // a fresh sample of every point set
//!     for _ in 0..25 {
//!         losses.push(adam.step(&mut model, &mut theta)?);
//!     }
//! }
//! assert!(losses[99] < losses[0]);
//!
//! // Points for a bare graph: the Laplacian of sin(x) cos(y) is −2 sin(x) cos(y).
//! let b = Builder::new();
//! let (x, y) = (b.input("x", 128), b.input("y", 128));
//! b.output("lap", laplacian(|v| v[0].sin() * v[1].cos(), &[x, y]));
//! let mut exe = compile(&b.finish()?, &Options::interp())?;
//! let cols = Sampler::new(&[[0.0, 1.0], [0.0, 1.0]], 1).columns(&interior(128));
//! exe.set("x", &cols[0])?;
//! exe.set("y", &cols[1])?;
//! exe.run()?;
//! let want = -2.0 * cols[0][5].sin() * cols[1][5].cos();
//! assert!((exe.output(0)[5] - want).abs() < 1e-12);
//! # Ok(()) }
//! ```
//!
//! The same problems in files: the problem language ([`frontend::lang`]) lowers to the
//! same [`Problem`](frontend::problem::Problem) through the same DSL, so
//! `examples/poisson_dsl.rs` and `examples/poisson2d.nabla` build the same graph (a test
//! checks it for every example written both ways).

pub use nabla_backends as backends;
pub use nabla_frontend as frontend;
pub use nabla_ir as ir;
pub use nabla_passes as passes;

pub use nabla_backends::{Executable, RunError};

mod compile;
pub mod data;
pub mod train;
pub use compile::{
    compile, compile_n, lower, parse_derivs, widest_value, Backend, CompileError, Lowered, Options,
};
pub use train::fit::{train, Progress, Trained, Training};
pub use train::run::OptimizerKind;

/// Everything a DSL program needs: `use nabla::prelude::*`.
pub mod prelude {
    pub use crate::{
        compile, train, Backend, Executable, OptimizerKind, Options, Progress, Trained, Training,
    };
    pub use nabla_frontend::prelude::*;
    pub use nabla_ir::Graph;
}
