//! # nabla-backends: code generators
//!
//! One folder per backend, each with the same shape: `Options`, `Error`, and
//! `compile(&Graph, &GraphInfo, &Options)`, returning something that implements
//! [`Executable`]. The reference interpreter is wrapped as a backend too ([`interp`]), so
//! every consumer (CLI, trainer, benchmarks, tests) drives all three the same way.
//!
//! An executable owns its buffers: leaves (inputs and params) are bound by name with
//! [`Executable::set`] and stay bound across runs (points are uploaded once per resample,
//! parameters once per step), [`Executable::run`] evaluates every output of the graph, and
//! [`Executable::output`] reads one back.
#![warn(missing_docs)]

pub mod cranelift;
pub mod interp;
pub mod opencl;

use nabla_ir::{DType, Shape};

/// A leaf that an executable expects to be bound before it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Name of the `input` or `param` leaf.
    pub name: String,
    /// Its shape; [`Executable::set`] takes exactly `shape.numel()` values.
    pub shape: Shape,
}

/// Errors common to all backends when binding and running.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No leaf of that name.
    #[error("the compiled program has no input or param named `{0}`")]
    UnknownName(String),
    /// Wrong number of values for a leaf.
    #[error("`{name}` expects {expected} values (shape {shape}), found {found}")]
    Length {
        /// Leaf name.
        name: String,
        /// Its shape.
        shape: Shape,
        /// `shape.numel()`.
        expected: usize,
        /// What was given.
        found: usize,
    },
    /// A leaf never bound before `run`.
    #[error("`{0}` was never set before run")]
    Unset(String),
    /// Backend-specific failure (device errors, interpreter errors).
    #[error("{0}")]
    Backend(String),
}

/// A compiled program, ready to run many times.
pub trait Executable {
    /// The leaves to bind, inputs first then params, in graph order.
    fn bindings(&self) -> &[Binding];
    /// Names of the outputs, in graph order.
    fn output_names(&self) -> Vec<String>;
    /// Element type the program computes in.
    fn dtype(&self) -> DType;
    /// Binds `values` (row-major, converted to the program's dtype) to the leaf `name`.
    /// Checks the length before touching any buffer.
    fn set(&mut self, name: &str, values: &[f64]) -> Result<(), RunError>;
    /// Evaluates all outputs.
    fn run(&mut self) -> Result<(), RunError>;
    /// Output `index` of the last run, as f64, row-major.
    fn output(&self, index: usize) -> Vec<f64>;
}

/// Checks `values` against the binding `name` among `bindings`; returns its index.
pub fn check_binding(bindings: &[Binding], name: &str, values: &[f64]) -> Result<usize, RunError> {
    let i = bindings
        .iter()
        .position(|b| b.name == name)
        .ok_or_else(|| RunError::UnknownName(name.into()))?;
    let b = &bindings[i];
    if values.len() != b.shape.numel() {
        return Err(RunError::Length {
            name: name.into(),
            shape: b.shape.clone(),
            expected: b.shape.numel(),
            found: values.len(),
        });
    }
    Ok(i)
}

/// The bindings of a verified graph: its live inputs then its live params.
pub fn bindings_of(g: &nabla_ir::Graph, info: &nabla_ir::GraphInfo) -> Vec<Binding> {
    let leaf = |(name, id): &(String, nabla_ir::NodeId)| {
        info.live[id.index()].then(|| Binding {
            name: name.clone(),
            shape: g.shape(*id).clone(),
        })
    };
    info.inputs
        .iter()
        .chain(&info.params)
        .filter_map(leaf)
        .collect()
}
