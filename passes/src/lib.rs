//! # nabla-passes: graph-to-graph transformations
//!
//! Passes are plain functions called in order by [`pipeline::run`]:
//!
//! 1. [`ad`] expands derivative operators (innermost first) into plain ops.
//! 2. [`simplify`] runs equality saturation over the derivative-free graph.
//! 3. [`schedule`] fuses the graph into kernels and plans buffers for the backends.
//!
//! Every pass's output is verified in debug and test builds.
#![warn(missing_docs)]

pub mod ad;
pub mod pipeline;
pub mod schedule;
pub mod simplify;
