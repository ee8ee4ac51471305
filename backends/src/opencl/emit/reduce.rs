//! Reductions over one axis, in a fixed order so that results never depend on timing.
//!
//! Short axes (fewer than [`GROUP_THRESHOLD`] elements) are summed by one work-item per
//! output, in index order — the interpreter's order. Long axes get one work-group of `W`
//! work-items per output: work-item `t` sums elements `t, t+W, t+2W, ...` in order, then
//! the `W` partial sums are combined by a tree in local memory (`part[t] += part[t+s]`
//! for `s = W/2, W/4, ..., 1`). `W` is a literal of the kernel, so the summation order is
//! a function of the emitted source alone.
//!
//! A long axis with several outputs (a bias gradient: the batch sum of a row-major
//! `[N, k]` matrix) is split instead, like a long product: `s<i>_reduce` has work-item
//! `(o, p)` sum chunk `p` of output `o` in order into `scratch[p·outs + o]` (neighbouring
//! work-items read neighbouring outputs, so rows are read whole), and `s<i>_reduce_sum`
//! adds the chunks of each output in chunk order.

use super::{affine_expr, decompose, params, round_up, Cx, Launch, Mem};
use nabla_passes::schedule::Reduce;
use std::fmt::Write;

/// Axes at least this long are reduced by a work-group per output, or split.
pub const GROUP_THRESHOLD: usize = 256;
/// Work-items a split reduction aims for.
const TARGET_ITEMS: usize = 65536;
/// The shortest chunk a split reduction makes.
const MIN_CHUNK: usize = 64;

/// The number of chunks a reduction of `outs` outputs over an axis of `n` is split into
/// (1: not split), and the chunk length.
pub fn split(outs: usize, n: usize) -> (usize, usize) {
    if n < GROUP_THRESHOLD || outs < 2 {
        return (1, n);
    }
    let parts = TARGET_ITEMS.div_ceil(outs).min(n / MIN_CHUNK).max(1);
    let chunk = n.div_ceil(parts);
    (n.div_ceil(chunk), chunk)
}

/// Elements of `scratch` a reduction needs (0 when it is not split).
pub fn scratch_len(r: &Reduce) -> usize {
    let n = r.shape.dims()[r.axis];
    let outs = r.shape.numel() / n.max(1);
    match split(outs, n) {
        (1, _) => 0,
        (parts, _) => parts * outs,
    }
}

/// Emits step `i`, a reduction.
pub(super) fn emit(cx: &Cx<'_>, i: usize, r: &Reduce) -> (String, Vec<Launch>) {
    let n = r.shape.dims()[r.axis];
    let outs = r.shape.numel() / n.max(1);
    match split(outs, n) {
        (1, _) => {
            let (s, l) = emit_whole(cx, i, r);
            (s, vec![l])
        }
        (parts, chunk) => emit_split(cx, i, r, parts, chunk),
    }
}

/// A reduction in one kernel.
fn emit_whole(cx: &Cx<'_>, i: usize, r: &Reduce) -> (String, Launch) {
    let name = format!("s{i}_reduce");
    let (plist, args) = params(cx, &[r.src], &[r.dst]);
    let n = r.shape.dims()[r.axis];
    let outs = r.shape.numel() / n.max(1);
    let flops = r.flops();
    if n >= GROUP_THRESHOLD {
        let w = cx.limits.group_1d();
        let s = grouped(cx, &name, &plist, r, w);
        let launch = Launch {
            name,
            args,
            global: vec![outs * w],
            local: vec![w],
            flops,
        };
        return (s, launch);
    }
    let wg = cx.limits.group_1d();
    let s = serial(cx, &name, &plist, r);
    let launch = Launch {
        name,
        args,
        global: vec![round_up(outs, wg)],
        local: vec![wg],
        flops,
    };
    (s, launch)
}

/// Statements defining `base` (the source position of element 0 of the reduced axis for
/// output `o`) and the step `stride` between consecutive elements of the axis.
fn source_base(cx: &Cx<'_>, r: &Reduce, o: &str) -> (String, usize) {
    let mut out_dims: Vec<usize> = r.shape.dims().to_vec();
    out_dims.remove(r.axis);
    let axes: Vec<usize> = (0..out_dims.len()).filter(|&a| out_dims[a] != 1).collect();
    let mut s = decompose(&out_dims, &axes, o, "  ");
    let terms: Vec<(Option<String>, usize)> = (0..r.shape.rank())
        .filter(|&a| a != r.axis)
        .enumerate()
        .map(|(oa, a)| {
            (
                (out_dims[oa] != 1).then(|| format!("i{oa}")),
                r.map.strides[a],
            )
        })
        .collect();
    let base = affine_expr(cx.place(r.src).1 + r.map.offset, &terms);
    let _ = writeln!(s, "  const idx_t base = {base};");
    (s, r.map.strides[r.axis])
}

/// The final store of the sum `acc` of output `o` (divided by `n` for a mean).
fn store(cx: &Cx<'_>, r: &Reduce, o: &str, acc: &str) -> String {
    let n = r.shape.dims()[r.axis];
    let value = if r.mean {
        format!("{acc} / {}", cx.lit(n as f64))
    } else {
        acc.to_string()
    };
    let at = affine_expr(cx.place(r.dst).1, &[(Some(o.into()), 1)]);
    format!("{}[{at}] = {value};", cx.mem_name(r.dst))
}

