//! Running a compiled program: buffers, the step loop, threads, products and reductions.
//!
//! ## Memory
//!
//! Every leaf, constant and output buffer is its own `Vec<T>`; temporaries live in one
//! arena `Vec<T>` at the offsets of the memory plan. All are allocated once, at compile
//! time. Kernels reach buffers through per-kernel pointer tables, rewritten in place at
//! the start of each run (no allocation), so a run allocates nothing except, with more
//! than one thread, the scoped worker threads themselves.
//!
//! ## Threads and determinism
//!
//! With `n` threads, one run spawns `n − 1` scoped workers; every thread walks the whole
//! step list and does its share of each step, then waits at a barrier (spin, then sleep). A kernel
//! is split into `n` contiguous ranges of its outermost loop, a product into `n` blocks of
//! rows (each one `gemm` call), a reduction into `n` ranges of output elements. Each output
//! element is computed by exactly one thread in an order that does not depend on the
//! split: elementwise values trivially, reductions by summing their axis in index order
//! (in f64, like the interpreter), products by `gemm`'s fixed inner order. Small steps run
//! on thread 0 alone. Runs therefore reproduce bit for bit.

use super::emit::KernelCode;
use nabla_passes::schedule::{BufId, BufKind, MatMul, Program, Reduce, Step};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// A kernel entry point: `(pointer table, lo, hi)` of the outermost loop.
pub type KernelFn = unsafe extern "C" fn(*const *mut u8, i64, i64);

/// The element types the runtime computes in.
pub trait Elem: Copy + Default + Send + Sync + 'static {
    /// Rounds an f64.
    fn from_f64(v: f64) -> Self;
    /// Widens to f64.
    fn to_f64(self) -> f64;
}

