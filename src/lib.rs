//! # nabla
//!
//! A compiler for exact nested derivatives of neural networks, for physics-informed neural
//! networks. This crate is the facade over the workspace and the home of the `nabla` CLI:
//!
//! - [`ir`]: the graph IR, verifier, text format and reference interpreter;
//! - [`passes`]: automatic differentiation, simplification, scheduling;
//! - [`backends`]: the interpreter, the Cranelift JIT and OpenCL;
//! - [`frontend`]: the Rust DSL, MLPs, the problem language;
//! - [`compile`]: the whole pipeline from a traced graph to an [`Executable`];
//! - [`data`]: parameters and points: their JSON files, binding them to a program.

pub use nabla_backends as backends;
pub use nabla_frontend as frontend;
pub use nabla_ir as ir;
pub use nabla_passes as passes;

pub use nabla_backends::{Executable, RunError};

mod compile;
pub mod data;
pub mod train;
pub use compile::{compile, lower, parse_derivs, Backend, CompileError, Options};

/// Everything a DSL program needs: `use nabla::prelude::*`.
pub mod prelude {
    pub use crate::{compile, Backend, Executable, Options};
    pub use nabla_frontend::prelude::*;
    pub use nabla_ir::Graph;
}
