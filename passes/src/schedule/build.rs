//! Building the step list: greedy fusion in topological order.
//!
//! Nodes are visited in id order. Each elementwise node joins the *open* kernel of its
//! shape, taking operands from that kernel's values when they are there and loading them
//! from buffers otherwise. When anything outside a kernel needs one of its values as a
//! buffer ([`Builder::materialize`]), a store is added to that kernel and, if it is still
//! open, it is closed: appended to the step list, so that it runs before the consumer.
//! Stores may be added to kernels that are already closed; they still run before every
//! later step. An operand computed by a kernel that is already closed is either loaded
//! (stored by that kernel first) or, when cheap, computed again
//! ([`Builder::recompute_or_load`]); everything else is computed exactly once. A kernel
//! whose body reaches [`ScheduleOptions::max_kernel_ops`] operations is closed like any
//! other.
//!
//! A sum of products that nothing else uses (a weight's gradient: one product per jet
//! component the weight multiplies) is formed in place: the earliest product writes the
//! sum's buffer, the later ones add to it ([`MatMul::accumulate`]), and no kernel adds
//! `[n, n]` matrices ([`Builder::accumulate`]).

use super::{
    Affine, BufId, BufKind, Buffer, Expr, Kernel, MatMul, Matrix, Program, Reduce, ScheduleOptions,
    Step, Store, Val,
};
use nabla_ir::{BinOp, Graph, GraphInfo, NodeId, Op, Shape, UnOp};
use std::collections::HashMap;

/// The most concat operands one copy kernel gathers (see `Builder::concat`).
const CONCAT_BATCH: usize = 64;

/// The most body instructions (operations, loads and constants) one recomputation adds
/// to a kernel (see [`Builder::remat_plan`]): enough for `1 − a²`, `−2·a·(1 − a²)` or
/// `t₁² + t₂²`, few enough that a memory-bound kernel stays memory-bound.
const REMAT_BUDGET: usize = 8;

/// The most loads a kernel may add to recompute a value that has no buffer yet: two
/// loads move fewer bytes than a store (a write and the read of the line it allocates)
/// and a load. Measured per tile, one thread, against one (`cargo bench --bench profile`,
/// five alternating runs): B4's kernels 0.461–0.540 → 0.389–0.477 ms in f32 and 0.449–0.567
/// → 0.406–0.456 in f64, B8's 0.157–0.182 → 0.143–0.170.
const REMAT_NEW_LOADS: usize = 2;

/// Where a step lives while building: kernels stay editable until the end.
enum Slot {
    Kernel(usize),
    Other(Step),
}

/// A kernel under construction, with load/constant deduplication.
struct KState {
    kernel: Kernel,
    loads: HashMap<(BufId, Affine), Val>,
    consts: HashMap<u64, Val>,
    /// Values of other kernels this one recomputes (see [`Builder::remat_plan`]).
    remat: HashMap<NodeId, Val>,
    open: bool,
}

/// What a view resolves to.
enum View {
    /// A scalar constant, broadcast or reshaped.
    Const(f64),
    /// A buffer read through an index map over the view's shape.
    Buf(BufId, Affine),
}

/// An operand of an elementwise node inside its kernel.
enum Src {
    Val(Val),
    Const(f64),
    Load(BufId, Affine),
    /// An elementwise value of a kernel that is closed: recomputed or loaded (see
    /// [`Builder::recompute_or_load`]).
    Closed(NodeId),
}

/// What recomputing a value in a kernel adds to it (see [`Builder::remat_plan`]).
#[derive(Clone, Default)]
struct Plan {
    /// Operations and constants.
    ops: usize,
    /// Loads the kernel does not make yet.
    loads: Vec<(BufId, Affine)>,
    /// The nodes to compute, operands first.
    recompute: Vec<NodeId>,
}

impl Plan {
    fn size(&self) -> usize {
        self.ops + self.loads.len()
    }
}

struct Builder<'g> {
    g: &'g Graph,
    fuse: bool,
    max_ops: usize,
    buffers: Vec<Buffer>,
    slots: Vec<Slot>,
    kernels: Vec<KState>,
    /// The contiguous buffer holding each node's value, once it has one.
    buf_of: Vec<Option<BufId>>,
    /// The kernel and value computing each elementwise node.
    loc: Vec<Option<(usize, Val)>>,
    /// The open kernel of each iteration shape.
    open: HashMap<Shape, usize>,
    /// Use counts (operand positions and outputs) of every node.
    uses: Vec<u32>,
    /// For each product, and each sum of products formed in place, the slots of its
    /// product steps in order (see [`Builder::accumulate`]).
    terms: HashMap<NodeId, Vec<usize>>,
}

