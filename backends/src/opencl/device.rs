//! Finding an OpenCL device and building programs for it.
//!
//! `libOpenCL` is loaded when first used (`opencl3`'s `dynamic` feature): on a machine
//! without it every function here returns [`Error::NoRuntime`], never panics.

use super::emit::DeviceLimits;
use super::Error;
use opencl3::context::Context;
use opencl3::device::{Device, CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_GPU};
use opencl3::error_codes::{ClError, CL_BUILD_PROGRAM_FAILURE, DLOPEN_RUNTIME_LOAD_FAILED};
use opencl3::platform::get_platforms;
use opencl3::program::Program;
use std::sync::Mutex;

/// Error code of `clGetPlatformIDs` when the loader finds no driver.
const CL_PLATFORM_NOT_FOUND_KHR: i32 = -1001;

/// One OpenCL device, as listed by [`devices`].
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// Position in the list of all devices (what `Options::device` may name).
    pub index: usize,
    /// `CL_DEVICE_NAME`.
    pub name: String,
    /// `CL_PLATFORM_NAME` of its platform.
    pub platform: String,
    /// Whether it is a GPU.
    pub is_gpu: bool,
    /// Whether it computes in f64 (`cl_khr_fp64`).
    pub fp64: bool,
    /// Work-group and local-memory limits.
    pub limits: DeviceLimits,
    /// `CL_DEVICE_GLOBAL_MEM_SIZE`: bytes of device memory.
    pub global_mem: u64,
    /// `CL_DEVICE_MAX_MEM_ALLOC_SIZE`: the largest single buffer, in bytes.
    pub max_alloc: u64,
    pub(super) device: Device,
}

/// Turns an OpenCL error code from `what` into an [`Error`].
pub(super) fn cl_err(what: &'static str) -> impl Fn(ClError) -> Error {
    move |e| match e.0 {
        DLOPEN_RUNTIME_LOAD_FAILED => Error::NoRuntime,
        CL_PLATFORM_NOT_FOUND_KHR => Error::NoPlatform,
        _ => Error::Cl {
            what,
            code: e.to_string(),
        },
    }
}

/// Serialises platform discovery: ICD loaders initialise themselves on the first call
/// and some (ocl-icd) are not safe to initialise from several threads at once.
static DISCOVERY: Mutex<()> = Mutex::new(());

/// Every device of every platform, in platform order.
pub fn devices() -> Result<Vec<DeviceInfo>, Error> {
    let _guard = DISCOVERY.lock().unwrap_or_else(|e| e.into_inner());
    let platforms = get_platforms().map_err(cl_err("clGetPlatformIDs"))?;
    if platforms.is_empty() {
        return Err(Error::NoPlatform);
    }
    let mut out = Vec::new();
    for p in &platforms {
        let pname = p.name().unwrap_or_default();
        let ids = p.get_devices(CL_DEVICE_TYPE_ALL).unwrap_or_default();
        for id in ids {
            out.push(describe(Device::new(id), out.len(), &pname)?);
        }
    }
    Ok(out)
}

fn describe(device: Device, index: usize, platform: &str) -> Result<DeviceInfo, Error> {
    let q = cl_err("clGetDeviceInfo");
    let ty = device.dev_type().map_err(&q)?;
    let exts = device.extensions().unwrap_or_default();
    Ok(DeviceInfo {
        index,
        name: device.name().map_err(&q)?.trim().to_string(),
        platform: platform.trim().to_string(),
        is_gpu: ty & CL_DEVICE_TYPE_GPU != 0,
        fp64: exts.split_whitespace().any(|e| e == "cl_khr_fp64"),
        limits: DeviceLimits {
            max_work_group: device.max_work_group_size().map_err(&q)?,
            local_mem: device.local_mem_size().map_err(&q)? as usize,
        },
        global_mem: device.global_mem_size().map_err(&q)?,
        max_alloc: device.max_mem_alloc_size().map_err(&q)?,
        device,
    })
}

