//! The cost model and DAG-aware extraction.
//!
//! ## Cost model
//!
//! The cost of a node is the floating-point work to compute it, shapes included: the
//! number of result elements times a per-element weight. FMA-class operations
//! (`add`, `sub`, `mul`, `neg`, `square`, `abs`) weigh 1; divisions, reciprocals and
//! square roots 4; transcendentals 10–16; `pow` 25. A matrix product costs `2·m·n·k`, a
//! reduction one addition per input element. Data movement (`broadcast`, `slice`,
//! `concat`, `reshape`) weighs a little (0.1 or 0.01 per element) so that, other things
//! equal, fewer copies win; leaves and constants are free.
//!
//! ## Extraction
//!
//! A tree cost (egg's `Extractor`) counts a shared node once per use, so it would prefer
//! recomputing a `tanh` to sharing it when that saves anything anywhere, and it grows
//! exponentially with depth in derivative graphs, which share heavily. The extractor here
//! is the greedy DAG heuristic: the cost of choosing a node is the sum, over the *set* of
//! e-classes it depends on, of each class's chosen node cost, so a shared class is paid
//! once. Costs are relaxed to a fixpoint from the leaves up with a worklist. It is not
//! optimal (an ILP would be; egg's `LpExtractor` needs a solver and is far too slow for
//! graphs of thousands of classes), but it never double-counts sharing. A cyclic choice,
//! which the heuristic can produce in rare cases, falls back to the tree extractor.

use super::analysis::EG;
use super::lang::ENode;
use egg::{CostFunction, Id, Language};
use nabla_ir::{BinOp, Graph, Op, Shape, UnOp};
use std::collections::{HashMap, VecDeque};

/// Per-element weight of a unary op.
fn unary_weight(u: UnOp) -> f64 {
    match u {
        UnOp::Neg | UnOp::Abs | UnOp::Square | UnOp::Sign => 1.0,
        UnOp::Recip | UnOp::Sqrt => 4.0,
        UnOp::Exp | UnOp::Log | UnOp::Sin | UnOp::Cos | UnOp::Tanh => 10.0,
        UnOp::Sigmoid | UnOp::Silu => 12.0,
        UnOp::Tan | UnOp::Softplus => 15.0,
        UnOp::Gelu => 16.0,
    }
}

/// Per-element weight of a binary op.
fn binary_weight(b: BinOp) -> f64 {
    match b {
        BinOp::Add | BinOp::Sub | BinOp::Mul => 1.0,
        BinOp::Div => 4.0,
        BinOp::Pow => 25.0,
    }
}

/// Multiplications for `x^k` by repeated squaring (plus a reciprocal when `k < 0`).
fn powi_weight(k: i32) -> f64 {
    let m = k.unsigned_abs();
    let muls = if m <= 1 {
        0
    } else {
        (31 - m.leading_zeros()) + m.count_ones() - 1
    };
    muls as f64 + if k < 0 { 4.0 } else { 0.0 }
}

/// The cost of `op` producing shape `out` from operands of shapes `args`.
pub fn op_cost(op: &Op, out: &Shape, args: &[&Shape]) -> f64 {
    let n = out.numel() as f64;
    match op {
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Bound { .. }
        | Op::Const { .. }
        | Op::Tensor { .. } => 0.0,
        Op::Unary(u) => n * unary_weight(*u),
        Op::Powi(k) => n * powi_weight(*k),
        Op::Binary(b) => n * binary_weight(*b),
        Op::Broadcast(_) | Op::Slice { .. } | Op::Concat(_) => 0.1 * n,
        Op::Reshape(_) => 0.01 * n,
        Op::Sum(_) => args[0].numel() as f64,
        Op::Mean(_) => args[0].numel() as f64 + n,
        Op::MatMul { ta, .. } => {
            let d = args[0].dims();
            let k = if *ta { d[0] } else { d[1] };
            2.0 * n * k as f64
        }
        Op::Diff { .. } | Op::Laplacian { .. } | Op::Grad { .. } | Op::At => 0.0,
    }
}

/// The cost of an e-node of `eg` whose result has shape `out`.
pub fn enode_cost(eg: &EG, out: &Shape, n: &ENode) -> f64 {
    let args: Vec<&Shape> = n.args.iter().map(|&a| &eg[a].data.ty.shape).collect();
    op_cost(&n.op, out, &args)
}

/// The total cost of the nodes of `g` that its outputs use.
pub fn graph_cost(g: &Graph) -> f64 {
    let roots: Vec<_> = g.outputs().iter().map(|o| o.1).collect();
    let live = g.live(&roots);
    g.ids()
        .filter(|i| live[i.index()])
        .map(|i| {
            let args: Vec<&Shape> = g.args(i).iter().map(|&a| g.shape(a)).collect();
            op_cost(g.op(i), g.shape(i), &args)
        })
        .sum()
}

