//! OpenCL C backend for GPUs (and CPUs through PoCL).
//!
//! [`compile`] schedules the graph (`nabla_passes::schedule`), emits OpenCL C kernels for
//! its steps ([`mod@emit`]: fused elementwise loops, fixed-order reductions, a tiled matrix
//! product sized from the device's limits; one kernel per step, two where a product or
//! reduction is split into partial sums and their sum), builds them for the selected
//! device and keeps every buffer on the device between runs. [`emit()`] gives the source
//! alone, with no device, for `nabla dump-ir --stage opencl`.
//!
//! `libOpenCL` is loaded at run time: nabla builds without any OpenCL package, and asking
//! for this backend where no OpenCL platform is installed is an [`Error`] saying what to
//! install, never a crash.
//!
//! ```
//! use nabla_backends::opencl::{emit, Options};
//! use nabla_ir::{verify, BinOp, DType, Graph, Op, Shape, UnOp};
//!
//! let mut g = Graph::new();
//! let x = g.add(Op::Input { name: "x".into(), dtype: DType::F64, shape: Shape::matrix(8, 1) }, &[]).unwrap();
//! let s = g.unary(UnOp::Sin, x);
//! let y = g.binary(BinOp::Mul, s, x);
//! g.set_output("y", y);
//! let info = verify(&g).unwrap();
//! let src = emit(&g, &info, &Options::default());
//! assert!(src.contains("__kernel void s0_map("));
//! assert!(src.contains("sin(v0)"));
//! ```

mod device;
pub mod emit;
mod exec;
#[cfg(feature = "testing")]
pub mod samples;

pub use device::{devices, select, DeviceInfo};
pub use emit::DeviceLimits;
pub use exec::OpenClExecutable;

use crate::{bindings_of, check_expanded, BoundLeaves, Unexpanded};
use nabla_ir::{DType, Graph, GraphInfo};
use nabla_passes::schedule::{schedule, Program, ScheduleOptions};

/// Options of the OpenCL backend.
#[derive(Clone, Debug)]
pub struct Options {
    /// Element type of every buffer and computation.
    pub dtype: DType,
    /// Device: an index into [`devices`] or a substring of its name; `None` picks the
    /// first GPU, else the first device.
    pub device: Option<String>,
    /// Fuse elementwise nodes into shared kernels (see `ScheduleOptions::fuse`).
    pub fuse: bool,
    /// Record per-kernel device times ([`OpenClExecutable::kernel_times`]).
    pub profile: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dtype: DType::F64,
            device: None,
            fuse: true,
            profile: false,
        }
    }
}

/// Why the OpenCL backend could not compile or run a program.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `libOpenCL` could not be loaded.
    #[error(
        "no OpenCL runtime: libOpenCL.so.1 could not be loaded; install an OpenCL ICD loader \
         and a driver (Debian/Ubuntu: `apt-get install ocl-icd-libopencl1 pocl-opencl-icd` \
         for the CPU, or the GPU vendor's OpenCL driver)"
    )]
    NoRuntime,
    /// The loader found no driver.
    #[error(
        "no OpenCL platform: libOpenCL is installed but no driver is registered in \
         /etc/OpenCL/vendors; install one (Debian/Ubuntu: `apt-get install pocl-opencl-icd` \
         for the CPU, or the GPU vendor's OpenCL driver)"
    )]
    NoPlatform,
    /// `Options::device` matched nothing.
    #[error("no OpenCL device matches `{wanted}`; devices: {available}")]
    NoSuchDevice {
        /// What was asked for.
        wanted: String,
        /// The devices present.
        available: String,
    },
    /// f64 was asked for on a device without `cl_khr_fp64`.
    #[error("OpenCL device `{device}` has no f64 support (cl_khr_fp64); use f32")]
    NoFp64 {
        /// Device name.
        device: String,
    },
    /// The graph still has derivative operators or bound variables.
    #[error(transparent)]
    Unexpanded(#[from] Unexpanded),
    /// The device compiler rejected the generated source (a compiler bug).
    #[error("the generated OpenCL C failed to build on `{device}`:\n{log}")]
    Build {
        /// Device name.
        device: String,
        /// The build log, each message followed by the source line it names.
        log: String,
    },
    /// The program's buffers do not fit on the device.
    #[error(
        "the program needs {} of device memory (largest buffer {}), more than `{device}` \
         gives it ({} in all, {} in one buffer): evaluate fewer points at a time (`train` \
         and `bench` cut their batches into tiles that fit: --device-memory)",
        mb(*need), mb(*largest), mb(*global), mb(*max_alloc)
    )]
    TooLarge {
        /// Device name.
        device: String,
        /// Bytes of all the program's buffers.
        need: u64,
        /// Bytes of its largest buffer.
        largest: u64,
        /// `CL_DEVICE_GLOBAL_MEM_SIZE`.
        global: u64,
        /// `CL_DEVICE_MAX_MEM_ALLOC_SIZE`.
        max_alloc: u64,
    },
    /// Any other OpenCL call failed.
    #[error("OpenCL call {what} failed: {code}")]
    Cl {
        /// The API function.
        what: &'static str,
        /// The error code's name.
        code: String,
    },
}

