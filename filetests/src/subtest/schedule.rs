//! `test schedule`: the schedule of the graph (`passes::schedule`) as it displays in
//! `nabla dump-ir --stage scheduled`: buffers, fused kernels, reductions, products and the
//! memory plan.
//!
//! Options: `set dtype = f64|f32` (the program's element type; default the outputs'
//! dtype), `set fuse = true|false` (`ScheduleOptions::fuse`).

use super::{Ctx, DEFAULT_TOL};
use nabla_ir::{text, verify, DType};
use nabla_passes::schedule::{schedule, ScheduleOptions};

const OPTIONS: [&str; 2] = ["dtype", "fuse"];

/// Schedules the file's graph and compares the display with the expectation.
pub fn check(cx: &Ctx) -> Result<(), String> {
    let f = cx.file;
    f.check_options(&OPTIONS)?;
    let dtype = match f.setting("dtype") {
        Some("f32") => Some(DType::F32),
        Some("f64") => Some(DType::F64),
        None => None,
        Some(d) => return Err(format!("unknown dtype `{d}`")),
    };
    let fuse = f.option("fuse", true)?;
    let out = output(cx, dtype, fuse).unwrap_or_else(|e| format!("error: {e}"));
    let lines: Vec<String> = out.lines().map(String::from).collect();
    cx.expect(&lines, DEFAULT_TOL).map(drop)
}

/// The display of the schedule, in `dtype` or the outputs' dtype.
fn output(cx: &Ctx, dtype: Option<DType>, fuse: bool) -> Result<String, String> {
    let g = text::parse(&cx.file.input).map_err(|e| e.to_string())?;
    let info = verify(&g).map_err(|e| e.to_string())?;
    if info.has_derivatives() {
        return Err("the graph has derivative operators: schedule after `test ad`".into());
    }
    let dtype = dtype.or(g.output_dtype()).unwrap_or(DType::F64);
    Ok(schedule(
        &g,
        &info,
        &ScheduleOptions {
            dtype,
            fuse,
            ..ScheduleOptions::default()
        },
    )
    .to_string())
}