/// egg's tree cost with the same node costs (the fallback extractor).
pub struct TreeCost<'a>(pub &'a EG);

impl CostFunction<ENode> for TreeCost<'_> {
    type Cost = f64;
    fn cost<C: FnMut(Id) -> f64>(&mut self, n: &ENode, mut costs: C) -> f64 {
        let out = super::analysis::type_of(self.0, &n.op, &n.args).map(|t| t.shape);
        let own = enode_cost(self.0, &out.unwrap_or_default(), n);
        n.args.iter().fold(own, |acc, &a| acc + costs(a))
    }
}

/// A class's current best: the chosen node and the classes (with their node costs) that
/// choosing it pays for, sorted by class.
#[derive(Clone)]
struct Best {
    node: usize,
    set: Vec<(Id, f64)>,
    total: f64,
}

/// Chooses one e-node per e-class by the greedy DAG heuristic (see the module docs).
pub fn extract(eg: &EG) -> HashMap<Id, ENode> {
    let costs: HashMap<Id, Vec<f64>> = eg
        .classes()
        .map(|c| {
            let out = &c.data.ty.shape;
            (
                c.id,
                c.nodes.iter().map(|n| enode_cost(eg, out, n)).collect(),
            )
        })
        .collect();
    let parents = parent_index(eg);
    let mut best: HashMap<Id, Best> = HashMap::new();
    let mut queue: VecDeque<Id> = eg.classes().map(|c| c.id).collect();
    let mut queued: HashMap<Id, bool> = queue.iter().map(|&c| (c, true)).collect();
    while let Some(c) = queue.pop_front() {
        queued.insert(c, false);
        if relax(eg, c, &costs[&c], &mut best) {
            for &p in parents.get(&c).into_iter().flatten() {
                if !queued[&p] {
                    queued.insert(p, true);
                    queue.push_back(p);
                }
            }
        }
    }
    best.iter()
        .map(|(&c, b)| (c, eg[c].nodes[b.node].clone()))
        .collect()
}

/// The classes that have a node using each class.
fn parent_index(eg: &EG) -> HashMap<Id, Vec<Id>> {
    let mut parents: HashMap<Id, Vec<Id>> = HashMap::new();
    for c in eg.classes() {
        for n in &c.nodes {
            for &a in n.children() {
                let v = parents.entry(eg.find(a)).or_default();
                if v.last() != Some(&c.id) {
                    v.push(c.id);
                }
            }
        }
    }
    parents
}

/// Recomputes class `c`'s best node from its children's current bests; true if it improved.
fn relax(eg: &EG, c: Id, costs: &[f64], best: &mut HashMap<Id, Best>) -> bool {
    let mut improved = None;
    for (i, n) in eg[c].nodes.iter().enumerate() {
        let Some(cand) = candidate(eg, c, n, costs[i], best) else {
            continue;
        };
        let current = improved
            .as_ref()
            .or(best.get(&c))
            .map_or(f64::INFINITY, |b: &Best| b.total);
        if cand.total < current {
            improved = Some(Best { node: i, ..cand });
        }
    }
    match improved {
        Some(b) => {
            best.insert(c, b);
            true
        }
        None => false,
    }
}

/// The cost set of choosing node `n` for class `c`, if all its children have a best and
/// none of them depends on `c` (which would make a cycle).
fn candidate(eg: &EG, c: Id, n: &ENode, own: f64, best: &HashMap<Id, Best>) -> Option<Best> {
    let mut set: Vec<(Id, f64)> = Vec::new();
    for &a in n.children() {
        let b = best.get(&eg.find(a))?;
        set = merge(&set, &b.set);
    }
    if set.binary_search_by_key(&c, |e| e.0).is_ok() {
        return None;
    }
    // Every non-leaf class enters the set, even at zero cost, so that cycles are seen.
    if !n.is_leaf() {
        set = merge(&set, &[(c, own)]);
    }
    let total = set.iter().map(|e| e.1).sum();
    Some(Best {
        node: 0,
        set,
        total,
    })
}

/// The union of two sorted cost sets.
fn merge(a: &[(Id, f64)], b: &[(Id, f64)]) -> Vec<(Id, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(powi_weight(2), 1.0);
        assert_eq!(powi_weight(3), 2.0);
        assert_eq!(powi_weight(8), 3.0);
        assert_eq!(powi_weight(-1), 4.0);
        let m = Op::MatMul {
            ta: false,
            tb: true,
        };
        let (a, w) = (Shape::matrix(5, 3), Shape::matrix(4, 3));
        assert_eq!(
            op_cost(&m, &Shape::matrix(5, 4), &[&a, &w]),
            2.0 * 5.0 * 4.0 * 3.0
        );
    }
}
