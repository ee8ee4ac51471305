//! Cranelift JIT backend for the CPU (`--backend cpu` on the command line).
//!
//! [`compile`] schedules the graph ([`nabla_passes::schedule`]) and JIT-compiles every
//! fused kernel of the schedule with Cranelift for the host ISA (`cranelift_native`:
//! AVX2/FMA where present). Dense products call the `gemm` crate and reductions a plain
//! Rust loop, both from the runtime between kernels (a product is large enough that a
//! call costs nothing, and `gemm` is tuned far beyond what a JIT loop reaches here).
//!
//! - **Kernels** (`emit`, `ops`): one function per fused loop nest; the innermost loop
//!   runs 128-bit vectors (`f32x4`/`f64x2`; Cranelift has no 256-bit vectors on x86-64)
//!   where lanes are independent, then a scalar tail; `a·b ± c` become FMAs.
//! - **Transcendentals** (`math`, `vmath`): host calls (once per lane in vector code),
//!   except `tanh`, which is inline and vectorised — a rational approximation in f32
//!   (≤ 4 ulp measured), in f64 an inline `exp` by range reduction and a Padé form, one
//!   division (≤ 3 ulp measured, see `vmath`).
//!   `tanh` is the activation of every benchmark network, and a call per lane costs
//!   several times more than the inline code.
//! - **A layer's activation** (`native`): a kernel that is exactly `tanh(z + b)` runs as
//!   the runtime's own AVX-512 code where the host has AVX-512F — the inline `tanh`'s
//!   operations on 16 f32 or 8 f64 lanes, the same bits as the compiled kernel, in a
//!   quarter to a third of its time.
//! - **Runtime** (`runtime`, `pool`): buffers allocated once, the memory plan's arena;
//!   each step cut into chunks that the caller and persistent worker threads claim
//!   dynamically; runs are deterministic.
//!
//! ## Precision
//!
//! The executable computes in [`Options::dtype`], whatever dtype the graph's leaves
//! declare: a graph traced in f64 can run in f32 and vice versa. Values cross the
//! [`Executable`] interface as f64 and are rounded on [`Executable::set`]. In f64 with
//! `fma: false` and `inline_tanh: false`, kernels perform exactly the interpreter's
//! operations (its `exp`, `tanh`, ... included), so only products (`gemm`'s summation
//! order) and `powi` (a multiplication chain) can differ in the last bits.
//!
//! ## Example
//!
//! ```
//! use nabla_backends::{cranelift, Executable};
//! use nabla_ir::{verify, BinOp, DType, Graph, Op, Shape, UnOp};
//!
//! let mut g = Graph::new();
//! let x = g.add(Op::Input { name: "x".into(), dtype: DType::F64, shape: Shape::matrix(5, 1) }, &[]).unwrap();
//! let t = g.unary(UnOp::Tanh, x);
//! let y = g.binary(BinOp::Mul, t, x);
//! g.set_output("y", y);
//! let info = verify(&g).unwrap();
//! let mut exe = cranelift::compile(&g, &info, &cranelift::Options::default()).unwrap();
//! exe.set("x", &[0.0, 0.5, 1.0, 1.5, 2.0]).unwrap();
//! exe.run().unwrap();
//! assert!((exe.output(0)[2] - 1f64.tanh()).abs() < 1e-15);
//! assert!(exe.clif().is_none()); // kept only with `Options::keep_clif`
//! ```

mod emit;
mod layout;
mod math;
#[cfg(target_arch = "x86_64")]
mod narrow;
#[cfg(target_arch = "x86_64")]
mod native;
mod ops;
mod pool;
mod runtime;
mod vmath;
#[cfg(target_arch = "x86_64")]
mod wide;

use crate::{bindings_of, check_expanded, Binding, BoundLeaves, Executable, RunError};
use crate::{StepTime, Unexpanded};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use emit::KernelCode;
use nabla_ir::{DType, Graph, GraphInfo};
use nabla_passes::schedule::{schedule, BufId, Kernel, Program, ScheduleOptions, Step};
pub use pool::Pool;
use runtime::{KernelFn, Runtime};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Options of the Cranelift backend.
#[derive(Clone, Debug)]
pub struct Options {
    /// Element type to compute in (see the module docs on precision).
    pub dtype: DType,
    /// Threads to split each step over (at least 1).
    pub threads: usize,
    /// Contract `a·b ± c` into fused multiply-adds when the host has FMA.
    pub fma: bool,
    /// Use 128-bit SIMD in innermost loops.
    pub simd: bool,
    /// Inline the vectorised `tanh` instead of calling the host's `tanh` per lane.
    pub inline_tanh: bool,
    /// Run a layer's activation kernel, `tanh(z + b)` and nothing else, as the runtime's
    /// AVX-512 code where the host has AVX-512F ([`native`]: the same operations as the
    /// inline `tanh`, 16 or 8 lanes at a time instead of 4 or 2). Needs `inline_tanh`.
    pub native_tanh: bool,
    /// Steps with less work than this (elements, or multiply-adds for products) are not
    /// cut into chunks: one thread runs each, as splitting costs more than it saves.
    pub par_min: usize,
    /// Keep the CLIF text of every kernel for [`CraneliftExecutable::clif`] (`dump-ir
    /// --stage clif`). Off by default: printing every function cost a tenth of B3's code
    /// generation.
    pub keep_clif: bool,
    /// Keep Cranelift's listing of every kernel's machine instructions for
    /// [`CraneliftExecutable::asm`] (`dump-ir --stage asm`). Off by default, as CLIF.
    pub keep_asm: bool,
}