/// Picks a device: `wanted` is an index into [`devices`] or a case-insensitive substring
/// of a device name; without it, the first GPU, else the first device.
pub fn select(wanted: Option<&str>) -> Result<DeviceInfo, Error> {
    let all = devices()?;
    let found = match wanted {
        Some(w) => match w.trim().parse::<usize>() {
            Ok(i) => all.get(i).cloned(),
            Err(_) => {
                let w = w.to_lowercase();
                all.iter()
                    .find(|d| d.name.to_lowercase().contains(&w))
                    .cloned()
            }
        },
        None => all.iter().find(|d| d.is_gpu).or(all.first()).cloned(),
    };
    found.ok_or_else(|| Error::NoSuchDevice {
        wanted: wanted.unwrap_or("any").into(),
        available: list(&all),
    })
}

fn list(all: &[DeviceInfo]) -> String {
    if all.is_empty() {
        return "none".into();
    }
    let names: Vec<String> = all
        .iter()
        .map(|d| format!("{}: {} ({})", d.index, d.name, d.platform))
        .collect();
    names.join(", ")
}

/// Compiles `source` for `dev`; a failed build reports the compiler's log with each
/// message followed by the generated source line it points at.
pub(super) fn build(ctx: &Context, dev: &DeviceInfo, source: &str) -> Result<Program, Error> {
    let mut prog = Program::create_from_source(ctx, source).map_err(cl_err("clCreateProgram"))?;
    match prog.build(ctx.devices(), "") {
        Ok(()) => Ok(prog),
        Err(e) if e.0 == CL_BUILD_PROGRAM_FAILURE => {
            let log = prog.get_build_log(dev.device.id()).unwrap_or_default();
            Err(Error::Build {
                device: dev.name.clone(),
                log: annotate(&log, source),
            })
        }
        Err(e) => Err(cl_err("clBuildProgram")(e)),
    }
}

/// Follows every `<file>:LINE:COL: ...` message of a compiler log with that line of the
/// source and a caret under the column.
pub fn annotate(log: &str, source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = String::new();
    for l in log.lines() {
        out.push_str(l);
        out.push('\n');
        if let Some((line, col)) = location(l) {
            if let Some(text) = lines.get(line.wrapping_sub(1)) {
                out.push_str(&format!("{line:>5} | {text}\n"));
                out.push_str(&format!("      | {}^\n", " ".repeat(col.saturating_sub(1))));
            }
        }
    }
    out
}

/// The line and column of a clang-style message (`<source>:12:5: error: ...`).
fn location(msg: &str) -> Option<(usize, usize)> {
    let mut parts = msg.split(':');
    parts.next()?;
    let line = parts.next()?.trim().parse().ok()?;
    let col = parts.next()?.trim().parse().ok()?;
    let kind = parts.next()?.trim_start();
    (kind.starts_with("error") || kind.starts_with("warning")).then_some((line, col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_messages_show_the_generated_line() {
        let src = "line one\n  real v0 = foo(v1);\n";
        let log = "<source>:2:13: error: implicit declaration of function 'foo'\nnote";
        let a = annotate(log, src);
        assert!(
            a.contains("    2 |   real v0 = foo(v1);\n      |             ^\n"),
            "{a}"
        );
        assert!(a.ends_with("note\n"));
    }

    #[test]
    fn loader_failures_say_what_to_install() {
        let no_lib = cl_err("x")(ClError(DLOPEN_RUNTIME_LOAD_FAILED));
        assert!(matches!(no_lib, Error::NoRuntime));
        assert!(no_lib.to_string().contains("apt-get install"));
        let no_icd = cl_err("x")(ClError(CL_PLATFORM_NOT_FOUND_KHR));
        assert!(matches!(no_icd, Error::NoPlatform));
        assert!(no_icd.to_string().contains("pocl-opencl-icd"));
        let other = cl_err("clFinish")(ClError(-5)).to_string();
        assert!(
            other.contains("clFinish") && other.contains("OUT_OF_RESOURCES"),
            "{other}"
        );
    }

    #[test]
    fn locations_need_a_severity() {
        assert_eq!(location("<kernel>:7:3: error: x"), Some((7, 3)));
        assert_eq!(location("input.cl:7:3: warning: x"), Some((7, 3)));
        assert_eq!(location("time: 12:30: done"), None);
    }
}
