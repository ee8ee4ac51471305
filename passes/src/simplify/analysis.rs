//! The e-class analysis: every e-class's type, and its value when it is a constant splat.
//!
//! Types come from [`nabla_ir::infer`], the rules the IR itself uses, so an e-class has
//! exactly one type and a rule can never merge values of different types: right-hand
//! sides are type-checked before they are added ([`super::rule`]).
//!
//! Constant folding: an e-class whose value is one number repeated (a *splat*: a scalar
//! constant, a broadcast of one, or any op of splats) records that number, computed with
//! the interpreter's own f64 semantics (rounded to f32 for f32 values, as the interpreter
//! does), and gains the node `broadcast(const v)` so that extraction can pick it.

use super::lang::ENode;
use egg::{Analysis, DidMerge, EGraph, Id};
use nabla_ir::infer::{infer, Arg};
use nabla_ir::{DType, Num, Op, Type};

/// The e-graph type used by the simplifier.
pub type EG = EGraph<ENode, Types>;

/// The analysis (no state of its own).
#[derive(Default, Clone, Debug)]
pub struct Types;

/// What is known about one e-class.
#[derive(Clone, Debug, PartialEq)]
pub struct Data {
    /// The value's type.
    pub ty: Type,
    /// Whether the class holds a variable leaf (`input`, `param`, `bound`).
    pub variable: bool,
    /// The repeated value when the class is a constant splat.
    pub splat: Option<Num>,
}

/// The type `op` has over operand classes `args`, or `None` when it does not apply.
pub fn type_of(eg: &EG, op: &Op, args: &[Id]) -> Option<Type> {
    let views: Vec<Arg<'_>> = args
        .iter()
        .map(|&a| Arg {
            ty: &eg[a].data.ty,
            is_variable: eg[a].data.variable,
        })
        .collect();
    infer(op, &views).ok()
}

impl Analysis<ENode> for Types {
    type Data = Data;

    fn make(eg: &mut EG, n: &ENode, _id: Id) -> Data {
        // Only well-typed nodes are ever added: the converter adds verified IR and rule
        // right-hand sides are type-checked first, so a failure here is a simplifier bug.
        let ty = type_of(eg, &n.op, &n.args)
            .unwrap_or_else(|| panic!("internal error: ill-typed e-node {n:?}"));
        let splats: Option<Vec<f64>> = n
            .args
            .iter()
            .map(|&a| eg[a].data.splat.map(Num::get))
            .collect();
        let splat = splats
            .and_then(|s| fold(eg, n, &s))
            .map(|v| round(v, ty.dtype));
        Data {
            variable: n.op.is_variable(),
            splat,
            ty,
        }
    }

    fn merge(&mut self, a: &mut Data, b: Data) -> DidMerge {
        debug_assert_eq!(a.ty, b.ty, "merged e-classes of different types");
        let mut changed_a = false;
        if a.splat.is_none() && b.splat.is_some() {
            a.splat = b.splat;
            changed_a = true;
        }
        if !a.variable && b.variable {
            a.variable = true;
            changed_a = true;
        }
        let changed_b = a.splat != b.splat || a.variable != b.variable;
        DidMerge(changed_a, changed_b)
    }

    fn modify(eg: &mut EG, id: Id) {
        let Some(v) = eg[id].data.splat else { return };
        let ty = eg[id].data.ty.clone();
        let c = eg.add(ENode::new(
            Op::Const {
                value: v,
                dtype: ty.dtype,
            },
            &[],
        ));
        let c = if ty.shape.rank() == 0 {
            c
        } else {
            eg.add(ENode::new(Op::Broadcast(ty.shape), &[c]))
        };
        eg.union(id, c);
        // A constant class needs no other representation; keeping only the constant stops
        // rules from matching the many ways of computing it (0·a, a − a, ...).
        let root = eg.find(id);
        eg[root]
            .nodes
            .retain(|n| matches!(n.op, Op::Const { .. } | Op::Broadcast(_)) && n.args.len() <= 1);
    }
}

/// Rounds a folded value as the interpreter rounds intermediates of `dtype`.
fn round(v: f64, dtype: DType) -> Num {
    match dtype {
        DType::F32 => Num::new(v as f32 as f64),
        DType::F64 => Num::new(v),
    }
}

/// The splat value of `n` given its operands' splat values, when it is one.
fn fold(eg: &EG, n: &ENode, s: &[f64]) -> Option<f64> {
    let arg_ty = |i: usize| &eg[n.args[i]].data.ty;
    match &n.op {
        Op::Const { value, .. } => Some(value.get()),
        Op::Tensor { data, .. } => {
            let first = *data.first()?;
            data.iter().all(|&d| d == first).then(|| first.get())
        }
        Op::Unary(u) => Some(u.eval(s[0])),
        Op::Powi(k) => Some(s[0].powi(*k)),
        Op::Binary(b) => Some(b.eval(s[0], s[1])),
        Op::Broadcast(_) | Op::Reshape(_) | Op::Slice { .. } => Some(s[0]),
        Op::Concat(_) => s
            .iter()
            .all(|&v| v.to_bits() == s[0].to_bits())
            .then_some(s[0]),
        Op::Sum(ax) => Some(repeat_sum(s[0], arg_ty(0).shape.dims()[*ax as usize])),
        Op::Mean(ax) => {
            let k = arg_ty(0).shape.dims()[*ax as usize];
            Some(repeat_sum(s[0], k) / k as f64)
        }
        Op::MatMul { ta, .. } => {
            let d = arg_ty(0).shape.dims();
            let k = if *ta { d[0] } else { d[1] };
            Some(repeat_sum(s[0] * s[1], k))
        }
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Bound { .. }
        | Op::Diff { .. }
        | Op::Laplacian { .. }
        | Op::Grad { .. }
        | Op::Jacobian { .. }
        | Op::At => None,
    }
}

/// `v + v + ... + v` (`k` terms) in index order, as the interpreter sums.
fn repeat_sum(v: f64, k: usize) -> f64 {
    (0..k).fold(0.0, |acc, _| acc + v)
}
