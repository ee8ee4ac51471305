//! Lowering: each checked expression becomes an [`ExprFn`] closure that walks the syntax
//! tree and calls the Rust DSL, so the language has no semantics of its own.
//!
//! - inputs, params and net outputs come from the [`Ctx`]; a net output with arguments is
//!   the net applied to them (each broadcast to a column of the point set);
//! - consts are folded to numbers; `x^k` with a constant whole `k` is the exact `powi`;
//! - `d(E, x, x, y)` is `∂/∂y (∂²E/∂x²)`: runs of one variable become one derivative of
//!   that order, applied left to right;
//! - `lap(E; vs)` is the Laplacian over `vs` (all inputs when omitted);
//! - `at(E; v = A, ...)` substitutes the inputs simultaneously after E's derivatives;
//! - `let`s are traced once per closure call and shared by every use.

use super::ast::{BinOp, Expr, ExprKind, Ident};
use super::exprcheck::sample_count;
use super::scope::{int_exponent, Kind, Scope};
use crate::dsl::{at, laplacian_of, partials, Var};
use crate::problem::{Ctx, ExprFn};
use nabla_ir::Shape;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// The closure that traces `e` (checked against `scope`).
pub fn expr_fn(scope: &Arc<Scope>, e: &Expr) -> ExprFn {
    let scope = Arc::clone(scope);
    let e = e.clone();
    Arc::new(move |c: &Ctx<'_>| Lowerer::new(&scope, c).expr(&e))
}

struct Lowerer<'a, 'g> {
    scope: &'a Scope,
    c: &'a Ctx<'g>,
    lets: RefCell<HashMap<usize, Var<'g>>>,
}

impl<'a, 'g> Lowerer<'a, 'g> {
    fn new(scope: &'a Scope, c: &'a Ctx<'g>) -> Self {
        Lowerer {
            scope,
            c,
            lets: RefCell::new(HashMap::new()),
        }
    }

    fn expr(&self, e: &Expr) -> Var<'g> {
        if let Some(v) = self.scope.fold(e) {
            return self.c.b.constant(v);
        }
        match &e.kind {
            ExprKind::Num(v) => self.c.b.constant(*v),
            ExprKind::Name(n) => self.name(n),
            ExprKind::Neg(a) => -self.expr(a),
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b),
            ExprKind::Call(f, args) => self.call(f, args),
            ExprKind::D(a, vs) => self.d(a, vs),
            ExprKind::Lap(a, vs, None) => self.lap(a, vs.as_deref()),
            ExprKind::Lap(a, vs, Some(k)) => self.lap_sampled(a, vs.as_deref(), k),
            ExprKind::At(a, subs) => self.at(a, subs),
        }
    }

    fn name(&self, n: &str) -> Var<'g> {
        let c = self.c;
        let v = match self.scope.kind(n) {
            Some(Kind::Input(_)) => c.input(n),
            Some(Kind::Param) => c.param(n),
            Some(Kind::Output(_)) => c.output(n, None),
            Some(Kind::Let(i)) => Some(self.let_value(*i)),
            Some(Kind::Const(_) | Kind::Net(_) | Kind::Points | Kind::Domain(_)) | None => None,
        };
        v.unwrap_or_else(|| unreachable!("`{n}` was checked to be a traced value"))
    }

    fn let_value(&self, i: usize) -> Var<'g> {
        if let Some(v) = self.lets.borrow().get(&i) {
            return *v;
        }
        let v = self.expr(&self.scope.lets[i].1);
        self.lets.borrow_mut().insert(i, v);
        v
    }

    fn binary(&self, op: BinOp, a: &Expr, b: &Expr) -> Var<'g> {
        let x = self.expr(a);
        if op == BinOp::Pow {
            if let Some(k) = self.scope.fold(b).and_then(int_exponent) {
                return x.powi(k);
            }
        }
        let y = self.expr(b);
        match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
            BinOp::Pow => x.pow(y),
            BinOp::Atan2 => x.atan2(y),
        }
    }

    fn call(&self, f: &Ident, args: &[Expr]) -> Var<'g> {
        if f.name == "normal" {
            let v = match args.first().map(|a| &a.kind) {
                Some(ExprKind::Name(n)) => self.c.normal_named(n),
                _ => None,
            };
            return v.unwrap_or_else(|| unreachable!("`normal` was checked to take an input"));
        }
        let vals: Vec<Var<'g>> = args.iter().map(|a| self.expr(a)).collect();
        if f.name == "dn" {
            return self.c.dn(vals[0]);
        }
        if let Some(v) = function(&f.name, &vals) {
            return v;
        }
        let col = self.column_shape();
        let cols: Vec<Var<'g>> = vals.iter().map(|v| v.broadcast_to(&col)).collect();
        let out = self.c.output(&f.name, Some(&cols));
        out.unwrap_or_else(|| unreachable!("`{f}` was checked to be a net output"))
    }

    /// `[N, 1]`: the shape of one coordinate of the point set.
    fn column_shape(&self) -> Shape {
        match self.c.inputs.first() {
            Some(x) => x.shape(),
            None => Shape::matrix(1, 1),
        }
    }

    fn input(&self, v: &Ident) -> Var<'g> {
        let x = self.c.input(&v.name);
        x.unwrap_or_else(|| unreachable!("`{v}` was checked to be an input"))
    }

    fn d(&self, a: &Expr, vs: &[Ident]) -> Var<'g> {
        let body = self.expr(a);
        let vars: Vec<Var<'g>> = vs.iter().map(|v| self.input(v)).collect();
        partials(body, &vars)
    }

    fn lap(&self, a: &Expr, vs: Option<&[Ident]>) -> Var<'g> {
        let body = self.expr(a);
        let vars: Vec<Var<'g>> = match vs {
            Some(vs) => vs.iter().map(|v| self.input(v)).collect(),
            None => self.c.inputs.clone(),
        };
        laplacian_of(body, &vars)
    }

    fn lap_sampled(&self, a: &Expr, vs: Option<&[Ident]>, k: &Expr) -> Var<'g> {
        let body = self.expr(a);
        let k = sample_count(self.scope, k);
        let k = k.unwrap_or_else(|_| unreachable!("`sample` was checked"));
        let names: Option<Vec<&str>> = vs.map(|vs| vs.iter().map(|v| v.name.as_str()).collect());
        let v = self.c.lap_sampled_named(body, names.as_deref(), k);
        v.unwrap_or_else(|| unreachable!("the variables were checked to be inputs"))
    }

    fn at(&self, a: &Expr, subs: &[(Ident, Expr)]) -> Var<'g> {
        let body = self.expr(a);
        let pairs: Vec<(Var<'g>, Var<'g>)> = subs
            .iter()
            .map(|(v, e)| (self.input(v), self.expr(e)))
            .collect();
        at(body, &pairs)
    }
}

/// A built-in function applied to its arguments, or `None` when `f` is not one.
fn function<'g>(f: &str, args: &[Var<'g>]) -> Option<Var<'g>> {
    let x = match args {
        [y, x] if f == "atan2" => return Some(y.atan2(*x)),
        [x] => *x,
        _ => return None,
    };
    Some(match f {
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "exp" => x.exp(),
        "log" => x.log(),
        "sqrt" => x.sqrt(),
        "tanh" => x.tanh(),
        "sigmoid" => x.sigmoid(),
        "softplus" => x.softplus(),
        "abs" => x.abs(),
        _ => return None,
    })
}
