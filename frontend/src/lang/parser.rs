//! Recursive-descent parser with recovery at line boundaries.
//!
//! Each statement occupies one line. When a statement does not parse, the error is
//! recorded and the parser skips to the next line, so one run reports every syntax error.
//!
//! Expression grammar (loosest first):
//!
//! ```text
//! sum   := term (('+' | '-') term)*
//! term  := unary (('*' | '/') unary)*
//! unary := '-' unary | power
//! power := atom ('^' unary)?          # right-associative, tighter than unary minus
//! atom  := NUMBER | NAME | NAME '(' args ')' | '(' sum ')'
//!        | 'd' '(' sum (',' NAME)+ ')' | 'lap' '(' sum [';' NAME (',' NAME)*] ')'
//!        | 'at' '(' sum ';' NAME '=' sum (',' NAME '=' sum)* ')'
//! ```

use super::ast::*;
use super::diag::{Diagnostic, Span};
use super::lexer::{lex, Tok, Token};

/// Parses a whole file: the tree of every statement that parsed, and every error.
pub fn parse_file(src: &str) -> (File, Vec<Diagnostic>) {
    let (toks, mut errors) = lex(src);
    let mut p = Parser::new(toks);
    let mut file = File::default();
    loop {
        p.skip_newlines();
        if p.at(&Tok::Eof) {
            break;
        }
        let start = p.pos;
        match p.stmt() {
            Ok(s) => file.stmts.push(s),
            Err(e) => {
                errors.push(e);
                file.broken.extend(p.declared_at(start));
                p.skip_line();
            }
        }
    }
    if file.stmts.is_empty() && errors.is_empty() {
        let d = Diagnostic::new(Span::new(0, 0), "the problem file is empty")
            .note("expected statements such as `input x in [0, 1]`");
        errors.push(d);
    }
    (file, errors)
}

/// Parses one expression that fills the whole text (as given to `--expr`).
pub fn parse_expr(src: &str) -> Result<Expr, Vec<Diagnostic>> {
    let (toks, mut errors) = lex(src);
    let mut p = Parser::new(toks);
    p.skip_newlines();
    let r = p.expr().and_then(|e| {
        p.skip_newlines();
        p.expect(Tok::Eof, "the end of the expression")?;
        Ok(e)
    });
    match r {
        Ok(e) if errors.is_empty() => Ok(e),
        Ok(_) => Err(errors),
        Err(d) => {
            errors.push(d);
            Err(errors)
        }
    }
}

type PResult<T> = Result<T, Diagnostic>;

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// How many `unary` calls are active: every recursion of expression parsing passes
    /// through `unary`, so this bounds the parser's own stack by [`MAX_NESTING`].
    depth: u32,
}

impl Parser {
    fn new(toks: Vec<Token>) -> Parser {
        Parser {
            toks,
            pos: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn at(&self, t: &Tok) -> bool {
        self.peek().tok == *t
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        let yes = self.at(t);
        if yes {
            self.bump();
        }
        yes
    }

    fn skip_newlines(&mut self) {
        while self.eat(&Tok::Newline) {}
    }

    /// The name a declaring statement starting at token `start` declares (`let NAME`, ...).
    fn declared_at(&self, start: usize) -> Option<String> {
        const DECLARING: [&str; 7] = ["input", "const", "param", "net", "let", "points", "domain"];
        let kw = &self.toks.get(start)?.tok;
        let name = &self.toks.get(start + 1)?.tok;
        match (kw, name) {
            (Tok::Name(k), Tok::Name(n)) if DECLARING.contains(&k.as_str()) => Some(n.clone()),
            _ => None,
        }
    }

    fn skip_line(&mut self) {
        while !self.at(&Tok::Newline) && !self.at(&Tok::Eof) {
            self.bump();
        }
    }

    fn unexpected(&self, what: &str) -> Diagnostic {
        let t = self.peek();
        Diagnostic::new(
            t.span,
            format!("expected {what}, found {}", t.tok.describe()),
        )
    }

    fn expect(&mut self, t: Tok, what: &str) -> PResult<Span> {
        if self.at(&t) {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(what))
        }
    }

    /// A closing bracket. Where the line ends first, the error points at the opening one
    /// (it is unclosed); where something else stands in its place (`sin(x y)`, `u(x; y)`),
    /// at that token, which is the mistake.
    fn close(&mut self, t: Tok, open: Span, sym: &str) -> PResult<Span> {
        if self.at(&t) {
            return Ok(self.bump().span);
        }
        let found = self.peek();
        let what = found.tok.describe();
        if matches!(found.tok, Tok::Newline | Tok::Eof) {
            let note = format!("expected a matching closing bracket, found {what}");
            return Err(Diagnostic::new(open, format!("unclosed `{sym}`")).note(note));
        }
        let closing = t.describe();
        Err(Diagnostic::new(
            found.span,
            format!("expected {closing} closing the `{sym}` before it, found {what}"),
        ))
    }

    fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.peek().tok.clone() {
            Tok::Name(name) => Ok(Ident {
                name,
                span: self.bump().span,
            }),
            _ => Err(self.unexpected(what)),
        }
    }

