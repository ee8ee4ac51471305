//! Dense products: a tiled kernel with local-memory tiles and register blocking.
//!
//! A work-group computes a `tm × tn` tile of `dst = a · b`. It walks the inner extent in
//! slices of `tk`: the work-group copies the `tm × tk` slice of `a` and the `tk × tn`
//! slice of `b` into local memory (zero beyond the edges), then each work-item
//! accumulates an `rm × rn` block of outputs from them. Work-item `(tx, ty)` owns rows
//! `ty + i·(tm/rm)` and columns `tx + j·(tn/rn)`, so neighbouring work-items write
//! neighbouring columns. Each output is `Σ_p a[i,p]·b[p,j]` accumulated with `fma` in
//! increasing `p`: the order is fixed, whatever the tile.
//!
//! A product with few output tiles and a long inner extent (a weight gradient
//! `ḡ_zᵀ·h`, whose inner extent is the batch) would leave most of a GPU idle, so its
//! inner extent is split into `S` equal chunks ([`split`]): `s<i>_matmul` computes one
//! partial product per chunk into the `scratch` buffer (work-group dimension 2 is the
//! chunk), and `s<i>_matmul_sum` adds the `S` partials of each output in chunk order.
//! The order is still fixed by the emitted source.
//!
//! Transposes are strides: the copy into local memory walks the operand along whichever
//! of its axes is contiguous, so global reads coalesce for `a`, `aᵀ`, `b` and `bᵀ` alike.

use super::{affine_expr, params, Cx, DeviceLimits, Launch, Mem};
use nabla_ir::DType;
use nabla_passes::schedule::{MatMul, Matrix};
use std::fmt::Write;

/// The blocking of one product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// Rows of `dst` per work-group.
    pub tm: usize,
    /// Columns of `dst` per work-group.
    pub tn: usize,
    /// Inner extent per local-memory slice.
    pub tk: usize,
    /// Rows per work-item.
    pub rm: usize,
    /// Columns per work-item.
    pub rn: usize,
}

impl Tile {
    /// Work-items per work-group along columns (dimension 0) and rows (dimension 1).
    pub fn threads(&self) -> (usize, usize) {
        (self.tn / self.rn, self.tm / self.rm)
    }

    /// Local memory the tile needs, in bytes (the `a` slice has one padding column, so
    /// that its transposing copy does not hit one memory bank with every work-item).
    pub fn local_bytes(&self, dtype: DType) -> usize {
        self.tk * (self.tm + 1 + self.tn) * dtype.size()
    }
}

/// Chooses the tile of an `m × n × k` product for a device: columns up to 64 per group
/// (fewer for narrow products, so a one-column layer does not waste 63/64 of the work),
/// 4 × 4 outputs per work-item, up to 128 rows (so a tall product spreads over many
/// groups) within 256 work-items, inner slices of up to 16. Then, until the group fits
/// the device's work-group size and two thirds of its local memory, rows are halved,
/// then the inner slice, then the columns.
pub fn choose_tile(m: usize, n: usize, k: usize, lim: &DeviceLimits, dtype: DType) -> Tile {
    let tn = n.max(1).next_power_of_two().min(64);
    let rows_needed = m.max(1).next_power_of_two().div_ceil(4);
    let ty = (256 / (tn / tn.min(4))).min(32).min(rows_needed).max(1);
    let tk = k.max(1).next_power_of_two().min(16);
    let mut t = Tile {
        tm: ty * 4,
        tn,
        tk,
        rm: 4,
        rn: tn.min(4),
    };
    let fits = |t: &Tile| {
        let (tx, ty) = t.threads();
        tx * ty <= lim.max_work_group && t.local_bytes(dtype) * 3 <= lim.local_mem * 2
    };
    while !fits(&t) {
        if t.tm > t.rm {
            t.tm /= 2;
        } else if t.tk > 1 {
            t.tk /= 2;
        } else if t.tn > 1 {
            t.tn /= 2;
            t.rn = t.tn.min(4);
        } else {
            break;
        }
    }
    t
}

/// Products whose output has fewer tiles than this may be split along the inner extent.
const FEW_TILES: usize = 64;
/// Only inner extents at least this long are split.
const MIN_SPLIT_K: usize = 2048;
/// The shortest chunk a split makes.
const MIN_CHUNK: usize = 64;
/// Work-items a split aims to keep busy (enough to fill a large GPU several times).
const TARGET_ITEMS: usize = 65536;

