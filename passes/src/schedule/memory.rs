//! The memory plan: live ranges of temporaries and first-fit packing into one arena.
//!
//! A temporary is live from the first step that touches it to the last one (both
//! inclusive, so a step never reads and writes the same memory through two buffers).
//! Temporaries are placed in order of their first step at the lowest aligned offset that
//! does not overlap any temporary still live; space is thus reused as soon as a value is
//! dead. The plan is deterministic (a function of the step list only).
//!
//! A temporary of at least [`STAGGER_FROM`] elements reserves [`ALIGN`] elements more
//! than it needs, so that temporaries whose sizes are multiples of 4 KiB (a tile of 256
//! rows of a 16-, 32- or 128-wide layer) do not all start at the same offset modulo
//! 4 KiB. A kernel streams dozens of buffers in lockstep; addresses equal modulo 4 KiB
//! fall into the same set of the L1 cache (64 sets of 12 ways on the 48 KiB caches
//! measured) and a load at such an address waits for an unrelated store ("4K
//! aliasing"). Measured with `cargo bench --bench profile -- B8 rows=256` (one thread):
//! B8's kernels took 0.45 ms per 256-row tile against 0.26 ms at 250 rows; B5's 0.124
//! against 0.104 ms.

use super::{BufId, BufKind, Expr, Program, Step};

/// Alignment of arena offsets, in elements (64 bytes for f32: one cache line; keeps every
/// buffer aligned for 128-bit vector loads in either dtype).
pub const ALIGN: usize = 16;

/// Temporaries of at least this many elements are staggered by [`ALIGN`] elements (see
/// the module docs); smaller ones share a few pages at most.
pub const STAGGER_FROM: usize = 1024;

/// The elements a temporary of `len` elements occupies in the arena.
fn reserved(len: usize) -> usize {
    if len >= STAGGER_FROM {
        len.next_multiple_of(ALIGN) + ALIGN
    } else {
        len
    }
}

/// The buffers a step reads, and those it writes (a product that adds to its result
/// reads it too).
pub(super) type Effects = (Vec<BufId>, Vec<BufId>);

/// The buffers `s` reads and those it writes.
pub(super) fn effects(s: &Step) -> Effects {
    match s {
        Step::Kernel(k) => {
            let loads = k.body.iter().filter_map(|e| match e {
                Expr::Load { buf, .. } => Some(*buf),
                _ => None,
            });
            (loads.collect(), k.stores.iter().map(|s| s.buf).collect())
        }
        Step::Reduce(r) => (vec![r.src], vec![r.dst]),
        Step::MatMul(m) => {
            let mut reads = vec![m.a.buf, m.b.buf];
            if m.accumulate {
                reads.push(m.dst);
            }
            (reads, vec![m.dst])
        }
    }
}

/// The buffers a step reads or writes.
pub(super) fn touched(s: &Step) -> Vec<BufId> {
    let (mut reads, writes) = effects(s);
    reads.extend(writes);
    reads
}

/// Assigns arena offsets to every temporary of `p` and sets `p.arena_len`.
pub(super) fn plan(p: &mut Program) {
    let n = p.buffers.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0; n];
    for (i, s) in p.steps.iter().enumerate() {
        for b in touched(s) {
            first[b.index()] = first[b.index()].min(i);
            last[b.index()] = last[b.index()].max(i);
        }
    }
    let mut order: Vec<usize> = (0..n)
        .filter(|&b| matches!(p.buffers[b].kind, BufKind::Temp { .. }))
        .collect();
    order.sort_by_key(|&b| (first[b], b));
    // Placed temporaries: (offset, len, last step).
    let mut placed: Vec<(usize, usize, usize)> = Vec::new();
    let mut arena = 0;
    for b in order {
        placed.retain(|&(_, _, l)| l >= first[b]);
        let len = reserved(p.buffers[b].len());
        let offset = first_fit(&mut placed, len);
        placed.push((offset, len, last[b]));
        arena = arena.max(offset + len);
        p.buffers[b].kind = BufKind::Temp { offset };
    }
    p.arena_len = arena.next_multiple_of(ALIGN);
}

/// The lowest aligned offset where `len` elements overlap nothing in `placed`.
fn first_fit(placed: &mut [(usize, usize, usize)], len: usize) -> usize {
    placed.sort_unstable();
    let mut at = 0;
    for &(o, l, _) in placed.iter() {
        if at + len <= o {
            return at;
        }
        at = at.max((o + l).next_multiple_of(ALIGN));
    }
    at
}
