//! Conversion between IR graphs and e-graphs.
//!
//! IR → e-graph adds every node (the e-graph hash-conses, like the IR). E-graph → IR takes
//! one chosen e-node per e-class and rebuilds the graph from the outputs with
//! [`Graph::add`], so the result is hash-consed and in operands-first order.

use super::analysis::{Types, EG};
use super::lang::ENode;
use egg::{EGraph, Id, Language, RecExpr};
use nabla_ir::{Graph, NodeId};
use rustc_hash::FxHashMap as HashMap;

/// Adds every node of `g` to a new e-graph; returns it and the e-class of each output.
pub fn to_egraph(g: &Graph) -> (EG, Vec<Id>) {
    let (eg, roots, _) = to_egraph_mapped(g);
    (eg, roots)
}

/// [`to_egraph`], also returning the e-class of every node of `g` (by node index).
pub fn to_egraph_mapped(g: &Graph) -> (EG, Vec<Id>, Vec<Id>) {
    let mut eg = EGraph::new(Types);
    let mut map: Vec<Id> = Vec::with_capacity(g.len());
    for id in g.ids() {
        let n = g.node(id);
        let args: Vec<Id> = n.args.iter().map(|a| map[a.index()]).collect();
        map.push(eg.add(ENode::new(n.op.clone(), &args)));
    }
    eg.rebuild();
    let roots = g.outputs().iter().map(|(_, o)| map[o.index()]).collect();
    (eg, roots, map)
}

/// Why an extraction could not be turned back into a graph.
#[derive(Debug, PartialEq, Eq)]
pub struct Cycle;

/// Rebuilds a graph with the outputs of `g` from the e-node chosen for each e-class.
/// Fails when the choice is cyclic.
pub fn from_choice(
    eg: &EG,
    choice: &HashMap<Id, ENode>,
    g: &Graph,
    roots: &[Id],
) -> Result<Graph, Cycle> {
    let mut out = Graph::new();
    let mut done: HashMap<Id, NodeId> = HashMap::default();
    for (&r, (name, _)) in roots.iter().zip(g.outputs()) {
        let id = build(eg, choice, &mut out, &mut done, r)?;
        out.set_output(name, id);
    }
    Ok(out)
}

/// Builds class `root` (iterative post-order, so deep graphs cannot overflow the stack).
fn build(
    eg: &EG,
    choice: &HashMap<Id, ENode>,
    out: &mut Graph,
    done: &mut HashMap<Id, NodeId>,
    root: Id,
) -> Result<NodeId, Cycle> {
    let mut open: Vec<(Id, bool)> = vec![(eg.find(root), false)];
    let mut on_path: HashMap<Id, ()> = HashMap::default();
    while let Some((c, expanded)) = open.pop() {
        if done.contains_key(&c) {
            continue;
        }
        let n = &choice[&c];
        if expanded {
            let args: Vec<NodeId> = n.args.iter().map(|a| done[&eg.find(*a)]).collect();
            done.insert(c, out.add_or_panic(n.op.clone(), &args));
            on_path.remove(&c);
            continue;
        }
        if on_path.insert(c, ()).is_some() {
            return Err(Cycle);
        }
        open.push((c, true));
        for a in n.args.iter().rev() {
            let a = eg.find(*a);
            if on_path.contains_key(&a) {
                return Err(Cycle);
            }
            open.push((a, false));
        }
    }
    Ok(done[&eg.find(root)])
}

/// Converts a term (as from egg's tree extractor) into a graph with one output `out`.
pub fn from_recexpr(e: &RecExpr<ENode>) -> Graph {
    let mut g = Graph::new();
    let mut map: Vec<NodeId> = Vec::with_capacity(e.as_ref().len());
    for n in e.as_ref() {
        let args: Vec<NodeId> = n.children().iter().map(|&a| map[usize::from(a)]).collect();
        map.push(g.add_or_panic(n.op.clone(), &args));
    }
    if let Some(&last) = map.last() {
        g.set_output("out", last);
    }
    g
}
