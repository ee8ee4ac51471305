//! From a traced graph to an executable: derivative expansion, simplification, backend.

use nabla_backends::{all_bindings_of, Binding, BoundLeaves, Executable, RunError};
use nabla_ir::{verify, DType, Graph, Method, VerifyError};
use nabla_passes::ad::AdOptions;
use nabla_passes::pipeline::{self, PipelineOptions};
use nabla_passes::simplify::SimplifyOptions;

/// Which backend runs the program, named like its module in `nabla_backends`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The f64 reference interpreter (rounds to f32 when the dtype is f32).
    Interp,
    /// The Cranelift JIT for the host CPU (`cpu` on the command line).
    Cranelift,
    /// OpenCL, on a GPU or (through PoCL) the CPU.
    OpenCl,
}

impl Backend {
    /// Parses the command line's names: `interp`, `cpu` (Cranelift), `opencl`.
    pub fn parse(s: &str) -> Option<Backend> {
        match s {
            "interp" => Some(Backend::Interp),
            "cpu" => Some(Backend::Cranelift),
            "opencl" => Some(Backend::OpenCl),
            _ => None,
        }
    }

    /// The command line's name of the backend (what [`Backend::parse`] reads).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Interp => "interp",
            Backend::Cranelift => "cpu",
            Backend::OpenCl => "opencl",
        }
    }
}

/// The steps `fd=H` accepts.
pub const FD_STEPS: std::ops::RangeInclusive<f64> = 1e-150..=1e150;

/// Parses a derivative choice as the command line spells it (`--derivs`, `bench
/// --methods`): `auto` or `ad` is the compiler's choice (`None`: each operator keeps its
/// own method, which the cost model picks); any other name [`Method::parse`] knows forces
/// that method on every operator (`forward`, `taylor`, `collapsed`, `reverse`, `fd`, and
/// `fd=H` for finite differences with step `H`).
/// A step `H` of `fd=H` must be positive and finite with `H²` and `1/H²` finite too (the
/// stencils divide by `H²`): 0, a negative step, NaN, ∞ or 1e300 gave a stencil of
/// zeros or NaNs without a word.
pub fn parse_derivs(s: &str) -> Result<Option<Method>, String> {
    match (s, Method::parse(s)) {
        ("ad", _) | (_, Some(Method::Auto)) => Ok(None),
        (_, Some(Method::FiniteDiff(Some(h)))) if !(FD_STEPS.contains(&h.get())) => Err(format!(
            "the finite-difference step must be a number from {:e} to {:e}, found {:?}",
            FD_STEPS.start(),
            FD_STEPS.end(),
            h.get()
        )),
        (_, Some(m)) => Ok(Some(m)),
        (_, None) => Err(format!(
            "unknown method `{s}` (expected auto, ad, forward, taylor, collapsed, reverse, \
             fd or fd=H)"
        )),
    }
}

/// Compilation options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to run.
    pub backend: Backend,
    /// Element type of the compiled program.
    pub dtype: DType,
    /// The derivative method forced on every derivative operator; `None` keeps each
    /// operator's own (the cost model's choice unless the program names one).
    pub derivs: Option<Method>,
    /// Run the egg simplifier.
    pub simplify: bool,
    /// Threads for the Cranelift backend (`None`: one per core).
    pub threads: Option<usize>,
    /// OpenCL device: index or name substring (`None`: the first GPU, else the first device).
    pub device: Option<String>,
    /// The most device memory, in bytes, that the programs of a training or benchmark run
    /// may take on the OpenCL device (`None`: three quarters of the device's global
    /// memory). A batch whose programs need more is cut into tiles that fit, run in turn.
    pub device_memory: Option<u64>,
}

/// One thread per available core.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Options {
    /// Options for `backend`, `dtype` and `derivs`, on every core and the default device.
    /// The simplifier runs unless the backend is the reference interpreter: the
    /// interpreter defines what the unoptimised graph means, so it runs that graph.
    pub fn new(backend: Backend, dtype: DType, derivs: Option<Method>) -> Options {
        Options {
            backend,
            dtype,
            derivs,
            simplify: backend != Backend::Interp,
            threads: None,
            device: None,
            device_memory: None,
        }
    }

    /// The Cranelift JIT in f32 with the compiler's choices.
    pub fn cranelift() -> Options {
        Options::new(Backend::Cranelift, DType::F32, None)
    }

    /// The reference interpreter in f64.
    pub fn interp() -> Options {
        Options::new(Backend::Interp, DType::F64, None)
    }

    /// The pass pipeline's options: the forced method, and the simplifier when it runs.
    pub fn pipeline(&self) -> PipelineOptions {
        PipelineOptions {
            ad: AdOptions {
                method: self.derivs,
            },
            simplify: self.simplify.then(SimplifyOptions::default),
        }
    }
}

