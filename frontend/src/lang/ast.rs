//! The syntax tree of a problem file, and its pretty-printer.
//!
//! Every node carries its [`Span`]; spans do not take part in equality, so
//! `parse(print(ast)) == ast` holds for every tree the parser produces.

use super::diag::Span;
use std::fmt::{self, Display, Formatter};

/// A name with its place.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// An arithmetic operator: the IR's elementwise binary op, written `+ - * / ^`.
pub use nabla_ir::BinOp;

/// Binding strength of `op`: larger binds tighter. Unary minus sits between `*` and `^`
/// (which is right-associative).
pub fn prec(op: BinOp) -> u8 {
    match op {
        BinOp::Add | BinOp::Sub => 1,
        BinOp::Mul | BinOp::Div => 2,
        BinOp::Pow => 4,
        BinOp::Atan2 => ATOM_PREC,
    }
}

/// How `op` is written in a problem file.
fn symbol(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Pow => "^",
        BinOp::Atan2 => "atan2",
    }
}

/// Precedence of unary minus (see [`prec`]).
pub const NEG_PREC: u8 = 3;
const ATOM_PREC: u8 = 5;

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is written.
    pub span: Span,
    /// The longest chain of sub-expressions from this one down to a leaf, itself included:
    /// how deep every pass over the tree recurses. The parser refuses trees higher than
    /// [`MAX_HEIGHT`] instead of letting a pass overflow the stack.
    pub height: u32,
}

/// The highest expression tree the parser accepts: a sum or product of `n` terms is `n`
/// high, and each call or sign adds one. Higher trees overflowed the stack (a sum of
/// 100,000 terms) in the passes over them; 2,000 passes through all of them on a 2 MB
/// thread stack (tested) and is twenty times B3's product of 100 sines.
pub const MAX_HEIGHT: u32 = 2000;

/// The deepest nesting of parentheses, calls, signs and powers the parser accepts: it
/// recurses once per level, with about 2.3 KB of stack each (16,000 parentheses
/// overflowed the main thread's 8 MB), so 256 levels take about 0.6 MB.
pub const MAX_NESTING: u32 = 256;

/// The forms of expressions.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number literal (never negative: `-1` is `Neg(1)`).
    Num(f64),
    /// A name: input, const, param, net output, let, `pi` or `e`.
    Name(String),
    /// `-E`
    Neg(Box<Expr>),
    /// `A op B`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `f(A, ...)`: a built-in function or a net output at other arguments.
    Call(Ident, Vec<Expr>),
    /// `d(E, v1, v2, ...)`: partial derivatives, `v1` first.
    D(Box<Expr>, Vec<Ident>),
    /// `lap(E)` over all inputs, or `lap(E; v1, ...)` over the listed ones; with
    /// `; sample = K` last, the estimate from K random directions.
    Lap(Box<Expr>, Option<Vec<Ident>>, Option<Box<Expr>>),
    /// `at(E; v1 = A1, ...)`: simultaneous substitution after E's derivatives.
    At(Box<Expr>, Vec<(Ident, Expr)>),
}

impl Expr {
    /// An expression at `span`.
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        let h = |e: &Expr| e.height;
        let below = match &kind {
            ExprKind::Num(_) | ExprKind::Name(_) => 0,
            ExprKind::Neg(a) | ExprKind::D(a, _) | ExprKind::Lap(a, _, None) => a.height,
            ExprKind::Lap(a, _, Some(k)) => a.height.max(k.height),
            ExprKind::Binary(_, a, b) => a.height.max(b.height),
            ExprKind::Call(_, args) => args.iter().map(h).max().unwrap_or(0),
            ExprKind::At(a, subs) => (subs.iter().map(|(_, e)| e.height)).fold(a.height, u32::max),
        };
        Expr {
            kind,
            span,
            height: below.saturating_add(1),
        }
    }

    fn prec(&self) -> u8 {
        match &self.kind {
            ExprKind::Binary(op, ..) => prec(*op),
            ExprKind::Neg(_) => NEG_PREC,
            _ => ATOM_PREC,
        }
    }

    /// Every sub-expression, this one first (pre-order).
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Num(_) | ExprKind::Name(_) => {}
            ExprKind::Neg(a) | ExprKind::D(a, _) | ExprKind::Lap(a, _, None) => a.walk(f),
            ExprKind::Lap(a, _, Some(k)) => {
                a.walk(f);
                k.walk(f);
            }
            ExprKind::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            ExprKind::Call(_, args) => args.iter().for_each(|a| a.walk(f)),
            ExprKind::At(a, subs) => {
                a.walk(f);
                subs.iter().for_each(|(_, e)| e.walk(f));
            }
        }
    }
}

