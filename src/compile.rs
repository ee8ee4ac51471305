//! From a traced graph to an executable: derivative expansion, simplification, backend.

use nabla_backends::Executable;
use nabla_ir::{verify, DType, Graph, VerifyError};

/// Which backend runs the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The f64 reference interpreter (rounds to f32 when the dtype is f32).
    Interp,
    /// The Cranelift JIT.
    Cpu,
    /// OpenCL.
    OpenCl,
}

impl Backend {
    /// Parses `interp`, `cpu`, `opencl`.
    pub fn parse(s: &str) -> Option<Backend> {
        match s {
            "interp" => Some(Backend::Interp),
            "cpu" => Some(Backend::Cpu),
            "opencl" => Some(Backend::OpenCl),
            _ => None,
        }
    }
}

/// How derivative operators are expanded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Derivs {
    /// The compiler's choice of exact method.
    Auto,
    /// Force one method for every operator (`Method::FiniteDiff` for `--derivs fd`).
    Force(nabla_ir::Method),
}

/// Compilation options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to run.
    pub backend: Backend,
    /// Element type of the compiled program.
    pub dtype: DType,
    /// Derivative method.
    pub derivs: Derivs,
    /// Run the egg simplifier.
    pub simplify: bool,
}

impl Options {
    /// The CPU JIT in f32 with the compiler's choices.
    pub fn cpu() -> Options {
        Options {
            backend: Backend::Cpu,
            dtype: DType::F32,
            derivs: Derivs::Auto,
            simplify: true,
        }
    }

    /// The reference interpreter in f64.
    pub fn interp() -> Options {
        Options {
            backend: Backend::Interp,
            dtype: DType::F64,
            derivs: Derivs::Auto,
            simplify: false,
        }
    }
}

/// Why compilation failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The traced graph is malformed.
    #[error("invalid graph: {0}")]
    Verify(#[from] VerifyError),
    /// A stage that is not available in this build.
    #[error("{0}")]
    Unsupported(String),
}

/// Compiles a traced graph (with derivative operators) for `opts.backend`.
pub fn compile(g: &Graph, opts: &Options) -> Result<Box<dyn Executable>, CompileError> {
    let info = verify(g)?;
    if info.has_derivatives {
        return Err(CompileError::Unsupported(
            "derivative operators cannot be expanded yet".into(),
        ));
    }
    match opts.backend {
        Backend::Interp => {
            let o = nabla_backends::interp::Options { dtype: opts.dtype };
            Ok(Box::new(nabla_backends::interp::compile(g, &info, &o)))
        }
        Backend::Cpu | Backend::OpenCl => Err(CompileError::Unsupported(format!(
            "backend {:?} is not available yet",
            opts.backend
        ))),
    }
}
