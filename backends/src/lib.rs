//! # nabla-backends: code generators
//!
//! One module per backend, each with the same shape: `Options`, `Error`, and
//! `compile(&Graph, &GraphInfo, &Options)`, returning something that implements
//! [`Executable`]. The reference interpreter is wrapped as a backend too ([`interp`]), so
//! every consumer (CLI, trainer, benchmarks, tests) drives all three the same way. Each
//! backend is named after what runs the code: [`interp`], [`cranelift`], [`opencl`].
//!
//! An executable owns its buffers: leaves (inputs and params) are bound by name with
//! [`Executable::set`] and stay bound across runs (points are uploaded once per resample,
//! parameters once per step), [`Executable::run`] evaluates every output of the graph, and
//! [`Executable::output`] reads one back.
//!
//! What the backends share lives here: the leaves to bind and which are set
//! ([`BoundLeaves`]), the refusal of graphs with derivative operators ([`Unexpanded`]),
//! and the per-step times of a profiled run ([`StepTime`]).
#![warn(missing_docs)]

pub mod cranelift;
pub mod interp;
pub mod opencl;

use nabla_ir::{DType, Graph, GraphInfo, NodeId, Shape};
use std::collections::HashMap;
use std::time::Duration;

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
    /// An output read into a slice of another length ([`Executable::output_into`]).
    #[error("output {index} has {found} values, the slice it was read into holds {expected}")]
    OutputLength {
        /// The output's position.
        index: usize,
        /// The slice's length.
        expected: usize,
        /// The output's number of values.
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
pub trait Executable: Send {
    /// The leaves to bind. Each backend lists the live inputs, then the live params, in
    /// graph order.
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
    ///
    /// # Panics
    ///
    /// When `index` is not below the number of outputs, or before the first successful
    /// [`Executable::run`] (there is no value yet): the same on every backend, with a
    /// message saying which ([`BoundLeaves::check_output`]).
    fn output(&self, index: usize) -> Vec<f64>;
    /// Output `index` of the last run written into `dst`, as f64, row-major: what
    /// [`Executable::output`] gives, without a vector of its own (a tile's gradient goes
    /// straight into the vector it is summed in; the CPU backend converts from its
    /// buffer in one pass).
    ///
    /// # Errors
    ///
    /// [`RunError::OutputLength`] when `dst` does not hold exactly the output's values;
    /// `dst` is then left as it was.
    ///
    /// # Panics
    ///
    /// As [`Executable::output`].
    fn output_into(&self, index: usize, dst: &mut [f64]) -> Result<(), RunError> {
        let v = self.output(index);
        output_fits(index, v.len(), dst)?;
        dst.copy_from_slice(&v);
        Ok(())
    }
}

/// Whether an output `index` of `len` values fits `dst` exactly
/// ([`Executable::output_into`]).
pub fn output_fits(index: usize, len: usize, dst: &[f64]) -> Result<(), RunError> {
    match len == dst.len() {
        true => Ok(()),
        false => Err(RunError::OutputLength {
            index,
            expected: dst.len(),
            found: len,
        }),
    }
}

/// The leaves an executable binds, and which of them have been set since it was built.
/// Every backend checks [`Executable::set`] and [`Executable::run`] through it, so all
/// report the same errors.
#[derive(Clone, Debug)]
pub struct BoundLeaves {
    bindings: Vec<Binding>,
    set: Vec<bool>,
    /// Whether a run has succeeded, so that outputs hold values.
    ran: bool,
    /// Position of each binding by name: a program of a 1000-input problem with sampled
    /// operators has ~10⁴ leaves, rebound every step.
    index: HashMap<String, usize>,
}

impl BoundLeaves {
    /// Tracks `bindings`, none of them set.
    pub fn new(bindings: Vec<Binding>) -> BoundLeaves {
        let set = vec![false; bindings.len()];
        let index = (bindings.iter().enumerate())
            .map(|(i, b)| (b.name.clone(), i))
            .collect();
        BoundLeaves {
            bindings,
            set,
            ran: false,
            index,
        }
    }

    /// Records a successful run: outputs hold values from now on.
    pub fn mark_ran(&mut self) {
        self.ran = true;
    }

    /// The contract of [`Executable::output`]: panics when `index` is not below `count`
    /// (the number of outputs) or no run has succeeded yet.
    pub fn check_output(&self, index: usize, count: usize) {
        assert!(
            index < count,
            "output {index} asked for: the program has {count} outputs"
        );
        assert!(self.ran, "output {index} read before the program has run");
    }

    /// The leaves, in order.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// Checks `values` against the leaf `name`: that it exists and that `values` has one
    /// element per element of its shape. Returns its index in [`BoundLeaves::bindings`].
    pub fn check(&self, name: &str, values: &[f64]) -> Result<usize, RunError> {
        let i = *(self.index.get(name)).ok_or_else(|| RunError::UnknownName(name.into()))?;
        let b = &self.bindings[i];
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

    /// Records that leaf `i` holds values.
    pub fn mark_set(&mut self, i: usize) {
        self.set[i] = true;
    }

    /// Whether leaf `i` holds values.
    pub fn is_set(&self, i: usize) -> bool {
        self.set[i]
    }

    /// Ok when every leaf holds values, else [`RunError::Unset`] naming the first that
    /// does not.
    pub fn check_all_set(&self) -> Result<(), RunError> {
        match self.set.iter().position(|s| !s) {
            Some(i) => Err(RunError::Unset(self.bindings[i].name.clone())),
            None => Ok(()),
        }
    }
}

/// The bindings of a verified graph: its live inputs then its live params (a leaf that
/// no output needs is not bound).
pub fn bindings_of(g: &Graph, info: &GraphInfo) -> Vec<Binding> {
    leaf_bindings(g, info, |id| info.is_live(id))
}

/// Every input then every param of a verified graph, needed or not.
pub fn all_bindings_of(g: &Graph, info: &GraphInfo) -> Vec<Binding> {
    leaf_bindings(g, info, |_| true)
}

fn leaf_bindings(g: &Graph, info: &GraphInfo, keep: impl Fn(NodeId) -> bool) -> Vec<Binding> {
    let leaf = |(name, id): &(String, NodeId)| {
        keep(*id).then(|| Binding {
            name: name.clone(),
            shape: g.shape(*id).clone(),
        })
    };
    info.leaves().filter_map(leaf).collect()
}

/// Why no backend compiles a graph that still has derivative operators, `at` or `bound`
/// leaves: they have no code of their own, `passes::ad` must expand them first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the graph has unexpanded derivative operators: run the AD pass first")]
pub struct Unexpanded;

/// Ok when the verified graph described by `info` has no derivative operators left.
pub fn check_expanded(info: &GraphInfo) -> Result<(), Unexpanded> {
    if info.has_derivatives() {
        Err(Unexpanded)
    } else {
        Ok(())
    }
}

/// The time of one piece of a profiled run (`cranelift::CraneliftExecutable::profile`,
/// `opencl::OpenClExecutable::kernel_times`): one step of the schedule, or in OpenCL one
/// kernel (a split product or reduction is two kernels, the parts and their sum).
#[derive(Clone, Debug, PartialEq)]
pub struct StepTime {
    /// What ran: `s3 kernel [1024,32] (12 ops)` with Cranelift, the kernel's name
    /// (`s0_matmul`) in OpenCL.
    pub name: String,
    /// How long it took: wall time on this thread with Cranelift, device time from the
    /// queue's profiling events in OpenCL.
    pub time: Duration,
    /// Floating-point operations it performs, counted statically.
    pub flops: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_leaves_check_names_lengths_and_what_is_unset() {
        let leaf = |name: &str, n| Binding {
            name: name.into(),
            shape: Shape::matrix(n, 1),
        };
        let mut b = BoundLeaves::new(vec![leaf("x", 3), leaf("w", 2)]);
        assert!(matches!(b.check("y", &[0.0]), Err(RunError::UnknownName(n)) if n == "y"));
        let short = b.check("w", &[0.0]);
        assert!(matches!(
            short,
            Err(RunError::Length {
                expected: 2,
                found: 1,
                ..
            })
        ));
        assert!(matches!(b.check_all_set(), Err(RunError::Unset(n)) if n == "x"));
        let i = b.check("w", &[1.0, 2.0]).unwrap();
        b.mark_set(i);
        assert!(b.is_set(1) && !b.is_set(0));
        assert!(matches!(b.check_all_set(), Err(RunError::Unset(n)) if n == "x"));
        b.mark_set(0);
        assert!(b.check_all_set().is_ok());
    }
}
