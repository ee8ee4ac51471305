//! Scheduling: fusion into kernels, buffer liveness and the memory plan shared by both
//! backends.
//!
//! [`schedule`] turns a verified, derivative-free [`Graph`] into a [`Program`]: a list of
//! [`Step`]s over numbered [`Buffer`]s. A backend only has to know how to run three kinds
//! of step; it never looks at the graph again.
//!
//! ## Buffers
//!
//! Every buffer is a flat, row-major array of `len` elements of the program's dtype.
//! Leaves (`input`, `param`) and outputs have named buffers ([`BufKind::Input`],
//! [`BufKind::Param`], [`BufKind::Output`]) that live for the whole program; dense
//! constants are [`BufKind::Const`]; everything else is a [`BufKind::Temp`] with an offset
//! in one shared arena chosen by the memory plan. Scalar constants never get a buffer:
//! they are folded into the kernels that use them.
//!
//! ## Views: index maps instead of copies
//!
//! `broadcast`, `slice` and `reshape` move no data. A kernel reads an operand through an
//! [`Affine`] index map: the element at iteration index `(i0, i1, ...)` is
//! `buf[offset + Σ ik·stride_k]`. Broadcast axes have stride 0, a slice adds its start to
//! the offset, a reshape of a contiguous view re-strides it row-major. Only a reshape of a
//! non-contiguous view (say a broadcast) needs a copy first.
//!
//! ## Kernels: fused elementwise loops
//!
//! A [`Kernel`] is one loop nest over an iteration space (a [`Shape`]) whose body is a
//! small SSA expression DAG ([`Expr`]): loads of buffers through index maps, scalar
//! constants, and the elementwise ops of the IR (`Unary`, `Powi`, `Binary`). It writes one
//! or more values ([`Store`]s) through index maps of their own (a `concat` is a kernel
//! storing into part of a larger buffer). All elementwise nodes of one shape that are
//! ready at the same time go into one kernel, so a value used many times (say
//! `tanh(z)` in a Taylor-mode layer) is computed once, in registers, and intermediate
//! results that nothing else needs never touch memory. A node is stored to a buffer only
//! when something outside its kernel reads it: a product, a reduction, a view that changes
//! the shape, a later kernel, or an output.
//!
//! A later kernel computes a cheap value of an earlier one again rather than load it when
//! that costs it no load it does not already make, or up to two loads instead of the
//! earlier kernel's store and its own load: at most a few adds, subtracts, multiplies,
//! negations and squares, never a transcendental or a division. The kernels between a
//! network's products are bound by memory, and its backward pass reads the same `1 − a²`,
//! `−2a(1 − a²)` and jet sums `t₁² + t₂²` in many kernels; most of them then never need a
//! buffer (B4: 120 buffers → 103, 210 loads and stores → 185).
//!
//! Iterations of a kernel are independent, so backends may split any loop among threads
//! and vectorise the innermost one without changing results.
//!
//! ## Reductions and products
//!
//! [`Reduce`] sums (or averages) one axis of a view; [`MatMul`] is `op(a)·op(b)` of two
//! rank-2 views (transposes are just swapped strides). Both write a fresh contiguous buffer.
//! Backends must reduce in a fixed order that does not depend on the number of threads.
//!
//! ## Step order
//!
//! The builder emits steps in the graph's order; `order.rs` then moves every product and
//! reduction to just after the last step it depends on (a weight's gradient `hᵀ·δ` right
//! after `δ`, instead of after the whole backward pass), changing no value.
//!
//! ## The memory plan
//!
//! After the steps are fixed, each temporary's live range is the interval from the first
//! step that writes it to the last step that touches it. Temporaries are packed first-fit
//! into one arena (offsets aligned to [`ALIGN`] elements); a temporary reuses the space of
//! ones whose live range ended before it starts. [`Program::peak_bytes`] is the arena size.
//!
//! ## Example
//!
//! ```
//! use nabla_ir::{verify, BinOp, DType, Graph, Op, Shape, UnOp};
//! use nabla_passes::schedule::{schedule, ScheduleOptions, Step};
//!
//! let mut g = Graph::new();
//! let x = g.add(Op::Input { name: "x".into(), dtype: DType::F64, shape: Shape::matrix(8, 1) }, &[]).unwrap();
//! let s = g.unary(UnOp::Sin, x);
//! let y = g.binary(BinOp::Mul, s, x);
//! g.set_output("y", y);
//! let info = verify(&g).unwrap();
//! let p = schedule(&g, &info, &ScheduleOptions::default());
//! assert_eq!(p.steps.len(), 1); // sin and mul fused into one kernel
//! assert!(matches!(p.steps[0], Step::Kernel(_)));
//! println!("{p}");
//! ```