/// The number of chunks `S` the inner extent of an `m × n × k` product with tile `t` is
/// split into (1: no split), and the chunk length (a multiple of `t.tk`): enough chunks
/// that `tiles · S · work-items per group` reaches [`TARGET_ITEMS`], none shorter than
/// [`MIN_CHUNK`].
pub fn split(m: usize, n: usize, k: usize, t: &Tile) -> (usize, usize) {
    let tiles = m.div_ceil(t.tm) * n.div_ceil(t.tn);
    if tiles >= FEW_TILES || k < MIN_SPLIT_K {
        return (1, k);
    }
    let (tx, ty) = t.threads();
    let want = TARGET_ITEMS.div_ceil(tiles * tx * ty);
    let s = want.min(k / MIN_CHUNK.max(t.tk)).max(2);
    let chunk = k.div_ceil(s).div_ceil(t.tk) * t.tk;
    (k.div_ceil(chunk), chunk)
}

/// Elements of `scratch` a product needs (0 when it is not split).
pub fn scratch_len(mm: &MatMul, lim: &DeviceLimits, dtype: DType) -> usize {
    let t = choose_tile(mm.m, mm.n, mm.k, lim, dtype);
    match split(mm.m, mm.n, mm.k, &t) {
        (1, _) => 0,
        (s, _) => s * mm.m * mm.n,
    }
}

/// Emits step `i`, a product (two kernels when split).
pub(super) fn emit(cx: &Cx<'_>, i: usize, mm: &MatMul) -> (String, Vec<Launch>) {
    let name = format!("s{i}_matmul");
    let t = choose_tile(mm.m, mm.n, mm.k, cx.limits, cx.p.dtype);
    let (parts, chunk) = split(mm.m, mm.n, mm.k, &t);
    let (plist, mut args) = if parts > 1 {
        params(cx, &[mm.a.buf, mm.b.buf], &[])
    } else {
        params(cx, &[mm.a.buf, mm.b.buf], &[mm.dst])
    };
    let plist = if parts > 1 {
        args.push(Mem::Scratch);
        format!("{plist}, __global real* restrict scratch")
    } else {
        plist
    };
    let (tx, ty) = t.threads();
    let mut s = format!(
        "// {m}x{n}x{k}, tile {tm}x{tn}x{tk}, {rm}x{rn} per work-item\n",
        m = mm.m,
        n = mm.n,
        k = mm.k,
        tm = t.tm,
        tn = t.tn,
        tk = t.tk,
        rm = t.rm,
        rn = t.rn
    );
    let _ = writeln!(
        s,
        "__kernel __attribute__((reqd_work_group_size({tx}, {ty}, 1)))\nvoid {name}({plist}) {{"
    );
    s.push_str(&prologue(cx, &t));
    if parts > 1 {
        let _ = writeln!(s, "  const idx_t k0 = (idx_t)get_group_id(2) * {chunk};");
        let _ = writeln!(s, "  const idx_t k1 = min(k0 + {chunk}, (idx_t){});", mm.k);
    } else {
        let _ = writeln!(s, "  const idx_t k0 = 0;\n  const idx_t k1 = {};", mm.k);
    }
    let _ = writeln!(s, "  for (idx_t t = k0; t < k1; t += {}) {{", t.tk);
    s.push_str(&load_a(cx, mm, &t));
    s.push_str(&load_b(cx, mm, &t));
    s.push_str(&inner(&t));
    s.push_str("  }\n");
    s.push_str(&epilogue(cx, mm, &t, parts > 1));
    s.push_str("}\n");
    let mut launches = vec![Launch {
        name,
        args,
        global: vec![mm.n.div_ceil(t.tn) * tx, mm.m.div_ceil(t.tm) * ty, parts],
        local: vec![tx, ty, 1],
        // split: the adds into `dst` are the sum's (below)
        flops: if parts > 1 {
            2 * (mm.m * mm.n * mm.k) as u64
        } else {
            mm.flops()
        },
    }];
    if parts > 1 {
        let (text, launch) = sum_parts(cx, i, mm, parts);
        s.push('\n');
        s.push_str(&text);
        launches.push(launch);
    }
    (s, launches)
}

