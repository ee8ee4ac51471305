//! # nabla-ir: the graph IR
//!
//! A program is a [`Graph`]: a list of [`Node`]s, each an [`Op`] applied to operands that
//! come before it, with named outputs. This crate defines the ops, their types, the
//! verifier, the text format and the reference interpreter.
//!
//! ## What a node means
//!
//! A node denotes a tensor value: an element type ([`DType`], f32 or f64) and a row-major
//! [`Shape`]. Leaves are collocation-point inputs ([`Op::Input`], batch axis first: `[N, 1]`
//! for one coordinate of `N` points), trainable parameters ([`Op::Param`]: `W: [out, in]`,
//! `b: [out]`), constants, and variables bound by derivative operators ([`Op::Bound`]).
//! Elementwise ops take operands of identical type; [`Op::Broadcast`] makes shapes agree
//! (NumPy rules), and [`Graph::binary`] inserts it for you. [`Op::MatMul`] multiplies
//! matrices with optional transposes; [`Op::Sum`]/[`Op::Mean`] remove an axis;
//! [`Op::Slice`]/[`Op::Concat`] select and stack columns.
//!
//! ## Evaluation order
//!
//! Ids are dense and every operand has a smaller id than its user, so id order is a
//! topological order: the interpreter is one forward loop, a reverse sweep one backward
//! loop. [`Graph::add`] hash-conses: structurally equal nodes are one node.
//!
//! ## Derivative operators and levels
//!
//! [`Op::Diff`], [`Op::Laplacian`], [`Op::Grad`], [`Op::Jacobian`] and the substitution
//! [`Op::At`] name what they differentiate (their first operand) and with respect to which
//! variable leaves.
//! `Diff[f, v]` of order `n` is the `n`-th derivative of `f` along `v` with an all-ones
//! seed: for values computed pointwise from the points it is the pointwise partial
//! derivative `∂ⁿf/∂vⁿ`. Each operator instance carries a fresh [`Level`]; `passes::ad`
//! expands operators innermost first into plain ops, and values made for one level are
//! never mixed up with another's, so nested derivatives cannot confuse perturbations.
//! Graphs with derivative operators cannot be interpreted until expanded.
//!
//! ## Testing
//!
//! The interpreter is the reference every other path is tested against. With the
//! `testing` feature, `testing` is the test support every crate's tests share: the seeded
//! generator, leaf and value helpers, the standard test MLP, and random well-typed graphs
//! with input values for property tests. File tests (`tests/filetests/<kind>/*.ir`: IR
//! text in, printed graph, verifier error, values on the interpreter and the backends out)
//! are run by the `nabla-filetests` crate (`filetests/`).
//!
//! ## Example
//!
//! ```
//! use nabla_ir::{interp, text, verify, BinOp, DType, Graph, Op, Shape, Tensor, UnOp};
//!
//! let mut g = Graph::new();
//! let x = g.add(Op::Input { name: "x".into(), dtype: DType::F64, shape: Shape::matrix(3, 1) }, &[]).unwrap();
//! let s = g.unary(UnOp::Sin, x);
//! let y = g.binary(BinOp::Mul, s, x);
//! g.set_output("y", y);
//! verify(&g).unwrap();
//! assert_eq!(text::parse(&text::print(&g)).unwrap(), g);
//!
//! let env = [("x".to_string(), Tensor::column(vec![0.0, 1.0, 2.0]))].into();
//! let out = interp::eval(&g, &[y], &env, DType::F64).unwrap();
//! assert!((out[0].data[2] - 2.0 * 2f64.sin()).abs() < 1e-15);
//! ```
#![warn(missing_docs)]

pub mod dot;
mod graph;
pub mod infer;
pub mod interp;
mod op;
mod tensor;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;
mod types;
mod verify;

pub use graph::{AddError, Args, Graph, Node, NodeId};
pub use infer::TypeError;
pub use op::{
    gelu, sigmoid, sign, softplus, BinOp, Data, Level, Method, Num, Op, UnOp, GELU_A, GELU_C,
};
pub use tensor::Tensor;
pub use types::{DType, Shape, Type};
pub use verify::{verify, GraphInfo, VerifyError};