impl Default for Options {
    /// f64, one thread, FMA, SIMD, inline and AVX-512 `tanh` on, steps under 16384
    /// elements on one thread, no listing kept.
    fn default() -> Self {
        Options {
            dtype: DType::F64,
            threads: 1,
            fma: true,
            simd: true,
            inline_tanh: true,
            native_tanh: true,
            par_min: 1 << 14,
            keep_clif: false,
            keep_asm: false,
        }
    }
}

/// How kernels are generated: [`Options`] resolved against the host (FMA only where the
/// host has it), as `emit` and `ops` read them.
#[derive(Clone, Copy, Debug)]
pub struct Codegen {
    /// Compute in f64 (else f32).
    pub f64: bool,
    /// Contract `a·b + c` into fused multiply-adds.
    pub fma: bool,
    /// Use 128-bit vectors in the innermost loop where lanes are independent.
    pub simd: bool,
    /// Inline the vectorised `tanh` approximation instead of calling the host.
    pub inline_tanh: bool,
}

/// Why compilation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The graph still has derivative operators or bound variables.
    #[error(transparent)]
    Unexpanded(#[from] Unexpanded),
    /// Invalid options.
    #[error("invalid options: {0}")]
    Options(String),
    /// The host ISA is not supported by Cranelift.
    #[error("unsupported host: {0}")]
    Isa(String),
    /// Cranelift rejected a kernel (a compiler bug).
    #[error("code generation failed: {0}")]
    Codegen(String),
}

/// A compiled program: JIT code, buffers and the schedule it came from.
pub struct CraneliftExecutable {
    rt: Rt,
    program: Program,
    leaves: BoundLeaves,
    /// The buffer of each binding, in the order of `leaves`.
    leaf_bufs: Vec<BufId>,
    /// Every kernel's CLIF, when kept.
    clif: Option<String>,
    /// Every kernel's machine instructions, when kept.
    asm: Option<String>,
    dtype: DType,
    /// Owns the machine code (shared with the program's other copies); dropped last.
    _code: Arc<Code>,
}

enum Rt {
    F32(Runtime<f32>),
    F64(Runtime<f64>),
}

/// Compiles a verified, derivative-free graph for the host CPU.
pub fn compile(g: &Graph, info: &GraphInfo, opts: &Options) -> Result<CraneliftExecutable, Error> {
    let mut one = compile_copies(g, info, opts, 1)?;
    Ok(one.pop().expect("one copy"))
}

