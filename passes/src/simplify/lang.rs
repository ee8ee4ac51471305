//! The e-graph language: one e-node per [`ir::Op`](nabla_ir::Op), operands as e-class ids.
//!
//! An [`ENode`] carries the IR op itself (leaves keep their name, dtype and shape;
//! constants their bits; `bound` leaves their level), so the language mirrors the IR one to
//! one and conversion in either direction is a table lookup. Values of different levels are
//! therefore different leaves and are never merged unless a rule proves them equal.
//!
//! Patterns (rule left- and right-hand sides) use the same node type. A pattern node may be
//! *wild*: written by its bare mnemonic (`broadcast`, `sum`, `matmul`, ...), it matches
//! that op with any attributes. Wild nodes exist only in patterns; the right-hand-side
//! instantiation in [`super::rule`] gives them concrete attributes from the types around
//! them and never adds a wild node to an e-graph.

use egg::{FromOp, Id, Language};
use nabla_ir::{BinOp, DType, Num, Op, Shape, UnOp};
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::fmt;

/// One e-node: an IR op applied to e-classes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ENode {
    /// The op's kind ([`kind_code`]): the discriminant. The order compares it first so that
    /// nodes of one kind are adjacent in sorted node lists, which egg's e-matching relies on.
    kind: u16,
    /// Whether this is a pattern node matching any attributes of its kind.
    wild: bool,
    /// The op.
    pub op: Op,
    /// Operand e-classes, in the op's order.
    pub args: SmallVec<[Id; 2]>,
}

impl ENode {
    /// An e-node for `op` over `args`.
    pub fn new(op: Op, args: &[Id]) -> ENode {
        ENode {
            kind: kind_code(&op),
            wild: false,
            op,
            args: SmallVec::from_slice(args),
        }
    }

    /// A wild pattern node: `op`'s kind with any attributes.
    fn wild(op: Op, args: Vec<Id>) -> ENode {
        ENode {
            kind: kind_code(&op),
            wild: true,
            op,
            args: SmallVec::from_vec(args),
        }
    }

    /// Whether this is a wild pattern node.
    pub fn is_wild(&self) -> bool {
        self.wild
    }

    /// The value of a pattern literal (`2`, `0.5`): a wild scalar constant.
    pub fn literal(&self) -> Option<f64> {
        match (&self.op, self.wild) {
            (Op::Const { value, .. }, true) => Some(value.get()),
            _ => None,
        }
    }
}

/// A number per op kind (a unary or binary function is a kind of its own; attributes are
/// not part of the kind). E-matching compares kinds for every candidate node, so they are
/// small integers rather than the mnemonic strings.
fn kind_code(op: &Op) -> u16 {
    match op {
        Op::Input { .. } => 0,
        Op::Param { .. } => 1,
        Op::Bound { .. } => 2,
        Op::Const { .. } => 3,
        Op::Tensor { .. } => 4,
        Op::Powi(_) => 5,
        Op::Broadcast(_) => 6,
        Op::Reshape(_) => 7,
        Op::Sum(_) => 8,
        Op::Mean(_) => 9,
        Op::MatMul { .. } => 10,
        Op::Slice { .. } => 11,
        Op::Concat(_) => 12,
        Op::Diff { .. } => 13,
        Op::Laplacian { .. } => 14,
        Op::Grad { .. } => 15,
        Op::At => 16,
        Op::Jacobian { .. } => 17,
        Op::Unary(u) => 64 + *u as u16,
        Op::Binary(b) => 128 + *b as u16,
    }
}

impl Ord for ENode {
    fn cmp(&self, o: &ENode) -> Ordering {
        self.kind
            .cmp(&o.kind)
            .then(self.wild.cmp(&o.wild))
            .then_with(|| self.op.cmp(&o.op))
            .then_with(|| self.args.cmp(&o.args))
    }
}