    fn keyword(&mut self, kw: &str) -> PResult<Span> {
        match &self.peek().tok {
            Tok::Name(n) if n == kw => Ok(self.bump().span),
            _ => Err(self.unexpected(&format!("`{kw}`"))),
        }
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        let start = self.peek().span;
        let kw = self.ident(
            "a statement (problem, input, const, param, net, let, domain, points, residual, exact)",
        )?;
        let kind = match kw.name.as_str() {
            "problem" => StmtKind::Problem(self.ident("the problem's name")?),
            "input" => self.input()?,
            "const" => self.named_expr(StmtKind::Const)?,
            "param" => self.named_expr(StmtKind::Param)?,
            "let" => self.named_expr(StmtKind::Let)?,
            "exact" => self.named_expr(StmtKind::Exact)?,
            "net" => self.net()?,
            "points" => self.points()?,
            "domain" => self.domain()?,
            "residual" => self.residual()?,
            other => return Err(unknown_statement(&kw, other)),
        };
        let end = self.toks[self.pos.saturating_sub(1)].span;
        if !self.at(&Tok::Newline) && !self.at(&Tok::Eof) {
            return Err(self.unexpected("the end of the line"));
        }
        Ok(Stmt {
            kind,
            span: start.to(end),
        })
    }

    fn input(&mut self) -> PResult<StmtKind> {
        let name = self.ident("the input's name")?;
        self.keyword("in")?;
        let open = self.expect(Tok::LBracket, "`[` starting the interval")?;
        let lo = self.expr()?;
        self.expect(Tok::Comma, "`,` between the interval's ends")?;
        let hi = self.expr()?;
        self.close(Tok::RBracket, open, "[")?;
        Ok(StmtKind::Input(name, lo, hi))
    }

    fn named_expr(&mut self, make: fn(Ident, Expr) -> StmtKind) -> PResult<StmtKind> {
        let name = self.ident("a name")?;
        self.expect(Tok::Eq, "`=`")?;
        Ok(make(name, self.expr()?))
    }

    fn names_in_parens(&mut self, what: &str) -> PResult<Vec<Ident>> {
        let open = self.expect(Tok::LParen, "`(`")?;
        let mut names = Vec::new();
        if !self.at(&Tok::RParen) {
            names.push(self.ident(what)?);
            while self.eat(&Tok::Comma) {
                names.push(self.ident(what)?);
            }
        }
        self.close(Tok::RParen, open, "(")?;
        Ok(names)
    }

    fn net(&mut self) -> PResult<StmtKind> {
        let name = self.ident("the network's name")?;
        let args = self.names_in_parens("an input name")?;
        let outputs = if self.eat(&Tok::Arrow) {
            let open = self.peek().span;
            let names = self.names_in_parens("an output name")?;
            if names.is_empty() {
                let d = Diagnostic::new(open, "a network needs at least one output");
                return Err(d.note(
                    "name them, as in `-> (u, v)`, or leave out `-> (...)` for one output \
                     named after the network",
                ));
            }
            Some(names)
        } else {
            None
        };
        self.expect(
            Tok::Eq,
            "`=` and the architecture, e.g. `= mlp(widths = [32, 32])`",
        )?;
        let arch = self.arch()?;
        Ok(StmtKind::Net {
            name,
            args,
            outputs,
            arch,
        })
    }

