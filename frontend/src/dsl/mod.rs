//! The Rust embedded DSL: ordinary Rust (closures, operators, method calls) traced into an
//! [`nabla_ir::Graph`].
//!
//! A [`Builder`] owns the graph being traced (behind a `RefCell`, so handles need no
//! `&mut`); a [`Var`] is a copyable handle `(node id, &Builder)` — no raw pointers, no
//! `unsafe`. Arithmetic works with `Var op Var`, `Var op f64` and `f64 op Var`; shapes
//! broadcast NumPy-style. A construction that cannot be typed (a shape mismatch, a
//! derivative with respect to something that is not a variable) does not panic: the
//! builder records the first error and [`Builder::finish`] returns it. So do arguments
//! that do not fit together ([`DslError::Usage`]: a `jvp` with more variables than
//! tangents, a probe of the wrong length, a variable listed twice in `laplacian_of` or
//! `at`, an output named twice) and a [`Var`] of another builder ([`DslError::Foreign`]),
//! whose node id would name some other node of this graph. Only an empty list where no
//! other value names a builder (`concat(&[])`, `laplacian(f, &[])`) panics, saying so.
//!
//! Derivative operators take closures or expressions (see [`deriv`]): a closure is traced
//! at a fresh bound variable of a fresh level, so nesting never confuses perturbations.
//!
//! ```
//! use nabla_frontend::dsl::*;
//! let b = Builder::new();
//! let x = b.input("x", 3);
//! let y = diff(|x| x.powi(3), x);           // 3x²
//! b.output("y", y);
//! let g = b.finish().unwrap();
//! assert_eq!(g.outputs().len(), 1);
//! ```

pub mod deriv;
mod ops;

pub use deriv::*;
pub use ops::*;

use nabla_ir::{AddError, DType, Graph, NodeId, Num, Op, Shape, Tensor};
use std::cell::RefCell;

/// Why a traced program is invalid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DslError {
    /// An operation that does not type-check.
    #[error("{what}: {source}")]
    Build {
        /// What was being built.
        what: String,
        /// The IR's reason.
        source: AddError,
    },
    /// A param declared twice with different values or shapes.
    #[error("param `{0}` declared twice")]
    DuplicateParam(String),
    /// `normal(v)` or `dn(E)` where they mean nothing.
    #[error("{}", normal_error(set, input, domain.as_deref()))]
    Normal {
        /// The point set traced on.
        set: String,
        /// The coordinate asked for.
        input: String,
        /// The set's domain, when it is a boundary set.
        domain: Option<String>,
    },
    /// A net applied to the wrong number of arguments.
    #[error("net `{net}` takes {expected} arguments, {found} given")]
    Arity {
        /// The net.
        net: String,
        /// Its argument count.
        expected: usize,
        /// The number given.
        found: usize,
    },
    /// A value traced by another [`Builder`]: its node id means another node here.
    #[error("{what}: a value of another Builder (each Builder traces its own graph)")]
    Foreign {
        /// What it was used in.
        what: String,
    },
    /// A problem's handle (`c[x]` of [`crate::problem::Input`], ...) that the problem traced
    /// does not declare: one of another `ProblemBuilder`, whose index would name some other
    /// declaration here, or none.
    #[error(
        "problem `{problem}` does not declare this {what} handle: a handle indexes only the \
         problem whose ProblemBuilder declared it"
    )]
    ForeignHandle {
        /// The kind of handle (`input`, `output`, `param`, `let`).
        what: String,
        /// The problem traced.
        problem: String,
    },
    /// Arguments that do not fit together: lists of different lengths, an empty list, a
    /// variable listed twice, an output named twice.
    #[error("{what}: {reason}")]
    Usage {
        /// The operation.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A sampled operator asked for no directions or for too many.
    #[error("a sampled Laplacian needs between 1 and {max} directions, {k} asked for")]
    Sample {
        /// The number asked for.
        k: usize,
        /// The most allowed.
        max: usize,
    },
}

fn normal_error(set: &str, input: &str, domain: Option<&str>) -> String {
    match domain {
        Some(d) => format!(
            "normal({input}) on point set `{set}`: `{input}` is not a coordinate of domain `{d}`"
        ),
        None => format!(
            "normal({input}) or dn(...) on point set `{set}`, which is not made only of \
             boundary(D, N) terms of one domain"
        ),
    }
}

/// Traces a program into a graph. Create one per objective.
pub struct Builder {
    g: RefCell<Graph>,
    init: RefCell<Vec<(String, Tensor)>>,
    error: RefCell<Option<DslError>>,
    dtype: DType,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

/// A handle to a traced value. `Copy`, tied to its builder's lifetime.
#[derive(Clone, Copy)]
pub struct Var<'g> {
    id: NodeId,
    b: &'g Builder,
}

impl std::fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var({})", self.id)
    }
}

impl Builder {
    /// A builder whose leaves are f64.
    pub fn new() -> Builder {
        Builder::with_dtype(DType::F64)
    }

    /// A builder whose leaves (and so every value) have element type `dtype`.
    pub fn with_dtype(dtype: DType) -> Builder {
        Builder {
            g: RefCell::new(Graph::new()),
            init: RefCell::new(Vec::new()),
            error: RefCell::new(None),
            dtype,
        }
    }