/// A point set: `interior(N)`, `boundary(N)`, `face(V = X, N)`, or a union `A + B`.
#[derive(Clone, Debug, PartialEq)]
pub enum SetExpr {
    /// `interior(N)`
    Interior(Expr),
    /// `boundary(N)`
    Boundary(Expr),
    /// `face(V = X, N)`
    Face(Ident, Expr, Expr),
    /// `interior(D, N)`: in domain D
    InteriorOf(Ident, Expr),
    /// `boundary(D, N)`: on domain D's boundary
    BoundaryOf(Ident, Expr),
    /// `A + B + ...`
    Union(Vec<SetExpr>),
}

/// A shape of a `domain` statement.
#[derive(Clone, Debug, PartialEq)]
pub enum ShapeExpr {
    /// `rect(...)`, `box(...)`, `disk(...)`, `ball(...)`, `polygon(...)`, and where the
    /// call is written.
    Call(Ident, Vec<ShapeArg>, Span),
    /// `A + B`, `A - B`, `A & B` (left to right, one precedence).
    Op(ShapeOp, Box<ShapeExpr>, Box<ShapeExpr>),
    /// `(A)`.
    Paren(Box<ShapeExpr>, Span),
}

/// A CSG operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeOp {
    /// `+`
    Union,
    /// `-`
    Difference,
    /// `&`
    Intersection,
}

/// An argument of a shape: a number (a constant expression) or a list of arguments.
#[derive(Clone, Debug, PartialEq)]
pub enum ShapeArg {
    /// A constant expression.
    Expr(Expr),
    /// `[A, B, ...]`.
    List(Vec<ShapeArg>, Span),
}

impl ShapeExpr {
    /// Where the shape is written.
    pub fn span(&self) -> Span {
        match self {
            ShapeExpr::Call(_, _, s) | ShapeExpr::Paren(_, s) => *s,
            ShapeExpr::Op(_, a, b) => a.span().to(b.span()),
        }
    }
}

impl ShapeArg {
    /// Where the argument is written.
    pub fn span(&self) -> Span {
        match self {
            ShapeArg::Expr(e) => e.span,
            ShapeArg::List(_, s) => *s,
        }
    }
}

/// A value given to an `mlp(...)` argument: an expression or a list `[A, B, ...]`.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    /// An expression (a number, or a name like `tanh`).
    Expr(Expr),
    /// A bracketed list.
    List(Vec<Expr>, Span),
}

/// `mlp(key = value, ...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arch {
    /// The constructor's name (only `mlp` exists).
    pub kind: Ident,
    /// The keyword arguments in order.
    pub args: Vec<(Ident, ArgValue)>,
}

/// A statement (one line).
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What it says.
    pub kind: StmtKind,
    /// The whole line's statement.
    pub span: Span,
}

/// The statement forms of the language.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `problem NAME`
    Problem(Ident),
    /// `input NAME in [LO, HI]`
    Input(Ident, Expr, Expr),
    /// `const NAME = EXPR`
    Const(Ident, Expr),
    /// `param NAME = NUMBER` (parsed as an expression, checked to be a number)
    Param(Ident, Expr),
    /// `net NAME(ARGS) [-> (OUTS)] = mlp(...)`
    Net {
        /// The net's name.
        name: Ident,
        /// Its arguments (inputs).
        args: Vec<Ident>,
        /// Its outputs when written `-> (...)`; otherwise its one output is `name`.
        outputs: Option<Vec<Ident>>,
        /// The architecture.
        arch: Arch,
    },
    /// `let NAME = EXPR`
    Let(Ident, Expr),
    /// `points NAME = SET`
    Points(Ident, SetExpr),
    /// `domain NAME(V, ...) = SHAPE`
    Domain(Ident, Vec<Ident>, ShapeExpr),
    /// `residual NAME on SET [weight W] = EXPR`
    Residual {
        /// The residual's name.
        name: Ident,
        /// The point set.
        on: Ident,
        /// The weight, when given.
        weight: Option<Expr>,
        /// The residual expression.
        expr: Expr,
    },
    /// `exact OUT = EXPR`
    Exact(Ident, Expr),
}

/// A parsed file: its statements in order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct File {
    /// The statements that parsed.
    pub stmts: Vec<Stmt>,
    /// Names declared by statements that did not parse (so that their uses are not
    /// reported as unknown as well).
    pub broken: Vec<String>,
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Writes `e`, parenthesised when it binds looser than `min`.
fn sub(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if e.prec() < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

fn list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{x}")?;
    }
    Ok(())
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Num(v) => write!(f, "{v:?}"),
            ExprKind::Name(n) => f.write_str(n),
            ExprKind::Neg(a) => {
                f.write_str("-")?;
                sub(f, a, NEG_PREC)
            }
            ExprKind::Binary(op, a, b) => binary(f, *op, a, b),
            ExprKind::Call(g, args) => {
                write!(f, "{g}(")?;
                list(f, args)?;
                f.write_str(")")
            }
            ExprKind::D(a, vs) => {
                write!(f, "d({a}, ")?;
                list(f, vs)?;
                f.write_str(")")
            }
            ExprKind::Lap(a, vs, k) => {
                write!(f, "lap({a}")?;
                if let Some(vs) = vs {
                    f.write_str("; ")?;
                    list(f, vs)?;
                }
                if let Some(k) = k {
                    write!(f, "; sample = {k}")?;
                }
                f.write_str(")")
            }
            ExprKind::At(a, subs) => {
                write!(f, "at({a}; ")?;
                let s: Vec<String> = subs.iter().map(|(v, e)| format!("{v} = {e}")).collect();
                list(f, &s)?;
                f.write_str(")")
            }
        }
    }
}

