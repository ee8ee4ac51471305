//! OpenCL C emission from a scheduled [`Program`].
//!
//! Every step of the schedule becomes one `__kernel` named `s<step>_<kind>` (`s0_matmul`,
//! `s1_map`, `s2_reduce`), so emitted text is stable and diffable; a product or reduction
//! with few outputs and a long summed extent becomes two, partial sums over chunks and
//! their sum (`s0_matmul_sum`, `s2_reduce_sum`). A kernel takes one `__global` pointer
//! per memory object it touches: `arena` (all temporaries, at the offsets of the memory
//! plan), `b<N>` (a leaf, constant or output buffer) or `scratch` (the partial sums of a
//! split step). Every size, stride and offset is a literal in the source, so the device
//! compiler sees the whole index arithmetic and no kernel takes scalar arguments.
//!
//! Alongside the source, emission returns a [`Launch`] per kernel: its name, its
//! arguments and its work sizes, which is all the runtime needs to run the program.

mod elementwise;
mod matmul;
mod reduce;

use nabla_ir::DType;
use nabla_passes::schedule::{BufId, BufKind, Program, Step};
use std::fmt::Write;

/// What emission needs to know about the device: it sizes work-groups and local tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceLimits {
    /// `CL_DEVICE_MAX_WORK_GROUP_SIZE`.
    pub max_work_group: usize,
    /// `CL_DEVICE_LOCAL_MEM_SIZE` in bytes.
    pub local_mem: usize,
}

impl DeviceLimits {
    /// The limits `emit` assumes without a device: what every current GPU offers
    /// (256 work-items, 32 KiB of local memory).
    pub const REFERENCE: DeviceLimits = DeviceLimits {
        max_work_group: 256,
        local_mem: 32 * 1024,
    };

    /// Work-group size for one-dimensional kernels: 256, or the largest power of two
    /// the device allows.
    pub fn group_1d(&self) -> usize {
        prev_pow2(self.max_work_group.clamp(1, 256))
    }
}

/// A memory object passed to a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mem {
    /// The arena holding every temporary.
    Arena,
    /// The own buffer of a leaf, constant or output.
    Own(BufId),
    /// Partial sums of split products and reductions ([`Emitted::scratch_len`] elements).
    Scratch,
}

/// How to run one emitted kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The kernel's name in the source.
    pub name: String,
    /// Its arguments, in order.
    pub args: Vec<Mem>,
    /// Global work size per dimension (a multiple of `local`).
    pub global: Vec<usize>,
    /// Work-group size per dimension.
    pub local: Vec<usize>,
    /// Floating-point operations of the kernel (for throughput reports).
    pub flops: u64,
}

/// The emitted source and the launches of its kernels, in step order.
#[derive(Clone, Debug)]
pub struct Emitted {
    /// OpenCL C source of the whole program.
    pub source: String,
    /// The launches, in order: one per step, two for a split product or reduction.
    pub launches: Vec<Launch>,
    /// Elements of the `scratch` buffer split steps need (0: none).
    pub scratch_len: usize,
}

/// Emits OpenCL C for every step of `p`, sized for `limits`.
pub fn emit_program(p: &Program, limits: &DeviceLimits) -> Emitted {
    let mut source = header(p);
    let mut launches = Vec::with_capacity(p.steps.len());
    let mut scratch_len = 0;
    for (i, step) in p.steps.iter().enumerate() {
        let cx = Cx { p, limits };
        let (text, mut more) = match step {
            Step::Kernel(k) => one(elementwise::emit(&cx, i, k)),
            Step::Reduce(r) => {
                scratch_len = scratch_len.max(reduce::scratch_len(r));
                reduce::emit(&cx, i, r)
            }
            Step::MatMul(m) => {
                scratch_len = scratch_len.max(matmul::scratch_len(m, limits, p.dtype));
                matmul::emit(&cx, i, m)
            }
        };
        source.push('\n');
        source.push_str(&text);
        launches.append(&mut more);
    }
    Emitted {
        source,
        launches,
        scratch_len,
    }
}

fn one((text, launch): (String, Launch)) -> (String, Vec<Launch>) {
    (text, vec![launch])
}

/// What every kernel emitter reads.
pub(super) struct Cx<'a> {
    pub p: &'a Program,
    pub limits: &'a DeviceLimits,
}

