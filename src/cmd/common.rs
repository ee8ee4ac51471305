//! The flags that say how a problem is compiled, defined once and shared by the commands
//! (as wasmtime's `src/common.rs` does for its commands): [`CompileArgs`] (`--backend`,
//! `--dtype`, `--derivs`) is flattened into `train` and `eval`; `dump-ir` takes `--derivs`
//! and `bench` `--backend` with the same parsers.

use nabla::{parse_derivs, Backend, Options};
use nabla_ir::{DType, Method};

/// Where the program runs (`--backend`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendArg {
    /// The Cranelift JIT.
    Cpu,
    /// OpenCL.
    Opencl,
    /// The f64 reference interpreter.
    Interp,
}

impl BackendArg {
    /// The compiler's backend.
    pub fn backend(self) -> Backend {
        match self {
            BackendArg::Cpu => Backend::Cranelift,
            BackendArg::Opencl => Backend::OpenCl,
            BackendArg::Interp => Backend::Interp,
        }
    }
}

/// Element type (`--dtype`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DTypeArg {
    /// Single precision.
    F32,
    /// Double precision.
    F64,
}

impl DTypeArg {
    /// The IR's dtype.
    pub fn dtype(self) -> DType {
        match self {
            DTypeArg::F32 => DType::F32,
            DTypeArg::F64 => DType::F64,
        }
    }
}

/// `--backend`, `--dtype`, `--derivs` and `--threads`: how the problem is compiled. The dtype's default
/// is the command's (`train`: f32, the fast type; `eval`: f64, the reference type), set
/// with `#[command(mut_arg("dtype", ..))]` where it is not f32.
#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    /// Where the program runs.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    pub backend: BackendArg,
    /// Element type of the compiled program.
    #[arg(long, value_enum, default_value_t = DTypeArg::F32)]
    pub dtype: DTypeArg,
    /// How derivatives are computed: `auto` (or `ad`), the compiler's choice of exact
    /// method; `forward`, `taylor`, `collapsed` or `reverse`, that method forced on every
    /// operator; `fd`, central finite differences (`fd=H`: with step H, from 1e-150 to 1e150).
    // The full path keeps clap from reading `Option` as "the flag may be absent":
    // the parser's `None` is the compiler's choice.
    #[arg(long, value_name = "DERIVS", value_parser = parse_derivs, default_value = "auto")]
    pub derivs: std::option::Option<Method>,
    /// Threads of the CPU backend (default: one per core). `--threads 1` on a busy host
    /// keeps a descheduled core from stalling the others at every step.
    #[arg(long, value_name = "N", value_parser = threads)]
    pub threads: Option<usize>,
}

/// `--device-memory SIZE`: bytes (`1500000000`, `1.5e9`), or a number with `K`, `M`, `G` or
/// `T` (powers of 1024; `KiB`, `MB`… read the same), at least 1 KiB.
pub fn memory_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bytes = match t.parse::<f64>() {
        Ok(v) => Some(v),
        Err(_) => {
            let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
            let (num, unit) = t.split_at(split);
            let scale: Option<f64> = match unit.to_ascii_uppercase().as_str() {
                "B" => Some(1.0),
                "K" | "KB" | "KIB" => Some(1024.0),
                "M" | "MB" | "MIB" => Some(1024.0 * 1024.0),
                "G" | "GB" | "GIB" => Some(1024.0 * 1024.0 * 1024.0),
                "T" | "TB" | "TIB" => Some(1024.0 * 1024.0 * 1024.0 * 1024.0),
                _ => None,
            };
            num.trim()
                .parse::<f64>()
                .ok()
                .zip(scale)
                .map(|(v, k)| v * k)
        }
    };
    match bytes {
        Some(b) if (1024.0..1.8e19).contains(&b) => Ok(b as u64),
        _ => Err(format!(
            "expected a memory size such as 512M, 2G or a number of bytes (at least 1K), \
             found `{s}`"
        )),
    }
}

/// `--threads N`: a whole number from 1 to 1024.
pub fn threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number of threads from 1 to 1024, found `{s}`"
        )),
    }
}

impl CompileArgs {
    /// The compilation options the flags ask for.
    pub fn options(&self) -> Options {
        let mut o = Options::new(self.backend.backend(), self.dtype.dtype(), self.derivs);
        o.threads = self.threads;
        o
    }
}

/// Writes `text` to standard output and flushes it. A full disk behind a redirection is an
/// error with a message (`println!` panicked there); a reader that stops early
/// (`nabla eval … | head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::memory_size;

    #[test]
    fn memory_sizes_are_bytes_or_powers_of_1024() {
        assert_eq!(memory_size("512M"), Ok(512 << 20));
        assert_eq!(memory_size("2G"), Ok(2 << 30));
        assert_eq!(memory_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(memory_size("64kb"), Ok(64 << 10));
        assert_eq!(memory_size("1500000000"), Ok(1_500_000_000));
        assert_eq!(memory_size("1.5e9"), Ok(1_500_000_000));
        for bad in ["", "12X", "-1G", "100", "nanG", "1e30", "G"] {
            assert!(memory_size(bad).is_err(), "`{bad}` accepted");
        }
    }
}
