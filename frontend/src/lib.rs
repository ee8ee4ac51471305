//! # nabla-frontend: how programs enter nabla
//!
//! - [`dsl`]: the Rust embedded DSL (closures, operators) traced into an IR graph;
//! - [`nn`]: MLPs with reproducible initialisation;
//! - [`problem`]: the `Problem` both front ends produce — inputs, nets, point sets,
//!   residuals — and the objective graph built from it;
//! - [`lang`]: the problem language (`.nabla` files), lowered through the DSL so the
//!   language has no semantics of its own.
#![warn(missing_docs)]

pub mod dsl;
pub mod lang;
pub mod nn;
pub mod problem;

/// Commonly used names: `use nabla_frontend::prelude::*`.
pub mod prelude {
    pub use crate::dsl::*;
    pub use crate::nn::{Act, Mlp, MlpParams};
    pub use crate::problem::domain::{ball, cuboid, disk, polygon, rect, Region};
    pub use crate::problem::{
        boundary, boundary_of, face, interior, interior_of, mlp, BuildError, Ctx, Domain, Input,
        Let, Output, Param, Points, Problem, ProblemBuilder, Sampler,
    };
    pub use nabla_ir::{DType, Method, Shape, Tensor};
}