/// Compiles a verified, derivative-free graph once and returns `copies` executables
/// (at least one) that share its machine code, each with buffers of its own, so that
/// they run side by side (one per thread on tiles of points). Kernels compile on up to
/// `max(opts.threads, copies)` threads (no more than there are kernels).
pub fn compile_copies(
    g: &Graph,
    info: &GraphInfo,
    opts: &Options,
    copies: usize,
) -> Result<Vec<CraneliftExecutable>, Error> {
    check_expanded(info)?;
    if opts.threads == 0 {
        return Err(Error::Options("threads must be at least 1".into()));
    }
    let sopts = ScheduleOptions {
        dtype: opts.dtype,
        ..ScheduleOptions::default()
    };
    let mut program = schedule(g, info, &sopts);
    // the AVX-512 `tanh` is the inline one; with `inline_tanh` off the kernels call the
    // host's `tanh`, and so do these steps (compiled)
    let native = opts.native_tanh && opts.inline_tanh;
    #[cfg(target_arch = "x86_64")]
    if native && std::arch::is_x86_feature_detected!("avx512f") {
        native::split_activations(&mut program);
    }
    let (module, isa) = new_module()?;
    let module = Mutex::new(module);
    let workers = opts.threads.max(copies);
    let code = compile_kernels(&module, &*isa, &program, opts, workers)?;
    let mut module = module.into_inner().unwrap_or_else(|e| e.into_inner());
    module
        .finalize_definitions()
        .map_err(|e| Error::Codegen(e.to_string()))?;
    let fns: Vec<KernelFn> = code
        .iter()
        .map(|c| {
            let p = module.get_finalized_function(c.id);
            // SAFETY: the function was defined with the kernel signature
            // `(ptr, i64, i64) -> ()` in the host calling convention.
            unsafe { std::mem::transmute::<*const u8, KernelFn>(p) }
        })
        .collect();
    let clif = (opts.keep_clif).then(|| join(code.iter().map(|c| &c.clif)));
    let asm = (opts.keep_asm).then(|| join(code.iter().map(|c| &c.asm)));
    let shared = Arc::new(Code(Mutex::new(Some(module))));
    let leaves = BoundLeaves::new(bindings_of(g, info));
    let bufs: HashMap<&str, BufId> = (program.leaves.iter())
        .map(|l| (l.0.as_str(), l.1))
        .collect();
    let leaf_bufs: Vec<BufId> = (leaves.bindings().iter())
        .map(|b| {
            *bufs
                .get(b.name.as_str())
                .expect("every binding has a leaf buffer")
        })
        .collect();
    let threads = (opts.threads, opts.par_min);
    let copy = || CraneliftExecutable {
        rt: match opts.dtype {
            DType::F32 => Rt::F32(Runtime::new(&program, &code, &fns, threads, native)),
            DType::F64 => Rt::F64(Runtime::new(&program, &code, &fns, threads, native)),
        },
        leaves: leaves.clone(),
        leaf_bufs: leaf_bufs.clone(),
        program: program.clone(),
        clif: clif.clone(),
        asm: asm.clone(),
        dtype: opts.dtype,
        _code: shared.clone(),
    };
    Ok((0..copies.max(1)).map(|_| copy()).collect())
}

/// The machine code of a program, shared by its copies; freed with the last of them.
/// (The mutex only makes the module shareable: nothing locks it after compilation.)
struct Code(Mutex<Option<JITModule>>);

impl Drop for Code {
    fn drop(&mut self) {
        let module = self.0.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(module) = module {
            // SAFETY: the last copy of the program is being dropped: the kernel pointers
            // live only in the copies' runtimes (dropped before their `_code` field), so
            // no code of this module can run again.
            unsafe { module.free_memory() };
        }
    }
}

/// Emits, compiles and defines every kernel of `program` in `module`, on `workers`
/// threads that each claim the next kernel (kernel sizes vary by orders of magnitude, so a
/// static split would leave a thread idle). Returns the kernels in step order.
fn compile_kernels(
    module: &Mutex<JITModule>,
    isa: &dyn TargetIsa,
    program: &Program,
    opts: &Options,
    workers: usize,
) -> Result<Vec<KernelCode>, Error> {
    let cg = Codegen {
        f64: opts.dtype == DType::F64,
        fma: opts.fma && host_has_fma(),
        simd: opts.simd,
        inline_tanh: opts.inline_tanh,
    };
    let kernels: Vec<(&Kernel, usize)> = (program.steps.iter().enumerate())
        .filter_map(|(i, s)| match s {
            Step::Kernel(k) => Some((k, i)),
            _ => None,
        })
        .collect();
    // each temporary's offset in the arena, for arena-relative addresses
    let arena = program.arena_offsets();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<KernelCode>>> =
        Mutex::new((0..kernels.len()).map(|_| None).collect());
    let work = || -> Result<(), Error> {
        let mut fctx = FunctionBuilderContext::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&k) = kernels.get(i) else {
                return Ok(());
            };
            let keep = emit::Listings {
                clif: opts.keep_clif,
                asm: opts.keep_asm,
            };
            let c = emit::kernel(module, isa, &mut fctx, k, (cg, &arena), keep)?;
            done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(c);
        }
    };
    std::thread::scope(|s| {
        let others: Vec<_> = (1..workers.min(kernels.len()))
            .map(|_| s.spawn(work))
            .collect();
        let mine = work();
        for h in others {
            h.join()
                .map_err(|_| Error::Codegen("a code generation thread panicked".into()))??;
        }
        mine
    })?;
    let done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(done
        .into_iter()
        .map(|c| c.expect("every kernel compiled"))
        .collect())
}

/// The kernels' listings, one after the other.
fn join<'a>(listings: impl Iterator<Item = &'a Option<String>>) -> String {
    let text: Vec<&str> = listings.filter_map(|l| l.as_deref()).collect();
    text.join("\n")
}

