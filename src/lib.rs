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
//! - [`params`]: the JSON files of parameters and points.

pub use nabla_backends as backends;
pub use nabla_frontend as frontend;
pub use nabla_ir as ir;
pub use nabla_passes as passes;

pub use nabla_backends::{Executable, RunError};

mod compile;
pub mod params;
pub mod train;
pub use compile::{compile, lower, Backend, CompileError, Derivs, Options};

/// Everything a DSL program needs: `use nabla::prelude::*`.
pub mod prelude {
    pub use crate::{compile, Backend, Derivs, Executable, Options};
    pub use nabla_frontend::prelude::*;
    pub use nabla_ir::Graph;
}