impl Elem for f32 {
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Elem for f64 {
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// One executable step.
enum RStep {
    Kernel {
        f: KernelFn,
        bufs: Vec<BufId>,
        table: Vec<*mut u8>,
        outer: usize,
        numel: usize,
    },
    MatMul(MatMul),
    Reduce(Reduce),
}

/// The buffers and steps of one program in element type `T`.
pub struct Runtime<T: Elem> {
    own: Vec<Vec<T>>,
    arena: Vec<T>,
    offsets: Vec<Option<usize>>,
    base: Vec<*mut T>,
    steps: Vec<RStep>,
    threads: usize,
    /// Steps with less work run on thread 0 alone.
    par_min: usize,
}

// SAFETY: the raw pointers point into buffers the runtime owns; moving it to another
// thread moves the owner with them.
unsafe impl<T: Elem> Send for Runtime<T> {}

impl<T: Elem> Runtime<T> {
    /// Allocates every buffer of `p` and wires the compiled kernels (`code[i]` with entry
    /// point `fns[i]`, in kernel order) to them; `threads` is (threads, minimum work to
    /// split a step).
    pub fn new(
        p: &Program,
        code: &[KernelCode],
        fns: &[KernelFn],
        (threads, par_min): (usize, usize),
    ) -> Self {
        let own = p
            .buffers
            .iter()
            .map(|b| match &b.kind {
                BufKind::Const(c) => c.iter().map(|&v| T::from_f64(v)).collect(),
                BufKind::Temp { .. } => Vec::new(),
                BufKind::Input(_) | BufKind::Param(_) | BufKind::Output(_) => {
                    vec![T::default(); b.len()]
                }
            })
            .collect();
        let offsets = p
            .buffers
            .iter()
            .map(|b| match b.kind {
                BufKind::Temp { offset } => Some(offset),
                _ => None,
            })
            .collect();
        let mut kernels = code.iter().zip(fns);
        let steps = p
            .steps
            .iter()
            .map(|s| match s {
                Step::Kernel(k) => {
                    let (c, &f) = kernels.next().expect("one compiled kernel per kernel step");
                    RStep::Kernel {
                        f,
                        bufs: c.table.clone(),
                        table: vec![std::ptr::null_mut(); c.table.len()],
                        outer: c.layout.outer(),
                        numel: k.shape.numel(),
                    }
                }
                Step::MatMul(m) => RStep::MatMul(m.clone()),
                Step::Reduce(r) => RStep::Reduce(r.clone()),
            })
            .collect();
        Runtime {
            own,
            arena: vec![T::default(); p.arena_len],
            offsets,
            base: vec![std::ptr::null_mut(); p.buffers.len()],
            steps,
            threads: threads.max(1),
            par_min,
        }
    }

    /// Writes `values` (already length-checked) into buffer `b`.
    pub fn set(&mut self, b: BufId, values: &[f64]) {
        for (d, &v) in self.own[b.index()].iter_mut().zip(values) {
            *d = T::from_f64(v);
        }
    }

    /// Reads buffer `b` (a leaf, constant or output) as f64.
    pub fn get(&self, b: BufId) -> Vec<f64> {
        self.own[b.index()].iter().map(|v| v.to_f64()).collect()
    }

    /// Points every base address and kernel table at the current buffers.
    fn refresh(&mut self) {
        let arena = self.arena.as_mut_ptr();
        for (i, base) in self.base.iter_mut().enumerate() {
            *base = match self.offsets[i] {
                // SAFETY: the memory plan keeps `offset + len <= arena_len`.
                Some(off) => unsafe { arena.add(off) },
                None => self.own[i].as_mut_ptr(),
            };
        }
        for s in &mut self.steps {
            if let RStep::Kernel { bufs, table, .. } = s {
                for (t, b) in table.iter_mut().zip(bufs.iter()) {
                    *t = self.base[b.index()] as *mut u8;
                }
            }
        }
    }

    /// Runs every step once on this thread and returns each step's wall time.
    pub fn profile(&mut self) -> Vec<std::time::Duration> {
        self.refresh();
        let sh = Shared(self);
        (0..self.steps.len())
            .map(|i| {
                let t = std::time::Instant::now();
                sh.step(i, 0, 1);
                t.elapsed()
            })
            .collect()
    }

    /// Whether any step is large enough to split among threads.
    fn splits(&self) -> bool {
        let (n, min) = (self.threads, self.par_min);
        self.steps.iter().any(|s| {
            let (items, work) = match s {
                RStep::Kernel { outer, numel, .. } => (*outer, *numel),
                RStep::MatMul(m) => (m.m, m.m * m.n * m.k),
                RStep::Reduce(r) => (r.shape.numel() / r.shape.dims()[r.axis], r.shape.numel()),
            };
            items >= n && work >= min
        })
    }

    /// Runs every step once. Threads are only started when some step will be split.
    pub fn run(&mut self) {
        self.refresh();
        let n = self.threads;
        if n == 1 || !self.splits() {
            return Shared(self).work(0, 1, None);
        }
        let shared = Shared(self);
        let barrier = SpinBarrier::new(n);
        std::thread::scope(|s| {
            for t in 1..n {
                let (sh, b) = (&shared, &barrier);
                s.spawn(move || sh.work(t, n, Some(b)));
            }
            shared.work(0, n, Some(&barrier));
        });
    }
}

/// The runtime as seen by the worker threads during one run.
struct Shared<'a, T: Elem>(&'a Runtime<T>);

// SAFETY: during a run, threads write disjoint elements (their share of each step's
// outputs) and read only buffers that no thread writes in the same step; the barrier
// orders steps.
unsafe impl<T: Elem> Sync for Shared<'_, T> {}

impl<T: Elem> Shared<'_, T> {
    /// Thread `t`'s share of every step.
    fn work(&self, t: usize, n: usize, barrier: Option<&SpinBarrier>) {
        for i in 0..self.0.steps.len() {
            self.step(i, t, n);
            if let Some(b) = barrier {
                b.wait();
            }
        }
    }

    /// Thread `t`'s share of step `i`.
    fn step(&self, i: usize, t: usize, n: usize) {
        match &self.0.steps[i] {
            RStep::Kernel {
                f,
                table,
                outer,
                numel,
                ..
            } => {
                if let Some((lo, hi)) = self.share(t, n, *outer, *numel) {
                    // SAFETY: the table points at live buffers sized by the plan; the
                    // kernel touches rows lo..hi only.
                    unsafe { f(table.as_ptr(), lo as i64, hi as i64) }
                }
            }
            RStep::MatMul(m) => self.matmul(m, t, n),
            RStep::Reduce(r) => self.reduce(r, t, n),
        }
    }

