//! Rules: a named identity `lhs => rhs` with guards, and how a right-hand side is built.
//!
//! A right-hand side is either a pattern ([`Rhs::Pat`]) or, when it must compute
//! attributes from types (a reduced extent, a new broadcast shape), a function
//! ([`Rhs::Build`]). Pattern right-hand sides are instantiated bottom-up with every new node
//! type-checked by the IR's own inference; a wild `broadcast` and a number literal take
//! their type from the context (the matched class at the root, the other operand of a
//! binary op). A right-hand side that does not type-check, or whose type differs from the
//! matched class, is not applied: rules cannot change types.

use super::analysis::{type_of, Data, EG};
use super::lang::ENode;
use egg::{Applier, ENodeOrVar, Id, Pattern, PatternAst, Rewrite, Subst, Symbol, Var};
use nabla_ir::{DType, Num, Op, Type};

/// Builds a right-hand side from the matched class and substitution; `None` declines.
pub type BuildFn = fn(&mut EG, Id, &Subst) -> Option<Id>;

/// A right-hand side.
#[derive(Clone)]
pub enum Rhs {
    /// A pattern, instantiated with types from the context.
    Pat(String),
    /// A function for right-hand sides whose attributes depend on types; the text says
    /// what it builds.
    Build(&'static str, BuildFn),
}

/// A side condition on the matched variables.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cond {
    /// The variable is a constant splat of this value.
    Splat(&'static str, f64),
    /// The variable is a constant splat whose value is not zero.
    NonzeroSplat(&'static str),
    /// The variable is not a constant splat.
    NotSplat(&'static str),
    /// The variable is not the constant splat 1.
    NotOne(&'static str),
    /// The two variables are constant splats whose product, rounded to their type, is a
    /// normal number: folding them together neither overflows nor underflows.
    NormalProduct(&'static str, &'static str),
    /// The two variables are constant splats whose sum, rounded to their type, is finite.
    FiniteSum(&'static str, &'static str),
    /// The two variables have the same type.
    SameType(&'static str, &'static str),
    /// The variable is a scalar (rank 0).
    Scalar(&'static str),
}

impl Cond {
    /// Whether the condition holds for `subst` in `eg`.
    pub fn holds(&self, eg: &EG, subst: &Subst) -> bool {
        let data = |v: &str| &eg[subst[var(v)]].data;
        match *self {
            Cond::Splat(v, x) => data(v).splat.is_some_and(|s| s.get() == x),
            Cond::NonzeroSplat(v) => data(v).splat.is_some_and(|s| s.get() != 0.0),
            Cond::NotSplat(v) => data(v).splat.is_none(),
            Cond::NotOne(v) => data(v).splat.is_none_or(|s| s.get() != 1.0),
            Cond::NormalProduct(a, b) => {
                fold2(data(a), data(b), |x, y| x * y).is_some_and(|(v, dtype)| match dtype {
                    DType::F32 => (v as f32).is_normal(),
                    DType::F64 => v.is_normal(),
                })
            }
            Cond::FiniteSum(a, b) => {
                fold2(data(a), data(b), |x, y| x + y).is_some_and(|(v, dtype)| match dtype {
                    DType::F32 => (v as f32).is_finite(),
                    DType::F64 => v.is_finite(),
                })
            }
            Cond::SameType(a, b) => data(a).ty == data(b).ty,
            Cond::Scalar(v) => data(v).ty.shape.rank() == 0,
        }
    }
}

/// `f` of two splats and the element type it is rounded to, when both are splats.
fn fold2(a: &Data, b: &Data, f: impl Fn(f64, f64) -> f64) -> Option<(f64, DType)> {
    Some((f(a.splat?.get(), b.splat?.get()), a.ty.dtype))
}

/// Parses a pattern variable name (`?a`); names are fixed in the rule tables.
pub fn var(name: &str) -> Var {
    name.parse()
        .unwrap_or_else(|_| panic!("bad pattern variable {name}"))
}

/// One named identity.
#[derive(Clone)]
pub struct Rule {
    /// Kebab-case name.
    pub name: String,
    /// Left-hand side pattern.
    pub lhs: String,
    /// Right-hand side.
    pub rhs: Rhs,
    /// Conditions that must all hold.
    pub conds: Vec<Cond>,
    /// A term the rule rewrites, for rules whose left-hand side is too general for the
    /// soundness test to instantiate into a match (computed right-hand sides that decline
    /// most matches).
    pub witness: Option<String>,
}

impl Rule {
    /// `lhs => rhs` as a pattern rewrite.
    pub fn pat(name: impl Into<String>, lhs: impl Into<String>, rhs: impl Into<String>) -> Rule {
        Rule {
            name: name.into(),
            lhs: lhs.into(),
            rhs: Rhs::Pat(rhs.into()),
            conds: Vec::new(),
            witness: None,
        }
    }

    /// `lhs => f(...)` with a computed right-hand side.
    pub fn build(name: &str, lhs: &str, what: &'static str, f: BuildFn) -> Rule {
        Rule {
            name: name.into(),
            lhs: lhs.into(),
            rhs: Rhs::Build(what, f),
            conds: Vec::new(),
            witness: None,
        }
    }

    /// Adds a condition.
    pub fn when(mut self, c: Cond) -> Rule {
        self.conds.push(c);
        self
    }

    /// Sets the test witness (see [`Rule::witness`]).
    pub fn witness(mut self, term: &str) -> Rule {
        self.witness = Some(term.into());
        self
    }

    /// The egg rewrite. Panics on a malformed pattern (the rule tables are fixed; every
    /// rule is built by the tests).
    pub fn rewrite(&self) -> Rewrite<ENode, super::analysis::Types> {
        let lhs: Pattern<ENode> = self
            .lhs
            .parse()
            .unwrap_or_else(|e| panic!("rule {}: bad lhs: {e}", self.name));
        let rhs = match &self.rhs {
            Rhs::Pat(p) => RhsKind::Pat(
                p.parse()
                    .unwrap_or_else(|e| panic!("rule {}: bad rhs: {e}", self.name)),
            ),
            Rhs::Build(_, f) => RhsKind::Build(*f),
        };
        let app = Apply {
            rhs,
            conds: self.conds.clone(),
        };
        Rewrite::new(self.name.as_str(), lhs, app)
            .unwrap_or_else(|e| panic!("rule {}: {e}", self.name))
    }

    /// The identity as text: `lhs => rhs [if conds]`.
    pub fn text(&self) -> String {
        let rhs = match &self.rhs {
            Rhs::Pat(p) => p.clone(),
            Rhs::Build(what, _) => what.to_string(),
        };
        if self.conds.is_empty() {
            format!("{} => {rhs}", self.lhs)
        } else {
            format!("{} => {rhs} if {:?}", self.lhs, self.conds)
        }
    }
}

enum RhsKind {
    Pat(PatternAst<ENode>),
    Build(BuildFn),
}

struct Apply {
    rhs: RhsKind,
    conds: Vec<Cond>,
}

impl Applier<ENode, super::analysis::Types> for Apply {
    fn apply_one(
        &self,
        eg: &mut EG,
        class: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<ENode>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        if !self.conds.iter().all(|c| c.holds(eg, subst)) {
            return vec![];
        }
        let want = eg[class].data.ty.clone();
        let new = match &self.rhs {
            RhsKind::Pat(ast) => {
                let root = Id::from(ast.as_ref().len() - 1);
                inst(eg, ast, root, subst, Some(&want))
            }
            RhsKind::Build(f) => f(eg, class, subst),
        };
        match new {
            Some(id) if eg[id].data.ty == want && eg.union(class, id) => vec![id],
            _ => vec![],
        }
    }
}

/// Adds `op(args)` if it type-checks.
pub fn add(eg: &mut EG, op: Op, args: &[Id]) -> Option<Id> {
    type_of(eg, &op, args)?;
    Some(eg.add(ENode::new(op, args)))
}

/// The constant `v` of type `ty` (a scalar constant, broadcast when `ty` is not scalar).
pub fn splat(eg: &mut EG, v: f64, ty: &Type) -> Id {
    let c = eg.add(ENode::new(
        Op::Const {
            value: Num::new(v),
            dtype: ty.dtype,
        },
        &[],
    ));
    if ty.shape.rank() == 0 {
        c
    } else {
        eg.add(ENode::new(Op::Broadcast(ty.shape.clone()), &[c]))
    }
}

/// The scalar constant `v` of element type `dtype`.
pub fn scalar(eg: &mut EG, v: f64, dtype: DType) -> Id {
    splat(eg, v, &Type::new(dtype, nabla_ir::Shape::scalar()))
}

/// Whether pattern node `i` needs its type from the context.
fn contextual(ast: &PatternAst<ENode>, i: Id) -> bool {
    match &ast[i] {
        ENodeOrVar::Var(_) => false,
        ENodeOrVar::ENode(n) => {
            n.literal().is_some() || (n.is_wild() && n.op.mnemonic() == "broadcast")
        }
    }
}

/// Instantiates pattern node `i`; `want` is the type the context requires, if known.
fn inst(
    eg: &mut EG,
    ast: &PatternAst<ENode>,
    i: Id,
    subst: &Subst,
    want: Option<&Type>,
) -> Option<Id> {
    let n = match &ast[i] {
        ENodeOrVar::Var(v) => return Some(subst[*v]),
        ENodeOrVar::ENode(n) => n.clone(),
    };
    if let Some(v) = n.literal() {
        return Some(splat(eg, v, want?));
    }
    if n.is_wild() {
        // Only a wild broadcast can be instantiated: to the type the context wants.
        let to = want?.shape.clone();
        if n.op.mnemonic() != "broadcast" {
            return None;
        }
        let a = inst(eg, ast, n.args[0], subst, None)?;
        return add(eg, Op::Broadcast(to), &[a]);
    }
    let mut ids: Vec<Option<Id>> = vec![None; n.args.len()];
    for (k, &c) in n.args.iter().enumerate() {
        if !contextual(ast, c) {
            ids[k] = Some(inst(eg, ast, c, subst, None)?);
        }
    }
    for (k, &c) in n.args.iter().enumerate() {
        if ids[k].is_none() {
            let sib = ids.iter().flatten().next().map(|&s| eg[s].data.ty.clone());
            let ctx = sib.or_else(|| same_type_op(&n.op).then(|| want.cloned()).flatten());
            ids[k] = Some(inst(eg, ast, c, subst, ctx.as_ref())?);
        }
    }
    let args: Vec<Id> = ids.into_iter().flatten().collect();
    add(eg, n.op, &args)
}

/// Whether the op's operands have the result's type (elementwise ops).
fn same_type_op(op: &Op) -> bool {
    matches!(op, Op::Unary(_) | Op::Binary(_) | Op::Powi(_))
}
