//! Substitution of variable leaves: the expansion of `at`, and the shifted evaluations of
//! finite-difference stencils.
//!
//! The cone of `f` is rebuilt with each leaf `vᵢ` replaced by `aᵢ`, simultaneously: a
//! replacement is never itself substituted into. Nodes that depend on no replaced leaf are
//! kept as they are (hash-consing shares them). Because `f`'s own derivative operators are
//! expanded before the `at` that uses it, the substitution acts on ordinary IR and the
//! chain rule comes for free: outer derivatives see `f(a(x))` like any other expression.

use nabla_ir::{Args, Graph, NodeId};
use std::collections::HashMap;

/// `f` with the leaves `pairs[i].0` replaced by `pairs[i].1`.
pub fn substitute(g: &mut Graph, f: NodeId, pairs: &[(NodeId, NodeId)]) -> NodeId {
    let Some(lo) = pairs.iter().map(|p| p.0).min() else {
        return f;
    };
    if lo > f {
        return f;
    }
    let live = g.live(&[f]);
    let mut map: HashMap<NodeId, NodeId> = pairs.iter().copied().collect();
    for i in lo.0..=f.0 {
        let id = NodeId(i);
        if !live[id.index()] || map.contains_key(&id) {
            continue;
        }
        let args = g.args(id);
        if !args.iter().any(|a| map.contains_key(a)) {
            continue;
        }
        let new: Args = args.iter().map(|a| *map.get(a).unwrap_or(a)).collect();
        let op = g.op(id).clone();
        let r = g.add_or_panic(op, &new);
        map.insert(id, r);
    }
    map.get(&f).copied().unwrap_or(f)
}