fn element(cx: &Cx<'_>, r: &Reduce, j: &str, stride: usize) -> String {
    let at = affine_expr(0, &[(Some("base".into()), 1), (Some(j.into()), stride)]);
    format!("{}[{at}]", cx.mem_name(r.src))
}

/// One work-item per output, summing in index order.
fn serial(cx: &Cx<'_>, name: &str, plist: &str, r: &Reduce) -> String {
    let n = r.shape.dims()[r.axis];
    let outs = r.shape.numel() / n.max(1);
    let (base, stride) = source_base(cx, r, "o");
    let zero = cx.lit(0.0);
    let elem = element(cx, r, "j", stride);
    format!(
        "__kernel void {name}({plist}) {{
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= {outs}) return;
{base}  real acc = {zero};
  for (idx_t j = 0; j < {n}; ++j) acc += {elem};
  {}
}}
",
        store(cx, r, "o", "acc")
    )
}

/// One work-group of `w` work-items per output: strided partial sums, then a tree.
fn grouped(cx: &Cx<'_>, name: &str, plist: &str, r: &Reduce, w: usize) -> String {
    let n = r.shape.dims()[r.axis];
    let (base, stride) = source_base(cx, r, "o");
    let zero = cx.lit(0.0);
    let elem = element(cx, r, "j", stride);
    format!(
        "__kernel __attribute__((reqd_work_group_size({w}, 1, 1)))
void {name}({plist}) {{
  __local real part[{w}];
  const idx_t o = (idx_t)get_group_id(0);
  const idx_t t = (idx_t)get_local_id(0);
{base}  real acc = {zero};
  for (idx_t j = t; j < {n}; j += {w}) acc += {elem};
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (idx_t s = {half}; s > 0; s >>= 1) {{
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }}
  if (t == 0) {}
}}
",
        store(cx, r, "o", "part[0]"),
        half = w / 2
    )
}

/// A long reduction with several outputs: chunk sums into `scratch`, then their sum.
fn emit_split(
    cx: &Cx<'_>,
    i: usize,
    r: &Reduce,
    parts: usize,
    chunk: usize,
) -> (String, Vec<Launch>) {
    let n = r.shape.dims()[r.axis];
    let outs = r.shape.numel() / n.max(1);
    let name = format!("s{i}_reduce");
    let (plist, mut args) = params(cx, &[r.src], &[]);
    args.push(Mem::Scratch);
    let (base, stride) = source_base(cx, r, "o");
    let zero = cx.lit(0.0);
    let elem = element(cx, r, "j", stride);
    let mut text = format!(
        "__kernel void {name}({plist}, __global real* restrict scratch) {{
  const idx_t o = (idx_t)get_global_id(0);
  const idx_t p = (idx_t)get_global_id(1);
  if (o >= {outs}) return;
{base}  const idx_t j1 = min(p * {chunk} + {chunk}, (idx_t){n});
  real acc = {zero};
  for (idx_t j = p * {chunk}; j < j1; ++j) acc += {elem};
  scratch[p * {outs} + o] = acc;
}}
"
    );
    let wg = cx.limits.group_1d().min(outs.next_power_of_two());
    let first = Launch {
        name,
        args,
        global: vec![round_up(outs, wg), parts],
        local: vec![wg, 1],
        flops: r.flops(),
    };
    let (sum_text, second) = sum_chunks(cx, i, r, parts);
    text.push('\n');
    text.push_str(&sum_text);
    (text, vec![first, second])
}

/// `dst[o] = Σ_p scratch[p·outs + o]` in chunk order (divided by the extent for a mean).
fn sum_chunks(cx: &Cx<'_>, i: usize, r: &Reduce, parts: usize) -> (String, Launch) {
    let n = r.shape.dims()[r.axis];
    let outs = r.shape.numel() / n.max(1);
    let name = format!("s{i}_reduce_sum");
    let (plist, mut args) = params(cx, &[], &[r.dst]);
    args.push(Mem::Scratch);
    let text = format!(
        "__kernel void {name}({plist}, __global const real* restrict scratch) {{
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= {outs}) return;
  real acc = scratch[o];
  for (idx_t p = 1; p < {parts}; ++p) acc += scratch[p * {outs} + o];
  {}
}}
",
        store(cx, r, "o", "acc")
    );
    let wg = cx.limits.group_1d();
    let launch = Launch {
        name,
        args,
        global: vec![round_up(outs, wg)],
        local: vec![wg],
        flops: (outs * (parts - 1)) as u64,
    };
    (text, launch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_axes_with_several_outputs_are_split() {
        assert_eq!(split(64, 65536), (1024, 64));
        assert_eq!(split(4, 300), (4, 75));
        assert_eq!(split(1, 65536), (1, 65536));
        assert_eq!(split(64, 100), (1, 100));
        let (parts, chunk) = split(7, 1000);
        assert!(parts * chunk >= 1000 && (parts - 1) * chunk < 1000);
    }
}
