//! # nabla-filetests: file tests of every stage and backend
//!
//! A file test is one `.ir` file under `tests/filetests/`: a header naming what to test,
//! IR text in, and the expected output in a trailing comment block. One harness runs them
//! all (`cargo test -p nabla-filetests --test filetests`), one `#[test]` per file, named
//! `<folder>::<file stem>`.
//!
//! ```text
//! test run interp cpu opencl
//! ; comments; `; set NAME = [v, ...]` binds a leaf, `; set KEY = VALUE` is an option
//! ; set x = [0.5, 1.0]
//! %0 = input "x" : f64[2,1]
//! %1 = sin %0 : f64[2,1]
//! output "y" = %1
//! ; expect:
//! ; run: y = [0.479425538604203, 0.8414709848078965]
//! ```
//!
//! | header | output |
//! |---|---|
//! | `test parse` | the graph printed back, or `error: line:col: message` |
//! | `test verify-error` | `verify: ...` from the verifier on the text as written, `parse: ...` from the checked parser |
//! | `test run [interp] [cpu] [opencl]` | `run: NAME = [v, ...]` per output, or `error: ...`; the interpreter's values, checked on each target |
//! | `test ad` | the graph after derivative expansion, then `run:` lines of its values when leaves are bound |
//! | `test simplify` | `flops: B before, A after` and the simplified graph; values checked equal before and after |
//! | `test schedule` | the schedule's display (buffers, kernels, memory plan) |
//!
//! The interpreter is the meaning of the IR, so it defines a `run` file's expected values;
//! the native targets (`cpu`: the Cranelift JIT in several option sets; `opencl`: the
//! default OpenCL device, a folder's files merged into one program per [`batch`], skipped
//! with a note when there is no device unless `NABLA_REQUIRE_OPENCL=1`) must agree within
//! the tolerance of the dtype they compute in ([`targets`]). The options of each kind are
//! listed in `tests/filetests/README.md`.
//!
//! `BLESS=1` rewrites every expectation block that differs with the current output
//! (review the diff before committing); otherwise a mismatch fails with a unified diff
//! ([`diff`]) and, for values, the first element that differs.
//!
//! ```
//! use nabla_filetests::{check_source, Kind};
//!
//! let src = "test run interp cpu\n; set x = [2.0]\n%0 = input \"x\" : f64[1]\n\
//!            %1 = square %0 : f64[1]\noutput \"y\" = %1\n; expect:\n; run: y = [4.0]\n";
//! assert_eq!(check_source(src), Ok(Kind::Run));
//! ```
#![warn(missing_docs)]

pub mod batch;
pub mod diff;
pub mod file;
mod subtest;
pub mod targets;
pub mod values;

pub use file::{Kind, TestFile};

use std::path::Path;

/// Runs the file test at `path`; under `BLESS=1`, rewrites its expectation block when it
/// differs. The error is a message for a human: what differs and how.
pub fn run_file(path: &Path) -> Result<Kind, String> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    check(path, &src, bless())
}

/// Runs a file test given as text, never rewriting it (for tests of the harness).
pub fn check_source(src: &str) -> Result<Kind, String> {
    check(Path::new("<source>"), src, false)
}

fn check(path: &Path, src: &str, bless: bool) -> Result<Kind, String> {
    let file = TestFile::parse(src)?;
    let cx = subtest::Ctx {
        path,
        file: &file,
        bless,
    };
    subtest::check(&cx).map(|()| file.header.kind)
}

/// Whether expectations are to be rewritten (`BLESS=1`), the one environment variable
/// besides `NABLA_REQUIRE_OPENCL` that the harness reads.
fn bless() -> bool {
    std::env::var("BLESS").is_ok_and(|v| v == "1")
}