/// Schedules `g` for the backend.
fn program(g: &Graph, info: &GraphInfo, opts: &Options) -> Program {
    let sopts = ScheduleOptions {
        dtype: opts.dtype,
        fuse: opts.fuse,
        ..ScheduleOptions::default()
    };
    schedule(g, info, &sopts)
}

/// The OpenCL C source of `g` as [`compile`] would build it on a device with
/// [`DeviceLimits::REFERENCE`] (no device needed). A graph that still has derivative
/// operators gives a source that says so in an `#error` line.
pub fn emit(g: &Graph, info: &GraphInfo, opts: &Options) -> String {
    if let Err(e) = check_expanded(info) {
        return format!("#error \"{e}\"\n");
    }
    emit::emit_program(&program(g, info, opts), &DeviceLimits::REFERENCE).source
}

/// The device memory a compiled program of `g` takes: every buffer it allocates (leaves,
/// constants, outputs, the arena of temporaries and the partial sums of split products).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceBytes {
    /// All of them together, in bytes.
    pub total: u64,
    /// The largest single buffer, in bytes (a device allocates at most
    /// `CL_DEVICE_MAX_MEM_ALLOC_SIZE`).
    pub largest: u64,
}

/// What [`compile`] would allocate for `g` on a device with `limits` (scheduling and
/// emitting only: no device is touched). Training asks this before it compiles, to cut
/// a batch that does not fit into tiles that do.
pub fn device_bytes(
    g: &Graph,
    info: &GraphInfo,
    opts: &Options,
    limits: &DeviceLimits,
) -> Result<DeviceBytes, Error> {
    check_expanded(info)?;
    let p = program(g, info, opts);
    Ok(bytes_of(&p, emit::emit_program(&p, limits).scratch_len))
}

/// The bytes [`exec::Runtime::new`] allocates for `p` with `scratch` elements of partial
/// sums: one buffer per leaf, constant and output, the arena and the scratch.
fn bytes_of(p: &Program, scratch: usize) -> DeviceBytes {
    let size = p.dtype.size() as u64;
    let own = (p.buffers.iter())
        .filter(|b| !matches!(b.kind, nabla_passes::schedule::BufKind::Temp { .. }))
        .map(|b| b.len().max(1) as u64 * size);
    let sizes: Vec<u64> = own
        .chain([
            p.arena_len.max(1) as u64 * size,
            scratch.max(1) as u64 * size,
        ])
        .collect();
    DeviceBytes {
        total: sizes.iter().sum(),
        largest: sizes.iter().copied().max().unwrap_or(0),
    }
}

/// `b` bytes in MiB, for messages.
fn mb(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

/// Refuses `p` where its buffers cannot fit on `dev`, before any is allocated: a driver
/// may otherwise fail late (at the first launch) or with a bare allocation error.
fn check_fits(p: &Program, scratch: usize, dev: &DeviceInfo) -> Result<(), Error> {
    let b = bytes_of(p, scratch);
    match b.total <= dev.global_mem && b.largest <= dev.max_alloc {
        true => Ok(()),
        false => Err(Error::TooLarge {
            device: dev.name.clone(),
            need: b.total,
            largest: b.largest,
            global: dev.global_mem,
            max_alloc: dev.max_alloc,
        }),
    }
}

/// Compiles a verified, derivative-free graph for the device `opts` selects.
pub fn compile(g: &Graph, info: &GraphInfo, opts: &Options) -> Result<OpenClExecutable, Error> {
    check_expanded(info)?;
    let device = select(opts.device.as_deref())?;
    if opts.dtype == DType::F64 && !device.fp64 {
        return Err(Error::NoFp64 {
            device: device.name.clone(),
        });
    }
    let p = program(g, info, opts);
    let emitted = emit::emit_program(&p, &device.limits);
    check_fits(&p, emitted.scratch_len, &device)?;
    let source = emitted.source.clone();
    let rt = exec::Runtime::new(&device, &p, &source, emitted, opts.profile)?;
    let leaves = BoundLeaves::new(bindings_of(g, info));
    let leaf_bufs = (leaves.bindings().iter())
        .map(|b| {
            let (_, buf) = p
                .leaves
                .iter()
                .find(|(n, _)| *n == b.name)
                .expect("live leaf");
            buf.index()
        })
        .collect();
    Ok(OpenClExecutable {
        device,
        uploaded: vec![Vec::new(); leaves.bindings().len()],
        leaves,
        source,
        program: p,
        rt,
        leaf_bufs,
        outputs: Vec::new(),
        times: Vec::new(),
        uploads: 0,
    })
}