impl PartialOrd for ENode {
    fn partial_cmp(&self, o: &ENode) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Language for ENode {
    type Discriminant = u16;

    fn discriminant(&self) -> u16 {
        self.kind
    }

    fn matches(&self, other: &ENode) -> bool {
        self.kind == other.kind
            && self.args.len() == other.args.len()
            && (self.wild || other.wild || self.op == other.op)
    }

    fn children(&self) -> &[Id] {
        &self.args
    }

    fn children_mut(&mut self) -> &mut [Id] {
        &mut self.args
    }
}

impl fmt::Display for ENode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.op {
            Op::Input { name, .. } | Op::Param { name, .. } => write!(f, "{name}"),
            Op::Bound { level, .. } => write!(f, "bound-{level}"),
            Op::Const { value, .. } => write!(f, "{}", value.get()),
            Op::MatMul { ta, tb } if !self.wild => write!(f, "matmul:{}", flags(*ta, *tb)),
            Op::Sum(a) if !self.wild => write!(f, "sum:{a}"),
            Op::Mean(a) if !self.wild => write!(f, "mean:{a}"),
            Op::Powi(n) if !self.wild => write!(f, "powi:{n}"),
            Op::Broadcast(s) if !self.wild => write!(f, "broadcast:{s}"),
            op => f.write_str(op.mnemonic()),
        }
    }
}

fn flags(ta: bool, tb: bool) -> &'static str {
    match (ta, tb) {
        (false, false) => "nn",
        (false, true) => "nt",
        (true, false) => "tn",
        (true, true) => "tt",
    }
}

/// Why a pattern operator did not parse.
#[derive(Debug, thiserror::Error)]
#[error("unknown pattern operator `{0}` with {1} operand(s)")]
pub struct ParseError(String, usize);

impl FromOp for ENode {
    type Error = ParseError;

    /// Pattern operators: unary and binary mnemonics (`tanh`, `mul`); `matmul:nt` (flags
    /// `n`/`t` per operand), `sum:0`, `mean:1`, `powi:2` with attributes; bare `broadcast`,
    /// `reshape`, `sum`, `mean`, `matmul`, `powi`, `slice`, `concat` as wild nodes; and
    /// numbers as literals (a constant of the type the context gives).
    fn from_op(op: &str, children: Vec<Id>) -> Result<ENode, ParseError> {
        let err = ParseError(op.to_string(), children.len());
        if let Some(u) = UnOp::from_name(op) {
            return Ok(ENode::new(Op::Unary(u), &children));
        }
        if let Some(b) = BinOp::from_name(op) {
            return Ok(ENode::new(Op::Binary(b), &children));
        }
        if let Ok(v) = op.parse::<f64>() {
            let c = Op::Const {
                value: Num::new(v),
                dtype: DType::F64,
            };
            return Ok(ENode::wild(c, children));
        }
        match op.split_once(':') {
            Some((name, attr)) => exact(name, attr).map(|o| ENode::new(o, &children)),
            None => wild_op(op).map(|o| ENode::wild(o, children)),
        }
        .ok_or(err)
    }
}

/// An attributed op written `name:attr`.
fn exact(name: &str, attr: &str) -> Option<Op> {
    Some(match name {
        "matmul" => {
            let mut f = attr.chars().map(|c| c == 't');
            let (ta, tb) = (f.next()?, f.next()?);
            Op::MatMul { ta, tb }
        }
        "sum" => Op::Sum(attr.parse().ok()?),
        "mean" => Op::Mean(attr.parse().ok()?),
        "powi" => Op::Powi(attr.parse().ok()?),
        _ => return None,
    })
}

/// A placeholder op of the kind named `name`, for a wild pattern node.
fn wild_op(name: &str) -> Option<Op> {
    Some(match name {
        "broadcast" => Op::Broadcast(Shape::scalar()),
        "reshape" => Op::Reshape(Shape::scalar()),
        "sum" => Op::Sum(0),
        "mean" => Op::Mean(0),
        "matmul" => Op::MatMul {
            ta: false,
            tb: false,
        },
        "powi" => Op::Powi(0),
        "slice" => Op::Slice {
            axis: 0,
            start: 0,
            len: 1,
        },
        "concat" => Op::Concat(0),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wild_nodes_match_any_attributes() {
        let any = ENode::from_op("broadcast", vec![Id::from(0)]).unwrap();
        let b = ENode::new(Op::Broadcast(Shape::matrix(2, 3)), &[Id::from(5)]);
        assert!(any.matches(&b) && b.matches(&any));
        let nt = ENode::from_op("matmul:nt", vec![Id::from(0), Id::from(1)]).unwrap();
        let nn = ENode::new(
            Op::MatMul {
                ta: false,
                tb: false,
            },
            &[Id::from(0), Id::from(1)],
        );
        assert!(!nt.matches(&nn));
        assert_eq!(ENode::from_op("2.5", vec![]).unwrap().literal(), Some(2.5));
        assert!(ENode::from_op("frobnicate", vec![]).is_err());
    }
}
