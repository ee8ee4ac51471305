//! The compiled program on the device: buffers, kernels with their arguments bound once,
//! and the run loop.
//!
//! Every buffer of the schedule lives on the device for the executable's lifetime: one
//! per leaf, constant and output, plus one arena for all temporaries. Constants are
//! uploaded at compile time; a leaf is uploaded by [`Executable::set`] only when its
//! values differ from the last ones uploaded (points once per resample, parameters once
//! per step). A run enqueues every kernel in step order on one in-order queue and reads
//! the outputs back.

use super::device::{cl_err, DeviceInfo};
use super::emit::{Launch, Mem};
use super::Error;
use crate::{Binding, BoundLeaves, Executable, RunError, StepTime};
use nabla_ir::DType;
use nabla_passes::schedule::{BufKind, Program};
use opencl3::command_queue::{CommandQueue, CL_QUEUE_PROFILING_ENABLE};
use opencl3::context::Context;
use opencl3::event::Event;
use opencl3::kernel::Kernel;
use opencl3::memory::{Buffer, ClMem, CL_MEM_READ_WRITE};
use opencl3::program::Program as ClProgram;
use opencl3::types::{cl_mem, CL_BLOCKING};
use std::ptr;
use std::time::Duration;

/// A program compiled for an OpenCL device (see the module docs).
pub struct OpenClExecutable {
    pub(super) device: DeviceInfo,
    pub(super) program: Program,
    pub(super) leaves: BoundLeaves,
    pub(super) source: String,
    pub(super) rt: Runtime,
    /// Buffer index of each binding.
    pub(super) leaf_bufs: Vec<usize>,
    /// The values last uploaded for each binding (empty before the first).
    pub(super) uploaded: Vec<Vec<f64>>,
    pub(super) outputs: Vec<Vec<f64>>,
    pub(super) times: Vec<StepTime>,
    /// Leaf uploads so far.
    pub(super) uploads: usize,
}

/// The OpenCL objects. Field order is drop order: kernels and buffers before the program,
/// queue and context.
pub(super) struct Runtime {
    pub kernels: Vec<(Kernel, Launch)>,
    /// One device buffer per schedule buffer that is not a temporary.
    pub own: Vec<Option<Buffer<u8>>>,
    pub arena: Buffer<u8>,
    /// Partial products of split matrix products.
    pub scratch: Buffer<u8>,
    pub _program: ClProgram,
    pub queue: CommandQueue,
    pub _context: Context,
    pub profile: bool,
}

impl Runtime {
    /// Creates the context, queue, program, buffers and kernels of `p`.
    pub fn new(
        dev: &DeviceInfo,
        p: &Program,
        source: &str,
        emitted: super::emit::Emitted,
        profile: bool,
    ) -> Result<Runtime, Error> {
        let launches = emitted.launches;
        let context = Context::from_device(&dev.device).map_err(cl_err("clCreateContext"))?;
        let queue = make_queue(&context, profile)?;
        let program = super::device::build(&context, dev, source)?;
        let size = p.dtype.size();
        let arena = alloc(&context, p.arena_len.max(1) * size)?;
        let scratch = alloc(&context, emitted.scratch_len.max(1) * size)?;
        let mut own = Vec::with_capacity(p.buffers.len());
        for b in &p.buffers {
            own.push(match b.kind {
                BufKind::Temp { .. } => None,
                _ => Some(alloc(&context, b.len().max(1) * size)?),
            });
        }
        let mut rt = Runtime {
            kernels: Vec::new(),
            own,
            arena,
            scratch,
            _program: program,
            queue,
            _context: context,
            profile,
        };
        rt.upload_constants(p)?;
        for l in launches {
            let k = Kernel::create(&rt._program, &l.name).map_err(cl_err("clCreateKernel"))?;
            rt.bind_args(&k, &l)?;
            rt.kernels.push((k, l));
        }
        // Drivers may generate a kernel's device code at its first launch (PoCL does, for
        // the launch's work-group size: 10 s and more on a cold cache): one launch here,
        // on whatever the buffers hold (no index depends on the data), makes that part of
        // compiling, where `train` and `bench` count it, not of the first step.
        rt.launch_all()?;
        Ok(rt)
    }

