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

pub use diag::{Diagnostic, Diagnostics, Severity, Span};
pub use parser::{parse_expr, parse_file};

use crate::problem::{ExactDecl, ExprFn, LetDecl, Problem, ResidualDecl};
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
    /// What the file said that is allowed but probably not meant (see [`check`]), with the
    /// file's name and text to render them.
    pub warnings: Diagnostics,
}

/// [`load`] of a file's bytes: text that is not UTF-8 is an error located at its first
/// bad byte, like any other (the file shown with that byte replaced).
pub fn load_bytes(file: &str, bytes: &[u8]) -> Result<Loaded, Diagnostics> {
    match std::str::from_utf8(bytes) {
        Ok(src) => load(file, src),
        Err(e) => {
            let at = e.valid_up_to();
            let lossy = String::from_utf8_lossy(bytes);
            let src = lone_cr_as_lf(&lossy);
            let msg = format!("the file is not UTF-8 text: byte 0x{:02X}", bytes[at]);
            // the lossy text has U+FFFD (three bytes) where the bad byte was
            let d = Diagnostic::new(Span::new(at, at + '\u{fffd}'.len_utf8()), msg)
                .note("save it as UTF-8 (ASCII is UTF-8)");
            Err(Diagnostics::new(file, &src, vec![d]))
        }
    }
}

/// `src` with every carriage return that no line feed follows read as a line feed: a
/// file saved with classic Mac line endings (CR alone) has lines like any other, where it
/// used to be one line whose first comment hid the rest ("the problem file is empty").
/// One byte for one, so every span still points at the file's own bytes; LF and CRLF
/// files come back as they are.
fn lone_cr_as_lf(src: &str) -> std::borrow::Cow<'_, str> {
    let b = src.as_bytes();
    let lone = |i: usize| b[i] == b'\r' && b.get(i + 1) != Some(&b'\n');
    if !(0..b.len()).any(lone) {
        return std::borrow::Cow::Borrowed(src);
    }
    let mut out = b.to_vec();
    for (i, c) in out.iter_mut().enumerate() {
        if lone(i) {
            *c = b'\n';
        }
    }
    // only ASCII `\r` became ASCII `\n`: still UTF-8
    std::borrow::Cow::Owned(String::from_utf8(out).expect("one ASCII byte for another"))
}

/// Parses, checks and lowers the problem file `src` (named `file` in messages).
pub fn load(file: &str, src: &str) -> Result<Loaded, Diagnostics> {
    // a byte-order mark (some editors write one) is not part of the text
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines = lone_cr_as_lf(src);
    let src: &str = &lines;
    let (ast, mut errors) = parse_file(src);
    let (checked, check_errors) = check::check(&ast, src);
    errors.extend(check_errors);
    if !errors.is_empty() {
        return Err(Diagnostics::new(file, src, errors));
    }
    let warnings = Diagnostics::new(file, src, checked.warnings);
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
    // A `let` with an `exact` is an output (a constrained one, e.g. a hard-constraint
    // ansatz): the problem carries its expression so reports can evaluate it.
    let lets = (checked.exact.iter()).filter_map(|(name, _)| {
        let i = scope.lets.iter().position(|(n, _)| n == name)?;
        Some(LetDecl {
            name: name.clone(),
            expr: lower::expr_fn(&scope, &scope.lets[i].1),
        })
    });
    let lets = lets.collect();
    let problem = Problem {
        name: checked.name,
        inputs: checked.inputs,
        nets: checked.nets,
        params: checked.params,
        point_sets: checked.point_sets,
        residuals: residuals.collect(),
        exact: exact.collect(),
        lets,
        domains: checked.domains,
        point_weights: Vec::new(),
        owner: None,
    };
    Ok(Loaded {
        problem,
        ast,
        scope,
        warnings,
    })
}

impl Loaded {
    /// An error unless the file declares at least one residual. The loss is a sum over
    /// residuals, so without one there is nothing to train, evaluate or measure; a file of
    /// declarations alone is still useful for looking at expressions (`--expr`), which is
    /// why [`load`] accepts it and the commands that need a loss ask for this check.
    pub fn require_residuals(&self) -> Result<(), Diagnostics> {
        if !self.problem.residuals.is_empty() {
            return Ok(());
        }
        let end = self.ast.stmts.last().map_or(0, |s| s.span.end);
        let example = match self.problem.point_sets.first() {
            Some(set) => format!("`residual pde on {} = EXPR`", set.name),
            None => "`points inner = interior(N)` and `residual pde on inner = EXPR`".into(),
        };
        let note = format!(
            "add one, e.g. {example}; `nabla dump-ir --expr NAME=EXPR` shows expressions of \
             a file without residuals"
        );
        let d = Diagnostic::new(
            Span::new(end, end),
            "the problem has no residuals: its loss is 0, with nothing to train or evaluate",
        )
        .note(note);
        let w = &self.warnings;
        Err(Diagnostics::new(&w.file, &w.src, vec![d]))
    }

    /// An extra expression in the problem's scope (as given to `--expr NAME=EXPR`);
    /// `label` names it in messages.
    pub fn expression(&self, label: &str, src: &str) -> Result<ExprFn, Diagnostics> {
        self.checked_expression(label, src, false)
    }

    /// [`Loaded::expression`] for plain points, as `--expr` evaluates it: points that are no
    /// boundary set's have no normals, so `normal(v)` and `dn(E)` in it are located errors
    /// here (when traced they were an error without a place).
    pub fn expression_on_points(&self, label: &str, src: &str) -> Result<ExprFn, Diagnostics> {
        self.checked_expression(label, src, true)
    }

    fn checked_expression(
        &self,
        label: &str,
        src: &str,
        plain: bool,
    ) -> Result<ExprFn, Diagnostics> {
        let e = parse_expr(src).map_err(|errs| Diagnostics::new(label, src, errs))?;
        let mut errs = exprcheck::check_expr(&self.scope, &e);
        if plain {
            errs.extend(no_normals(&self.scope, &e));
        }
        if !errs.is_empty() {
            return Err(Diagnostics::new(label, src, errs));
        }
        Ok(lower::expr_fn(&self.scope, &e))
    }
}

/// `normal(v)` and `dn(E)` in an expression for plain points: an error at the call, or at
/// the whole expression where it reaches them through a `let`.
fn no_normals(scope: &scope::Scope, e: &ast::Expr) -> Option<Diagnostic> {
    if exprcheck::normal_uses(scope, e).is_empty() {
        return None;
    }
    let mut direct = None;
    e.walk(&mut |x| match &x.kind {
        ast::ExprKind::Call(f, _) if direct.is_none() && (f.name == "normal" || f.name == "dn") => {
            direct = Some(f.clone())
        }
        _ => {}
    });
    let note = "normals exist in residuals on sets made only of boundary(D, N) terms of one \
                domain; an expression given here is evaluated on plain points";
    let d = match direct {
        Some(f) => Diagnostic::new(f.span, format!("`{}` outside a residual", f.name)),
        None => Diagnostic::new(e.span, "this takes normal(...) or dn(...) through a `let`"),
    };
    Some(d.note(note))
}
