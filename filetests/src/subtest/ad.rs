//! `test ad`: the graph after derivative expansion (`passes::ad::expand`), printed; then,
//! when the file binds its leaves with `set` lines, one `run:` line per output of the
//! expanded graph on the interpreter, so that a file can hold the derivative's values
//! (from a closed form, say) next to its structure.
//!
//! Options: `set method = M` forces one method on every operator (`AdOptions::method`,
//! as `--derivs` does); `set tolerance = T` for the `run:` lines (default `1e-12`).

use super::{printed, Ctx, DEFAULT_TOL};
use crate::targets;
use crate::values::run_lines;
use nabla_ir::{text, DType, Method};
use nabla_passes::ad::{expand, AdOptions};

const OPTIONS: [&str; 2] = ["method", "tolerance"];

/// Expands the file's graph and compares the result with the expectation.
pub fn check(cx: &Ctx) -> Result<(), String> {
    let f = cx.file;
    f.check_options(&OPTIONS)?;
    let tol = f.option("tolerance", DEFAULT_TOL)?;
    let method = match f.setting("method") {
        Some(m) => Some(Method::parse(m).ok_or(format!("unknown method `{m}`"))?),
        None => None,
    };
    let out = output(cx, AdOptions { method }).unwrap_or_else(|e| vec![format!("error: {e}")]);
    cx.expect(&out, tol).map(drop)
}

/// The expanded graph's lines and, with bindings, its values.
fn output(cx: &Ctx, opts: AdOptions) -> Result<Vec<String>, String> {
    let g = text::parse(&cx.file.input).map_err(|e| e.to_string())?;
    let (e, _report) = expand(&g, &opts).map_err(|e| e.to_string())?;
    let mut out = printed(&e);
    if cx.file.has_bindings() {
        let env = cx.file.bindings(&g)?;
        out.extend(run_lines(&targets::interp(&e, &env, DType::F64)?));
    }
    Ok(out)
}