    fn mem(&self, m: Mem) -> cl_mem {
        match m {
            Mem::Arena => self.arena.get(),
            Mem::Scratch => self.scratch.get(),
            Mem::Own(b) => self.own[b.index()]
                .as_ref()
                .expect("emitted kernels name only allocated buffers")
                .get(),
        }
    }

    fn bind_args(&self, k: &Kernel, l: &Launch) -> Result<(), Error> {
        for (i, m) in l.args.iter().enumerate() {
            let mem = self.mem(*m);
            // SAFETY: every argument of an emitted kernel is a `__global` pointer, and
            // `mem` is a live buffer of this context sized for every index the kernel
            // computes (all indices are bounded by the schedule's buffer lengths).
            unsafe { k.set_arg(i as u32, &mem) }.map_err(cl_err("clSetKernelArg"))?;
        }
        Ok(())
    }

    fn upload_constants(&mut self, p: &Program) -> Result<(), Error> {
        for (i, b) in p.buffers.iter().enumerate() {
            if let BufKind::Const(values) = &b.kind {
                self.write(i, &to_bytes(values, p.dtype))?;
            }
        }
        Ok(())
    }

    /// Writes `bytes` to the own buffer `i` (whose size is exactly `bytes.len()` or the
    /// one-element minimum).
    pub fn write(&mut self, i: usize, bytes: &[u8]) -> Result<(), Error> {
        let buf = self.own[i].as_mut().expect("leaves have own buffers");
        // SAFETY: blocking write of `bytes.len()` bytes, which callers size from the
        // buffer's own length: never past its end; the host slice outlives the call.
        unsafe {
            self.queue
                .enqueue_write_buffer(buf, CL_BLOCKING, 0, bytes, &[])
        }
        .map_err(cl_err("clEnqueueWriteBuffer"))?;
        Ok(())
    }

    /// Reads `len` bytes of the own buffer `i`.
    pub fn read(&self, i: usize, len: usize) -> Result<Vec<u8>, Error> {
        let buf = self.own[i].as_ref().expect("outputs have own buffers");
        let mut bytes = vec![0u8; len];
        // SAFETY: blocking read into a host slice of exactly `len` bytes, where `len`
        // is the buffer's size as allocated.
        unsafe {
            self.queue
                .enqueue_read_buffer(buf, CL_BLOCKING, 0, &mut bytes, &[])
        }
        .map_err(cl_err("clEnqueueReadBuffer"))?;
        Ok(bytes)
    }

    /// Enqueues every kernel in order and waits; returns the profiling events if on.
    pub fn launch_all(&self) -> Result<Vec<Event>, Error> {
        let mut events = Vec::new();
        for (k, l) in &self.kernels {
            // SAFETY: `global` and `local` have `dims` entries each, `global` is a multiple
            // of `local` and `local` respects the device's limits (emission sized it);
            // every argument was bound at creation.
            let ev = unsafe {
                self.queue.enqueue_nd_range_kernel(
                    k.get(),
                    l.global.len() as u32,
                    ptr::null(),
                    l.global.as_ptr(),
                    l.local.as_ptr(),
                    &[],
                )
            }
            .map_err(cl_err("clEnqueueNDRangeKernel"))?;
            if self.profile {
                events.push(ev);
            }
        }
        self.queue.finish().map_err(cl_err("clFinish"))?;
        Ok(events)
    }
}

#[allow(deprecated)]
fn make_queue(ctx: &Context, profile: bool) -> Result<CommandQueue, Error> {
    let props = if profile {
        CL_QUEUE_PROFILING_ENABLE
    } else {
        0
    };
    CommandQueue::create_default_with_properties(ctx, props, 0)
        .or_else(|_| CommandQueue::create_default(ctx, props))
        .map_err(cl_err("clCreateCommandQueue"))
}

fn alloc(ctx: &Context, bytes: usize) -> Result<Buffer<u8>, Error> {
    // SAFETY: no host pointer is passed; the buffer is owned and released by `Buffer`.
    unsafe { Buffer::<u8>::create(ctx, CL_MEM_READ_WRITE, bytes, ptr::null_mut()) }
        .map_err(cl_err("clCreateBuffer"))
}

