//! CLIF emission of one kernel: the loop nest and memory accesses. The arithmetic of
//! each body instruction is in `ops`.
//!
//! A kernel compiles to `extern "C" fn(table: *const *mut T, lo: i64, hi: i64)`. `table`
//! holds the base address of every buffer the kernel touches (fixed at compile time:
//! buffers never move); `lo..hi` is the part of the outermost loop to run, which is how
//! threads share a kernel. The loop nest is the collapsed one of [`Layout`]:
//!
//! ```text
//! for i0 in lo..hi { for i1 in 0..d1 { ... for j in 0..dL  (vector step, then scalar tail)
//! ```
//!
//! Each access keeps a running address per loop level (`base + offset + Σ ik·stride_k`).
//! In the innermost loop, loads that do not move (stride 0) are loaded once before the
//! loop and splatted; others are vector loads. The vector loop takes two vectors
//! (`2 · lanes` iterations, [`VECTORS_PER_STEP`]) at a time while that many remain, then
//! one vector, then a scalar loop finishes the row, so any extent is correct (batch
//! sizes 1, 3, 5, 1023 all hit the tails).

use super::layout::{Access, Layout};
use super::ops::Ops;
use super::{Codegen, Error};
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::Signature;
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, UserFuncName, Value};
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module, ModuleReloc};
use nabla_passes::schedule::{BufId, Expr, Kernel};
use std::sync::{Mutex, MutexGuard};

/// Vectors the innermost loop computes per step: two independent copies of the body give
/// the core two chains of multiply-adds to overlap and halve the loop's own instructions
/// (counter, compare, branch: a third of a one-multiply kernel's), which weigh twice as
/// much per element in f64 (two lanes) as in f32 (four). `nabla bench --methods auto
/// --dtypes f32,f64 --reps 15`, two runs each, loss+grad ms, one vector → two: B1
/// 4.14–4.17 → 4.05–4.10 f32, 8.29–8.33 → 8.00–8.06 f64; B8 7.92–7.94 → 7.68–7.74,
/// 14.58–14.63 → 13.93–13.97; B4 36.8–36.9 → 36.6–36.7, 75.5–75.7 → 75.1. Eight lanes
/// per step in both types (two f32 vectors, four f64) came out the same as two vectors,
/// and four f32 vectors gained 1–2% more on B8 for 10% more compile time.
const VECTORS_PER_STEP: i64 = 2;

/// A compiled (not yet finalised) kernel.
pub struct KernelCode {
    /// The function in the module.
    pub id: FuncId,
    /// Buffers in pointer-table order.
    pub table: Vec<BufId>,
    /// The loop layout (the runtime splits `layout.outer()` among threads).
    pub layout: Layout,
    /// The CLIF text, before optimisation, when asked for.
    pub clif: Option<String>,
    /// Cranelift's listing of the machine instructions, after register allocation, when
    /// asked for.
    pub asm: Option<String>,
}

/// Which listings of a kernel to keep: its CLIF, its machine instructions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Listings {
    /// The function's CLIF as emitted, before Cranelift optimises it.
    pub clif: bool,
    /// Cranelift's listing of the machine instructions, after register allocation.
    pub asm: bool,
}

/// Emits kernel number `index`, compiles it to machine code and defines it in `module`,
/// keeping the listings `keep` asks for. The module is locked only to declare names and to
/// copy the finished code in, so kernels compile side by side on several threads.
pub fn kernel(
    module: &Mutex<JITModule>,
    isa: &dyn TargetIsa,
    fctx: &mut FunctionBuilderContext,
    (k, index): (&Kernel, usize),
    cg: Codegen,
    keep: Listings,
) -> Result<KernelCode, Error> {
    let mut layout = Layout::of(k);
    layout.vector &= cg.simd;
    let mut sig = Signature::new(isa.default_call_conv());
    sig.params.extend([AbiParam::new(isa.pointer_type()); 3]);
    let name = format!("nabla_kernel_{index}");
    let id = lock(module)
        .declare_function(&name, Linkage::Local, &sig)
        .map_err(|e| Error::Codegen(e.to_string()))?;
    let mut ctx = Context::new();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    let table = buffer_table(k);
    {
        let b = FunctionBuilder::new(&mut ctx.func, fctx);
        let mut em = Emitter::new(b, (module, isa), k, &layout, &table, cg);
        em.function();
        let mut b = em.ops.b;
        b.seal_all_blocks();
        b.finalize(isa.frontend_config());
    }
    let clif = (keep.clif).then(|| format!("; kernel {index}\n{}", ctx.func.display()));
    ctx.set_disasm(keep.asm);
    ctx.compile(isa, &mut ControlPlane::default())
        .map_err(|e| Error::Codegen(format!("{:?}", e.inner)))?;
    // as `JITModule::define_function` does, with the compile outside the lock
    let code = ctx.compiled_code().expect("compiled just now");
    let asm = (code.vcode.as_ref()).map(|v| format!("; kernel {index}\n{v}"));
    let relocs: Vec<ModuleReloc> = (code.buffer.relocs().iter())
        .map(|r| ModuleReloc::from_mach_reloc(r, &ctx.func, id))
        .collect();
    let alignment = u64::from(code.buffer.alignment);
    lock(module)
        .define_function_bytes(id, alignment, code.code_buffer(), &relocs)
        .map_err(|e| Error::Codegen(format!("{e:?}")))?;
    Ok(KernelCode {
        id,
        table,
        layout,
        clif,
        asm,
    })
}