impl Cx<'_> {
    /// The memory object holding `b` and the element offset of `b` inside it.
    pub fn place(&self, b: BufId) -> (Mem, usize) {
        match self.p.buffers[b.index()].kind {
            BufKind::Temp { offset } => (Mem::Arena, offset),
            _ => (Mem::Own(b), 0),
        }
    }

    /// The C name of `b`'s memory object.
    pub fn mem_name(&self, b: BufId) -> String {
        mem_name(self.place(b).0)
    }

    /// The literal of scalar `c` in the program's dtype.
    pub fn lit(&self, c: f64) -> String {
        literal(c, self.p.dtype)
    }
}

/// The C name of a memory object.
pub fn mem_name(m: Mem) -> String {
    match m {
        Mem::Arena => "arena".into(),
        Mem::Own(b) => format!("b{}", b.0),
        Mem::Scratch => "scratch".into(),
    }
}

/// The kernel parameter list for memory objects read (`reads`) and written (`writes`):
/// sorted, each once, `const` when only read.
pub(super) fn params(cx: &Cx<'_>, reads: &[BufId], writes: &[BufId]) -> (String, Vec<Mem>) {
    let mut mems: Vec<(Mem, bool)> = Vec::new();
    for (b, w) in reads
        .iter()
        .map(|b| (b, false))
        .chain(writes.iter().map(|b| (b, true)))
    {
        let m = cx.place(*b).0;
        match mems.iter_mut().find(|(x, _)| *x == m) {
            Some(e) => e.1 |= w,
            None => mems.push((m, w)),
        }
    }
    mems.sort();
    let text: Vec<String> = mems
        .iter()
        .map(|&(m, w)| {
            let q = if w { "" } else { "const " };
            format!("__global {q}real* restrict {}", mem_name(m))
        })
        .collect();
    (text.join(", "), mems.into_iter().map(|(m, _)| m).collect())
}

/// The C literal of `c` rounded to `dtype` (`1.5`, `1.5f`, `INFINITY`, `NAN`).
pub fn literal(c: f64, dtype: DType) -> String {
    let (text, suffix) = match dtype {
        DType::F64 => (format!("{c:?}"), ""),
        DType::F32 => (format!("{:?}", c as f32), "f"),
    };
    match text.as_str() {
        "inf" => "INFINITY".into(),
        "-inf" => "(-INFINITY)".into(),
        "NaN" => "NAN".into(),
        t if t.starts_with('-') => format!("({t}{suffix})"),
        t => format!("{t}{suffix}"),
    }
}

/// The largest power of two not above `n` (`n >= 1`).
pub(super) fn prev_pow2(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.max(1).leading_zeros())
}

/// `n` rounded up to a multiple of `m`.
pub(super) fn round_up(n: usize, m: usize) -> usize {
    n.div_ceil(m) * m
}

/// The common prelude: dtype, index type, and the functions that are not OpenCL builtins,
/// written exactly as the reference interpreter computes them.
fn header(p: &Program) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// nabla OpenCL C: {} steps, {}, arena {} elements",
        p.steps.len(),
        p.dtype,
        p.arena_len
    );
    if p.dtype == DType::F64 {
        s.push_str("#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n");
    }
    let (real, idx) = (ctype(p.dtype), index_type(p));
    let _ = writeln!(s, "#pragma OPENCL FP_CONTRACT OFF");
    let _ = writeln!(s, "typedef {real} real;\ntypedef {idx} idx_t;");
    s.push_str(&functions(p.dtype));
    s
}

fn ctype(d: DType) -> &'static str {
    match d {
        DType::F32 => "float",
        DType::F64 => "double",
    }
}

/// `uint` when every index fits in 31 bits (cheaper division on GPUs), else `ulong`.
fn index_type(p: &Program) -> &'static str {
    let biggest = p
        .buffers
        .iter()
        .map(|b| b.len())
        .chain([p.arena_len])
        .max()
        .unwrap_or(0);
    if biggest < (1 << 30) {
        "uint"
    } else {
        "ulong"
    }
}

