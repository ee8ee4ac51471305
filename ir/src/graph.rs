//! The graph: nodes in an arena ordered operands-first, stored in petgraph, hash-consed.

use crate::infer::{infer, Arg, TypeError};
use crate::op::{BinOp, Level, Num, Op, UnOp};
use crate::types::{DType, Shape, Type};
use petgraph::algo::has_path_connecting;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};
use petgraph::Direction;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::fmt;

/// A node's handle. Ids are dense and increase in construction order, so a node's operands
/// always have smaller ids: id order is a topological order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The id as an index into per-node tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// Operand list, in order.
pub type Args = SmallVec<[NodeId; 2]>;

/// One operation applied to its operands, with its inferred type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// Operands in the order the op defines.
    pub args: Args,
    /// The value's type.
    pub ty: Type,
}

/// A graph of [`Node`]s plus named outputs.
///
/// petgraph holds the nodes and one edge per operand use, from operand to user (weight:
/// operand position). The edges answer who uses a node ([`Graph::users`]), what a node
/// depends on ([`Graph::live`], [`Graph::depends_on`]) and draw the graph
/// ([`crate::dot::to_dot`]). Operand order lives in [`Node::args`], never on the edges.
/// Node ids equal petgraph node indices.
#[derive(Clone, Default)]
pub struct Graph {
    g: DiGraph<Node, u16, u32>,
    cons: HashMap<(Op, Args), NodeId>,
    outputs: Vec<(String, NodeId)>,
    next_level: u32,
}