/// `values` in `dtype`, as native-endian bytes.
pub(super) fn to_bytes(values: &[f64], dtype: DType) -> Vec<u8> {
    match dtype {
        DType::F32 => values
            .iter()
            .flat_map(|&v| (v as f32).to_ne_bytes())
            .collect(),
        DType::F64 => values.iter().flat_map(|&v| v.to_ne_bytes()).collect(),
    }
}

/// Native-endian bytes of `dtype` values, as f64.
pub(super) fn from_bytes(bytes: &[u8], dtype: DType) -> Vec<f64> {
    match dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_ne_bytes(c.try_into().expect("4 bytes")) as f64)
            .collect(),
        DType::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .collect(),
    }
}

impl OpenClExecutable {
    /// The device the program runs on.
    pub fn device(&self) -> &DeviceInfo {
        &self.device
    }

    /// The OpenCL C source that was compiled.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The schedule the program runs.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// How many leaf uploads [`Executable::set`] has made (a `set` with unchanged values
    /// makes none).
    pub fn uploads(&self) -> usize {
        self.uploads
    }

    /// Per-kernel device times of the last run (empty unless `Options::profile`).
    pub fn kernel_times(&self) -> &[StepTime] {
        &self.times
    }

    fn read_outputs(&mut self) -> Result<(), Error> {
        let size = self.program.dtype.size();
        let mut outs = Vec::with_capacity(self.program.outputs.len());
        for (_, b) in &self.program.outputs {
            let len = self.program.buffers[b.index()].len();
            let bytes = self.rt.read(b.index(), len * size)?;
            outs.push(from_bytes(&bytes, self.program.dtype));
        }
        self.outputs = outs;
        Ok(())
    }

    fn record_times(&mut self, events: &[Event]) -> Result<(), Error> {
        let q = cl_err("clGetEventProfilingInfo");
        self.times.clear();
        for (ev, (_, l)) in events.iter().zip(&self.rt.kernels) {
            let start = ev.profiling_command_start().map_err(&q)?;
            let end = ev.profiling_command_end().map_err(&q)?;
            self.times.push(StepTime {
                name: l.name.clone(),
                time: Duration::from_nanos(end.saturating_sub(start)),
                flops: l.flops,
            });
        }
        Ok(())
    }
}

impl Executable for OpenClExecutable {
    fn bindings(&self) -> &[Binding] {
        self.leaves.bindings()
    }

    fn output_names(&self) -> Vec<String> {
        self.program.outputs.iter().map(|o| o.0.clone()).collect()
    }

    fn dtype(&self) -> DType {
        self.program.dtype
    }

    fn set(&mut self, name: &str, values: &[f64]) -> Result<(), RunError> {
        let i = self.leaves.check(name, values)?;
        let old = &self.uploaded[i];
        let same = self.leaves.is_set(i)
            && old.len() == values.len()
            && old
                .iter()
                .zip(values)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        if same {
            return Ok(());
        }
        let bytes = to_bytes(values, self.program.dtype);
        self.rt
            .write(self.leaf_bufs[i], &bytes)
            .map_err(|e| RunError::Backend(e.to_string()))?;
        self.uploaded[i] = values.to_vec();
        self.leaves.mark_set(i);
        self.uploads += 1;
        Ok(())
    }

    fn run(&mut self) -> Result<(), RunError> {
        self.leaves.check_all_set()?;
        let backend = |e: Error| RunError::Backend(e.to_string());
        let events = self.rt.launch_all().map_err(backend)?;
        self.record_times(&events).map_err(backend)?;
        self.read_outputs().map_err(backend)?;
        self.leaves.mark_ran();
        Ok(())
    }

    fn output(&self, index: usize) -> Vec<f64> {
        self.leaves.check_output(index, self.program.outputs.len());
        self.outputs[index].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_in_each_dtype() {
        let v = [1.5, -0.1, 1e-30, f64::INFINITY];
        assert_eq!(from_bytes(&to_bytes(&v, DType::F64), DType::F64), v);
        let r = from_bytes(&to_bytes(&v, DType::F32), DType::F32);
        let want: Vec<f64> = v.iter().map(|&x| x as f32 as f64).collect();
        assert_eq!(r, want);
        assert_eq!(to_bytes(&v, DType::F32).len(), 16);
    }
}