/// Helper functions: `tanh` exactly ±1 where it rounds there, `sigmoid` and `softplus`
/// in their overflow-free forms, GELU in its tanh form, `sign`, and `powi` by binary powering (the algorithm of `f64::powi`).
fn functions(d: DType) -> String {
    let l = |c: f64| literal(c, d);
    let (zero, one, half) = (l(0.0), l(1.0), l(0.5));
    let (gc, ga) = (l(nabla_ir::GELU_C), l(nabla_ir::GELU_A));
    // from here on `tanh` rounds to ±1 (`2e^(−2x)` at most half an ulp below 1); the
    // platform's may stop an ulp short (PoCL's f32 at `1 − 2^−24`), which left a floor
    // under `1 − tanh²`
    let sat = l(match d {
        DType::F32 => 13.0 * std::f64::consts::LN_2,
        DType::F64 => 27.5 * std::f64::consts::LN_2,
    });
    format!(
        "real nb_sigmoid(real x) {{
  if (x >= {zero}) return {one} / ({one} + exp(-x));
  const real e = exp(x);
  return e / ({one} + e);
}}
real nb_softplus(real x) {{ return fmax(x, {zero}) + log1p(exp(-fabs(x))); }}
real nb_tanh(real x) {{ return fabs(x) >= {sat} ? copysign({one}, x) : tanh(x); }}
real nb_gelu(real x) {{ return {half} * x * ({one} + nb_tanh({gc} * (x + {ga} * x * x * x))); }}
real nb_sign(real x) {{ return x > {zero} ? {one} : (x < {zero} ? -{one} : x * {zero}); }}
real nb_powi(real a, int n) {{
  const int recip = n < 0;
  real r = {one};
  for (;;) {{
    if (n & 1) r *= a;
    n /= 2;
    if (n == 0) break;
    a *= a;
  }}
  return recip ? {one} / r : r;
}}
"
    )
}

/// The C expression of the flat position `offset + Σ index[k]·strides[k]`, given the C
/// names of the index variables (`None` for axes that are known to be 0).
pub(super) fn affine_expr(offset: usize, terms: &[(Option<String>, usize)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if offset != 0 {
        parts.push(offset.to_string());
    }
    for (name, stride) in terms {
        match (name, *stride) {
            (None, _) | (_, 0) => {}
            (Some(n), 1) => parts.push(n.clone()),
            (Some(n), s) => parts.push(format!("{n}*{s}")),
        }
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join(" + ")
    }
}

/// Statements defining `i<k>` for each axis `k` in `axes` of an iteration space `dims`
/// from the flat row-major index `flat` (`idx_t`).
pub(super) fn decompose(dims: &[usize], axes: &[usize], flat: &str, indent: &str) -> String {
    let mut s = String::new();
    for &k in axes {
        let inner: usize = dims[k + 1..].iter().product();
        let q = if inner == 1 {
            flat.to_string()
        } else {
            format!("{flat} / {inner}")
        };
        let e = if k == 0 {
            q
        } else {
            format!("({q}) % {}", dims[k])
        };
        let _ = writeln!(s, "{indent}const idx_t i{k} = {e};");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_round_to_the_dtype_and_spell_specials() {
        assert_eq!(literal(0.1, DType::F64), "0.1");
        assert_eq!(literal(0.1, DType::F32), "0.1f");
        assert_eq!(literal(1.0, DType::F64), "1.0");
        assert_eq!(literal(-2.5, DType::F32), "(-2.5f)");
        assert_eq!(literal(1e-300, DType::F64), "1e-300");
        assert_eq!(literal(f64::INFINITY, DType::F64), "INFINITY");
        assert_eq!(literal(f64::NEG_INFINITY, DType::F32), "(-INFINITY)");
        assert_eq!(literal(f64::NAN, DType::F64), "NAN");
        // 1e-50 underflows to 0 in f32: the literal must say so.
        assert_eq!(literal(1e-50, DType::F32), "0.0f");
    }

    #[test]
    fn affine_expressions_drop_zero_terms() {
        let t = |n: &str, s| (Some(n.to_string()), s);
        assert_eq!(affine_expr(0, &[t("i0", 4), t("i1", 1)]), "i0*4 + i1");
        assert_eq!(affine_expr(32, &[t("i0", 0), (None, 3)]), "32");
        assert_eq!(affine_expr(0, &[]), "0");
    }

    #[test]
    fn decomposition_divides_by_inner_extents() {
        let s = decompose(&[5, 3, 4], &[0, 1, 2], "gid", "");
        assert_eq!(
            s,
            "const idx_t i0 = gid / 12;\nconst idx_t i1 = (gid / 4) % 3;\nconst idx_t i2 = (gid) % 4;\n"
        );
    }

    #[test]
    fn powers_of_two() {
        assert_eq!(prev_pow2(1), 1);
        assert_eq!(prev_pow2(255), 128);
        assert_eq!(prev_pow2(4096), 4096);
        assert_eq!(round_up(10, 4), 12);
    }
}