/// `dst[o] = Σ_s scratch[s·m·n + o]` (`+=` when the product accumulates) in chunk order,
/// one work-item per output.
fn sum_parts(cx: &Cx<'_>, i: usize, mm: &MatMul, parts: usize) -> (String, Launch) {
    let name = format!("s{i}_matmul_sum");
    let (plist, mut args) = params(cx, &[], &[mm.dst]);
    args.push(Mem::Scratch);
    let mn = mm.m * mm.n;
    let at = affine_expr(cx.place(mm.dst).1, &[(Some("o".into()), 1)]);
    let text = format!(
        "__kernel void {name}({plist}, __global const real* restrict scratch) {{
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= {mn}) return;
  real acc = scratch[o];
  for (idx_t s = 1; s < {parts}; ++s) acc += scratch[s * {mn} + o];
  {dst}[{at}] {set} acc;
}}
",
        dst = cx.mem_name(mm.dst),
        set = assign(mm)
    );
    let wg = cx.limits.group_1d();
    let launch = Launch {
        name,
        args,
        global: vec![super::round_up(mn, wg)],
        local: vec![wg],
        flops: (mn * (parts - 1) + if mm.accumulate { mn } else { 0 }) as u64,
    };
    (text, launch)
}

fn prologue(cx: &Cx<'_>, t: &Tile) -> String {
    let (tx, ty) = t.threads();
    let zero = cx.lit(0.0);
    format!(
        "  __local real As[{tk}][{tm} + 1];
  __local real Bs[{tk}][{tn}];
  const idx_t tx = (idx_t)get_local_id(0);
  const idx_t ty = (idx_t)get_local_id(1);
  const idx_t lid = ty * {tx} + tx;
  const idx_t col0 = (idx_t)get_group_id(0) * {tn};
  const idx_t row0 = (idx_t)get_group_id(1) * {tm};
  real acc[{rm}][{rn}];
  for (int i = 0; i < {rm}; ++i)
    for (int j = 0; j < {rn}; ++j) acc[i][j] = {zero};
",
        tk = t.tk,
        tm = t.tm,
        tn = t.tn,
        rm = t.rm,
        rn = t.rn,
        tx = tx,
    ) + &format!("  // {} work-items per group\n", tx * ty)
}

/// `src[offset + r·rs + c·cs]` for a matrix operand.
fn element(cx: &Cx<'_>, mat: &Matrix, r: &str, c: &str) -> String {
    let at = affine_expr(
        cx.place(mat.buf).1 + mat.offset,
        &[(Some(r.into()), mat.rs), (Some(c.into()), mat.cs)],
    );
    format!("{}[{at}]", cx.mem_name(mat.buf))
}

/// The cooperative copy of a `rows × cols` slice into local memory, walking `fast_cols`
/// first when the operand is contiguous along its columns. `(r, c)` name the local
/// coordinates; the body sees them.
fn copy_loop(rows: usize, cols: usize, fast_cols: bool, nt: usize, body: &str) -> String {
    let (r, c) = if fast_cols {
        (format!("e / {cols}"), format!("e % {cols}"))
    } else {
        (format!("e % {rows}"), format!("e / {rows}"))
    };
    format!(
        "    for (idx_t e = lid; e < {}; e += {nt}) {{
      const idx_t r = {r};
      const idx_t c = {c};
{body}    }}
",
        rows * cols
    )
}

fn load_a(cx: &Cx<'_>, mm: &MatMul, t: &Tile) -> String {
    let (tx, ty) = t.threads();
    let zero = cx.lit(0.0);
    let body = format!(
        "      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < {m} && gp < k1) ? {el} : {zero};
",
        m = mm.m,
        el = element(cx, &mm.a, "gr", "gp")
    );
    copy_loop(t.tm, t.tk, mm.a.cs == 1, tx * ty, &body)
}

fn load_b(cx: &Cx<'_>, mm: &MatMul, t: &Tile) -> String {
    let (tx, ty) = t.threads();
    let zero = cx.lit(0.0);
    let body = format!(
        "      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < {n}) ? {el} : {zero};
",
        n = mm.n,
        el = element(cx, &mm.b, "gp", "gc")
    );
    let copy = copy_loop(t.tk, t.tn, mm.b.cs == 1, tx * ty, &body);
    copy + "    barrier(CLK_LOCAL_MEM_FENCE);\n"
}