/// Builds the program without a memory plan (temporaries all at offset 0).
pub(super) fn build(g: &Graph, info: &GraphInfo, opts: &ScheduleOptions) -> Program {
    let mut b = Builder {
        g,
        fuse: opts.fuse,
        max_ops: opts.max_kernel_ops.max(1),
        buffers: Vec::new(),
        slots: Vec::new(),
        kernels: Vec::new(),
        buf_of: vec![None; g.len()],
        loc: vec![None; g.len()],
        open: HashMap::new(),
        uses: g.ids().map(|i| info.use_count(i)).collect(),
        terms: HashMap::new(),
    };
    let leaves = b.leaves(info);
    for id in g.ids().filter(|&i| info.is_live(i)) {
        b.node(id);
    }
    let outputs = g
        .outputs()
        .iter()
        .map(|(name, id)| (name.clone(), b.output(name, *id)))
        .collect();
    b.finish(leaves, outputs, opts)
}

impl Builder<'_> {
    /// Buffers for the live leaves, inputs first, then params.
    fn leaves(&mut self, info: &GraphInfo) -> Vec<(String, BufId)> {
        let inputs = info.inputs().iter().map(|l| (l, true));
        let params = info.params().iter().map(|l| (l, false));
        let mut out = Vec::new();
        for ((name, id), is_input) in inputs.chain(params) {
            if !info.is_live(*id) {
                continue;
            }
            let kind = if is_input {
                BufKind::Input(name.clone())
            } else {
                BufKind::Param(name.clone())
            };
            let buf = self.new_buf(kind, *id);
            self.buf_of[id.index()] = Some(buf);
            out.push((name.clone(), buf));
        }
        out
    }

    fn new_buf(&mut self, kind: BufKind, node: NodeId) -> BufId {
        let id = BufId(self.buffers.len() as u32);
        let shape = self.g.shape(node).clone();
        self.buffers.push(Buffer { kind, shape, node });
        id
    }

    fn temp(&mut self, node: NodeId) -> BufId {
        self.new_buf(BufKind::Temp { offset: 0 }, node)
    }

    /// Schedules one live node.
    fn node(&mut self, id: NodeId) {
        let g = self.g;
        let args = g.args(id);
        match g.op(id) {
            Op::Input { .. } | Op::Param { .. } => {}
            Op::Const { .. } | Op::Broadcast(_) | Op::Slice { .. } | Op::Reshape(_) => {}
            Op::Tensor { data, .. } => {
                let vals: Vec<f64> = data.iter().map(|v| v.get()).collect();
                let buf = self.new_buf(BufKind::Const(vals.into()), id);
                self.buf_of[id.index()] = Some(buf);
            }
            Op::Binary(BinOp::Add) if self.fuse && self.accumulate(id) => {}
            Op::Unary(_) | Op::Powi(_) | Op::Binary(_) => self.elementwise(id),
            Op::Sum(axis) => self.reduce(id, args[0], *axis as usize, false),
            Op::Mean(axis) => self.reduce(id, args[0], *axis as usize, true),
            Op::MatMul { ta, tb } => self.matmul(id, args[0], args[1], *ta, *tb),
            Op::Concat(axis) => self.concat(id, *axis as usize),
            Op::Bound { .. }
            | Op::Diff { .. }
            | Op::Laplacian { .. }
            | Op::Grad { .. }
            | Op::Jacobian { .. }
            | Op::At => {
                panic!(
                    "internal error: schedule reached `{}` at {id}: run the AD pass first",
                    g.op(id).mnemonic()
                )
            }
        }
    }

    /// Adds an elementwise node to the open kernel of its shape.
    fn elementwise(&mut self, id: NodeId) {
        let shape = self.g.shape(id).clone();
        let args: Vec<NodeId> = self.g.args(id).to_vec();
        // A full kernel is closed before the node joins: with its loads (at most one per
        // operand) and itself, the body stays within the limit.
        if let Some(&k) = self.open.get(&shape) {
            if self.kernels[k].kernel.body.len() + args.len() + 1 > self.max_ops {
                self.close(k);
            }
        }
        // Resolve views first: they may close the open kernel of this shape, after which
        // values of that kernel must be loaded from memory.
        let early: Vec<Option<Src>> = args
            .iter()
            .map(|&a| (!self.in_open(a, &shape)).then(|| self.source(a, &shape)))
            .collect();
        let srcs: Vec<Src> = early
            .into_iter()
            .zip(&args)
            .map(|(s, &a)| s.unwrap_or_else(|| self.source(a, &shape)))
            .collect();
        let k = self.open_kernel(&shape);
        let vals: Vec<Val> = srcs.into_iter().map(|s| self.emit_src(k, s)).collect();
        let expr = match self.g.op(id) {
            Op::Unary(u) => Expr::Unary(*u, vals[0]),
            Op::Powi(n) => Expr::Powi(*n, vals[0]),
            Op::Binary(b) => Expr::Binary(*b, vals[0], vals[1]),
            other => unreachable!("elementwise called on {}", other.mnemonic()),
        };
        let v = self.push(k, expr, Some(id));
        self.loc[id.index()] = Some((k, v));
        if !self.fuse {
            self.close(k);
        }
    }

    /// Whether node `a` is a value of the open kernel of `shape`.
    fn in_open(&self, a: NodeId, shape: &Shape) -> bool {
        matches!(self.loc[a.index()], Some((k, _)) if self.open.get(shape) == Some(&k))
    }

    /// How operand `a` of an elementwise node of shape `shape` is obtained.
    fn source(&mut self, a: NodeId, shape: &Shape) -> Src {
        if let Some((k, v)) = self.loc[a.index()] {
            if self.open.get(shape) == Some(&k) {
                return Src::Val(v);
            }
            if self.fuse {
                return Src::Closed(a);
            }
        }
        match self.view(a) {
            View::Const(c) => Src::Const(c),
            View::Buf(b, m) => Src::Load(b, m),
        }
    }

    fn emit_src(&mut self, k: usize, s: Src) -> Val {
        match s {
            Src::Val(v) => v,
            Src::Const(c) => self.constant(k, c),
            Src::Load(buf, map) => self.load(k, buf, map),
            Src::Closed(a) => self.recompute_or_load(k, a),
        }
    }

    /// Operand `a`, an elementwise value of a kernel that is closed, in kernel `k`:
    /// computed again there when [`Builder::remat_plan`] finds that worth it, else loaded
    /// (stored by its kernel first if need be).
    ///
    /// The kernels between products are memory-bound, so a few arithmetic instructions
    /// are cheaper than a buffer's round trip: `a` is recomputed when that needs no load
    /// the kernel does not already make, or, when `a` has no buffer yet,
    /// [`REMAT_NEW_LOADS`] (loads instead of the earlier kernel's store, which also
    /// reads the line it writes, and this one's load: `1 − a²` from `a`). Backward passes
    /// read the same activation derivatives and jet sums in many kernels; most of them
    /// then never need memory of their own.
    fn recompute_or_load(&mut self, k: usize, a: NodeId) -> Val {
        let mut plan = Plan::default();
        let allowed = REMAT_NEW_LOADS * usize::from(self.buf_of[a.index()].is_none());
        let body = self.kernels[k].kernel.body.len();
        // room left for the node itself and a load of its other operand (`elementwise`
        // closed the kernel if it had no room for those alone)
        if self.remat_plan(a, Some(k), &mut plan, true)
            && plan.loads.len() <= allowed
            && body + plan.size() + 2 <= self.max_ops
        {
            for n in plan.recompute {
                self.recompute(k, n);
            }
            return self.kernels[k].remat[&a];
        }
        match self.view(a) {
            View::Const(c) => self.constant(k, c),
            View::Buf(b, m) => self.load(k, b, m),
        }
    }

    /// Adds to `plan` what having `a` in kernel `k` takes if it is recomputed (`root`,
    /// or when that needs no new load) rather than loaded. Returns false when that is
    /// more than [`REMAT_BUDGET`] instructions or anything but cheap arithmetic (add,
    /// subtract, multiply, negate, square, |·|) over buffers, constants and values of
    /// `k`: transcendentals and divisions are never computed twice.
    fn remat_plan(&self, a: NodeId, k: Option<usize>, plan: &mut Plan, root: bool) -> bool {
        if self.held(k, a) || plan.recompute.contains(&a) {
            return true;
        }
        let view = self.peek_view(a);
        match &view {
            Some(View::Const(_)) => {
                plan.ops += 1;
                return plan.size() <= REMAT_BUDGET;
            }
            Some(View::Buf(b, m)) if !root && self.loaded(k, plan, *b, m) => return true,
            _ => {}
        }
        let cheap = match self.g.op(a) {
            Op::Unary(u) => matches!(u, UnOp::Neg | UnOp::Square | UnOp::Abs),
            Op::Binary(b) => matches!(b, BinOp::Add | BinOp::Sub | BinOp::Mul),
            _ => false,
        };
        if cheap && self.loc[a.index()].is_some() {
            let mut trial = plan.clone();
            trial.ops += 1;
            let ok = self
                .g
                .args(a)
                .iter()
                .all(|&x| self.remat_plan(x, k, &mut trial, false));
            if ok
                && trial.size() <= REMAT_BUDGET
                && (view.is_none() || trial.loads.len() == plan.loads.len() || root)
            {
                trial.recompute.push(a);
                *plan = trial;
                return true;
            }
        }
        match view {
            Some(View::Buf(b, m)) if !root => {
                plan.loads.push((b, m));
                plan.size() <= REMAT_BUDGET
            }
            _ => false,
        }
    }

    /// Whether `a`'s value is in kernel `k`'s registers (computed or recomputed there).
    fn held(&self, k: Option<usize>, a: NodeId) -> bool {
        k.is_some_and(|k| {
            matches!(self.loc[a.index()], Some((j, _)) if j == k)
                || self.kernels[k].remat.contains_key(&a)
        })
    }

    /// Whether kernel `k` loads (or `plan` will load) buffer `b` through `m`.
    fn loaded(&self, k: Option<usize>, plan: &Plan, b: BufId, m: &Affine) -> bool {
        let key = (b, m.clone());
        plan.loads.contains(&key) || k.is_some_and(|k| self.kernels[k].loads.contains_key(&key))
    }

    /// Recomputes elementwise node `a` in kernel `k` from its operands' values there, their
    /// buffers or constants.
    fn recompute(&mut self, k: usize, a: NodeId) {
        let args: Vec<NodeId> = self.g.args(a).to_vec();
        let vals: Vec<Val> = args.iter().map(|&x| self.operand_in(k, x)).collect();
        let expr = match self.g.op(a) {
            Op::Unary(u) => Expr::Unary(*u, vals[0]),
            Op::Binary(b) => Expr::Binary(*b, vals[0], vals[1]),
            other => unreachable!("recomputing {}", other.mnemonic()),
        };
        let v = self.push(k, expr, Some(a));
        self.kernels[k].remat.insert(a, v);
    }

    /// Node `x`'s value in kernel `k`: a value there, a constant or a load.
    fn operand_in(&mut self, k: usize, x: NodeId) -> Val {
        match self.loc[x.index()] {
            Some((j, v)) if j == k => return v,
            _ => {}
        }
        if let Some(&v) = self.kernels[k].remat.get(&x) {
            return v;
        }
        match self.view(x) {
            View::Const(c) => self.constant(k, c),
            View::Buf(b, m) => self.load(k, b, m),
        }
    }

    /// [`Builder::view`] when it needs no new buffer: a constant, or a buffer already
    /// written (or a broadcast, slice or contiguous reshape of one).
    fn peek_view(&self, a: NodeId) -> Option<View> {
        if let Some(b) = self.buf_of[a.index()] {
            return Some(View::Buf(b, Affine::row_major(self.g.shape(a))));
        }
        match self.g.op(a) {
            Op::Const { value, .. } => Some(View::Const(value.get())),
            Op::Broadcast(_) | Op::Slice { .. } | Op::Reshape(_) => {
                let inner = self.peek_view(self.g.args(a)[0])?;
                self.derived(a, inner)
            }
            _ => None,
        }
    }

    fn constant(&mut self, k: usize, c: f64) -> Val {
        if let Some(&v) = self.kernels[k].consts.get(&c.to_bits()) {
            return v;
        }
        let v = self.push(k, Expr::Const(c), None);
        self.kernels[k].consts.insert(c.to_bits(), v);
        v
    }

    fn load(&mut self, k: usize, buf: BufId, map: Affine) -> Val {
        if let Some(&v) = self.kernels[k].loads.get(&(buf, map.clone())) {
            return v;
        }
        let v = self.push(
            k,
            Expr::Load {
                buf,
                map: map.clone(),
            },
            None,
        );
        self.kernels[k].loads.insert((buf, map), v);
        v
    }

    fn push(&mut self, k: usize, e: Expr, node: Option<NodeId>) -> Val {
        let kern = &mut self.kernels[k].kernel;
        kern.body.push(e);
        kern.nodes.push(node);
        Val(kern.body.len() as u32 - 1)
    }

    /// The open kernel for `shape`, creating one if needed.
    fn open_kernel(&mut self, shape: &Shape) -> usize {
        if let Some(&k) = self.open.get(shape) {
            return k;
        }
        let k = self.new_kernel(shape);
        self.open.insert(shape.clone(), k);
        k
    }

    fn new_kernel(&mut self, shape: &Shape) -> usize {
        self.kernels.push(KState {
            kernel: Kernel {
                shape: shape.clone(),
                body: Vec::new(),
                nodes: Vec::new(),
                stores: Vec::new(),
            },
            loads: HashMap::new(),
            consts: HashMap::new(),
            remat: HashMap::new(),
            open: true,
        });
        self.kernels.len() - 1
    }

    /// Appends kernel `k` to the step list if it is still open.
    fn close(&mut self, k: usize) {
        if !self.kernels[k].open {
            return;
        }
        self.kernels[k].open = false;
        let shape = self.kernels[k].kernel.shape.clone();
        if self.open.get(&shape) == Some(&k) {
            self.open.remove(&shape);
        }
        self.slots.push(Slot::Kernel(k));
    }

    /// Resolves a node to a constant or a buffer plus index map over the node's shape.
    fn view(&mut self, a: NodeId) -> View {
        if let Some(b) = self.buf_of[a.index()] {
            return View::Buf(b, Affine::row_major(self.g.shape(a)));
        }
        match self.g.op(a) {
            Op::Const { value, .. } => View::Const(value.get()),
            Op::Broadcast(_) | Op::Slice { .. } | Op::Reshape(_) => {
                let src = self.g.args(a)[0];
                let inner = self.view(src);
                self.derived(a, inner).unwrap_or_else(|| {
                    // a reshape of a view that is not contiguous: copy the operand first
                    let b = self.materialize(src);
                    View::Buf(b, Affine::row_major(self.g.shape(a)))
                })
            }
            _ => {
                let b = self.materialize(a);
                View::Buf(b, Affine::row_major(self.g.shape(a)))
            }
        }
    }

    /// The view of `a`, a broadcast, slice or reshape, over its operand's view `src`:
    /// index maps, no data moved. `None` for a reshape of a view that is not contiguous.
    fn derived(&self, a: NodeId, src: View) -> Option<View> {
        let View::Buf(b, mut m) = src else {
            return Some(src);
        };
        let from = self.g.shape(self.g.args(a)[0]);
        match self.g.op(a) {
            Op::Broadcast(to) => Some(View::Buf(b, broadcast_map(&m, from, to))),
            Op::Slice { axis, start, .. } => {
                m.offset += *start as usize * m.strides[*axis as usize];
                Some(View::Buf(b, m))
            }
            Op::Reshape(to) if m.is_contiguous(from) => {
                let mut r = Affine::row_major(to);
                r.offset = m.offset;
                Some(View::Buf(b, r))
            }
            _ => None,
        }
    }

    /// A contiguous buffer holding node `a`'s value, storing or copying it if needed.
    fn materialize(&mut self, a: NodeId) -> BufId {
        if let Some(b) = self.buf_of[a.index()] {
            return b;
        }
        let buf = self.temp(a);
        self.store_into(a, buf, Affine::row_major(self.g.shape(a)));
        self.buf_of[a.index()] = Some(buf);
        buf
    }

    /// Writes node `a`'s value to `buf` through `map` (over `a`'s shape), in a step that
    /// runs before anything scheduled after this call.
    fn store_into(&mut self, a: NodeId, buf: BufId, map: Affine) {
        if let Some((k, v)) = self.loc[a.index()] {
            self.kernels[k]
                .kernel
                .stores
                .push(Store { buf, map, value: v });
            self.close(k);
            return;
        }
        let shape = self.g.shape(a).clone();
        let src = match self.view(a) {
            View::Const(c) => Src::Const(c),
            View::Buf(b, m) => Src::Load(b, m),
        };
        let k = self.new_kernel(&shape);
        let value = self.emit_src(k, src);
        self.kernels[k]
            .kernel
            .stores
            .push(Store { buf, map, value });
        self.close(k);
    }

    fn reduce(&mut self, id: NodeId, a: NodeId, axis: usize, mean: bool) {
        let (src, map) = self.buffer_view(a);
        let dst = self.temp(id);
        self.buf_of[id.index()] = Some(dst);
        let shape = self.g.shape(a).clone();
        self.slots.push(Slot::Other(Step::Reduce(Reduce {
            src,
            map,
            shape,
            axis,
            mean,
            dst,
        })));
    }

    /// A buffer view of `a` (constants are copied into a buffer first).
    fn buffer_view(&mut self, a: NodeId) -> (BufId, Affine) {
        match self.view(a) {
            View::Buf(b, m) => (b, m),
            View::Const(_) => {
                let b = self.materialize(a);
                (b, Affine::row_major(self.g.shape(a)))
            }
        }
    }

    fn matmul(&mut self, id: NodeId, a: NodeId, b: NodeId, ta: bool, tb: bool) {
        let (ma, mb) = (self.matrix(a, ta), self.matrix(b, tb));
        let dims = self.g.shape(id).dims().to_vec();
        let ad = self.g.shape(a).dims();
        let k = if ta { ad[0] } else { ad[1] };
        let dst = self.temp(id);
        self.buf_of[id.index()] = Some(dst);
        self.terms.insert(id, vec![self.slots.len()]);
        self.slots.push(Slot::Other(Step::MatMul(MatMul {
            a: ma,
            b: mb,
            m: dims[0],
            n: dims[1],
            k,
            dst,
            accumulate: false,
        })));
    }

    /// Forms `x + y` in place when both are products (or sums of products formed so) of
    /// the sum's own shape that nothing else uses: the earliest product step writes the
    /// sum's buffer and every later one adds to it ([`MatMul::accumulate`]). Returns
    /// whether it did; otherwise the add is an ordinary elementwise node.
    ///
    /// No step moves: each term is used only by this sum, which is visited after all of
    /// them, so no step between the first product and the last reads the partial sum.
    fn accumulate(&mut self, id: NodeId) -> bool {
        let args = self.g.args(id);
        let (x, y) = (args[0], args[1]);
        let shape = self.g.shape(id);
        let term = |n: NodeId| {
            n != id
                && self.uses[n.index()] == 1
                && self.g.shape(n) == shape
                && self.terms.contains_key(&n)
        };
        if x == y || !term(x) || !term(y) {
            return false;
        }
        let mut slots = self.terms.remove(&x).unwrap_or_default();
        slots.extend(self.terms.remove(&y).unwrap_or_default());
        slots.sort_unstable();
        let Slot::Other(Step::MatMul(first)) = &self.slots[slots[0]] else {
            unreachable!("a term's slot holds its product")
        };
        let dst = first.dst;
        for &s in &slots[1..] {
            if let Slot::Other(Step::MatMul(m)) = &mut self.slots[s] {
                m.dst = dst;
                m.accumulate = true;
            }
        }
        self.buf_of[id.index()] = Some(dst);
        self.buffers[dst.index()].node = id;
        self.terms.insert(id, slots);
        true
    }

    /// Operand `a` of a product as a strided matrix, transposed when `t`.
    fn matrix(&mut self, a: NodeId, t: bool) -> Matrix {
        let (buf, m) = self.buffer_view(a);
        let (rs, cs) = (m.strides[0], m.strides[1]);
        let (rs, cs) = if t { (cs, rs) } else { (rs, cs) };
        Matrix {
            buf,
            offset: m.offset,
            rs,
            cs,
        }
    }

    /// A concat: each part is stored into its place in one buffer.
    /// Each operand is stored into its place in one buffer. Operands computed by an open
    /// kernel store from it; the others (leaves, views, constants) are copied by shared
    /// kernels of up to [`CONCAT_BATCH`] operands of one shape: the input columns of a
    /// 1000-input problem are one concat of 1000 leaves, which would otherwise be 1000
    /// kernel launches per use.
    fn concat(&mut self, id: NodeId, axis: usize) {
        let dst = self.temp(id);
        let strides = self.g.shape(id).strides();
        let mut at = 0;
        let mut batch: Option<(usize, usize)> = None;
        for &p in self.g.args(id) {
            let map = Affine {
                offset: at * strides[axis],
                strides: strides.clone(),
            };
            at += self.g.shape(p).dims()[axis];
            if self.loc[p.index()].is_some() {
                self.store_into(p, dst, map);
                continue;
            }
            let shape = self.g.shape(p).clone();
            let k = match batch {
                Some((k, n)) if n < CONCAT_BATCH && self.kernels[k].kernel.shape == shape => k,
                _ => {
                    if let Some((k, _)) = batch {
                        self.close(k);
                    }
                    self.new_kernel(&shape)
                }
            };
            let src = match self.view(p) {
                View::Const(c) => Src::Const(c),
                View::Buf(b, m) => Src::Load(b, m),
            };
            let value = self.emit_src(k, src);
            self.kernels[k].kernel.stores.push(Store {
                buf: dst,
                map,
                value,
            });
            batch = Some((k, batch.filter(|b| b.0 == k).map_or(1, |b| b.1 + 1)));
        }
        if let Some((k, _)) = batch {
            self.close(k);
        }
        self.buf_of[id.index()] = Some(dst);
    }

    /// Whether node `id` is computed into a buffer of its own (not a view of another).
    fn owns_buffer(&self, id: NodeId) -> bool {
        matches!(
            self.g.op(id),
            Op::Unary(_) | Op::Powi(_) | Op::Binary(_) | Op::Sum(_) | Op::Mean(_)
        ) || matches!(self.g.op(id), Op::MatMul { .. } | Op::Concat(_))
    }

    /// The named buffer of output `name` (node `id`). An output whose value already has a
    /// temporary of its own (or is a reshape of one, which has the same row-major layout)
    /// takes that temporary over instead of a copy.
    fn output(&mut self, name: &str, id: NodeId) -> BufId {
        let held = match self.g.op(id) {
            Op::Reshape(_) => self.g.args(id)[0],
            _ => id,
        };
        if self.owns_buffer(held) {
            let b = self.materialize(held);
            if matches!(self.buffers[b.index()].kind, BufKind::Temp { .. }) {
                let buf = &mut self.buffers[b.index()];
                buf.kind = BufKind::Output(name.into());
                buf.shape = self.g.shape(id).clone();
                return b;
            }
        }
        let buf = self.new_buf(BufKind::Output(name.into()), id);
        match self.buf_of[id.index()] {
            Some(src) => self.copy(id, src, buf),
            None => self.store_into(id, buf, Affine::row_major(self.g.shape(id))),
        }
        buf
    }

    /// A kernel copying contiguous `src` (holding `id`) into `dst`.
    fn copy(&mut self, id: NodeId, src: BufId, dst: BufId) {
        let shape = self.g.shape(id).clone();
        let k = self.new_kernel(&shape);
        let v = self.load(k, src, Affine::row_major(&shape));
        let map = Affine::row_major(&shape);
        self.kernels[k].kernel.stores.push(Store {
            buf: dst,
            map,
            value: v,
        });
        self.close(k);
    }

    /// Closes the remaining kernels and assembles the program.
    fn finish(
        mut self,
        leaves: Vec<(String, BufId)>,
        outputs: Vec<(String, BufId)>,
        opts: &ScheduleOptions,
    ) -> Program {
        let mut open: Vec<usize> = self.open.values().copied().collect();
        open.sort_unstable();
        for k in open {
            self.close(k);
        }
        let mut kernels: Vec<Option<Kernel>> =
            self.kernels.into_iter().map(|k| Some(k.kernel)).collect();
        let steps = self
            .slots
            .into_iter()
            .filter_map(|s| match s {
                Slot::Kernel(k) => kernels[k].take().and_then(dce).map(Step::Kernel),
                Slot::Other(s) => Some(s),
            })
            .collect();
        let mut p = Program {
            dtype: opts.dtype,
            buffers: self.buffers,
            steps,
            leaves,
            outputs,
            arena_len: 0,
        };
        drop_untouched(&mut p);
        p
    }
}

