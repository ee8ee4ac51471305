//! Reductions over one axis, in a fixed order so that results never depend on timing.
//!
//! Short axes (fewer than [`GROUP_THRESHOLD`] elements) are summed by one work-item per
//! output, in index order — the interpreter's order. Long axes get one work-group of `W`
//! work-items per output: work-item `t` sums elements `t, t+W, t+2W, ...` in order, then
//! the `W` partial sums are combined by a tree in local memory (`part[t] += part[t+s]`
//! for `s = W/2, W/4, ..., 1`). `W` is a literal of the kernel, so the summation order is
//! a function of the emitted source alone.

use super::{affine_expr, decompose, params, round_up, Cx, Launch};
use nabla_passes::schedule::Reduce;
use std::fmt::Write;

/// Axes at least this long are reduced by a work-group per output.
pub const GROUP_THRESHOLD: usize = 256;

/// Emits step `i`, a reduction.
pub(super) fn emit(cx: &Cx<'_>, i: usize, r: &Reduce) -> (String, Launch) {
    let name = format!("s{i}_reduce");
    let (plist, args) = params(cx, &[r.src], &[r.dst]);
    let n = r.shape.dims()[r.axis];
    let outs = r.shape.numel() / n.max(1);
    let flops = r.shape.numel() as u64;
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
