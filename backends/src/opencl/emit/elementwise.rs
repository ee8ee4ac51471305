//! Fused elementwise kernels: one work-item per element of the iteration space.
//!
//! The flat work-item id `gid` runs over the iteration space in row-major order; the
//! per-axis indices `i<k>` are computed only for axes some non-contiguous index map
//! needs. Each SSA value of the body becomes one `const real v<N>` in body order, so the
//! emitted text mirrors `dump-ir --stage scheduled` line by line.

use super::{affine_expr, decompose, params, round_up, Cx, Launch};
use nabla_ir::{BinOp, Shape, UnOp};
use nabla_passes::schedule::{Affine, BufId, Expr, Kernel};
use std::fmt::Write;

/// Emits step `i`, a fused kernel.
pub(super) fn emit(cx: &Cx<'_>, i: usize, k: &Kernel) -> (String, Launch) {
    let name = format!("s{i}_map");
    let bufs = |store: bool| -> Vec<BufId> {
        let accesses = k.accesses().filter(|a| a.store == store);
        accesses.map(|a| a.buf).collect()
    };
    let (plist, args) = params(cx, &bufs(false), &bufs(true));
    let n = k.shape.numel();
    let mut s = format!("__kernel void {name}({plist}) {{\n");
    let _ = writeln!(s, "  const idx_t gid = (idx_t)get_global_id(0);");
    let _ = writeln!(s, "  if (gid >= {n}) return;");
    s.push_str(&decompose(k.shape.dims(), &needed_axes(k), "gid", "  "));
    for (v, e) in k.body.iter().enumerate() {
        let c = k.nodes[v].map(|id| format!(" // {id}")).unwrap_or_default();
        let _ = writeln!(s, "  const real v{v} = {};{c}", expr(cx, &k.shape, e));
    }
    for st in &k.stores {
        let at = position(cx, st.buf, &st.map, &k.shape);
        let _ = writeln!(s, "  {}[{at}] = v{};", cx.mem_name(st.buf), st.value.0);
    }
    s.push_str("}\n");
    let wg = cx.limits.group_1d();
    let launch = Launch {
        name,
        args,
        global: vec![round_up(n, wg)],
        local: vec![wg],
        flops: k.flops(),
    };
    (s, launch)
}

/// Axes whose index some non-contiguous map of the kernel reads.
fn needed_axes(k: &Kernel) -> Vec<usize> {
    let maps = k.accesses().map(|a| a.map);
    let mut need = vec![false; k.shape.rank()];
    for m in maps.filter(|m| !m.is_contiguous(&k.shape)) {
        for (a, (&s, &d)) in m.strides.iter().zip(k.shape.dims()).enumerate() {
            need[a] |= s != 0 && d != 1;
        }
    }
    (0..need.len()).filter(|&a| need[a]).collect()
}

/// The C index of the element of `buf` that iteration `gid` touches through `map`.
fn position(cx: &Cx<'_>, buf: BufId, map: &Affine, shape: &Shape) -> String {
    let base = cx.place(buf).1 + map.offset;
    if map.is_contiguous(shape) {
        return affine_expr(base, &[(Some("gid".into()), 1)]);
    }
    let terms: Vec<(Option<String>, usize)> = map
        .strides
        .iter()
        .zip(shape.dims())
        .enumerate()
        .map(|(a, (&s, &d))| ((d != 1).then(|| format!("i{a}")), s))
        .collect();
    affine_expr(base, &terms)
}

/// The C expression of one body instruction.
fn expr(cx: &Cx<'_>, shape: &Shape, e: &Expr) -> String {
    match e {
        Expr::Load { buf, map } => {
            format!("{}[{}]", cx.mem_name(*buf), position(cx, *buf, map, shape))
        }
        Expr::Const(c) => cx.lit(*c),
        Expr::Unary(u, a) => unary(cx, *u, &format!("v{}", a.0)),
        Expr::Powi(n, a) => format!("nb_powi(v{}, {n})", a.0),
        Expr::Binary(b, x, y) => binary(*b, &format!("v{}", x.0), &format!("v{}", y.0)),
    }
}

/// A unary op applied to the value named `a`, with the reference semantics.
fn unary(cx: &Cx<'_>, u: UnOp, a: &str) -> String {
    match u {
        UnOp::Neg => format!("-{a}"),
        UnOp::Exp => format!("exp({a})"),
        UnOp::Log => format!("log({a})"),
        UnOp::Sin => format!("sin({a})"),
        UnOp::Cos => format!("cos({a})"),
        UnOp::Tan => format!("tan({a})"),
        UnOp::Tanh => format!("nb_tanh({a})"),
        UnOp::Sigmoid => format!("nb_sigmoid({a})"),
        UnOp::Softplus => format!("nb_softplus({a})"),
        UnOp::Silu => format!("{a} * nb_sigmoid({a})"),
        UnOp::Gelu => format!("nb_gelu({a})"),
        UnOp::Sqrt => format!("sqrt({a})"),
        UnOp::Abs => format!("fabs({a})"),
        UnOp::Square => format!("{a} * {a}"),
        UnOp::Recip => format!("{} / {a}", cx.lit(1.0)),
        UnOp::Sign => format!("nb_sign({a})"),
    }
}

/// A binary op of the values named `x` and `y`.
fn binary(b: BinOp, x: &str, y: &str) -> String {
    match b {
        BinOp::Add => format!("{x} + {y}"),
        BinOp::Sub => format!("{x} - {y}"),
        BinOp::Mul => format!("{x} * {y}"),
        BinOp::Div => format!("{x} / {y}"),
        BinOp::Pow => format!("pow({x}, {y})"),
        BinOp::Atan2 => format!("atan2({x}, {y})"),
    }
}