/// Removes the temporaries no step touches (the results of products that became terms
/// of an in-place sum) and renumbers the rest in order.
fn drop_untouched(p: &mut Program) {
    let mut keep = vec![false; p.buffers.len()];
    for b in p.steps.iter().flat_map(super::memory::touched) {
        keep[b.index()] = true;
    }
    for (b, buf) in p.buffers.iter().enumerate() {
        keep[b] |= !matches!(buf.kind, BufKind::Temp { .. });
    }
    if keep.iter().all(|&k| k) {
        return;
    }
    let mut new = vec![BufId(u32::MAX); keep.len()];
    let kept = (0..keep.len()).filter(|&b| keep[b]);
    for (next, b) in kept.enumerate() {
        new[b] = BufId(next as u32);
    }
    let at = |b: &mut BufId| *b = new[b.index()];
    for s in &mut p.steps {
        match s {
            Step::Kernel(k) => {
                for e in &mut k.body {
                    if let Expr::Load { buf, .. } = e {
                        at(buf);
                    }
                }
                k.stores.iter_mut().for_each(|s| at(&mut s.buf));
            }
            Step::Reduce(r) => {
                at(&mut r.src);
                at(&mut r.dst);
            }
            Step::MatMul(m) => {
                at(&mut m.a.buf);
                at(&mut m.b.buf);
                at(&mut m.dst);
            }
        }
    }
    p.leaves.iter_mut().for_each(|(_, b)| at(b));
    p.outputs.iter_mut().for_each(|(_, b)| at(b));
    let mut k = keep.iter();
    p.buffers.retain(|_| *k.next().unwrap_or(&true));
}

