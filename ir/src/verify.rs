//! The verifier: checks a graph's invariants and returns the analysis later stages need.
//!
//! A verifier failure on a graph built by the compiler is a compiler bug; on a parsed
//! graph it is a malformed input.

use crate::graph::{Graph, NodeId};
use crate::infer::{infer, Arg, TypeError};
use crate::op::Op;
use crate::types::Type;
use std::collections::HashMap;

/// A violated invariant, naming the node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// An operand that does not come before its user (cycle or dangling reference).
    #[error("{node}: operand {arg} does not precede it")]
    OperandOrder {
        /// The user.
        node: NodeId,
        /// The operand.
        arg: NodeId,
    },
    /// The op does not type-check against its operands.
    #[error("{node}: {source}")]
    Type {
        /// The node.
        node: NodeId,
        /// Why.
        source: TypeError,
    },
    /// The stored type differs from the inferred one.
    #[error("{node}: stored type {stored} but operands give {inferred}")]
    StaleType {
        /// The node.
        node: NodeId,
        /// What the node says.
        stored: Type,
        /// What inference says.
        inferred: Type,
    },
    /// Two `input`/`param` leaves share a name (equal leaves are one node, so these differ
    /// in kind or type), and the runtime could not bind both.
    #[error("{a} and {b} are both named `{name}`")]
    NameClash {
        /// Leaf name.
        name: String,
        /// First leaf.
        a: NodeId,
        /// Second leaf.
        b: NodeId,
    },
    /// An output that is not a node.
    #[error("output `{name}` refers to missing node {node}")]
    BadOutput {
        /// Output name.
        name: String,
        /// The id.
        node: NodeId,
    },
    /// A node that structurally equals an earlier one (hash-consing violated).
    #[error("{node} duplicates {earlier}")]
    Duplicate {
        /// The later node.
        node: NodeId,
        /// The earlier equal node.
        earlier: NodeId,
    },
}

/// What the verifier learns about a graph. Only [`verify`] makes one (its fields are
/// private), so a `GraphInfo` in hand means its graph passed verification: backends and
/// the scheduler take the pair and need not check again.
#[derive(Clone, Debug)]
pub struct GraphInfo {
    use_count: Vec<u32>,
    live: Vec<bool>,
    inputs: Vec<(String, NodeId)>,
    params: Vec<(String, NodeId)>,
    /// Whether a derivative operator or bound variable is live: the AD pass must run.
    has_derivatives: bool,
}

impl GraphInfo {
    /// Number of operand positions that take `id`, plus one per output naming it.
    pub fn use_count(&self, id: NodeId) -> u32 {
        self.use_count[id.index()]
    }

    /// Whether `id` is reachable from the outputs (its value is needed).
    pub fn is_live(&self, id: NodeId) -> bool {
        self.live[id.index()]
    }

    /// The `input` leaves by name, in graph order.
    pub fn inputs(&self) -> &[(String, NodeId)] {
        &self.inputs
    }

    /// The `param` leaves by name, in graph order.
    pub fn params(&self) -> &[(String, NodeId)] {
        &self.params
    }

    /// Every named leaf: the inputs, then the params.
    pub fn leaves(&self) -> impl Iterator<Item = &(String, NodeId)> {
        self.inputs.iter().chain(&self.params)
    }

    /// Whether any live node is a derivative operator or `at`, or a `bound` leaf: such a
    /// graph must go through `passes::ad` before it can be evaluated or compiled.
    pub fn has_derivatives(&self) -> bool {
        self.has_derivatives
    }
}

/// Checks operand order, types, leaf names, outputs and hash-consing.
pub fn verify(g: &Graph) -> Result<GraphInfo, VerifyError> {
    let mut seen: HashMap<(&Op, &[NodeId]), NodeId> = HashMap::new();
    let mut names: HashMap<&str, NodeId> = HashMap::new();
    let mut info = GraphInfo {
        use_count: Vec::with_capacity(g.len()),
        live: Vec::new(),
        inputs: Vec::new(),
        params: Vec::new(),
        has_derivatives: false,
    };
    for id in g.ids() {
        check_node(g, id)?;
        let n = g.node(id);
        if let Some(&earlier) = seen.get(&(&n.op, &n.args[..])) {
            return Err(VerifyError::Duplicate { node: id, earlier });
        }
        seen.insert((&n.op, &n.args[..]), id);
        record_leaf(g, id, &mut names, &mut info)?;
    }
    // Every operand now precedes its user, so the graph's edges are exactly its operands.
    info.use_count = g.ids().map(|id| g.use_count(id) as u32).collect();
    for (name, node) in g.outputs() {
        if node.index() >= g.len() {
            return Err(VerifyError::BadOutput {
                name: name.clone(),
                node: *node,
            });
        }
        info.use_count[node.index()] += 1;
    }
    let roots: Vec<NodeId> = g.outputs().iter().map(|o| o.1).collect();
    info.live = g.live(&roots);
    info.has_derivatives = g.ids().any(|i| {
        info.live[i.index()] && (g.op(i).is_derivative() || matches!(g.op(i), Op::Bound { .. }))
    });
    Ok(info)
}

fn check_node(g: &Graph, id: NodeId) -> Result<(), VerifyError> {
    let n = g.node(id);
    for &a in &n.args {
        if a >= id {
            return Err(VerifyError::OperandOrder { node: id, arg: a });
        }
    }
    let views: Vec<Arg<'_>> = n
        .args
        .iter()
        .map(|&a| Arg {
            ty: g.ty(a),
            is_variable: g.op(a).is_variable(),
        })
        .collect();
    let inferred = infer(&n.op, &views).map_err(|source| VerifyError::Type { node: id, source })?;
    if inferred != n.ty {
        return Err(VerifyError::StaleType {
            node: id,
            stored: n.ty.clone(),
            inferred,
        });
    }
    Ok(())
}

fn record_leaf<'g>(
    g: &'g Graph,
    id: NodeId,
    names: &mut HashMap<&'g str, NodeId>,
    info: &mut GraphInfo,
) -> Result<(), VerifyError> {
    let (name, list) = match g.op(id) {
        Op::Input { name, .. } => (name, &mut info.inputs),
        Op::Param { name, .. } => (name, &mut info.params),
        _ => return Ok(()),
    };
    if let Some(&a) = names.get(name.as_str()) {
        return Err(VerifyError::NameClash {
            name: name.clone(),
            a,
            b: id,
        });
    }
    names.insert(name, id);
    list.push((name.clone(), id));
    Ok(())
}