/// A JIT module for the host with the math host functions registered, and its ISA.
fn new_module() -> Result<(JITModule, OwnedTargetIsa), Error> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| Error::Isa(e.to_string()))
    };
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    set(&mut flags, "opt_level", "speed")?;
    // Cranelift's IR verifier checks every function the emitter builds; tests and debug
    // builds keep it, release builds skip it (a sixth of the code generation time).
    let verify = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    set(&mut flags, "enable_verifier", verify)?;
    // A frame larger than a page is touched page by page on entry, so a kernel that
    // outgrew its thread's stack stops at the guard page (Rust reports the overflow)
    // instead of writing past it into other memory.
    set(&mut flags, "enable_probestack", "true")?;
    set(&mut flags, "probestack_strategy", "inline")?;
    let isa = cranelift_native::builder()
        .map_err(|e| Error::Isa(e.to_string()))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| Error::Isa(e.to_string()))?;
    let mut jb = JITBuilder::with_isa(isa.clone(), cranelift_module::default_libcall_names());
    for f in math::all() {
        jb.symbol(f.name, f.ptr);
    }
    Ok((JITModule::new(jb), isa))
}

/// Whether the host has fused multiply-add instructions.
fn host_has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

impl CraneliftExecutable {
    /// The CLIF of every kernel, in step order (`dump-ir --stage clif`), when compiled
    /// with [`Options::keep_clif`].
    pub fn clif(&self) -> Option<&str> {
        self.clif.as_deref()
    }

    /// Cranelift's listing of every kernel's machine instructions after register
    /// allocation, in step order (`dump-ir --stage asm`), when compiled with
    /// [`Options::keep_asm`].
    pub fn asm(&self) -> Option<&str> {
        self.asm.as_deref()
    }

    /// How many of the schedule's kernels run as the runtime's AVX-512 code instead of
    /// their compiled form ([`Options::native_tanh`]: a layer's `tanh(z + b)`).
    pub fn native_kernels(&self) -> usize {
        match &self.rt {
            Rt::F32(r) => r.native_steps(),
            Rt::F64(r) => r.native_steps(),
        }
    }

    /// The schedule the executable runs (`dump-ir --stage scheduled`).
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Runs each step once, alone on this thread, and returns its wall time with a short
    /// description (`s3 kernel [1024,32] (12 ops)`, `s4 matmul 1024x32x32`): where a
    /// run's time goes. Bindings must be set.
    pub fn profile(&mut self) -> Vec<StepTime> {
        let times = match &mut self.rt {
            Rt::F32(r) => r.profile(),
            Rt::F64(r) => r.profile(),
        };
        let steps = self.program.steps.iter().enumerate();
        steps
            .zip(times)
            .map(|((i, s), time)| StepTime {
                name: step_name(i, s),
                time,
                flops: s.flops(),
            })
            .collect()
    }
}

/// How [`CraneliftExecutable::profile`] names step `i`.
fn step_name(i: usize, s: &Step) -> String {
    match s {
        Step::Kernel(k) => format!("s{i} kernel {} ({} ops)", k.shape, k.body.len()),
        Step::MatMul(m) => {
            let acc = if m.accumulate { " +=" } else { "" };
            format!("s{i} matmul {}x{}x{}{acc}", m.m, m.n, m.k)
        }
        Step::Reduce(r) => format!("s{i} reduce axis {} of {}", r.axis, r.shape),
    }
}

impl Executable for CraneliftExecutable {
    fn bindings(&self) -> &[Binding] {
        self.leaves.bindings()
    }

    fn output_names(&self) -> Vec<String> {
        self.program.outputs.iter().map(|o| o.0.clone()).collect()
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn set(&mut self, name: &str, values: &[f64]) -> Result<(), RunError> {
        let i = self.leaves.check(name, values)?;
        let b = self.leaf_bufs[i];
        match &mut self.rt {
            Rt::F32(r) => r.set(b, values),
            Rt::F64(r) => r.set(b, values),
        }
        self.leaves.mark_set(i);
        Ok(())
    }

    fn run(&mut self) -> Result<(), RunError> {
        self.leaves.check_all_set()?;
        match &mut self.rt {
            Rt::F32(r) => r.run(),
            Rt::F64(r) => r.run(),
        }
        self.leaves.mark_ran();
        Ok(())
    }

    fn output(&self, index: usize) -> Vec<f64> {
        self.leaves.check_output(index, self.program.outputs.len());
        let b = self.program.outputs[index].1;
        match &self.rt {
            Rt::F32(r) => r.get(b),
            Rt::F64(r) => r.get(b),
        }
    }

    fn output_into(&self, index: usize, dst: &mut [f64]) -> Result<(), RunError> {
        self.leaves.check_output(index, self.program.outputs.len());
        let b = self.program.outputs[index].1;
        let fits = |len| crate::output_fits(index, len, dst);
        match &self.rt {
            Rt::F32(r) => fits(r.len(b)).map(|()| r.get_into(b, dst)),
            Rt::F64(r) => fits(r.len(b)).map(|()| r.get_into(b, dst)),
        }
    }
}