/// The map of a broadcast of `from` (read through `m`) to `to`: axes are aligned at the
/// end; new axes and size-1 axes get stride 0.
fn broadcast_map(m: &Affine, from: &Shape, to: &Shape) -> Affine {
    let off = to.rank() - from.rank();
    let strides = (0..to.rank())
        .map(|k| match k.checked_sub(off) {
            Some(j) if from.dims()[j] != 1 => m.strides[j],
            _ => 0,
        })
        .collect();
    Affine {
        offset: m.offset,
        strides,
    }
}

/// Removes body values no store depends on and renumbers the rest. Kernels with no stores
/// (all values consumed elsewhere in registers) cannot occur, but an empty one is dropped.
pub(super) fn dce(mut k: Kernel) -> Option<Kernel> {
    if k.stores.is_empty() {
        return None;
    }
    let mut live = vec![false; k.body.len()];
    for s in &k.stores {
        live[s.value.index()] = true;
    }
    for i in (0..k.body.len()).rev() {
        if live[i] {
            for o in operands(&k.body[i]) {
                live[o.index()] = true;
            }
        }
    }
    let mut new_id = vec![Val(0); k.body.len()];
    let mut body = Vec::new();
    let mut nodes = Vec::new();
    for (i, e) in k.body.iter().enumerate().filter(|(i, _)| live[*i]) {
        new_id[i] = Val(body.len() as u32);
        body.push(rename(e, &new_id));
        nodes.push(k.nodes[i]);
    }
    for s in &mut k.stores {
        s.value = new_id[s.value.index()];
    }
    k.body = body;
    k.nodes = nodes;
    Some(k)
}

/// The operands of a body instruction.
pub(super) fn operands(e: &Expr) -> Vec<Val> {
    match e {
        Expr::Load { .. } | Expr::Const(_) => vec![],
        Expr::Unary(_, a) | Expr::Powi(_, a) => vec![*a],
        Expr::Binary(_, a, b) => vec![*a, *b],
    }
}

fn rename(e: &Expr, m: &[Val]) -> Expr {
    match e {
        Expr::Load { .. } | Expr::Const(_) => e.clone(),
        Expr::Unary(u, a) => Expr::Unary(*u, m[a.index()]),
        Expr::Powi(n, a) => Expr::Powi(*n, m[a.index()]),
        Expr::Binary(b, x, y) => Expr::Binary(*b, m[x.index()], m[y.index()]),
    }
}
