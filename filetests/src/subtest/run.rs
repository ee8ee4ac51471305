//! `test run [interp] [cpu] [opencl]`: the values of every output, one
//! `run: NAME = [v, ...]` line each, or `error: ...`.
//!
//! The interpreter defines the expectation: `BLESS=1` writes its values. Each listed
//! target runs the same graph on the same bindings and is compared with the expectation:
//! `interp` within `set tolerance` (default `1e-12`), `cpu` (every JIT option set of
//! `targets::cpu_variants`) and `opencl` (f64 where the device has it, else f32; batched
//! with the folder's other run files, see `batch`) within the larger of that and the
//! tolerance of the dtype they compute in. `opencl` is skipped with a printed note when
//! no OpenCL device exists, unless `NABLA_REQUIRE_OPENCL=1`.
//!
//! Options: `set precision = f32` evaluates with every value rounded to f32 (and runs the
//! native targets in f32 only); `set tolerance = T`.

use super::{mismatch, same_lines, Ctx, DEFAULT_TOL};
use crate::batch;
use crate::targets::{self, cpu_variants, opencl_dtype, Target};
use crate::values::{run_lines, Outputs};
use nabla_ir::interp::Env;
use nabla_ir::{text, DType, Graph};

const OPTIONS: [&str; 2] = ["precision", "tolerance"];

/// Runs the file on its targets.
pub fn check(cx: &Ctx) -> Result<(), String> {
    let f = cx.file;
    f.check_options(&OPTIONS)?;
    let precision = precision(f.setting("precision"))?;
    let tol = f.option("tolerance", DEFAULT_TOL)?;
    let prep = Prepared(
        text::parse(&f.input)
            .map_err(|e| e.to_string())
            .and_then(|g| f.bindings(&g).map(|env| (g, env))),
    );
    let want = prep.lines(|g, env| targets::interp(g, env, precision));
    let targets = &f.header.targets;
    let expected = match cx.bless || targets.contains(&Target::Interp) {
        true => cx.expect(&want, tol)?,
        false => f.expected.clone(),
    };
    let mut failures = Vec::new();
    if targets.contains(&Target::Cpu) {
        failures.extend(on_cpu(&prep, &expected, precision, tol));
    }
    if targets.contains(&Target::OpenCl) {
        failures.extend(on_opencl(cx, &prep, &expected, precision, tol)?);
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(failures.join("\n")),
    }
}

/// The graph and its bindings, or why the file has none (a parse or binding error,
/// which every target reports the same way).
struct Prepared(Result<(Graph, Env), String>);

impl Prepared {
    /// The `run:` lines of one target, or its `error:` line.
    fn lines(&self, on: impl Fn(&Graph, &Env) -> Result<Outputs, String>) -> Vec<String> {
        let outs = self.0.as_ref().map_err(Clone::clone);
        match outs.and_then(|(g, env)| on(g, env)) {
            Ok(outs) => run_lines(&outs),
            Err(e) => vec![format!("error: {e}")],
        }
    }
}

/// Mismatches of the JIT, in each option set, with the expectation.
fn on_cpu(prep: &Prepared, expected: &[String], precision: DType, tol: f64) -> Vec<String> {
    let check = |(label, o): (&str, _)| {
        let got = prep.lines(|g, env| targets::cpu(g, env, &o));
        let tol = tol.max(targets::tolerance(o.dtype));
        compare(&format!("cpu ({label})"), expected, &got, tol)
    };
    cpu_variants(precision)
        .into_iter()
        .filter_map(check)
        .collect()
}

/// How the OpenCL device's outputs differ from the expectation, if they do; nothing
/// (after a printed note) when there is no device and none is required. The file runs
/// in its folder's batch (see `batch`), or alone when the batch cannot take it.
fn on_opencl(
    cx: &Ctx,
    prep: &Prepared,
    expected: &[String],
    precision: DType,
    tol: f64,
) -> Result<Option<String>, String> {
    let Some(d) = opencl_dtype(precision)? else {
        let why = targets::opencl_missing().unwrap_or_default();
        eprintln!(
            "SKIPPED opencl for {}: no OpenCL device ({why})",
            cx.path.display()
        );
        return Ok(None);
    };
    let alone = || prep.lines(|g, env| targets::opencl(g, env, d));
    let tol = tol.max(targets::tolerance(d));
    let what = format!("opencl ({d})");
    let Some(outs) = batch::opencl(cx.path, d) else {
        return Ok(compare(&what, expected, &alone(), tol));
    };
    let batched = format!("{what}, batched with its folder");
    let Some(diff) = compare(&batched, expected, &run_lines(&outs), tol) else {
        return Ok(None);
    };
    let verdict = match compare(&what, expected, &alone(), tol) {
        Some(d) => format!("alone, it differs too:\n{d}"),
        None => "alone, it agrees: the batch's merged program is at fault\n".into(),
    };
    Ok(Some(diff + &verdict))
}

/// How `got` differs from `expected`, headed by the target, or `None` when it agrees.
fn compare(what: &str, expected: &[String], got: &[String], tol: f64) -> Option<String> {
    (!same_lines(expected, got, tol)).then(|| mismatch(&format!("{what}:\n"), expected, got, tol))
}

/// The `set precision` option: `f64` (the default) or `f32`.
pub(crate) fn precision(p: Option<&str>) -> Result<DType, String> {
    match p {
        Some("f32") => Ok(DType::F32),
        Some("f64") | None => Ok(DType::F64),
        Some(p) => Err(format!("unknown precision `{p}`")),
    }
}
