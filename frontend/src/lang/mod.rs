//! The problem language (`.nabla` files): lexer, parser, checks, lowering.
//!
//! A file is parsed into a syntax tree ([`ast`]), checked ([`check`]: names, argument
//! counts, derivative variables, cycles, numbers), and lowered ([`lower`]) to a
//! [`Problem`] whose residual and exact expressions are closures over the Rust DSL. Errors
//! carry spans and are rendered with file, line, column, the source line and a caret
//! ([`Diagnostics`]); every error of a file is reported in one run.
//!
//! ```
//! use nabla_frontend::lang;
//! let src = "input x in [0, 1]\nnet u(x) = mlp(widths = [8])\n\
//!            points inner = interior(16)\nresidual pde on inner = d(u, x, x) + u\n";
//! let loaded = lang::load("ode.nabla", src).unwrap();
//! assert_eq!(loaded.problem.residuals[0].name, "pde");
//! assert_eq!(loaded.problem.nets[0].mlp.widths, vec![1, 8, 1]);
//! ```

pub mod ast;
pub mod check;
pub mod diag;
mod exprcheck;
pub mod lexer;
pub mod lower;
pub mod parser;
pub mod scope;

pub use diag::{Diagnostic, Diagnostics, Span};
pub use parser::{parse_expr, parse_file};

use crate::problem::{ExactDecl, ExprFn, Problem, ResidualDecl};
use scope::Scope;
use std::sync::Arc;

/// A loaded problem file: the problem, and the names it declares (for `--expr`).
pub struct Loaded {
    /// The lowered problem.
    pub problem: Problem,
    /// The syntax tree.
    pub ast: ast::File,
    /// What each name means.
    pub scope: Arc<Scope>,
}

/// Parses, checks and lowers the problem file `src` (named `file` in messages).
pub fn load(file: &str, src: &str) -> Result<Loaded, Diagnostics> {
    let (ast, mut errors) = parse_file(src);
    let (checked, check_errors) = check::check(&ast, src);
    errors.extend(check_errors);
    if !errors.is_empty() {
        return Err(Diagnostics::new(file, src, errors));
    }
    let scope = Arc::new(checked.scope);
    let residuals = checked.residuals.iter().map(|r| ResidualDecl {
        name: r.name.clone(),
        points: r.points.clone(),
        weight: r.weight,
        expr: lower::expr_fn(&scope, &r.expr),
    });
    let exact = checked.exact.iter().map(|(out, e)| ExactDecl {
        output: out.clone(),
        expr: lower::expr_fn(&scope, e),
    });
    let problem = Problem {
        name: checked.name,
        inputs: checked.inputs,
        nets: checked.nets,
        params: checked.params,
        point_sets: checked.point_sets,
        residuals: residuals.collect(),
        exact: exact.collect(),
    };
    Ok(Loaded {
        problem,
        ast,
        scope,
    })
}

impl Loaded {
    /// An extra expression in the problem's scope (as given to `--expr NAME=EXPR`);
    /// `label` names it in messages.
    pub fn expression(&self, label: &str, src: &str) -> Result<ExprFn, Diagnostics> {
        let e = parse_expr(src).map_err(|errs| Diagnostics::new(label, src, errs))?;
        let errs = exprcheck::check_expr(&self.scope, &e);
        if !errs.is_empty() {
            return Err(Diagnostics::new(label, src, errs));
        }
        Ok(lower::expr_fn(&self.scope, &e))
    }
}