impl PartialEq for Graph {
    fn eq(&self, other: &Graph) -> bool {
        self.len() == other.len()
            && self.outputs == other.outputs
            && self.ids().all(|i| self.node(i) == other.node(i))
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::text::print(self))
    }
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All node ids in topological (construction) order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator {
        (0..self.len() as u32).map(NodeId)
    }

    /// The node with id `id`. Panics on an id from another graph that is out of range.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.g[index(id)]
    }

    /// The op of node `id`.
    pub fn op(&self, id: NodeId) -> &Op {
        &self.node(id).op
    }

    /// The operands of node `id`.
    pub fn args(&self, id: NodeId) -> &[NodeId] {
        &self.node(id).args
    }

    /// The type of node `id`.
    pub fn ty(&self, id: NodeId) -> &Type {
        &self.node(id).ty
    }

    /// The shape of node `id`.
    pub fn shape(&self, id: NodeId) -> &Shape {
        &self.node(id).ty.shape
    }

    /// The dtype of node `id`.
    pub fn dtype(&self, id: NodeId) -> DType {
        self.node(id).ty.dtype
    }

    /// The petgraph storage, for this crate's algorithms (read-only).
    pub(crate) fn storage(&self) -> &DiGraph<Node, u16, u32> {
        &self.g
    }

    /// Adds `op(args)`, or returns the existing structurally equal node (hash-consing).
    /// The type is inferred; operands must already exist.
    pub fn add(&mut self, op: Op, args: &[NodeId]) -> Result<NodeId, AddError> {
        for &a in args {
            if a.index() >= self.len() {
                return Err(AddError::UnknownOperand(a));
            }
        }
        let key = (op, Args::from_slice(args));
        if let Some(&id) = self.cons.get(&key) {
            return Ok(id);
        }
        let ty = self.infer(&key.0, args)?;
        self.bump_level(&key.0);
        let id = NodeId(self.len() as u32);
        let node = Node {
            op: key.0.clone(),
            args: key.1.clone(),
            ty,
        };
        let ix = self.g.add_node(node);
        debug_assert_eq!(ix.index(), id.index());
        for (pos, &a) in args.iter().enumerate() {
            self.g.add_edge(index(a), ix, pos as u16);
        }
        self.cons.insert(key, id);
        Ok(id)
    }

    /// [`Graph::add`], panicking where it would return an error: for constructions the
    /// compiler itself makes (passes), where a type error is a compiler bug. The panic
    /// names the op and the operand types.
    pub fn add_or_panic(&mut self, op: Op, args: &[NodeId]) -> NodeId {
        match self.add(op.clone(), args) {
            Ok(id) => id,
            Err(e) => {
                let tys: Vec<String> = args.iter().map(|a| self.ty(*a).to_string()).collect();
                panic!("internal error: {op:?} on ({}) : {e}", tys.join(", "))
            }
        }
    }

    fn infer(&self, op: &Op, args: &[NodeId]) -> Result<Type, TypeError> {
        let views: SmallVec<[Arg<'_>; 4]> = args
            .iter()
            .map(|&a| Arg {
                ty: self.ty(a),
                is_variable: self.op(a).is_variable(),
            })
            .collect();
        infer(op, &views)
    }

    /// Keeps `next_level` above every level in the graph (also for parsed graphs).
    fn bump_level(&mut self, op: &Op) {
        if let Some(Level(l)) = op.level() {
            self.next_level = self.next_level.max(l.saturating_add(1));
        }
    }

    /// A graph made of `nodes` (node `i` gets id `%i`) and `outputs` exactly as given:
    /// no type inference, no hash-consing, no check that operands precede their users or
    /// exist at all. This is how a malformed graph reaches [`crate::verify`], which then
    /// names what is wrong (`text::parse_unchecked` uses it). Nothing but the verifier
    /// may be given such a graph before it verifies.
    pub fn from_parts_unchecked(nodes: Vec<Node>, outputs: Vec<(String, NodeId)>) -> Graph {
        let mut g = Graph::new();
        for node in nodes {
            g.bump_level(&node.op);
            let key = (node.op.clone(), node.args.clone());
            let ix = g.g.add_node(node);
            g.cons.entry(key).or_insert(node_id(ix));
        }
        for id in g.ids() {
            let args = g.args(id).to_vec();
            for (pos, a) in args.into_iter().enumerate() {
                if a.index() < g.len() {
                    g.g.add_edge(index(a), index(id), pos as u16);
                }
            }
        }
        g.outputs = outputs;
        g
    }

    /// A level no node of this graph uses yet.
    pub fn fresh_level(&mut self) -> Level {
        let l = Level(self.next_level);
        self.next_level += 1;
        l
    }

    /// Names `id` as an output (outputs keep their order; a name may appear once).
    pub fn set_output(&mut self, name: &str, id: NodeId) {
        match self.outputs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = id,
            None => self.outputs.push((name.to_string(), id)),
        }
    }

    /// The named outputs in order.
    pub fn outputs(&self) -> &[(String, NodeId)] {
        &self.outputs
    }

    /// The element type the program computes in: that of its first output (all values
    /// of a graph share one dtype); `None` without outputs.
    pub fn output_dtype(&self) -> Option<DType> {
        self.outputs.first().map(|o| self.dtype(o.1))
    }

    /// The output named `name`.
    pub fn output(&self, name: &str) -> Option<NodeId> {
        self.outputs.iter().find(|(n, _)| n == name).map(|o| o.1)
    }

    /// Removes all outputs (nodes stay).
    pub fn clear_outputs(&mut self) {
        self.outputs.clear();
    }

    /// The nodes that take `id` as an operand (the edges leaving it), once per operand
    /// position (a user of `id` in two positions, as `mul %1, %1`, comes twice), the
    /// latest user first.
    pub fn users(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.g
            .neighbors_directed(index(id), Direction::Outgoing)
            .map(node_id)
    }

    /// How many operand positions take `id`: the number of its [`Graph::users`].
    pub fn use_count(&self, id: NodeId) -> usize {
        self.g
            .edges_directed(index(id), Direction::Outgoing)
            .count()
    }

    /// Marks the nodes reachable (backwards through operands) from `roots`, roots included.
    pub fn live(&self, roots: &[NodeId]) -> Vec<bool> {
        let mut live = vec![false; self.len()];
        let operands = Reversed(&self.g);
        let mut dfs = Dfs::empty(operands);
        for &r in roots {
            dfs.move_to(index(r));
            while let Some(n) = dfs.next(operands) {
                live[n.index()] = true;
            }
        }
        live
    }

    /// Whether `of` depends on `on` (is `on` reachable through operands from `of`; a node
    /// depends on itself).
    pub fn depends_on(&self, of: NodeId, on: NodeId) -> bool {
        on <= of && has_path_connecting(Reversed(&self.g), index(of), index(on), None)
    }

    /// A copy with only the nodes reachable from the outputs, renumbered in depth-first
    /// post-order from the outputs (in output order, operands in order). Two graphs that
    /// differ only in the order their nodes were created — the same program traced in a
    /// different order — have equal canonical forms (and print the same), provided their
    /// derivative operators got the same levels: levels are numbered as operators are
    /// created, and this keeps them.
    pub fn canonical(&self) -> Graph {
        let mut order: Vec<NodeId> = Vec::new();
        let mut seen = vec![false; self.len()];
        for (_, root) in &self.outputs {
            let mut stack = vec![(*root, false)];
            while let Some((id, operands_done)) = stack.pop() {
                if operands_done {
                    order.push(id);
                } else if !seen[id.index()] {
                    seen[id.index()] = true;
                    stack.push((id, true));
                    stack.extend(self.args(id).iter().rev().map(|&a| (a, false)));
                }
            }
        }
        let mut out = Graph::new();
        out.next_level = self.next_level;
        let mut map = vec![None; self.len()];
        for id in order {
            let args: Args = self
                .args(id)
                .iter()
                .map(|a| map[a.index()].unwrap())
                .collect();
            map[id.index()] = Some(out.add_or_panic(self.op(id).clone(), &args));
        }
        for (name, id) in &self.outputs {
            out.set_output(name, map[id.index()].unwrap());
        }
        out
    }

    /// A copy with only the nodes reachable from the outputs, renumbered densely in the
    /// same relative order.
    pub fn compact(&self) -> Graph {
        let roots: Vec<NodeId> = self.outputs.iter().map(|o| o.1).collect();
        let live = self.live(&roots);
        let mut out = Graph::new();
        out.next_level = self.next_level;
        let mut map = vec![None; self.len()];
        for id in self.ids().filter(|i| live[i.index()]) {
            let n = self.node(id);
            let args: Args = n.args.iter().map(|a| map[a.index()].unwrap()).collect();
            map[id.index()] = Some(out.add_or_panic(n.op.clone(), &args));
        }
        for (name, id) in &self.outputs {
            out.set_output(name, map[id.index()].unwrap());
        }
        out
    }
}