    /// Thread `t`'s range of `0..items` (of a step doing `work` units), or `None`.
    fn share(&self, t: usize, n: usize, items: usize, work: usize) -> Option<(usize, usize)> {
        if n == 1 || work < self.0.par_min || items < n {
            return (t == 0).then_some((0, items));
        }
        let (lo, hi) = (items * t / n, items * (t + 1) / n);
        (lo < hi).then_some((lo, hi))
    }

    fn matmul(&self, m: &MatMul, t: usize, n: usize) {
        let Some((r0, r1)) = self.share(t, n, m.m, m.m * m.n * m.k) else {
            return;
        };
        let base = &self.0.base;
        // SAFETY: operands and result lie inside their buffers (checked by the schedule's
        // shapes); rows r0..r1 of the result are this thread's alone.
        unsafe {
            let a = base[m.a.buf.index()].add(m.a.offset + r0 * m.a.rs);
            let b = base[m.b.buf.index()].add(m.b.offset);
            let d = base[m.dst.index()].add(r0 * m.n);
            gemm::gemm(
                r1 - r0,
                m.n,
                m.k,
                d,
                1,
                m.n as isize,
                false,
                a,
                m.a.cs as isize,
                m.a.rs as isize,
                b,
                m.b.cs as isize,
                m.b.rs as isize,
                T::from_f64(0.0),
                T::from_f64(1.0),
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }

    fn reduce(&self, r: &Reduce, t: usize, n: usize) {
        let dims = r.shape.dims();
        let len = dims[r.axis];
        let outs = r.shape.numel() / len;
        let Some((o0, o1)) = self.share(t, n, outs, r.shape.numel()) else {
            return;
        };
        let src = self.0.base[r.src.index()];
        let dst = self.0.base[r.dst.index()];
        let step = r.map.strides[r.axis];
        for o in o0..o1 {
            let start = r.map.offset + reduced_offset(dims, &r.map.strides, r.axis, o);
            let mut acc = 0.0f64;
            for j in 0..len {
                // SAFETY: every index of the operand's shape maps inside `src`.
                acc += unsafe { *src.add(start + j * step) }.to_f64();
            }
            let v = if r.mean { acc / len as f64 } else { acc };
            // SAFETY: `o < outs`, the length of `dst`; element `o` is this thread's.
            unsafe { *dst.add(o) = T::from_f64(v) };
        }
    }
}

/// The operand offset of output element `o` of a reduction over `axis` (index 0 there).
fn reduced_offset(dims: &[usize], strides: &[usize], axis: usize, mut o: usize) -> usize {
    let mut off = 0;
    for k in (0..dims.len()).rev() {
        if k == axis {
            continue;
        }
        off += (o % dims[k]) * strides[k];
        o /= dims[k];
    }
    off
}

/// A reusable barrier that spins briefly, then sleeps on a condition variable: steps
/// are short, so the partner usually arrives within the spin; when the machine is
/// oversubscribed, sleeping hands the core to the thread being waited for.
struct SpinBarrier {
    n: usize,
    count: AtomicUsize,
    generation: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

/// Spins before sleeping (a few microseconds).
const SPINS: u32 = 1 << 12;

impl SpinBarrier {
    fn new(n: usize) -> Self {
        SpinBarrier {
            n,
            count: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    fn wait(&self) {
        let g = self.generation.load(Ordering::Acquire);
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.count.store(0, Ordering::Relaxed);
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.generation.fetch_add(1, Ordering::Release);
            self.wake.notify_all();
            return;
        }
        for _ in 0..SPINS {
            if self.generation.load(Ordering::Acquire) != g {
                return;
            }
            std::hint::spin_loop();
        }
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        while self.generation.load(Ordering::Acquire) == g {
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }
}