/// The module, locked; a thread that panicked while holding it left it whole (every
/// change to it is one call), so a poisoned lock is taken as it is.
pub fn lock(module: &Mutex<JITModule>) -> MutexGuard<'_, JITModule> {
    module.lock().unwrap_or_else(|e| e.into_inner())
}

/// The distinct buffers of `k`, loads first then stores, in order of first use.
fn buffer_table(k: &Kernel) -> Vec<BufId> {
    let mut t: Vec<BufId> = Vec::new();
    for a in k.accesses() {
        if !t.contains(&a.buf) {
            t.push(a.buf);
        }
    }
    t
}

/// Data accesses: never trap (buffers are sized by the plan), alignment not assumed.
fn data() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

struct Emitter<'a, 'k> {
    ops: Ops<'a, 'k>,
    k: &'k Kernel,
    layout: &'k Layout,
    table: &'k [BufId],
    /// Accesses in order: loads (body order), then stores.
    accesses: Vec<&'k Access>,
    /// The buffer of each access.
    access_buf: Vec<BufId>,
    /// For each body instruction that is a load, its index in `accesses`.
    load_slot: Vec<Option<usize>>,
}

impl<'a, 'k> Emitter<'a, 'k> {
    fn new(
        b: FunctionBuilder<'a>,
        module: (&'k Mutex<JITModule>, &'k dyn TargetIsa),
        k: &'k Kernel,
        layout: &'k Layout,
        table: &'k [BufId],
        cg: Codegen,
    ) -> Self {
        // `layout` has an access per load (at its body position), then one per store:
        // the order of `Kernel::accesses`, which gives their buffers.
        let mut accesses = Vec::new();
        let mut load_slot = Vec::with_capacity(k.body.len());
        for a in &layout.loads {
            load_slot.push(a.as_ref().map(|a| {
                accesses.push(a);
                accesses.len() - 1
            }));
        }
        accesses.extend(layout.stores.iter());
        let access_buf = k.accesses().map(|a| a.buf).collect();
        Emitter {
            ops: Ops::new(b, module, k, cg),
            k,
            layout,
            table,
            accesses,
            access_buf,
            load_slot,
        }
    }

    /// Entry block, base addresses, the loop nest, return.
    fn function(&mut self) {
        let entry = self.ops.b.create_block();
        self.ops.b.append_block_params_for_function_params(entry);
        self.ops.b.switch_to_block(entry);
        let p = self.ops.b.block_params(entry).to_vec();
        let (tbl, lo, hi) = (p[0], p[1], p[2]);
        let bases: Vec<Value> = (0..self.table.len())
            .map(|i| {
                let flags = MemFlagsData::trusted();
                self.ops
                    .b
                    .ins()
                    .load(types::I64, flags, tbl, (8 * i) as i32)
            })
            .collect();
        let ptrs: Vec<Value> = (0..self.accesses.len())
            .map(|i| {
                let slot = self.table.iter().position(|&b| b == self.access_buf[i]);
                let base = bases[slot.expect("buffer in table")];
                let off = (self.accesses[i].offset * self.ops.size) as i64;
                self.ops.b.ins().iadd_imm_s(base, off)
            })
            .collect();
        self.ops.constants();
        self.level(0, &ptrs, lo, hi);
        self.ops.b.ins().return_(&[]);
    }

    fn n_loads(&self) -> usize {
        self.accesses.len() - self.k.stores.len()
    }

    /// Loop `level` of the nest over `start..end`, with each access's address at the
    /// loop's first iteration in `ptrs`.
    fn level(&mut self, level: usize, ptrs: &[Value], start: Value, end: Value) {
        let last = self.layout.dims.len() - 1;
        if level == last {
            return self.innermost(ptrs, start, end);
        }
        let steps: Vec<i64> = self.steps(level);
        self.counted(start, end, 1, |em, i| {
            let moved = em.advance(ptrs, &steps, i);
            let zero = em.ops.b.ins().iconst(types::I64, 0);
            let d = em.layout.dims[level + 1] as i64;
            let dn = em.ops.b.ins().iconst(types::I64, d);
            em.level(level + 1, &moved, zero, dn);
        });
    }