/// The petgraph index of `id`.
fn index(id: NodeId) -> NodeIndex<u32> {
    NodeIndex::new(id.index())
}

/// The node id of a petgraph index.
fn node_id(ix: NodeIndex<u32>) -> NodeId {
    NodeId(ix.index() as u32)
}

/// Why [`Graph::add`] refused a node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// An operand id that is not in the graph.
    #[error("operand {0} does not exist")]
    UnknownOperand(NodeId),
    /// The op does not apply to the operands' types.
    #[error(transparent)]
    Type(#[from] TypeError),
}

/// Convenience constructors used by passes and front ends. All panic on type errors,
/// which in compiler-made graphs are bugs (user-facing construction goes through
/// [`Graph::add`]).
impl Graph {
    /// A scalar constant.
    pub fn constant(&mut self, v: f64, dtype: DType) -> NodeId {
        self.add_or_panic(
            Op::Const {
                value: Num::new(v),
                dtype,
            },
            &[],
        )
    }

    /// A constant broadcast to `shape`.
    pub fn fill(&mut self, v: f64, dtype: DType, shape: &Shape) -> NodeId {
        let c = self.constant(v, dtype);
        self.broadcast(c, shape)
    }

    /// `a` broadcast to `shape` (no node when already of that shape).
    pub fn broadcast(&mut self, a: NodeId, shape: &Shape) -> NodeId {
        if self.shape(a) == shape {
            return a;
        }
        self.add_or_panic(Op::Broadcast(shape.clone()), &[a])
    }

    /// A constant tensor of `shape` holding `values` in row-major order.
    pub fn tensor(&mut self, values: &[f64], dtype: DType, shape: &Shape) -> NodeId {
        let data: Vec<Num> = values.iter().map(|&v| Num::new(v)).collect();
        let shape = shape.clone();
        self.add_or_panic(
            Op::Tensor {
                data: data.into(),
                dtype,
                shape,
            },
            &[],
        )
    }

    /// `len` entries of `x` along `axis` from `start` (no node for the whole extent).
    pub fn slice(&mut self, x: NodeId, axis: u8, start: usize, len: usize) -> NodeId {
        if start == 0 && len == self.shape(x).dims()[axis as usize] {
            return x;
        }
        let (start, len) = (start as u32, len as u32);
        self.add_or_panic(Op::Slice { axis, start, len }, &[x])
    }

    /// An elementwise unary op.
    pub fn unary(&mut self, u: UnOp, a: NodeId) -> NodeId {
        self.add_or_panic(Op::Unary(u), &[a])
    }

    /// An elementwise binary op; operands are broadcast to their common shape first.
    pub fn binary(&mut self, b: BinOp, x: NodeId, y: NodeId) -> NodeId {
        let s = Shape::broadcast(self.shape(x), self.shape(y)).unwrap_or_else(|| {
            panic!(
                "internal error: {} and {} do not broadcast",
                self.shape(x),
                self.shape(y)
            )
        });
        let x = self.broadcast(x, &s);
        let y = self.broadcast(y, &s);
        self.add_or_panic(Op::Binary(b), &[x, y])
    }
}

impl Graph {
    /// The same program computing in `dtype`: every leaf's element type is replaced (and
    /// so, by inference, every node's). Constants keep their f64 values.
    pub fn with_dtype(&self, dtype: DType) -> Graph {
        let mut out = Graph::new();
        out.next_level = self.next_level;
        let mut map: Vec<NodeId> = Vec::with_capacity(self.len());
        for id in self.ids() {
            let n = self.node(id);
            let args: Args = n.args.iter().map(|a| map[a.index()]).collect();
            map.push(out.add_or_panic(retype(&n.op, dtype), &args));
        }
        for (name, id) in &self.outputs {
            out.set_output(name, map[id.index()]);
        }
        out
    }
}

fn retype(op: &Op, to: DType) -> Op {
    let mut op = op.clone();
    match &mut op {
        Op::Input { dtype, .. }
        | Op::Param { dtype, .. }
        | Op::Bound { dtype, .. }
        | Op::Const { dtype, .. }
        | Op::Tensor { dtype, .. } => *dtype = to,
        _ => {}
    }
    op
}
