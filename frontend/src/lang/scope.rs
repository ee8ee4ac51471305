//! What each name of a problem file means, and constant folding.

use super::ast::{BinOp, Expr, ExprKind};
use std::collections::HashMap;

/// The built-in functions, as written in expressions: all of one argument but `atan2(y, x)`.
pub const FUNCTIONS: [&str; 11] = [
    "sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sigmoid", "softplus", "abs", "atan2",
];

/// The number of arguments of the built-in function `f`.
pub fn function_arity(f: &str) -> Option<usize> {
    match f {
        "atan2" => Some(2),
        _ if FUNCTIONS.contains(&f) => Some(1),
        _ => None,
    }
}

/// Names with a fixed meaning that declarations may not take.
pub const RESERVED: [&str; 8] = ["pi", "e", "d", "lap", "at", "mlp", "normal", "dn"];

/// What a declared name denotes.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// The `i`-th input.
    Input(usize),
    /// A constant, folded (`None` while unknown because of an error).
    Const(Option<f64>),
    /// A trainable scalar.
    Param,
    /// An output of the `net`-th network.
    Output(usize),
    /// A network with several outputs (its name stores its parameters).
    Net(usize),
    /// The `i`-th `let`.
    Let(usize),
    /// A point set.
    Points,
    /// The `i`-th domain.
    Domain(usize),
}

impl Kind {
    /// How the kind is named in messages ("an input", ...).
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Input(_) => "an input",
            Kind::Const(_) => "a const",
            Kind::Param => "a param",
            Kind::Output(_) => "a network output",
            Kind::Net(_) => "a network with several outputs",
            Kind::Let(_) => "a let",
            Kind::Points => "a point set",
            Kind::Domain(_) => "a domain",
        }
    }
}

/// A network's signature: its arguments and outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSig {
    /// The net's name.
    pub name: String,
    /// Argument (input) names.
    pub args: Vec<String>,
    /// Output names.
    pub outputs: Vec<String>,
}

/// The names of a checked problem file.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Every declared name.
    pub names: HashMap<String, Kind>,
    /// Input names in declaration order.
    pub inputs: Vec<String>,
    /// Networks.
    pub nets: Vec<NetSig>,
    /// `let` names and bodies, in declaration order.
    pub lets: Vec<(String, Expr)>,
}

impl Scope {
    /// The kind of `name`, if declared.
    pub fn kind(&self, name: &str) -> Option<&Kind> {
        self.names.get(name)
    }

    /// Names usable as values in expressions (for suggestions), plus `pi` and `e`.
    pub fn value_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .names
            .iter()
            .filter(|(_, k)| !matches!(k, Kind::Points | Kind::Net(_)))
            .map(|(n, _)| n.as_str())
            .collect();
        v.extend(["pi", "e"]);
        v.sort_unstable();
        v
    }

    /// Names of a given kind (for suggestions).
    pub fn names_where(&self, f: impl Fn(&Kind) -> bool) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .names
            .iter()
            .filter(|(_, k)| f(k))
            .map(|(n, _)| n.as_str())
            .collect();
        v.sort_unstable();
        v
    }

    /// The value of `e` when it is made of numbers, `pi`, `e`, consts and built-in
    /// functions only; `None` otherwise.
    pub fn fold(&self, e: &Expr) -> Option<f64> {
        match &e.kind {
            ExprKind::Num(v) => Some(*v),
            ExprKind::Name(n) => self.fold_name(n),
            ExprKind::Neg(a) => Some(-self.fold(a)?),
            ExprKind::Binary(op, a, b) => Some(apply(*op, self.fold(a)?, self.fold(b)?)),
            ExprKind::Call(f, args) => {
                let xs: Option<Vec<f64>> = args.iter().map(|a| self.fold(a)).collect();
                call(&f.name, &xs?)
            }
            _ => None,
        }
    }

    fn fold_name(&self, n: &str) -> Option<f64> {
        match (n, self.kind(n)) {
            (_, Some(Kind::Const(v))) => *v,
            ("pi", None) => Some(std::f64::consts::PI),
            ("e", None) => Some(std::f64::consts::E),
            _ => None,
        }
    }
}

/// `a op b` in f64; an integer exponent is exact (`powi`), as in lowered code.
pub fn apply(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Pow => match int_exponent(b) {
            Some(k) => a.powi(k),
            None => a.powf(b),
        },
        BinOp::Atan2 => a.atan2(b),
    }
}

/// `b` as an `i32` exponent when it is a whole number of moderate size.
pub fn int_exponent(b: f64) -> Option<i32> {
    (b.fract() == 0.0 && b.abs() <= 1024.0).then_some(b as i32)
}

/// A built-in function at its arguments, in f64 (the interpreter's semantics).
pub(super) fn call(f: &str, xs: &[f64]) -> Option<f64> {
    match (f, xs) {
        ("atan2", [y, x]) => Some(BinOp::Atan2.eval(*y, *x)),
        (_, [x]) => Some(function(f)?.eval(*x)),
        _ => None,
    }
}

/// The elementwise op of the built-in function `f`.
pub fn function(f: &str) -> Option<nabla_ir::UnOp> {
    use nabla_ir::UnOp;
    Some(match f {
        "sin" => UnOp::Sin,
        "cos" => UnOp::Cos,
        "tan" => UnOp::Tan,
        "exp" => UnOp::Exp,
        "log" => UnOp::Log,
        "sqrt" => UnOp::Sqrt,
        "tanh" => UnOp::Tanh,
        "sigmoid" => UnOp::Sigmoid,
        "softplus" => UnOp::Softplus,
        "abs" => UnOp::Abs,
        _ => return None,
    })
}