    fn arch(&mut self) -> PResult<Arch> {
        let kind = self.ident("the architecture, e.g. `mlp(widths = [32, 32])`")?;
        let open = self.expect(Tok::LParen, "`(`")?;
        let mut args = Vec::new();
        while !self.at(&Tok::RParen) {
            let key = self.ident("an argument name (widths, act, seed)")?;
            self.expect(Tok::Eq, "`=`")?;
            args.push((key, self.arg_value()?));
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        self.close(Tok::RParen, open, "(")?;
        Ok(Arch { kind, args })
    }

    fn arg_value(&mut self) -> PResult<ArgValue> {
        if !self.at(&Tok::LBracket) {
            return Ok(ArgValue::Expr(self.expr()?));
        }
        let open = self.bump().span;
        let mut items = Vec::new();
        while !self.at(&Tok::RBracket) {
            items.push(self.expr()?);
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        let close = self.close(Tok::RBracket, open, "[")?;
        Ok(ArgValue::List(items, open.to(close)))
    }

    fn points(&mut self) -> PResult<StmtKind> {
        let name = self.ident("the point set's name")?;
        self.expect(Tok::Eq, "`=`")?;
        let mut parts = vec![self.set_term()?];
        while self.eat(&Tok::Plus) {
            parts.push(self.set_term()?);
        }
        let set = if parts.len() == 1 {
            parts.remove(0)
        } else {
            SetExpr::Union(parts)
        };
        Ok(StmtKind::Points(name, set))
    }

    /// `domain NAME(V, ...) = SHAPE`.
    fn domain(&mut self) -> PResult<StmtKind> {
        let name = self.ident("the domain's name")?;
        let coords = self.names_in_parens("a coordinate (an input)")?;
        self.expect(Tok::Eq, "`=` and a shape, e.g. `= disk([0, 0], 1)`")?;
        Ok(StmtKind::Domain(name, coords, self.shape()?))
    }

    /// Shapes combined by `+`, `-` and `&`, left to right.
    fn shape(&mut self) -> PResult<ShapeExpr> {
        let mut acc = self.shape_term()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => ShapeOp::Union,
                Tok::Minus => ShapeOp::Difference,
                Tok::Amp => ShapeOp::Intersection,
                _ => return Ok(acc),
            };
            self.bump();
            let rhs = self.shape_term()?;
            acc = ShapeExpr::Op(op, Box::new(acc), Box::new(rhs));
        }
    }

    fn shape_term(&mut self) -> PResult<ShapeExpr> {
        if self.at(&Tok::LParen) {
            let open = self.bump().span;
            let inner = self.shape()?;
            let close = self.close(Tok::RParen, open, "(")?;
            return Ok(ShapeExpr::Paren(Box::new(inner), open.to(close)));
        }
        let kind = self.ident("a shape: rect, box, disk, ball or polygon")?;
        if !self.at(&Tok::LParen) {
            return Err(name_alone(&kind));
        }
        let open = self.expect(Tok::LParen, "`(`")?;
        let mut args = Vec::new();
        while !self.at(&Tok::RParen) {
            args.push(self.shape_arg()?);
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        let close = self.close(Tok::RParen, open, "(")?;
        let span = kind.span.to(close);
        Ok(ShapeExpr::Call(kind, args, span))
    }

    fn shape_arg(&mut self) -> PResult<ShapeArg> {
        if !self.at(&Tok::LBracket) {
            return Ok(ShapeArg::Expr(self.expr()?));
        }
        let open = self.bump().span;
        let mut items = Vec::new();
        while !self.at(&Tok::RBracket) {
            items.push(self.shape_arg()?);
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        let close = self.close(Tok::RBracket, open, "[")?;
        Ok(ShapeArg::List(items, open.to(close)))
    }

    /// Whether `NAME ,` comes next: the domain of `interior(D, N)` or `boundary(D, N)`.
    fn domain_arg_ahead(&self) -> bool {
        let next = self.toks.get(self.pos + 1).map(|t| &t.tok);
        matches!(self.peek().tok, Tok::Name(_)) && next == Some(&Tok::Comma)
    }

    /// The domain of `interior(D, N)` and the comma after it.
    fn domain_arg(&mut self) -> PResult<Option<Ident>> {
        let d = self.ident("a domain")?;
        self.expect(Tok::Comma, "`,` and the number of points")?;
        Ok(Some(d))
    }

    fn set_term(&mut self) -> PResult<SetExpr> {
        let kind = self.ident("interior(N), boundary(N) or face(VAR = VALUE, N)")?;
        let open = self.expect(Tok::LParen, "`(`")?;
        let set = match kind.name.as_str() {
            "interior" | "boundary" if self.domain_arg_ahead() => {
                let d = self.domain_arg()?.expect("checked ahead");
                let n = self.expr()?;
                if kind.name == "interior" {
                    SetExpr::InteriorOf(d, n)
                } else {
                    SetExpr::BoundaryOf(d, n)
                }
            }
            "interior" => SetExpr::Interior(self.expr()?),
            "boundary" => SetExpr::Boundary(self.expr()?),
            "face" => {
                let v = self.ident("the input held fixed, as in face(x = 0, 100)")?;
                self.expect(Tok::Eq, "`=`")?;
                let x = self.expr()?;
                self.expect(Tok::Comma, "`,` and the number of points")?;
                SetExpr::Face(v, x, self.expr()?)
            }
            other => {
                let near = super::diag::nearest(other, ["interior", "boundary", "face"]);
                let mut d = Diagnostic::new(kind.span, format!("unknown point set kind `{other}`"));
                d = d.note(match near {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "expected interior, boundary or face".into(),
                });
                return Err(d);
            }
        };
        self.close(Tok::RParen, open, "(")?;
        Ok(set)
    }

    fn residual(&mut self) -> PResult<StmtKind> {
        let name = self.ident("the residual's name")?;
        self.keyword("on")?;
        let on = self.ident("the point set's name")?;
        let weight = match &self.peek().tok {
            Tok::Name(n) if n == "weight" => {
                self.bump();
                Some(self.expr()?)
            }
            _ => None,
        };
        self.expect(Tok::Eq, "`=` (or `weight W =`)")?;
        let expr = self.expr()?;
        Ok(StmtKind::Residual {
            name,
            on,
            weight,
            expr,
        })
    }

    fn expr(&mut self) -> PResult<Expr> {
        let mut a = self.term()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(a),
            };
            self.bump();
            let b = self.term()?;
            let at = b.span;
            a = bounded(binary(op, a, b), at)?;
        }
    }

