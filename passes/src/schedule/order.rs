//! Step order: products and reductions as early as their operands allow.
//!
//! The builder emits steps in the graph's order, and reverse mode puts every weight's
//! gradient (`hᵀ·δ`, one product per jet component) and bias gradient (a reduction)
//! after the whole backward pass. Each `δ` then stays live, and leaves the caches, until
//! the end of the program. [`hoist`] moves every product and reduction to just after
//! the last step it depends on, so a layer's gradients are formed while its `δ` is
//! fresh and its buffer is free for the next layer's.
//!
//! A step depends on an earlier one that writes a buffer it reads or writes, or reads
//! a buffer it writes; nothing else moves, so every buffer sees the same writes and
//! reads in the same order and every value, bit for bit, is what it was.

use super::memory::{effects, Effects};
use super::{BufId, Program, Step};

/// Whether `later` must stay after `earlier` (see the module docs).
fn depends(later: &Effects, earlier: &Effects) -> bool {
    let meets = |x: &[BufId], y: &[BufId]| x.iter().any(|b| y.contains(b));
    meets(&later.0, &earlier.1) || meets(&later.1, &earlier.1) || meets(&later.1, &earlier.0)
}

/// Moves every product and reduction of `p` to just after the last earlier step it
/// depends on, keeping kernels in order.
pub(super) fn hoist(p: &mut Program) {
    let steps = std::mem::take(&mut p.steps);
    let mut out: Vec<(Step, Effects)> = Vec::with_capacity(steps.len());
    for s in steps {
        let fx = effects(&s);
        let at = match s {
            Step::Kernel(_) => out.len(),
            _ => (out.iter().rposition(|(_, e)| depends(&fx, e))).map_or(0, |i| i + 1),
        };
        out.insert(at, (s, fx));
    }
    p.steps = out.into_iter().map(|(s, _)| s).collect();
}
