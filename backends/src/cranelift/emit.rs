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
//! Addresses come from running *cursors*, one value per loop level. An access to a
//! temporary (a buffer in the program's arena, at an offset the memory plan fixed) is
//! `arena + cursor + disp`: every such access with the same strides shares one cursor (a
//! byte offset, `Σ ik·stride_k`), and its own place — the buffer's arena offset plus the
//! access's — is the instruction's constant displacement. Any other access (inputs,
//! params, constants, outputs: buffers of their own) has a cursor of its own, its address.
//! So a backward Taylor kernel reading 24 temporaries keeps two or three registers of
//! addresses instead of 24 pointers, which spilled and were reloaded and stored back on
//! every iteration. In the innermost loop, loads that do not move (stride 0) are loaded
//! once before the loop and splatted; others are vector loads. The vector loop takes two vectors
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

/// The cursors of the innermost loop: their values at the loop's first iteration and
/// their byte steps per iteration.
struct Cursors<'v> {
    cursors: &'v [Value],
    steps: &'v [i64],
}

/// A compiled (not yet finalised) kernel.
pub struct KernelCode {
    /// The function in the module.
    pub id: FuncId,
    /// The pointer table's entries in order: a buffer's base address, or (`None`) the
    /// arena's.
    pub table: Vec<Option<BufId>>,
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
    (cg, arena): (Codegen, &[Option<usize>]),
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
    let places = places(k, &layout, arena, if cg.f64 { 8 } else { 4 });
    let table = table_of(k, &places);
    {
        let b = FunctionBuilder::new(&mut ctx.func, fctx);
        let mut em = Emitter::new(b, (module, isa), k, (&layout, &table, &places), cg);
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

/// Where an access's address comes from: cursor `cursor`, plus `disp` bytes, plus the
/// arena's base address when `arena` (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Place {
    cursor: usize,
    disp: i32,
    arena: bool,
}

/// The place of every access of `k` (loads, then stores; `layout`'s order), given the
/// arena offset of every temporary buffer (`arena[b]`, elements) and the element size.
/// A temporary whose displacement does not fit 32 bits gets a cursor of its own, as a
/// buffer of its own does.
fn places(k: &Kernel, layout: &Layout, arena: &[Option<usize>], size: usize) -> Vec<Place> {
    let accesses = layout.loads.iter().flatten().chain(&layout.stores);
    let mut shared: Vec<(&[usize], usize)> = Vec::new();
    let mut next = 0;
    let mut fresh = || {
        next += 1;
        next - 1
    };
    accesses
        .zip(k.accesses().map(|a| a.buf))
        .map(|(a, buf)| {
            let disp = arena[buf.index()].map(|o| (o + a.offset) * size);
            match disp.and_then(|d| i32::try_from(d).ok()) {
                Some(disp) => {
                    let same = shared.iter().find(|s| s.0 == a.strides.as_slice());
                    let cursor = match same {
                        Some(s) => s.1,
                        None => {
                            let c = fresh();
                            shared.push((&a.strides, c));
                            c
                        }
                    };
                    Place {
                        cursor,
                        disp,
                        arena: true,
                    }
                }
                None => Place {
                    cursor: fresh(),
                    disp: 0,
                    arena: false,
                },
            }
        })
        .collect()
}

/// The pointer table of `k`: the arena first if any access is arena-relative, then the
/// buffers of the other accesses, in order of first use.
fn table_of(k: &Kernel, places: &[Place]) -> Vec<Option<BufId>> {
    let mut t: Vec<Option<BufId>> = Vec::new();
    if places.iter().any(|p| p.arena) {
        t.push(None);
    }
    for (p, a) in places.iter().zip(k.accesses()) {
        if !p.arena && !t.contains(&Some(a.buf)) {
            t.push(Some(a.buf));
        }
    }
    t
}

/// Data accesses: never trap (buffers are sized by the plan), alignment not assumed.
fn data() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// A load from a buffer the kernel does not write: its memory cannot change while the
/// kernel runs (other threads' chunks write only this kernel's outputs), so the load is
/// pure and Cranelift may place it where its value is first used. Without this, loads
/// stay in body order while the arithmetic is placed just before the stores that use it,
/// at the end: every loaded vector of a wide kernel was live at once, and a backward
/// Taylor kernel with 24 inputs spilled most of them.
fn pure_data() -> MemFlagsData {
    data().with_readonly().with_can_move()
}

struct Emitter<'a, 'k> {
    ops: Ops<'a, 'k>,
    k: &'k Kernel,
    layout: &'k Layout,
    table: &'k [Option<BufId>],
    /// Accesses in order: loads (body order), then stores.
    accesses: Vec<&'k Access>,
    /// Where each access's address comes from.
    places: &'k [Place],
    /// Each cursor's element strides (those of its accesses).
    cursor_strides: Vec<&'k [usize]>,
    /// The arena's base address (set by `function` when some access is arena-relative).
    arena: Option<Value>,
    /// For each body instruction that is a load, its index in `accesses`.
    load_slot: Vec<Option<usize>>,
    /// For each load access, whether its buffer is one the kernel never stores
    /// ([`pure_data`]).
    pure: Vec<bool>,
}

impl<'a, 'k> Emitter<'a, 'k> {
    fn new(
        b: FunctionBuilder<'a>,
        module: (&'k Mutex<JITModule>, &'k dyn TargetIsa),
        k: &'k Kernel,
        (layout, table, places): (&'k Layout, &'k [Option<BufId>], &'k [Place]),
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
        let access_buf: Vec<BufId> = k.accesses().map(|a| a.buf).collect();
        let pure = (access_buf.iter().take(accesses.len() - k.stores.len()))
            .map(|b| k.stores.iter().all(|s| s.buf != *b))
            .collect();
        let cursors = places.iter().map(|p| p.cursor + 1).max().unwrap_or(0);
        let mut cursor_strides: Vec<&[usize]> = vec![&[]; cursors];
        for (p, a) in places.iter().zip(&accesses) {
            cursor_strides[p.cursor] = &a.strides;
        }
        Emitter {
            ops: Ops::new(b, module, k, cg),
            k,
            layout,
            table,
            accesses,
            places,
            cursor_strides,
            arena: None,
            load_slot,
            pure,
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
        self.arena = (self.table.first() == Some(&None)).then(|| bases[0]);
        let mut cursors: Vec<Option<Value>> = vec![None; self.cursor_strides.len()];
        let (k, places, table) = (self.k, self.places, self.table);
        for ((p, access), a) in places.iter().zip(k.accesses()).zip(0..) {
            if cursors[p.cursor].is_some() {
                continue;
            }
            cursors[p.cursor] = Some(match p.arena {
                true => self.ops.b.ins().iconst(types::I64, 0),
                false => {
                    let slot = table.iter().position(|&b| b == Some(access.buf));
                    let base = bases[slot.expect("buffer in table")];
                    let off = (self.accesses[a].offset * self.ops.size) as i64;
                    self.ops.b.ins().iadd_imm_s(base, off)
                }
            });
        }
        let cursors: Vec<Value> = cursors.into_iter().map(|c| c.expect("used")).collect();
        self.ops.constants();
        self.level(0, &cursors, lo, hi);
        self.ops.b.ins().return_(&[]);
    }

    fn n_loads(&self) -> usize {
        self.accesses.len() - self.k.stores.len()
    }

    /// Loop `level` of the nest over `start..end`, with each cursor's value at the loop's
    /// first iteration in `cursors`.
    fn level(&mut self, level: usize, cursors: &[Value], start: Value, end: Value) {
        let last = self.layout.dims.len() - 1;
        if level == last {
            return self.innermost(cursors, start, end);
        }
        let steps: Vec<i64> = self.steps(level);
        self.counted(start, end, 1, |em, i| {
            let moved = em.advance(cursors, &steps, i);
            let zero = em.ops.b.ins().iconst(types::I64, 0);
            let d = em.layout.dims[level + 1] as i64;
            let dn = em.ops.b.ins().iconst(types::I64, d);
            em.level(level + 1, &moved, zero, dn);
        });
    }

    /// Byte steps of every cursor along `level`.
    fn steps(&self, level: usize) -> Vec<i64> {
        self.cursor_strides
            .iter()
            .map(|s| (s[level] * self.ops.size) as i64)
            .collect()
    }

    /// `cursors[c] + i·steps[c]` for every cursor.
    fn advance(&mut self, cursors: &[Value], steps: &[i64], i: Value) -> Vec<Value> {
        cursors
            .iter()
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
    fn innermost(&mut self, cursors: &[Value], start: Value, end: Value) {
        let last = self.layout.dims.len() - 1;
        let steps = self.steps(last);
        let at = Cursors {
            cursors,
            steps: &steps,
        };
        let invariant = self.hoist_invariant_loads(&at);
        let mut i = start;
        if self.layout.vector {
            let lanes = self.ops.lanes as i64;
            i = self.counted(start, end, VECTORS_PER_STEP * lanes, |em, i| {
                for v in 0..VECTORS_PER_STEP {
                    let j = em.ops.b.ins().iadd_imm_s(i, v * lanes);
                    em.body(&at, &invariant, j, true);
                }
            });
            i = self.counted(i, end, lanes, |em, i| em.body(&at, &invariant, i, true));
        }
        self.counted(i, end, 1, |em, i| em.body(&at, &invariant, i, false));
    }

    /// Loads that do not move in the innermost loop, loaded once: (scalar, splat).
    fn hoist_invariant_loads(&mut self, at: &Cursors<'_>) -> Vec<Option<[Value; 2]>> {
        (0..self.n_loads())
            .map(|a| {
                (at.steps[self.places[a].cursor] == 0).then(|| {
                    let zero = self.ops.b.ins().iconst(types::I64, 0);
                    let (addr, disp) = self.address(a, at, zero);
                    let (ty, flags) = (self.ops.ty, self.flags(a));
                    let s = self.ops.b.ins().load(ty, flags, addr, disp);
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
    fn body(&mut self, at: &Cursors<'_>, invariant: &[Option<[Value; 2]>], i: Value, vector: bool) {
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
                    None => self.load(a, at, (i, vector)),
                }),
                _ => self.ops.expr(e, &vals, vector),
            };
        }
        let nl = self.n_loads();
        for (s, st) in self.k.stores.iter().enumerate() {
            let (addr, disp) = self.address(nl + s, at, i);
            let v = vals[st.value.index()].expect("stored value computed");
            self.ops.b.ins().store(data(), v, addr, disp);
        }
    }

    /// The address of access `a` at innermost index `i`: a value and a displacement.
    fn address(&mut self, a: usize, at: &Cursors<'_>, i: Value) -> (Value, i32) {
        let p = self.places[a];
        let off = self.ops.b.ins().imul_imm_s(i, at.steps[p.cursor]);
        let x = self.ops.b.ins().iadd(at.cursors[p.cursor], off);
        match self.arena {
            Some(arena) if p.arena => (self.ops.b.ins().iadd(arena, x), p.disp),
            _ => (x, p.disp),
        }
    }

    /// Load access `a` at innermost index `i`.
    fn load(&mut self, a: usize, at: &Cursors<'_>, (i, vector): (Value, bool)) -> Value {
        let (addr, disp) = self.address(a, at, i);
        let ty = if vector { self.ops.vty } else { self.ops.ty };
        let flags = self.flags(a);
        self.ops.b.ins().load(ty, flags, addr, disp)
    }

    /// The flags of load access `a`.
    fn flags(&self, a: usize) -> MemFlagsData {
        match self.pure[a] {
            true => pure_data(),
            false => data(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_ir::Shape;
    use nabla_passes::schedule::{Affine, Store, Val};

    /// `out = Σ loads` over `[4, 8]`: one load per `(buffer, strides)`, the store to
    /// buffer `out` (row-major).
    fn kernel(loads: &[(usize, [usize; 2])], out: usize) -> Kernel {
        let map = |s: [usize; 2]| Affine {
            offset: 0,
            strides: s.into_iter().collect(),
        };
        let mut body: Vec<Expr> = (loads.iter())
            .map(|&(b, s)| Expr::Load {
                buf: BufId(b as u32),
                map: map(s),
            })
            .collect();
        body.push(Expr::Const(0.0));
        let n = body.len();
        Kernel {
            shape: Shape::new(&[4, 8]),
            body,
            nodes: vec![None; n],
            stores: vec![Store {
                buf: BufId(out as u32),
                map: map([8, 1]),
                value: Val(0),
            }],
        }
    }

    #[test]
    fn temporaries_with_the_same_strides_share_one_cursor() {
        // buffers 0, 1, 3 in the arena (elements 0, 100, 300), 2 a buffer of its own
        let arena = [Some(0), Some(100), None, Some(300)];
        let k = kernel(&[(0, [8, 1]), (1, [8, 1]), (2, [8, 1]), (1, [0, 1])], 3);
        let layout = Layout::of(&k);
        let p = places(&k, &layout, &arena, 4);
        let at = |cursor, disp, arena| Place {
            cursor,
            disp,
            arena,
        };
        let want = [
            at(0, 0, true),
            at(0, 400, true),
            at(1, 0, false),
            at(2, 400, true),
            at(0, 1200, true),
        ];
        assert_eq!(p, want);
        assert_eq!(table_of(&k, &p), vec![None, Some(BufId(2))]);
    }

    #[test]
    fn a_displacement_past_32_bits_gets_a_cursor_of_its_own() {
        let far = (i32::MAX as usize) / 8 + 1;
        let arena = [Some(0), Some(far)];
        let k = kernel(&[(0, [8, 1]), (1, [8, 1])], 0);
        let p = places(&k, &Layout::of(&k), &arena, 8);
        assert_eq!((p[0].cursor, p[0].arena), (0, true));
        assert_eq!((p[1].cursor, p[1].disp, p[1].arena), (1, 0, false));
        assert_eq!(p[2], p[0]);
        assert_eq!(table_of(&k, &p), vec![None, Some(BufId(1))]);
        // in f32 the same offset fits
        let p = places(&k, &Layout::of(&k), &arena, 4);
        assert_eq!((p[1].cursor, p[1].disp), (0, (far * 4) as i32));
    }
}