    fn term(&mut self) -> PResult<Expr> {
        let mut a = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(a),
            };
            self.bump();
            let b = self.unary()?;
            let at = b.span;
            a = bounded(binary(op, a, b), at)?;
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        if self.depth >= MAX_NESTING {
            let msg = format!(
                "this expression nests parentheses, calls or signs {MAX_NESTING} or more deep"
            );
            let d = Diagnostic::new(self.peek().span, msg);
            return Err(d.note("define inner parts of it with `let`"));
        }
        self.depth += 1;
        let e = self.unary_below();
        self.depth -= 1;
        e.and_then(|e| {
            let at = e.span;
            bounded(e, at)
        })
    }

    fn unary_below(&mut self) -> PResult<Expr> {
        if self.at(&Tok::Minus) {
            let start = self.bump().span;
            let a = self.unary()?;
            let span = start.to(a.span);
            return Ok(Expr::new(ExprKind::Neg(Box::new(a)), span));
        }
        self.power()
    }

    fn power(&mut self) -> PResult<Expr> {
        let base = self.atom()?;
        if !self.eat(&Tok::Caret) {
            return Ok(base);
        }
        let exp = self.unary()?;
        Ok(binary(BinOp::Pow, base, exp))
    }

    fn atom(&mut self) -> PResult<Expr> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Num(v) => {
                self.bump();
                Ok(Expr::new(ExprKind::Num(v), t.span))
            }
            Tok::LParen => {
                self.bump();
                let e = self.expr()?;
                self.close(Tok::RParen, t.span, "(")?;
                Ok(e)
            }
            Tok::Name(n) => self.named(n, t.span),
            _ => Err(self.unexpected("an expression")),
        }
    }

    fn named(&mut self, name: String, span: Span) -> PResult<Expr> {
        self.bump();
        if !self.at(&Tok::LParen) {
            return Ok(Expr::new(ExprKind::Name(name), span));
        }
        let open = self.bump().span;
        let kind = match name.as_str() {
            "d" => self.d_args()?,
            "lap" => self.lap_args()?,
            "at" => self.at_args()?,
            _ => ExprKind::Call(Ident { name, span }, self.call_args()?),
        };
        let close = self.close(Tok::RParen, open, "(")?;
        Ok(Expr::new(kind, span.to(close)))
    }

    fn call_args(&mut self) -> PResult<Vec<Expr>> {
        let mut args = Vec::new();
        while !self.at(&Tok::RParen) {
            args.push(self.expr()?);
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        Ok(args)
    }

    fn d_args(&mut self) -> PResult<ExprKind> {
        let e = self.expr()?;
        self.expect(
            Tok::Comma,
            "`,` and the inputs to differentiate by, as in d(u, x)",
        )?;
        let mut vs = vec![self.ident("an input name")?];
        while self.eat(&Tok::Comma) {
            vs.push(self.ident("an input name")?);
        }
        Ok(ExprKind::D(Box::new(e), vs))
    }

    /// `lap(E)`, `lap(E; v, ...)`, `lap(E; sample = K)`, `lap(E; v, ...; sample = K)`.
    fn lap_args(&mut self) -> PResult<ExprKind> {
        let e = Box::new(self.expr()?);
        if self.at(&Tok::Comma) {
            // `d` lists its inputs after a comma, `lap` after a semicolon
            return Err(self.unexpected("`;` before the inputs, as in lap(u; x, y), or `)`"));
        }
        if !self.eat(&Tok::Semi) {
            return Ok(ExprKind::Lap(e, None, None));
        }
        if let Some(k) = self.sample_clause()? {
            return Ok(ExprKind::Lap(e, None, Some(k)));
        }
        let mut vs = vec![self.ident("an input name or `sample = K`")?];
        while self.eat(&Tok::Comma) {
            vs.push(self.ident("an input name")?);
        }
        if !self.eat(&Tok::Semi) {
            return Ok(ExprKind::Lap(e, Some(vs), None));
        }
        match self.sample_clause()? {
            Some(k) => Ok(ExprKind::Lap(e, Some(vs), Some(k))),
            None => Err(self.unexpected("`sample = K`")),
        }
    }

    /// `sample = K` (the name `sample` followed by `=`; an input may be named `sample`).
    fn sample_clause(&mut self) -> PResult<Option<Box<Expr>>> {
        let named = matches!(&self.peek().tok, Tok::Name(n) if n == "sample");
        let next_eq = (self.toks.get(self.pos + 1)).is_some_and(|t| t.tok == Tok::Eq);
        if !(named && next_eq) {
            return Ok(None);
        }
        self.bump();
        self.bump();
        Ok(Some(Box::new(self.expr()?)))
    }

    fn at_args(&mut self) -> PResult<ExprKind> {
        let e = self.expr()?;
        self.expect(Tok::Semi, "`;` and substitutions, as in at(u; x = 0)")?;
        let mut subs = Vec::new();
        loop {
            let v = self.ident("an input name")?;
            self.expect(Tok::Eq, "`=`")?;
            subs.push((v, self.expr()?));
            if !self.eat(&Tok::Comma) {
                return Ok(ExprKind::At(Box::new(e), subs));
            }
        }
    }
}