mod build;
mod display;
mod memory;
mod order;
#[cfg(any(test, feature = "testing"))]
pub mod reference;
#[cfg(test)]
mod tests;

use nabla_ir::{BinOp, DType, Graph, GraphInfo, NodeId, Shape, UnOp};
use smallvec::SmallVec;
use std::sync::Arc;

pub use memory::ALIGN;

/// The default [`ScheduleOptions::max_kernel_ops`]: far above every kernel of the
/// benchmark objectives (B3's largest has 405 operations, B8's 168), low enough that a
/// kernel's spill slots stay in kilobytes.
pub const MAX_KERNEL_OPS: usize = 2048;

/// Options of the scheduler.
#[derive(Clone, Debug)]
pub struct ScheduleOptions {
    /// Element type the program will run in (sizes the memory plan).
    pub dtype: DType,
    /// Fuse elementwise nodes into shared kernels. With `false` every elementwise node is
    /// its own kernel and every value goes through memory (for debugging and tests).
    pub fuse: bool,
    /// The most operations one kernel's body holds before it is closed and the next
    /// elementwise node starts another: a kernel keeps every value it computed available
    /// to the rest of its body, so a body of tens of thousands of operations (the
    /// right-hand side of a 10⁴-dimensional problem, a sum over every coordinate) needed
    /// megabytes of spill slots — more stack than a thread has — and compiled in seconds.
    /// Values used past the cut are stored by their kernel and loaded by the next.
    pub max_kernel_ops: usize,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        ScheduleOptions {
            dtype: DType::F64,
            fuse: true,
            max_kernel_ops: MAX_KERNEL_OPS,
        }
    }
}

/// Index of a buffer in [`Program::buffers`], printed `bN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

impl BufId {
    /// The id as an index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a buffer holds and who owns its memory.
#[derive(Clone, Debug, PartialEq)]
pub enum BufKind {
    /// An `input` leaf, bound by name.
    Input(String),
    /// A `param` leaf, bound by name.
    Param(String),
    /// A dense constant (`tensor` node), values in f64.
    Const(Arc<[f64]>),
    /// A temporary at `offset` elements into the arena (set by the memory plan).
    Temp {
        /// Offset into the arena, in elements.
        offset: usize,
    },
    /// A named output, read back after a run.
    Output(String),
}

/// One buffer: a flat row-major array.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// What it holds.
    pub kind: BufKind,
    /// The logical shape of the value it holds.
    pub shape: Shape,
    /// The graph node whose value it holds.
    pub node: NodeId,
}

impl Buffer {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.numel()
    }

    /// Whether the buffer has no elements (never, for valid graphs).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An affine index map from an iteration index to a flat buffer position:
/// `offset + Σ index[k]·strides[k]`. One stride per axis of the iteration space.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Affine {
    /// Position of iteration index `(0, 0, ...)`.
    pub offset: usize,
    /// Elements to step per unit of each iteration axis (0: broadcast).
    pub strides: SmallVec<[usize; 3]>,
}

impl Affine {
    /// The contiguous row-major map of `shape`.
    pub fn row_major(shape: &Shape) -> Affine {
        Affine {
            offset: 0,
            strides: shape.strides(),
        }
    }

    /// Whether the map is contiguous row-major over `shape` (strides of size-1 axes are
    /// ignored), with any offset.
    pub fn is_contiguous(&self, shape: &Shape) -> bool {
        let rm = shape.strides();
        shape
            .dims()
            .iter()
            .zip(self.strides.iter().zip(&rm))
            .all(|(&d, (s, r))| d == 1 || s == r)
    }