/// Left-associative `+ - * /` keep a same-precedence left operand bare; `^` is
/// right-associative, its base must be an atom and its exponent may be negated.
///
/// The parser reads `atan2(a, b)` as a call; a tree that holds it as a binary op prints
/// the same text.
fn binary(f: &mut Formatter<'_>, op: BinOp, a: &Expr, b: &Expr) -> fmt::Result {
    let p = prec(op);
    let (lmin, rmin) = match op {
        BinOp::Atan2 => return write!(f, "atan2({a}, {b})"),
        BinOp::Pow => (ATOM_PREC, NEG_PREC),
        _ => (p, p + 1),
    };
    sub(f, a, lmin)?;
    write!(f, " {} ", symbol(op))?;
    sub(f, b, rmin)
}

impl Display for SetExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SetExpr::Interior(n) => write!(f, "interior({n})"),
            SetExpr::Boundary(n) => write!(f, "boundary({n})"),
            SetExpr::Face(v, x, n) => write!(f, "face({v} = {x}, {n})"),
            SetExpr::InteriorOf(d, n) => write!(f, "interior({d}, {n})"),
            SetExpr::BoundaryOf(d, n) => write!(f, "boundary({d}, {n})"),
            SetExpr::Union(parts) => {
                let s: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
                f.write_str(&s.join(" + "))
            }
        }
    }
}

impl Display for ShapeExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ShapeExpr::Call(k, args, _) => {
                write!(f, "{k}(")?;
                list(f, args)?;
                f.write_str(")")
            }
            ShapeExpr::Op(op, a, b) => {
                let sym = match op {
                    ShapeOp::Union => "+",
                    ShapeOp::Difference => "-",
                    ShapeOp::Intersection => "&",
                };
                write!(f, "{a} {sym} {b}")
            }
            ShapeExpr::Paren(a, _) => write!(f, "({a})"),
        }
    }
}

impl Display for ShapeArg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ShapeArg::Expr(e) => write!(f, "{e}"),
            ShapeArg::List(items, _) => {
                f.write_str("[")?;
                list(f, items)?;
                f.write_str("]")
            }
        }
    }
}

impl Display for ArgValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Expr(e) => write!(f, "{e}"),
            ArgValue::List(items, _) => {
                f.write_str("[")?;
                list(f, items)?;
                f.write_str("]")
            }
        }
    }
}

impl Display for Arch {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self
            .args
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        write!(f, "{}(", self.kind)?;
        list(f, &s)?;
        f.write_str(")")
    }
}

impl Display for Stmt {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StmtKind::Problem(n) => write!(f, "problem {n}"),
            StmtKind::Input(n, lo, hi) => write!(f, "input {n} in [{lo}, {hi}]"),
            StmtKind::Const(n, e) => write!(f, "const {n} = {e}"),
            StmtKind::Param(n, e) => write!(f, "param {n} = {e}"),
            StmtKind::Net {
                name,
                args,
                outputs,
                arch,
            } => {
                write!(f, "net {name}(")?;
                list(f, args)?;
                f.write_str(")")?;
                if let Some(outs) = outputs {
                    f.write_str(" -> (")?;
                    list(f, outs)?;
                    f.write_str(")")?;
                }
                write!(f, " = {arch}")
            }
            StmtKind::Let(n, e) => write!(f, "let {n} = {e}"),
            StmtKind::Points(n, s) => write!(f, "points {n} = {s}"),
            StmtKind::Domain(n, coords, shape) => {
                write!(f, "domain {n}(")?;
                list(f, coords)?;
                write!(f, ") = {shape}")
            }
            StmtKind::Residual {
                name,
                on,
                weight,
                expr,
            } => {
                write!(f, "residual {name} on {on}")?;
                if let Some(w) = weight {
                    write!(f, " weight {w}")?;
                }
                write!(f, " = {expr}")
            }
            StmtKind::Exact(n, e) => write!(f, "exact {n} = {e}"),
        }
    }
}

impl Display for File {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for s in &self.stmts {
            writeln!(f, "{s}")?;
        }
        Ok(())
    }
}