    /// Byte steps of every access along `level`.
    fn steps(&self, level: usize) -> Vec<i64> {
        self.accesses
            .iter()
            .map(|a| (a.strides[level] * self.ops.size) as i64)
            .collect()
    }

    /// `ptrs[a] + i·steps[a]` for every access.
    fn advance(&mut self, ptrs: &[Value], steps: &[i64], i: Value) -> Vec<Value> {
        ptrs.iter()
            .zip(steps)
            .map(|(&p, &s)| match s {
                0 => p,
                _ => {
                    let off = self.ops.b.ins().imul_imm_s(i, s);
                    self.ops.b.ins().iadd(p, off)
                }
            })
            .collect()
    }

    /// The innermost loop: vector iterations, then a scalar tail.
    fn innermost(&mut self, ptrs: &[Value], start: Value, end: Value) {
        let last = self.layout.dims.len() - 1;
        let steps = self.steps(last);
        let invariant = self.hoist_invariant_loads(ptrs, &steps);
        let mut i = start;
        if self.layout.vector {
            let lanes = self.ops.lanes as i64;
            i = self.counted(start, end, VECTORS_PER_STEP * lanes, |em, i| {
                for v in 0..VECTORS_PER_STEP {
                    let j = em.ops.b.ins().iadd_imm_s(i, v * lanes);
                    em.body(ptrs, &steps, &invariant, j, true);
                }
            });
            i = self.counted(i, end, lanes, |em, i| {
                em.body(ptrs, &steps, &invariant, i, true)
            });
        }
        self.counted(i, end, 1, |em, i| {
            em.body(ptrs, &steps, &invariant, i, false)
        });
    }

    /// Loads that do not move in the innermost loop, loaded once: (scalar, splat).
    fn hoist_invariant_loads(&mut self, ptrs: &[Value], steps: &[i64]) -> Vec<Option<[Value; 2]>> {
        (0..self.n_loads())
            .map(|a| {
                (steps[a] == 0).then(|| {
                    let s = self.ops.b.ins().load(self.ops.ty, data(), ptrs[a], 0);
                    let v = if self.layout.vector {
                        self.ops.b.ins().splat(self.ops.vty, s)
                    } else {
                        s
                    };
                    [s, v]
                })
            })
            .collect()
    }

    /// One iteration (or `lanes` iterations) of the kernel body at innermost index `i`.
    fn body(
        &mut self,
        ptrs: &[Value],
        steps: &[i64],
        invariant: &[Option<[Value; 2]>],
        i: Value,
        vector: bool,
    ) {
        let n = self.k.body.len();
        let mut vals: Vec<Option<Value>> = vec![None; n];
        for e in 0..n {
            vals[e] = match (&self.k.body[e], self.load_slot[e]) {
                (Expr::Load { .. }, Some(a)) => Some(match invariant[a] {
                    Some([s, v]) => {
                        if vector {
                            v
                        } else {
                            s
                        }
                    }
                    None => self.load(ptrs[a], steps[a], i, vector),
                }),
                _ => self.ops.expr(e, &vals, vector),
            };
        }
        let nl = self.n_loads();
        for (s, st) in self.k.stores.iter().enumerate() {
            let addr = self.addr(ptrs[nl + s], steps[nl + s], i);
            let v = vals[st.value.index()].expect("stored value computed");
            self.ops.b.ins().store(data(), v, addr, 0);
        }
    }

    fn addr(&mut self, p: Value, step: i64, i: Value) -> Value {
        let off = self.ops.b.ins().imul_imm_s(i, step);
        self.ops.b.ins().iadd(p, off)
    }

    fn load(&mut self, p: Value, step: i64, i: Value, vector: bool) -> Value {
        let addr = self.addr(p, step, i);
        let ty = if vector { self.ops.vty } else { self.ops.ty };
        self.ops.b.ins().load(ty, data(), addr, 0)
    }

    /// `for i in (start..).step_by(step) while i + step <= end { body(i) }`; returns the
    /// first `i` not run.
    fn counted(
        &mut self,
        start: Value,
        end: Value,
        step: i64,
        mut body: impl FnMut(&mut Self, Value),
    ) -> Value {
        let b = &mut self.ops.b;
        let header = b.create_block();
        let inside = b.create_block();
        let exit = b.create_block();
        b.append_block_param(header, types::I64);
        b.append_block_param(exit, types::I64);
        b.ins().jump(header, &[start.into()]);
        b.switch_to_block(header);
        let i = b.block_params(header)[0];
        let next = b.ins().iadd_imm_s(i, step);
        let more = b.ins().icmp(IntCC::SignedLessThanOrEqual, next, end);
        b.ins().brif(more, inside, &[], exit, &[i.into()]);
        b.switch_to_block(inside);
        body(self, i);
        self.ops.b.ins().jump(header, &[next.into()]);
        self.ops.b.switch_to_block(exit);
        self.ops.b.block_params(exit)[0]
    }
}