    /// The flat position of one iteration index.
    pub fn at(&self, index: &[usize]) -> usize {
        self.offset
            + index
                .iter()
                .zip(&self.strides)
                .map(|(i, s)| i * s)
                .sum::<usize>()
    }
}

/// An SSA value inside one kernel body, printed `vN` (index into [`Kernel::body`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Val(pub u32);

impl Val {
    /// The value as an index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One instruction of a kernel body. Operands are earlier values of the same body.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// The element of `buf` at the map's position for the current iteration.
    Load {
        /// The buffer read.
        buf: BufId,
        /// How iteration indices map to its elements.
        map: Affine,
    },
    /// A scalar constant (in f64; backends round to their dtype).
    Const(f64),
    /// An elementwise function.
    Unary(UnOp, Val),
    /// `x^n` for an integer `n`.
    Powi(i32, Val),
    /// An elementwise function of two values.
    Binary(BinOp, Val, Val),
}

/// A kernel output: `buf[map(index)] = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Store {
    /// The buffer written.
    pub buf: BufId,
    /// Where each iteration's element goes.
    pub map: Affine,
    /// The value written.
    pub value: Val,
}

/// A fused elementwise loop nest (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// The iteration space.
    pub shape: Shape,
    /// SSA body, evaluated once per iteration index.
    pub body: Vec<Expr>,
    /// For each body value, the graph node it computes (loads and constants: `None`).
    pub nodes: Vec<Option<NodeId>>,
    /// What the kernel writes.
    pub stores: Vec<Store>,
}

/// A sum or mean over one axis of a view.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    /// The buffer read.
    pub src: BufId,
    /// How the (unreduced) iteration space `shape` maps into `src`.
    pub map: Affine,
    /// Shape of the reduced operand.
    pub shape: Shape,
    /// The axis summed away.
    pub axis: usize,
    /// Divide by the axis extent.
    pub mean: bool,
    /// The contiguous result (`shape` without `axis`).
    pub dst: BufId,
}

/// A rank-2 operand of a product: element `(i, j)` is `buf[offset + i·rs + j·cs]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// The buffer read.
    pub buf: BufId,
    /// Position of element `(0, 0)`.
    pub offset: usize,
    /// Row stride in elements.
    pub rs: usize,
    /// Column stride in elements.
    pub cs: usize,
}

/// `dst[m×n] = a[m×k] · b[k×n]` (or `dst += a·b`, see [`MatMul::accumulate`]),
/// transposes already folded into the strides.
#[derive(Clone, Debug, PartialEq)]
pub struct MatMul {
    /// Left operand, `m × k`.
    pub a: Matrix,
    /// Right operand, `k × n`.
    pub b: Matrix,
    /// Rows of the result.
    pub m: usize,
    /// Columns of the result.
    pub n: usize,
    /// Inner extent.
    pub k: usize,
    /// The contiguous `m × n` result.
    pub dst: BufId,
    /// Add the product to `dst` instead of overwriting it: a later term of a sum of
    /// products that is formed in place. A weight's gradient is one product per jet
    /// component it multiplies (the value, the tangents, the Laplacian term), added up;
    /// the first product writes the sum's buffer and the others accumulate into it, with
    /// no kernel adding `[n, n]` matrices and no buffer per term.
    pub accumulate: bool,
}

/// One step of a program. Steps run in order; each reads buffers written by earlier ones.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A fused elementwise loop.
    Kernel(Kernel),
    /// A reduction over one axis.
    Reduce(Reduce),
    /// A dense matrix product.
    MatMul(MatMul),
}

/// A scheduled program: buffers, steps and the memory plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// Element type of every buffer.
    pub dtype: DType,
    /// All buffers, indexed by [`BufId`].
    pub buffers: Vec<Buffer>,
    /// The steps, in execution order.
    pub steps: Vec<Step>,
    /// Named leaf buffers (inputs, then params, in graph order).
    pub leaves: Vec<(String, BufId)>,
    /// Named output buffers, in the graph's output order.
    pub outputs: Vec<(String, BufId)>,
    /// Size of the temporary arena in elements.
    pub arena_len: usize,
}