    /// The element type of this builder's leaves.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// `n` points of one coordinate: an input of shape `[n, 1]`.
    pub fn input(&self, name: &str, n: usize) -> Var<'_> {
        self.input_shaped(name, Shape::matrix(n, 1))
    }

    /// An input of any shape.
    pub fn input_shaped(&self, name: &str, shape: Shape) -> Var<'_> {
        let op = Op::Input {
            name: name.into(),
            dtype: self.dtype,
            shape,
        };
        self.leaf(op, name)
    }

    /// A trainable parameter with its initial value (the tensor's shape is the param's).
    pub fn param(&self, name: &str, init: Tensor) -> Var<'_> {
        let op = Op::Param {
            name: name.into(),
            dtype: self.dtype,
            shape: init.shape.clone(),
        };
        let mut inits = self.init.borrow_mut();
        match inits.iter().find(|(n, _)| n == name) {
            Some((_, t)) if *t != init => self.fail(DslError::DuplicateParam(name.into())),
            Some(_) => {}
            None => inits.push((name.into(), init)),
        }
        drop(inits);
        self.leaf(op, name)
    }

    /// A scalar constant.
    pub fn constant(&self, v: f64) -> Var<'_> {
        let op = Op::Const {
            value: Num::new(v),
            dtype: self.dtype,
        };
        self.leaf(op, "constant")
    }

    /// A constant tensor (its values rounded to the builder's element type when run).
    pub fn tensor(&self, t: &Tensor) -> Var<'_> {
        let op = Op::Tensor {
            data: t.data.iter().map(|&v| Num::new(v)).collect(),
            dtype: self.dtype,
            shape: t.shape.clone(),
        };
        self.leaf(op, "tensor")
    }

    fn leaf(&self, op: Op, what: &str) -> Var<'_> {
        self.add(op, &[], what)
    }

    /// Adds a node; on a type error records it and returns the first operand (or a zero
    /// constant) so tracing can go on and report the error at [`Builder::finish`].
    pub(crate) fn add(&self, op: Op, args: &[NodeId], what: &str) -> Var<'_> {
        let r = self.g.borrow_mut().add(op, args);
        match r {
            Ok(id) => self.var(id),
            Err(source) => {
                self.fail(DslError::Build {
                    what: what.into(),
                    source,
                });
                match args.first() {
                    Some(&a) => self.var(a),
                    None => self.constant(0.0),
                }
            }
        }
    }

    pub(crate) fn fail(&self, e: DslError) {
        self.error.borrow_mut().get_or_insert(e);
    }

    pub(crate) fn var(&self, id: NodeId) -> Var<'_> {
        Var { id, b: self }
    }

    /// Runs `f` on the graph being traced (read-only).
    pub fn with_graph<R>(&self, f: impl FnOnce(&Graph) -> R) -> R {
        f(&self.g.borrow())
    }

    /// Names `v` as an output of the traced program. A name given twice is an error at
    /// [`Builder::finish`] (the second would replace the first).
    pub fn output(&self, name: &str, v: Var<'_>) {
        let what = format!("output `{name}`");
        let Some(id) = self.own(v, &what) else {
            return;
        };
        if self.g.borrow().outputs().iter().any(|(n, _)| n == name) {
            let reason = "named twice".to_string();
            return self.fail(DslError::Usage { what, reason });
        }
        self.g.borrow_mut().set_output(name, id);
    }

    /// `v`'s node, when `v` was traced by this builder; otherwise records
    /// [`DslError::Foreign`] (a node id of another graph names some other node here).
    pub(crate) fn own(&self, v: Var<'_>, what: &str) -> Option<NodeId> {
        if std::ptr::eq(v.b, self) {
            return Some(v.id);
        }
        self.fail(DslError::Foreign { what: what.into() });
        None
    }

    /// The nodes of `vs`, or `None` (an error recorded) when one is another builder's.
    pub(crate) fn own_all(&self, vs: &[Var<'_>], what: &str) -> Option<Vec<NodeId>> {
        vs.iter().map(|v| self.own(*v, what)).collect()
    }

    /// Records a [`DslError::Usage`]: arguments of `what` that do not fit together.
    pub(crate) fn usage(&self, what: &str, reason: impl Into<String>) {
        self.fail(DslError::Usage {
            what: what.into(),
            reason: reason.into(),
        });
    }

    /// Initial values of every param declared so far, in declaration order.
    pub fn initial_params(&self) -> Vec<(String, Tensor)> {
        self.init.borrow().clone()
    }

    /// The traced graph, or the first error met while tracing.
    pub fn finish(&self) -> Result<Graph, DslError> {
        if let Some(e) = self.error.borrow().clone() {
            return Err(e);
        }
        Ok(self.g.borrow().clone())
    }

    /// A fresh level for a derivative operator instance.
    pub(crate) fn fresh_level(&self) -> nabla_ir::Level {
        self.g.borrow_mut().fresh_level()
    }
}

impl<'g> Var<'g> {
    /// The node this handle names.
    pub fn id(self) -> NodeId {
        self.id
    }

    /// The builder this value belongs to.
    pub fn builder(self) -> &'g Builder {
        self.b
    }

    /// The value's shape.
    pub fn shape(self) -> Shape {
        self.b.g.borrow().shape(self.id).clone()
    }
}