/// Why compilation failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The traced graph is malformed.
    #[error("invalid graph: {0}")]
    Verify(#[from] VerifyError),
    /// The OpenCL backend failed (no platform, no fp64, a build error).
    #[error(transparent)]
    OpenCl(#[from] nabla_backends::opencl::Error),
    /// The Cranelift backend failed.
    #[error(transparent)]
    Cranelift(#[from] nabla_backends::cranelift::Error),
    /// Generating one of several copies of a program panicked (a compiler bug).
    #[error("code generation panicked while compiling a copy of the program")]
    Panicked,
    /// A pass failed.
    #[error(transparent)]
    Pipeline(#[from] nabla_passes::pipeline::PipelineError),
}

/// Compiles a traced graph (with derivative operators) for `opts.backend`.
/// Every input and param of the traced graph stays bindable, even when the compiled
/// program no longer needs it (an expression that does not depend on `y` still accepts
/// points with a `y` column): such values are length-checked and otherwise ignored.
pub fn compile(g: &Graph, opts: &Options) -> Result<Box<dyn Executable>, CompileError> {
    let mut one = compile_n(g, opts, 1)?;
    Ok(one.remove(0))
}

/// [`compile`] into `n` independent executables of one lowered program (the passes run
/// once): each has buffers of its own, so `n` threads can run them at once (the tiles of
/// a training run: `train::model`). At least one: `n = 0` gives one, as `n = 1` does.
pub fn compile_n(
    g: &Graph,
    opts: &Options,
    n: usize,
) -> Result<Vec<Box<dyn Executable>>, CompileError> {
    Lowered::new(g, opts)?.generate(opts, n)
}

/// A traced graph run through the passes and verified: what a backend generates code
/// from, kept so that the number of copies can be chosen from the program itself
/// ([`Lowered::flops`]).
pub struct Lowered {
    graph: Graph,
    info: nabla_ir::GraphInfo,
    /// Every leaf of the traced graph (the executables accept them all).
    all: Vec<Binding>,
}

impl Lowered {
    /// Verifies `g` and lowers it for `opts` (dtype, derivative method, simplifier).
    pub fn new(g: &Graph, opts: &Options) -> Result<Lowered, CompileError> {
        let source_info = verify(g)?;
        let graph = lower(g, opts)?;
        let info = verify(&graph)?;
        let all = all_bindings_of(g, &source_info);
        Ok(Lowered { graph, info, all })
    }

    /// The static FLOP count of one run of the program
    /// ([`nabla_passes::ad::flops_per_point`] over a batch of 1).
    pub fn flops(&self) -> f64 {
        nabla_passes::ad::flops_per_point(&self.graph, 1)
    }

    /// The device memory the OpenCL program of this graph takes on a device with `limits`
    /// (no device is touched): see [`nabla_backends::opencl::device_bytes`].
    pub fn device_bytes(
        &self,
        opts: &Options,
        limits: &nabla_backends::opencl::DeviceLimits,
    ) -> Result<nabla_backends::opencl::DeviceBytes, CompileError> {
        let o = nabla_backends::opencl::Options {
            dtype: opts.dtype,
            ..Default::default()
        };
        Ok(nabla_backends::opencl::device_bytes(
            &self.graph,
            &self.info,
            &o,
            limits,
        )?)
    }

    /// `n` independent executables for `opts.backend` (and its threads): on the CPU one
    /// compiled program whose copies share the machine code, its kernels compiled on
    /// `n` threads (or `opts.threads`, if more); on other backends `n` programs generated
    /// side by side, one thread each.
    pub fn generate(
        &self,
        opts: &Options,
        n: usize,
    ) -> Result<Vec<Box<dyn Executable>>, CompileError> {
        let wrap = |inner: Box<dyn Executable>| -> Box<dyn Executable> {
            let unused = unused_bindings(&self.all, inner.bindings());
            if unused.is_empty() {
                inner
            } else {
                Box::new(WithUnused::new(inner, unused))
            }
        };
        if opts.backend == Backend::Cranelift {
            let o = cranelift_options(opts);
            let copies = nabla_backends::cranelift::compile_copies(&self.graph, &self.info, &o, n)?;
            return Ok(copies.into_iter().map(|e| wrap(Box::new(e))).collect());
        }
        let one = || -> Result<Box<dyn Executable>, CompileError> {
            Ok(wrap(backend(&self.graph, &self.info, opts)?))
        };
        std::thread::scope(|s| {
            let others: Vec<_> = (1..n.max(1)).map(|_| s.spawn(one)).collect();
            let mut exes = vec![one()?];
            for h in others {
                exes.push(h.join().map_err(|_| CompileError::Panicked)??);
            }
            Ok(exes)
        })
    }
}

/// The leaves among `all` that the compiled program does not bind (`used`).
fn unused_bindings(all: &[Binding], used: &[Binding]) -> Vec<Binding> {
    let unused = all
        .iter()
        .filter(|b| !used.iter().any(|u| u.name == b.name));
    unused.cloned().collect()
}

/// Compiles a verified, derivative-free graph with the chosen backend.
fn backend(
    g: &Graph,
    info: &nabla_ir::GraphInfo,
    opts: &Options,
) -> Result<Box<dyn Executable>, CompileError> {
    match opts.backend {
        Backend::Interp => {
            let o = nabla_backends::interp::Options { dtype: opts.dtype };
            Ok(Box::new(nabla_backends::interp::compile(g, info, &o)))
        }
        Backend::Cranelift => {
            let o = cranelift_options(opts);
            Ok(Box::new(nabla_backends::cranelift::compile(g, info, &o)?))
        }
        Backend::OpenCl => {
            let o = nabla_backends::opencl::Options {
                dtype: opts.dtype,
                device: opts.device.clone(),
                ..Default::default()
            };
            Ok(Box::new(nabla_backends::opencl::compile(g, info, &o)?))
        }
    }
}

/// The CPU backend's options for `opts`.
fn cranelift_options(opts: &Options) -> nabla_backends::cranelift::Options {
    nabla_backends::cranelift::Options {
        dtype: opts.dtype,
        threads: opts.threads.unwrap_or_else(default_threads),
        ..Default::default()
    }
}

/// The elements of the largest value the derivative expansion of `g` holds for `opts`
/// (its AD pass alone, which fixes every shape: the simplifier only removes values), or
/// `None` where the expansion fails (compiling reports why).
pub fn widest_value(g: &Graph, opts: &Options) -> Option<usize> {
    let g = retyped(g, opts.dtype);
    let (e, _) = nabla_passes::ad::expand(&g, &opts.pipeline().ad).ok()?;
    let roots: Vec<_> = e.outputs().iter().map(|o| o.1).collect();
    let live = e.live(&roots);
    (e.ids())
        .filter(|i| live[i.index()])
        .map(|i| e.shape(i).dims().iter().product::<usize>())
        .max()
}

/// Runs the pass pipeline: the derivative-free graph a backend compiles, in `opts.dtype`.
pub fn lower(g: &Graph, opts: &Options) -> Result<Graph, CompileError> {
    let g = retyped(g, opts.dtype);
    Ok(pipeline::run(&g, &opts.pipeline())?.0)
}

/// `g` in `dtype`, copied only when its outputs are in another type. AD runs on the
/// retyped graph: finite-difference steps depend on the dtype.
fn retyped(g: &Graph, dtype: DType) -> std::borrow::Cow<'_, Graph> {
    match g.output_dtype() {
        Some(d) if d != dtype => std::borrow::Cow::Owned(g.with_dtype(dtype)),
        _ => std::borrow::Cow::Borrowed(g),
    }
}

/// An executable plus leaves it accepts but does not need.
struct WithUnused {
    inner: Box<dyn Executable>,
    unused: BoundLeaves,
    all: Vec<Binding>,
}

impl WithUnused {
    fn new(inner: Box<dyn Executable>, unused: Vec<Binding>) -> WithUnused {
        let all = inner.bindings().iter().chain(&unused).cloned().collect();
        let unused = BoundLeaves::new(unused);
        WithUnused { inner, unused, all }
    }
}

impl Executable for WithUnused {
    fn bindings(&self) -> &[Binding] {
        &self.all
    }
    fn output_names(&self) -> Vec<String> {
        self.inner.output_names()
    }
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }
    fn set(&mut self, name: &str, values: &[f64]) -> Result<(), RunError> {
        match self.unused.check(name, values) {
            Ok(_) => Ok(()),
            Err(RunError::UnknownName(_)) => self.inner.set(name, values),
            Err(e) => Err(e),
        }
    }
    fn run(&mut self) -> Result<(), RunError> {
        self.inner.run()
    }
    fn output(&self, index: usize) -> Vec<f64> {
        self.inner.output(index)
    }
    fn output_into(&self, index: usize, dst: &mut [f64]) -> Result<(), RunError> {
        self.inner.output_into(index, dst)
    }
}