/// The register-blocked multiply of the two local slices.
fn inner(t: &Tile) -> String {
    let (tx, ty) = t.threads();
    format!(
        "    for (int p = 0; p < {tk}; ++p) {{
      real a[{rm}], b[{rn}];
      for (int i = 0; i < {rm}; ++i) a[i] = As[p][ty + i * {ty}];
      for (int j = 0; j < {rn}; ++j) b[j] = Bs[p][tx + j * {tx}];
      for (int i = 0; i < {rm}; ++i)
        for (int j = 0; j < {rn}; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }}
    barrier(CLK_LOCAL_MEM_FENCE);
",
        tk = t.tk,
        rm = t.rm,
        rn = t.rn,
    )
}

/// The assignment that puts a product into `dst`: `+=` for a later term of a sum of
/// products ([`MatMul::accumulate`]), `=` otherwise.
fn assign(mm: &MatMul) -> &'static str {
    if mm.accumulate {
        "+="
    } else {
        "="
    }
}

/// Stores (or adds) the work-item's outputs into `dst`, or stores them into its chunk's
/// slice of `scratch`.
fn epilogue(cx: &Cx<'_>, mm: &MatMul, t: &Tile, split: bool) -> String {
    let (tx, ty) = t.threads();
    let rc = [(Some("r".into()), mm.n), (Some("c".into()), 1)];
    let (dst, at, set) = if split {
        let at = affine_expr(0, &rc);
        let base = format!("(idx_t)get_group_id(2) * {} + ", mm.m * mm.n);
        ("scratch".to_string(), base + &at, "=")
    } else {
        let at = affine_expr(cx.place(mm.dst).1, &rc);
        (cx.mem_name(mm.dst), at, assign(mm))
    };
    format!(
        "  for (int i = 0; i < {rm}; ++i)
    for (int j = 0; j < {rn}; ++j) {{
      const idx_t r = row0 + ty + i * {ty};
      const idx_t c = col0 + tx + j * {tx};
      if (r < {m} && c < {n}) {dst}[{at}] {set} acc[i][j];
    }}
",
        rm = t.rm,
        rn = t.rn,
        m = mm.m,
        n = mm.n,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_products_get_square_tiles() {
        let t = choose_tile(4096, 64, 64, &DeviceLimits::REFERENCE, DType::F32);
        assert_eq!(
            t,
            Tile {
                tm: 64,
                tn: 64,
                tk: 16,
                rm: 4,
                rn: 4
            }
        );
        assert_eq!(t.threads(), (16, 16));
    }

    #[test]
    fn narrow_products_get_narrow_tiles() {
        let t = choose_tile(4096, 1, 32, &DeviceLimits::REFERENCE, DType::F64);
        assert_eq!((t.tn, t.rn, t.tk), (1, 1, 16));
        assert!(t.threads().1 <= 256);
    }

    #[test]
    fn long_inner_extents_with_few_tiles_are_split() {
        let t = choose_tile(64, 64, 65536, &DeviceLimits::REFERENCE, DType::F32);
        let (s, chunk) = split(64, 64, 65536, &t);
        assert_eq!((s, chunk), (256, 256));
        assert_eq!(chunk % t.tk, 0);
        assert!(s * chunk >= 65536 && (s - 1) * chunk < 65536);
        let wide = choose_tile(65536, 64, 64, &DeviceLimits::REFERENCE, DType::F32);
        assert_eq!(split(65536, 64, 64, &wide), (1, 64));
        // A one-row output (16 work-items per group) is split into 1024 chunks of 64.
        let row = choose_tile(1, 64, 65536, &DeviceLimits::REFERENCE, DType::F32);
        assert_eq!(split(1, 64, 65536, &row), (1024, 64));
    }

    #[test]
    fn small_devices_shrink_the_tile() {
        let lim = DeviceLimits {
            max_work_group: 64,
            local_mem: 8 * 1024,
        };
        let t = choose_tile(4096, 64, 64, &lim, DType::F64);
        let (tx, ty) = t.threads();
        assert!(tx * ty <= 64);
        assert!(t.local_bytes(DType::F64) * 3 <= 8 * 1024 * 2);
    }
}
