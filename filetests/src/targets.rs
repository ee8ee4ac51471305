//! Where a graph runs: the reference interpreter, the Cranelift JIT, an OpenCL device.
//!
//! The interpreter defines the expected values; the native targets are compared with
//! them within [`tolerance`] of the dtype they compute in. The JIT runs in every option
//! set of [`cpu_variants`]; OpenCL runs on the default device (the first GPU, else the
//! first device) when one is present, see [`opencl()`] and [`opencl_dtype`].

use crate::values::Outputs;
use nabla_backends::{cranelift, opencl, Executable};
use nabla_ir::interp::{eval_outputs, Env};
use nabla_ir::{verify, DType, Graph};
use std::sync::OnceLock;

/// A place a `test run` file runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The reference interpreter (`nabla_ir::interp`).
    Interp,
    /// The Cranelift JIT for the host CPU, in every option set of [`cpu_variants`].
    Cpu,
    /// The OpenCL backend on the default device.
    OpenCl,
}

impl Target {
    /// The name in a header.
    pub fn name(self) -> &'static str {
        match self {
            Target::Interp => "interp",
            Target::Cpu => "cpu",
            Target::OpenCl => "opencl",
        }
    }

    /// Parses what [`Target::name`] prints.
    pub fn parse(s: &str) -> Option<Target> {
        [Target::Interp, Target::Cpu, Target::OpenCl]
            .into_iter()
            .find(|t| t.name() == s)
    }
}

/// f64 tolerance of a native target against the interpreter (see `values::close`):
/// only the summation order of products and `powi`'s multiplication chain differ.
pub const F64_TOL: f64 = 1e-12;

/// f32 tolerance against the f64 interpreter: a few hundred f32 roundings of values of
/// order one, plus f32 transcendentals (the JIT's inline `tanh` is within 4 ulp).
pub const F32_TOL: f64 = 2e-4;

/// The tolerance of a native run in `dtype`.
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => F64_TOL,
        DType::F32 => F32_TOL,
    }
}

/// The outputs of `g` on the interpreter, in `precision` (f32 rounds every value).
pub fn interp(g: &Graph, env: &Env, precision: DType) -> Result<Outputs, String> {
    let outs = eval_outputs(g, env, precision).map_err(|e| e.to_string())?;
    Ok(outs.into_iter().map(|(n, t)| (n, t.data)).collect())
}

/// The JIT option sets a `cpu` target runs, named for messages: f64 with and without FMA,
/// f32 with inline `tanh` and SIMD and without either, and two threads splitting even
/// the smallest step, in f64 and f32. A graph rounded to f32 (`set precision = f32`) runs
/// the f32 sets only.
pub fn cpu_variants(precision: DType) -> Vec<(&'static str, cranelift::Options)> {
    let base = cranelift::Options::default();
    let with = |dtype, threads| cranelift::Options {
        dtype,
        threads,
        par_min: 1,
        ..base.clone()
    };
    let all = vec![
        ("f64", base.clone()),
        (
            "f64 no-fma",
            cranelift::Options {
                fma: false,
                ..base.clone()
            },
        ),
        (
            "f32",
            cranelift::Options {
                dtype: DType::F32,
                ..base.clone()
            },
        ),
        (
            "f32 scalar libm-tanh",
            cranelift::Options {
                dtype: DType::F32,
                simd: false,
                inline_tanh: false,
                ..base.clone()
            },
        ),
        ("f64 2-threads", with(DType::F64, 2)),
        ("f32 2-threads", with(DType::F32, 2)),
    ];
    all.into_iter()
        .filter(|(_, o)| precision == DType::F64 || o.dtype == DType::F32)
        .collect()
}

/// The outputs of `g` compiled by the JIT with `opts`.
pub fn cpu(g: &Graph, env: &Env, opts: &cranelift::Options) -> Result<Outputs, String> {
    let info = verify(g).map_err(|e| e.to_string())?;
    let exe = cranelift::compile(g, &info, opts).map_err(|e| e.to_string())?;
    run(exe, env)
}

/// The outputs of `g` compiled for the default OpenCL device in `dtype`.
pub fn opencl(g: &Graph, env: &Env, dtype: DType) -> Result<Outputs, String> {
    let info = verify(g).map_err(|e| e.to_string())?;
    let opts = opencl::Options {
        dtype,
        ..opencl::Options::default()
    };
    let exe = opencl::compile(g, &info, &opts).map_err(|e| e.to_string())?;
    run(exe, env)
}

/// Binds the values of `env` that `exe` expects, runs it and reads every output back.
fn run(mut exe: impl Executable, env: &Env) -> Result<Outputs, String> {
    let names: Vec<String> = exe.bindings().iter().map(|b| b.name.clone()).collect();
    for name in &names {
        if let Some(t) = env.get(name) {
            exe.set(name, &t.data).map_err(|e| e.to_string())?;
        }
    }
    exe.run().map_err(|e| e.to_string())?;
    let outs = exe.output_names().into_iter().enumerate();
    Ok(outs.map(|(i, n)| (n, exe.output(i))).collect())
}

/// The OpenCL dtype a file in `precision` runs: f64 (compared at f64's tolerance) where
/// the device has it, else f32; f32 for a file rounded to f32. One dtype, because a
/// program's build dominates its time on PoCL (f32 programs are exercised by the random
/// graphs). `Ok(None)` when there is no device and none is required: the caller prints
/// that it skipped, with the reason.
pub fn opencl_dtype(precision: DType) -> Result<Option<DType>, String> {
    let fp64 = match opencl_device() {
        Ok(fp64) => fp64,
        Err(e) if opencl_required() => {
            return Err(format!("NABLA_REQUIRE_OPENCL=1 but no OpenCL device: {e}"))
        }
        Err(_) => return Ok(None),
    };
    Ok(Some(match precision == DType::F64 && fp64 {
        true => DType::F64,
        false => DType::F32,
    }))
}

/// Why OpenCL is skipped, for the note a test prints (`None` when a device exists).
pub fn opencl_missing() -> Option<String> {
    opencl_device().err()
}

/// Whether the default OpenCL device has f64, or why there is none; looked up once per
/// process (platform discovery is slow and its answer does not change).
fn opencl_device() -> Result<bool, String> {
    static DEVICE: OnceLock<Result<bool, String>> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            opencl::select(None)
                .map(|d| d.fp64)
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// `NABLA_REQUIRE_OPENCL=1` turns a missing OpenCL device from a skip into a failure (CI
/// sets it), as in the backend's own OpenCL tests.
pub fn opencl_required() -> bool {
    std::env::var("NABLA_REQUIRE_OPENCL").as_deref() == Ok("1")
}