/// `e` unless it is higher than [`MAX_HEIGHT`] (then an error at `at`: the term that
/// crossed the limit).
fn bounded(e: Expr, at: Span) -> PResult<Expr> {
    match e.height > MAX_HEIGHT {
        true => Err(too_deep(at)),
        false => Ok(e),
    }
}

fn too_deep(span: Span) -> Diagnostic {
    let msg = format!("this expression is more than {MAX_HEIGHT} levels deep");
    Diagnostic::new(span, msg).note(
        "each term of a sum or product and each call is a level: define parts of it with `let`",
    )
}

fn binary(op: BinOp, a: Expr, b: Expr) -> Expr {
    let span = a.span.to(b.span);
    Expr::new(ExprKind::Binary(op, Box::new(a), Box::new(b)), span)
}

const STATEMENTS: [&str; 10] = [
    "problem", "input", "const", "param", "net", "let", "points", "residual", "exact", "domain",
];

fn unknown_statement(kw: &Ident, word: &str) -> Diagnostic {
    let d = Diagnostic::new(kw.span, format!("unknown statement `{word}`"));
    match super::diag::nearest(word, STATEMENTS) {
        Some(n) => d.note(format!("did you mean `{n}`?")),
        None => d.note(format!("expected one of {}", STATEMENTS.join(", "))),
    }
}

/// The error of a name where a shape belongs without `(` after it: a shape without its
/// arguments, or another domain named in a domain.
fn name_alone(kind: &Ident) -> Diagnostic {
    let usage = match kind.name.as_str() {
        "rect" => Some("rect([a1, b1], [a2, b2])"),
        "box" => Some("box([a1, b1], ..., [ad, bd])"),
        "disk" => Some("disk([c1, c2], r)"),
        "ball" => Some("ball([c1, ..., cd], r)"),
        "polygon" => Some("polygon([[x1, y1], [x2, y2], ...])"),
        _ => None,
    };
    match usage {
        Some(u) => Diagnostic::new(kind.span, format!("`{kind}` needs its arguments: `{u}`")),
        None => Diagnostic::new(kind.span, format!("`{kind}` is not a shape")).note(
            "a domain is built from rect(...), box(...), disk(...), ball(...) and \
             polygon(...) with +, - and &; another domain cannot be named in it",
        ),
    }
}