impl Program {
    /// Each buffer's offset in the arena (elements): `Some` for temporaries, `None` for
    /// buffers of their own.
    pub fn arena_offsets(&self) -> Vec<Option<usize>> {
        (self.buffers.iter())
            .map(|b| match b.kind {
                BufKind::Temp { offset } => Some(offset),
                _ => None,
            })
            .collect()
    }

    /// Bytes of the temporary arena: the peak memory of intermediates.
    pub fn peak_bytes(&self) -> usize {
        self.arena_len * self.dtype.size()
    }

    /// Floating-point operations of one run, counted statically: the sum of
    /// [`Step::flops`].
    pub fn flops(&self) -> u64 {
        self.steps.iter().map(Step::flops).sum()
    }
}

impl Step {
    /// Floating-point operations of the step, counted statically (transcendentals count
    /// 1): see [`Kernel::flops`], [`Reduce::flops`] and [`MatMul::flops`].
    pub fn flops(&self) -> u64 {
        match self {
            Step::Kernel(k) => k.flops(),
            Step::Reduce(r) => r.flops(),
            Step::MatMul(m) => m.flops(),
        }
    }
}

/// One memory access of a kernel: a load of its body or one of its stores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Access<'k> {
    /// The buffer read or written.
    pub buf: BufId,
    /// How iteration indices map to its elements.
    pub map: &'k Affine,
    /// A store (else a load).
    pub store: bool,
}

impl Kernel {
    /// Floating-point operations of one run: one per computing body instruction (not
    /// loads or constants) and element of the iteration space.
    pub fn flops(&self) -> u64 {
        let ops = self
            .body
            .iter()
            .filter(|e| !matches!(e, Expr::Load { .. } | Expr::Const(_)))
            .count();
        (ops * self.shape.numel()) as u64
    }

    /// Every memory access of the kernel, in the order backends lay them out: the loads
    /// in body order, then the stores in order.
    pub fn accesses(&self) -> impl Iterator<Item = Access<'_>> {
        let loads = self.body.iter().filter_map(|e| match e {
            Expr::Load { buf, map } => Some(Access {
                buf: *buf,
                map,
                store: false,
            }),
            _ => None,
        });
        let stores = self.stores.iter().map(|s| Access {
            buf: s.buf,
            map: &s.map,
            store: true,
        });
        loads.chain(stores)
    }

    /// Kernel `k` as two kernels that, run one after the other, write what `k` writes:
    /// store `store` alone, then every other store, each with only the body values it
    /// depends on. `None` when `k` has one store, or when the others read the buffer
    /// `store` writes (they would see the new values where `k` read the old ones).
    ///
    /// A backend that runs some single-store kernels in a form of its own (the CPU
    /// backend's AVX-512 layer activation) splits a fused kernel this way.
    pub fn split_off(&self, store: usize) -> Option<(Kernel, Kernel)> {
        let out = self.stores.get(store)?.buf;
        if self.stores.len() < 2 {
            return None;
        }
        let mut first = self.clone();
        first.stores = vec![self.stores[store].clone()];
        let mut rest = self.clone();
        rest.stores.remove(store);
        let (first, rest) = (build::dce(first)?, build::dce(rest)?);
        let reads_out = rest.accesses().any(|a| !a.store && a.buf == out);
        (!reads_out).then_some((first, rest))
    }
}

impl Reduce {
    /// Floating-point operations: one per element of the reduced operand.
    pub fn flops(&self) -> u64 {
        self.shape.numel() as u64
    }
}

impl MatMul {
    /// Floating-point operations: a multiply and an add per term, `2mnk`, and one add per
    /// element of `dst` when accumulating (the add a kernel would otherwise count).
    pub fn flops(&self) -> u64 {
        let acc = if self.accumulate { self.m * self.n } else { 0 };
        (2 * self.m * self.n * self.k + acc) as u64
    }
}

/// Schedules a verified graph (see the module docs).
///
/// Precondition: `info` is `verify(g)`'s result and `info.has_derivatives()` is false (run
/// `passes::ad` first); backends check this and report an error before calling. A
/// derivative operator here is a compiler bug and panics.
pub fn schedule(g: &Graph, info: &GraphInfo, opts: &ScheduleOptions) -> Program {
    let mut p = build::build(g, info, opts);
    order::hoist(&mut p);
    memory::plan(&mut p);
    p
}
