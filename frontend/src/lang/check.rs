//! Name resolution and the checks of a parsed file: every name declared once and used as
//! what it is, derivatives only by inputs, argument counts, `let`/`const` cycles, point
//! sets that exist, numbers where numbers are required, faces inside their input's
//! interval, one `exact` per output. All errors are collected. Point sets that no residual
//! uses are warnings: the file still means something, just probably not what was meant.

use super::ast::*;
use super::diag::{nearest, Diagnostic, Span};
use super::scope::{function_arity, Kind, NetSig, Scope, FUNCTIONS, RESERVED};
use crate::nn::{Act, Mlp};
use crate::problem::domain::{check_domain, Region};
use crate::problem::{
    DomainDecl, Embedding, Fourier, InputDecl, NetDecl, Periodic, PointSetDecl, PointSpec,
    ScalarParam,
};
use std::collections::HashMap;

/// A residual before lowering.
pub struct ResidualSrc {
    /// Name.
    pub name: String,
    /// Point set.
    pub points: String,
    /// Weight.
    pub weight: f64,
    /// Expression.
    pub expr: Expr,
}

/// Everything of a problem except its expression closures.
#[derive(Default)]
pub struct Checked {
    /// The names.
    pub scope: Scope,
    /// The `problem` name.
    pub name: String,
    /// Inputs.
    pub inputs: Vec<InputDecl>,
    /// Networks.
    pub nets: Vec<NetDecl>,
    /// Trainable scalars.
    pub params: Vec<ScalarParam>,
    /// Point sets.
    pub point_sets: Vec<PointSetDecl>,
    /// Residuals.
    pub residuals: Vec<ResidualSrc>,
    /// Exact solutions `(output, expression)`.
    pub exact: Vec<(String, Expr)>,
    /// Domains, in declaration order.
    pub domains: Vec<DomainDecl>,
    /// Warnings (the file is usable as it is).
    pub warnings: Vec<Diagnostic>,
}

/// Checks a parsed file; returns what it declares and every error found.
pub fn check(file: &File, src: &str) -> (Checked, Vec<Diagnostic>) {
    let mut c = Checker {
        out: Checked::default(),
        errors: Vec::new(),
        first: HashMap::new(),
        faces: Vec::new(),
        box_boundaries: Vec::new(),
        exact_first: HashMap::new(),
        domain_count: 0,
        domain_slots: Vec::new(),
        pending_domains: Vec::new(),
        pending_normals: Vec::new(),
        src,
    };
    for s in &file.stmts {
        c.declare(s);
    }
    c.fold_consts(file);
    for s in &file.stmts {
        c.stmt(s);
    }
    c.let_cycles();
    c.face_positions();
    c.box_boundaries();
    c.periodic_intervals();
    c.check_domains();
    c.check_normals();
    c.unused_point_sets(file);
    let broken = &file.broken;
    c.errors
        .retain(|d| !d.about.as_ref().is_some_and(|n| broken.contains(n)));
    (c.out, c.errors)
}

/// What `mlp(...)` says.
struct ArchSpec {
    hidden: Vec<usize>,
    act: Act,
    seed: u64,
    periodic: Vec<Ident>,
    fourier: Option<usize>,
    sigma: Option<f64>,
}

/// Allowed layer widths: beyond this a network is not a PINN's, and its initialisation
/// alone would exhaust memory.
const WIDTHS: (usize, usize) = (1, 1 << 20);
/// The most parameters a network may have: 2²⁸ (2 GB in f64, before the gradient and the
/// optimizer's state), far beyond a PINN's; wider layers together (`widths = [10⁶, 10⁶]`)
/// made the initialisation abort on an allocation of terabytes.
const MAX_PARAMS: usize = 1 << 28;
/// Allowed point-set sizes.
const POINTS: (usize, usize) = (1, 1 << 30);
/// Allowed seeds: whole numbers that f64 (the language's numbers) represents exactly.
const SEEDS: (usize, usize) = (0, 1 << 53);

struct Checker<'s> {
    out: Checked,
    errors: Vec<Diagnostic>,
    first: HashMap<String, Span>,
    /// Every `face(V = X, N)` that checked: the input, the position and the position's
    /// span. Checked against the intervals once every input is known (an `input` may be
    /// declared after the `points` that use it).
    faces: Vec<(usize, f64, Span)>,
    /// The count of every `boundary(N)`: the faces of the inputs' box, which a problem
    /// without inputs does not have (checked once every input is known).
    box_boundaries: Vec<Span>,
    /// Where each output's `exact` was first given.
    exact_first: HashMap<String, Span>,
    /// Domains declared so far (first pass).
    domain_count: usize,
    /// For each declared domain, its index in `out.domains` once it passed its checks.
    domain_slots: Vec<Option<usize>>,
    /// Domains whose shapes evaluated, checked against their intervals once every input
    /// is known: `(name, coordinates, shape, where the shape is written)`.
    pending_domains: Vec<(usize, String, Vec<usize>, Region, Span)>,
    /// `normal(v)` and `dn(E)` in each residual, with the residual's point set, checked
    /// once every point set is known.
    pending_normals: Vec<(Ident, Vec<super::exprcheck::NormalUse>)>,
    src: &'s str,
}

fn line_of(src: &str, span: Span) -> usize {
    super::diag::line_col(src, span.start).0
}

impl Checker<'_> {
    fn err(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    /// Declares `id` as `kind` unless taken or reserved.
    fn bind(&mut self, id: &Ident, kind: Kind) {
        let n = id.name.as_str();
        if RESERVED.contains(&n) || FUNCTIONS.contains(&n) {
            let d = Diagnostic::new(id.span, format!("`{n}` is a built-in name"))
                .note("choose another name");
            return self.err(d);
        }
        if let Some(&prev) = self.first.get(n) {
            let line = line_of(self.src, prev);
            let d = Diagnostic::new(id.span, format!("`{n}` is declared twice"))
                .note(format!("first declared on line {line}"));
            return self.err(d);
        }
        self.first.insert(n.into(), id.span);
        self.out.scope.names.insert(n.into(), kind);
    }

    fn declare(&mut self, s: &Stmt) {
        let sc = &self.out.scope;
        match &s.kind {
            StmtKind::Input(n, ..) => {
                let i = sc.inputs.len();
                self.out.scope.inputs.push(n.name.clone());
                self.bind(n, Kind::Input(i));
            }
            StmtKind::Const(n, _) => self.bind(n, Kind::Const(None)),
            StmtKind::Param(n, _) => self.bind(n, Kind::Param),
            StmtKind::Let(n, e) => {
                let i = sc.lets.len();
                self.out.scope.lets.push((n.name.clone(), e.clone()));
                self.bind(n, Kind::Let(i));
            }
            StmtKind::Points(n, _) => self.bind(n, Kind::Points),
            StmtKind::Domain(n, ..) => {
                self.bind(n, Kind::Domain(self.domain_count));
                self.domain_count += 1;
            }
            StmtKind::Net { name, outputs, .. } => self.declare_net(name, outputs.as_deref()),
            StmtKind::Problem(_) | StmtKind::Residual { .. } | StmtKind::Exact(..) => {}
        }
    }

    fn declare_net(&mut self, name: &Ident, outputs: Option<&[Ident]>) {
        let k = self.out.scope.nets.len();
        let outs: Vec<Ident> = outputs.map_or_else(|| vec![name.clone()], <[Ident]>::to_vec);
        if outputs.is_some() {
            self.bind(name, Kind::Net(k));
        }
        for o in &outs {
            self.bind(o, Kind::Output(k));
        }
        self.out.scope.nets.push(NetSig {
            name: name.name.clone(),
            args: Vec::new(),
            outputs: outs.iter().map(|o| o.name.clone()).collect(),
        });
    }

    /// Folds every const, in dependency order, reporting cycles and non-constant uses.
    fn fold_consts(&mut self, file: &File) {
        let consts = file.stmts.iter().filter_map(|s| match &s.kind {
            StmtKind::Const(n, e) => Some((n, e)),
            _ => None,
        });
        let defs: HashMap<&str, &Expr> =
            consts.clone().map(|(n, e)| (n.name.as_str(), e)).collect();
        // in the order written, each name once (one refused as a built-in name has no
        // entry in `first`: the order is the statements' own)
        let mut order: Vec<&str> = Vec::new();
        for (n, _) in consts {
            if !order.contains(&n.name.as_str()) {
                order.push(n.name.as_str());
            }
        }
        let mut state: HashMap<&str, bool> = HashMap::new();
        for n in order {
            self.fold_const(n, &defs, &mut state, &mut Vec::new());
        }
    }

    /// Depth-first: `state[n]` is false while `n` is being folded, true when done.
    fn fold_const<'a>(
        &mut self,
        n: &'a str,
        defs: &HashMap<&'a str, &'a Expr>,
        state: &mut HashMap<&'a str, bool>,
        path: &mut Vec<&'a str>,
    ) {
        if state.contains_key(n) {
            return;
        }
        state.insert(n, false);
        path.push(n);
        let e = defs[n];
        let mut deps = Vec::new();
        e.walk(&mut |x| {
            if let ExprKind::Name(m) = &x.kind {
                if let Some((&k, _)) = defs.get_key_value(m.as_str()) {
                    deps.push((k, x.span));
                }
            }
        });
        for (m, span) in deps {
            if state.get(m) == Some(&false) {
                let cycle = cycle_text(path, m);
                self.err(
                    Diagnostic::new(span, format!("const `{m}` depends on itself")).note(cycle),
                );
                continue;
            }
            self.fold_const(m, defs, state, path);
        }
        path.pop();
        state.insert(n, true);
        let v = self.const_value(e, "a const");
        self.out.scope.names.insert(n.into(), Kind::Const(v));
    }

    /// The value of a constant expression, or errors saying what is not constant.
    fn const_value(&mut self, e: &Expr, what: &str) -> Option<f64> {
        let before = self.errors.len();
        self.only_constants(e, what);
        if self.errors.len() > before {
            return None;
        }
        let v = self.out.scope.fold(e)?;
        if !v.is_finite() {
            self.err(Diagnostic::new(
                e.span,
                format!("{what} must be finite; this is {v}"),
            ));
            return None;
        }
        Some(v)
    }

    /// Reports the first part of `e` that is not constant.
    fn only_constants(&mut self, e: &Expr, what: &str) {
        let scope = &self.out.scope;
        let mut bad = None;
        e.walk(&mut |x| {
            if bad.is_none() {
                bad = non_constant(scope, x).map(|note| (x, note));
            }
        });
        let Some((x, note)) = bad else {
            return;
        };
        let mut d = Diagnostic::new(x.span, format!("{what} must be a constant expression"));
        if let ExprKind::Name(n) = &x.kind {
            if scope.kind(n).is_none() {
                d = d.about(n);
            }
        }
        self.err(d.note(note));
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Problem(n) => self.problem_name(n),
            StmtKind::Input(n, lo, hi) => self.input(n, lo, hi),
            StmtKind::Const(..) => {}
            StmtKind::Param(n, e) => self.param(n, e),
            StmtKind::Net {
                name, args, arch, ..
            } => self.net(name, args, arch),
            StmtKind::Let(_, e) => self.expr(e),
            StmtKind::Points(n, set) => self.points(n, set),
            StmtKind::Domain(n, coords, shape) => self.domain(n, coords, shape),
            StmtKind::Residual {
                name,
                on,
                weight,
                expr,
            } => self.residual(name, on, weight.as_ref(), expr),
            StmtKind::Exact(out, e) => self.exact(out, e),
        }
    }

    fn problem_name(&mut self, n: &Ident) {
        if !self.out.name.is_empty() {
            let d = Diagnostic::new(n.span, "the problem is named twice");
            return self.err(d.note(format!("it is already named `{}`", self.out.name)));
        }
        self.out.name = n.name.clone();
    }

    fn input(&mut self, n: &Ident, lo: &Expr, hi: &Expr) {
        let what = "an interval end";
        let (Some(a), Some(b)) = (self.const_value(lo, what), self.const_value(hi, what)) else {
            return;
        };
        if a >= b {
            let d = Diagnostic::new(lo.span.to(hi.span), format!("empty interval for `{n}`"));
            self.err(d.note(format!("the lower end {a} must be below the upper end {b}")));
        }
        self.out.inputs.push(InputDecl {
            name: n.name.clone(),
            lo: a,
            hi: b,
        });
    }

    fn param(&mut self, n: &Ident, e: &Expr) {
        let v = match &e.kind {
            ExprKind::Num(v) => Some(*v),
            ExprKind::Neg(a) => match a.kind {
                ExprKind::Num(v) => Some(-v),
                _ => None,
            },
            _ => None,
        };
        match v {
            Some(init) => self.out.params.push(ScalarParam {
                name: n.name.clone(),
                init,
            }),
            None => self.err(
                Diagnostic::new(e.span, format!("param `{n}` must be given a number"))
                    .note("its initial value, e.g. `param mu = 0.5`; use `const` or `let` for expressions"),
            ),
        }
    }

    fn net(&mut self, name: &Ident, args: &[Ident], arch: &Arch) {
        let k = self.out.scope.nets.iter().position(|s| s.name == name.name);
        let k = k.expect("declared in the first pass");
        self.net_args(name, args);
        let outs = self.out.scope.nets[k].outputs.clone();
        self.out.scope.nets[k].args = args.iter().map(|a| a.name.clone()).collect();
        let Some(spec) = self.arch(arch) else {
            return;
        };
        let embed = self.embedding(name, args, &spec);
        let mut widths = vec![embed.width(args.len()).max(1)];
        widths.extend(spec.hidden);
        widths.push(outs.len().max(1)); // (no outputs is an error of its own)
        let mlp = Mlp::new(&widths, spec.act);
        if mlp.num_params() > MAX_PARAMS {
            let msg = format!(
                "`{name}` has {} parameters, more than the {MAX_PARAMS} a network may have",
                mlp.num_params()
            );
            let d = Diagnostic::new(arch.kind.span, msg);
            self.err(d.note("a layer of width n after one of width m holds n·m + n"));
            return;
        }
        self.out.nets.push(NetDecl {
            name: name.name.clone(),
            args: args.iter().map(|a| a.name.clone()).collect(),
            outputs: outs,
            mlp,
            seed: spec.seed,
            embed,
        });
    }

    /// The net's embedding from `periodic = [..]`, `fourier = M`, `sigma = S`. Periodic
    /// intervals are filled in once every input is known ([`Checker::periodic_intervals`]).
    fn embedding(&mut self, net: &Ident, args: &[Ident], spec: &ArchSpec) -> Embedding {
        let mut periodic: Vec<Periodic> = Vec::new();
        for v in &spec.periodic {
            let Some(arg) = args.iter().position(|a| a.name == v.name) else {
                let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
                let d = Diagnostic::new(v.span, format!("`{v}` is not an argument of `{net}`"));
                let note = format!(
                    "periodic inputs are among the net's arguments ({})",
                    names.join(", ")
                );
                self.err(d.note(note));
                continue;
            };
            if periodic.iter().any(|p| p.arg == arg) {
                self.err(Diagnostic::new(v.span, format!("`{v}` is listed twice")));
                continue;
            }
            let (lo, hi) = (f64::NAN, f64::NAN);
            periodic.push(Periodic { arg, lo, hi });
        }
        periodic.sort_by_key(|p| p.arg);
        let fourier = spec.fourier.map(|m| Fourier {
            m,
            sigma: spec.sigma.unwrap_or(1.0),
            b: None,
        });
        Embedding { periodic, fourier }
    }

    /// Every periodic argument's interval, from its input's declaration.
    fn periodic_intervals(&mut self) {
        for net in &mut self.out.nets {
            for p in &mut net.embed.periodic {
                let name = &net.args[p.arg];
                if let Some(d) = self.out.inputs.iter().find(|d| &d.name == name) {
                    (p.lo, p.hi) = (d.lo, d.hi);
                }
            }
        }
    }

    fn net_args(&mut self, name: &Ident, args: &[Ident]) {
        if args.is_empty() {
            let d = Diagnostic::new(name.span, format!("network `{name}` has no arguments"));
            self.err(d.note("list the inputs it takes, e.g. `net u(x, y) = ...`"));
        }
        for (i, a) in args.iter().enumerate() {
            self.input_ref(a, "take {} as a network argument");
            if args[..i].iter().any(|b| b.name == a.name) {
                self.err(Diagnostic::new(a.span, format!("`{a}` is listed twice")));
            }
        }
    }

    /// `mlp(widths = [..], act = NAME, seed = N, periodic = [..], fourier = M, sigma = S)`.
    fn arch(&mut self, arch: &Arch) -> Option<ArchSpec> {
        if arch.kind.name != "mlp" {
            let d = Diagnostic::new(
                arch.kind.span,
                format!("unknown architecture `{}`", arch.kind),
            );
            self.err(d.note("expected `mlp(widths = [...], act = tanh, seed = 0)`"));
            return None;
        }
        let mut widths = None;
        let mut act = Some(Act::Tanh);
        let mut seed = Some(0);
        let mut periodic = Some(Vec::new());
        let (mut fourier, mut sigma) = (None, None);
        let mut sigma_at = None;
        let mut seen: Vec<&str> = Vec::new();
        for (key, v) in &arch.args {
            if seen.contains(&key.name.as_str()) {
                self.err(Diagnostic::new(key.span, format!("`{key}` is given twice")));
            }
            seen.push(&key.name);
            match key.name.as_str() {
                "widths" => widths = self.widths(v),
                "act" => act = self.act(v),
                "seed" => seed = self.arg_count(v, "seed", SEEDS).map(|s| s as u64),
                "periodic" => periodic = self.periodic(v),
                "fourier" => fourier = self.arg_count(v, "fourier", WIDTHS),
                "sigma" => {
                    sigma = self.sigma(v);
                    sigma_at = Some(key.span);
                }
                other => self.unknown_arg(key, other),
            }
        }
        if !seen.contains(&"widths") {
            let d = Diagnostic::new(arch.kind.span, "mlp needs `widths`");
            self.err(d.note("the hidden layer widths, e.g. `mlp(widths = [32, 32])`"));
        }
        if let (Some(at), false) = (sigma_at, seen.contains(&"fourier")) {
            let d = Diagnostic::new(at, "`sigma` without `fourier`");
            self.err(d.note("sigma scales random Fourier features: add `fourier = M`"));
        }
        Some(ArchSpec {
            hidden: widths?,
            act: act?,
            seed: seed?,
            periodic: periodic?,
            fourier,
            sigma,
        })
    }

    /// `periodic = [v, ...]`: input names.
    fn periodic(&mut self, v: &ArgValue) -> Option<Vec<Ident>> {
        let ArgValue::List(items, _) = v else {
            let span = match v {
                ArgValue::Expr(e) => e.span,
                ArgValue::List(_, s) => *s,
            };
            let d = Diagnostic::new(span, "`periodic` must be a list of inputs");
            self.err(d.note("e.g. `periodic = [x]`"));
            return None;
        };
        let mut out = Vec::new();
        for e in items {
            match &e.kind {
                ExprKind::Name(n) => out.push(Ident {
                    name: n.clone(),
                    span: e.span,
                }),
                _ => {
                    let d = Diagnostic::new(e.span, "expected an input's name");
                    self.err(d.note("e.g. `periodic = [x]`"));
                }
            }
        }
        Some(out)
    }

    /// `sigma = S`: a positive constant.
    fn sigma(&mut self, v: &ArgValue) -> Option<f64> {
        let e = match v {
            ArgValue::Expr(e) => e,
            ArgValue::List(_, s) => {
                self.err(Diagnostic::new(*s, "`sigma` must be a number"));
                return None;
            }
        };
        let s = self.const_value(e, "sigma")?;
        if s <= 0.0 {
            let d = Diagnostic::new(e.span, format!("sigma must be positive; this is {s}"));
            self.err(d.note("the standard deviation of the Fourier frequencies, e.g. `sigma = 2`"));
            return None;
        }
        Some(s)
    }

    fn unknown_arg(&mut self, key: &Ident, other: &str) {
        let d = Diagnostic::new(key.span, format!("mlp has no argument `{other}`"));
        let d = match nearest(other, ["widths", "act", "seed"]) {
            Some(n) => d.note(format!("did you mean `{n}`?")),
            None => d.note("expected widths, act, seed, periodic, fourier or sigma"),
        };
        self.err(d);
    }

    fn widths(&mut self, v: &ArgValue) -> Option<Vec<usize>> {
        match v {
            ArgValue::List(items, _) => items
                .iter()
                .map(|e| self.count(e, "a layer width", WIDTHS))
                .collect::<Vec<_>>()
                .into_iter()
                .collect(),
            ArgValue::Expr(e) => {
                let d = Diagnostic::new(e.span, "`widths` must be a list");
                self.err(d.note("e.g. `widths = [64, 64]`"));
                None
            }
        }
    }

    fn act(&mut self, v: &ArgValue) -> Option<Act> {
        let names: Vec<&str> = Act::ALL.iter().map(|a| a.name()).collect();
        let (span, text) = match v {
            ArgValue::Expr(e) => (e.span, e.to_string()),
            ArgValue::List(_, s) => (*s, v.to_string()),
        };
        if let Some(a) = Act::from_name(&text) {
            return Some(a);
        }
        let d = Diagnostic::new(span, format!("unknown activation `{text}`"));
        let d = match nearest(&text, names.iter().copied()) {
            Some(n) => d.note(format!("did you mean `{n}`?")),
            None => d.note(format!("expected one of {}", names.join(", "))),
        };
        self.err(d);
        None
    }

    fn arg_count(&mut self, v: &ArgValue, what: &str, range: (usize, usize)) -> Option<usize> {
        match v {
            ArgValue::Expr(e) => self.count(e, what, range),
            ArgValue::List(_, s) => {
                self.err(Diagnostic::new(*s, format!("`{what}` must be a number")));
                None
            }
        }
    }

    /// A whole number in `min..=max` (sizes, widths, seeds).
    fn count(&mut self, e: &Expr, what: &str, (min, max): (usize, usize)) -> Option<usize> {
        let v = self.const_value(e, what)?;
        let ok = v.fract() == 0.0 && v >= min as f64 && v <= max as f64;
        if !ok {
            let msg = format!("{what} must be a whole number from {min} to {max}");
            let d = Diagnostic::new(e.span, msg);
            self.err(d.note(format!("found {v}")));
            return None;
        }
        Some(v as usize)
    }

    fn points(&mut self, n: &Ident, set: &SetExpr) {
        if let Some(spec) = self.set(set) {
            self.out.point_sets.push(PointSetDecl {
                name: n.name.clone(),
                spec,
            });
        }
    }

    fn set(&mut self, set: &SetExpr) -> Option<PointSpec> {
        let what = "the number of points";
        match set {
            SetExpr::Interior(n) => Some(PointSpec::Interior(self.count(n, what, POINTS)?)),
            SetExpr::Boundary(n) => {
                self.box_boundaries.push(n.span);
                Some(PointSpec::Boundary(self.count(n, what, POINTS)?))
            }
            SetExpr::Face(v, x, n) => {
                let input = self.input_ref(v, "hold {} fixed on a face");
                let value = self.const_value(x, "a face's position");
                let n = self.count(n, what, POINTS);
                if let (Some(i), Some(v)) = (input, value) {
                    self.faces.push((i, v, x.span));
                }
                Some(PointSpec::Face {
                    input: input?,
                    value: value?,
                    n: n?,
                    owner: None,
                })
            }
            SetExpr::InteriorOf(d, n) => {
                let (domain, n) = (self.domain_ref(d), self.count(n, what, POINTS));
                Some(PointSpec::InteriorOf {
                    domain: domain?,
                    n: n?,
                    owner: None,
                })
            }
            SetExpr::BoundaryOf(d, n) => {
                let (domain, n) = (self.domain_ref(d), self.count(n, what, POINTS));
                Some(PointSpec::BoundaryOf {
                    domain: domain?,
                    n: n?,
                    owner: None,
                })
            }
            SetExpr::Union(parts) => {
                let specs: Vec<Option<PointSpec>> = parts.iter().map(|p| self.set(p)).collect();
                Some(PointSpec::Union(specs.into_iter().collect::<Option<_>>()?))
            }
        }
    }

    fn residual(&mut self, name: &Ident, on: &Ident, weight: Option<&Expr>, e: &Expr) {
        if self.out.residuals.iter().any(|r| r.name == name.name) {
            self.err(Diagnostic::new(
                name.span,
                format!("residual `{name}` is declared twice"),
            ));
        }
        self.points_ref(on);
        self.expr(e);
        let uses = super::exprcheck::normal_uses(&self.out.scope, e);
        if !uses.is_empty() {
            self.pending_normals.push((on.clone(), uses));
        }
        let w = match weight {
            Some(w) => self.weight(w),
            None => Some(1.0),
        };
        self.out.residuals.push(ResidualSrc {
            name: name.name.clone(),
            points: on.name.clone(),
            weight: w.unwrap_or(1.0),
            expr: e.clone(),
        });
    }

    fn weight(&mut self, w: &Expr) -> Option<f64> {
        let v = self.const_value(w, "a weight")?;
        if v < 0.0 {
            self.err(
                Diagnostic::new(w.span, "a weight must not be negative").note(format!("found {v}")),
            );
        }
        Some(v)
    }

    /// `domain NAME(V, ...) = SHAPE`: the coordinates are distinct inputs and the shape's
    /// numbers constants; the rest waits for [`Checker::check_domains`].
    fn domain(&mut self, n: &Ident, coords: &[Ident], shape: &ShapeExpr) {
        let mut idx = Vec::new();
        for (i, v) in coords.iter().enumerate() {
            if coords[..i].iter().any(|w| w.name == v.name) {
                self.err(Diagnostic::new(v.span, format!("`{v}` is listed twice")));
            }
            idx.push(self.input_ref(v, "use {} as a domain coordinate"));
        }
        if coords.is_empty() {
            let d = Diagnostic::new(n.span, format!("domain `{n}` has no coordinates"));
            self.err(d.note("list the inputs it spans, e.g. `domain D(x, y) = ...`"));
        }
        let region = self.region(shape);
        let declared = match self.out.scope.kind(&n.name) {
            Some(Kind::Domain(i)) => *i,
            _ => return, // the name has its own error
        };
        if let (Some(idx), Some(region)) = (idx.into_iter().collect(), region) {
            let span = shape.span();
            (self.pending_domains).push((declared, n.name.clone(), idx, region, span));
        }
    }

    /// `normal(v)` and `dn(E)` only in residuals on boundary sets, `v` a coordinate of the
    /// set's domain.
    fn check_normals(&mut self) {
        for (on, uses) in std::mem::take(&mut self.pending_normals) {
            let set = self.out.point_sets.iter().find(|s| s.name == on.name);
            let Some(set) = set else {
                continue; // the set has its own error
            };
            let spec = set.spec.boundary_domain();
            // A domain that failed its own checks has its own error: say nothing more.
            if spec.is_some_and(|d| self.domain_slots.get(d).copied().flatten().is_none()) {
                continue;
            }
            let slot = spec.and_then(|d| self.domain_slots[d]);
            let domain = slot.and_then(|d| self.out.domains.get(d)).cloned();
            for (call, v) in uses {
                let Some(d) = &domain else {
                    let msg = format!(
                        "`{call}` on point set `{on}`, which is not a boundary set of a domain"
                    );
                    let note = "normals exist on sets made only of `boundary(D, N)` terms of \
                                one domain D";
                    self.err(Diagnostic::new(call.span, msg).note(note));
                    continue;
                };
                let Some(v) = v else { continue };
                let coords: Vec<&str> = (d.coords.iter())
                    .map(|&k| self.out.scope.inputs[k].as_str())
                    .collect();
                if !coords.contains(&v.name.as_str()) {
                    let msg = format!("`{v}` is not a coordinate of domain `{}`", d.name);
                    let note = format!("its coordinates: {}", coords.join(", "));
                    self.err(Diagnostic::new(v.span, msg).note(note));
                }
            }
        }
    }

    /// Every domain against its coordinates' intervals: inside them, not degenerate, not
    /// empty, not too thin to sample.
    fn check_domains(&mut self) {
        self.domain_slots = vec![None; self.domain_count];
        for (declared, name, coords, region, span) in std::mem::take(&mut self.pending_domains) {
            let intervals: Option<Vec<[f64; 2]>> = (coords.iter())
                .map(|&k| {
                    let input = &self.out.scope.inputs[k];
                    let d = self.out.inputs.iter().find(|d| &d.name == input)?;
                    Some([d.lo, d.hi])
                })
                .collect();
            let Some(intervals) = intervals else {
                continue; // an interval has its own error
            };
            if let Err(reason) = check_domain(&region, &intervals) {
                self.err(Diagnostic::new(span, format!("domain `{name}`: {reason}")));
                continue;
            }
            let shape = region;
            self.domain_slots[declared] = Some(self.out.domains.len());
            self.out.domains.push(DomainDecl {
                name,
                coords,
                shape,
            });
        }
    }

    /// The region a shape expression describes (its numbers folded).
    fn region(&mut self, e: &ShapeExpr) -> Option<Region> {
        match e {
            ShapeExpr::Paren(a, _) => self.region(a),
            ShapeExpr::Op(op, a, b) => {
                let (a, b) = (self.region(a), self.region(b));
                let (a, b) = (a?, b?);
                Some(match op {
                    ShapeOp::Union => a + b,
                    ShapeOp::Difference => a - b,
                    ShapeOp::Intersection => a & b,
                })
            }
            ShapeExpr::Call(kind, args, span) => self.primitive(kind, args, *span),
        }
    }

    fn primitive(&mut self, kind: &Ident, args: &[ShapeArg], span: Span) -> Option<Region> {
        use crate::problem::domain::{ball, cuboid, polygon};
        let usage = match kind.name.as_str() {
            "rect" => "rect([a1, b1], [a2, b2])",
            "box" => "box([a1, b1], ..., [ad, bd])",
            "disk" => "disk([c1, c2], r)",
            "ball" => "ball([c1, ..., cd], r)",
            "polygon" => "polygon([[x1, y1], [x2, y2], ...])",
            other => {
                let kinds = ["rect", "box", "disk", "ball", "polygon"];
                let d = Diagnostic::new(kind.span, format!("unknown shape `{other}`"));
                let d = match nearest(other, kinds) {
                    Some(n) => d.note(format!("did you mean `{n}`?")),
                    None => d.note("expected rect, box, disk, ball or polygon"),
                };
                self.err(d);
                return None;
            }
        };
        let shape_err = |c: &mut Self| {
            let d = Diagnostic::new(span, format!("`{kind}` takes {usage}"));
            c.err(d);
            None
        };
        match (kind.name.as_str(), args) {
            ("rect", [x, y]) => Some(cuboid(&[self.pair(x)?, self.pair(y)?])),
            ("box", sides) if !sides.is_empty() => {
                let sides: Vec<Option<[f64; 2]>> = sides.iter().map(|s| self.pair(s)).collect();
                Some(cuboid(&sides.into_iter().collect::<Option<Vec<_>>>()?))
            }
            ("disk", [c, r]) => {
                let c = self.pair(c)?;
                Some(ball(&c, self.number(r)?))
            }
            ("ball", [c, r]) => {
                let c = self.numbers(c)?;
                Some(ball(&c, self.number(r)?))
            }
            ("polygon", [ShapeArg::List(vs, _)]) => {
                let vs: Vec<Option<[f64; 2]>> = vs.iter().map(|v| self.pair(v)).collect();
                Some(polygon(&vs.into_iter().collect::<Option<Vec<_>>>()?))
            }
            _ => shape_err(self),
        }
    }

    fn number(&mut self, a: &ShapeArg) -> Option<f64> {
        match a {
            ShapeArg::Expr(e) => self.const_value(e, "a shape's number"),
            ShapeArg::List(_, s) => {
                self.err(Diagnostic::new(*s, "expected a number, found a list"));
                None
            }
        }
    }

    fn numbers(&mut self, a: &ShapeArg) -> Option<Vec<f64>> {
        match a {
            ShapeArg::List(items, _) => {
                let v: Vec<Option<f64>> = items.iter().map(|x| self.number(x)).collect();
                v.into_iter().collect()
            }
            ShapeArg::Expr(e) => {
                let d = Diagnostic::new(e.span, "expected a list of numbers, e.g. `[0, 1]`");
                self.err(d);
                None
            }
        }
    }

    /// `[a, b]`: an interval, a 2-D center or a vertex.
    fn pair(&mut self, a: &ShapeArg) -> Option<[f64; 2]> {
        let v = self.numbers(a)?;
        if let [x, y] = v[..] {
            return Some([x, y]);
        }
        let msg = format!("expected two numbers `[a, b]`, found {}", v.len());
        self.err(Diagnostic::new(a.span(), msg));
        None
    }

    fn domain_ref(&mut self, d: &Ident) -> Option<usize> {
        if let Some(Kind::Domain(i)) = self.out.scope.kind(&d.name) {
            return Some(*i);
        }
        let domains = self.out.scope.names_where(|k| matches!(k, Kind::Domain(_)));
        let diag = Diagnostic::new(d.span, format!("no domain named `{d}`")).about(&d.name);
        let diag = match nearest(&d.name, domains.iter().copied()) {
            Some(n) => diag.note(format!("did you mean `{n}`?")),
            None => diag.note("declare it: `domain D(x, y) = disk([0, 0], 1)`"),
        };
        self.err(diag);
        None
    }

    fn points_ref(&mut self, on: &Ident) {
        match self.out.scope.kind(&on.name) {
            Some(Kind::Points) => {}
            k => {
                let sets = self.out.scope.names_where(|k| *k == Kind::Points);
                let d =
                    Diagnostic::new(on.span, format!("no point set named `{on}`")).about(&on.name);
                let d = match (k, nearest(&on.name, sets.iter().copied())) {
                    (_, Some(n)) => d.note(format!("did you mean `{n}`?")),
                    (Some(k), None) => d.note(format!("`{on}` is {}", k.describe())),
                    (None, None) if sets.is_empty() => {
                        d.note("declare it: `points NAME = interior(N)`")
                    }
                    (None, None) => d.note(format!("declared point sets: {}", sets.join(", "))),
                };
                self.err(d);
            }
        }
    }

    fn exact(&mut self, out: &Ident, e: &Expr) {
        match self.out.scope.kind(&out.name) {
            Some(Kind::Output(_) | Kind::Let(_)) => self.exact_once(out),
            k => {
                let outs =
                    (self.out.scope).names_where(|k| matches!(k, Kind::Output(_) | Kind::Let(_)));
                let msg = format!("`{out}` is not a network output or a `let`");
                let d = Diagnostic::new(out.span, msg).about(&out.name);
                let d = match (nearest(&out.name, outs.iter().copied()), k) {
                    (Some(n), _) => d.note(format!("did you mean `{n}`?")),
                    (None, Some(k)) => d.note(format!("it is {}", k.describe())),
                    (None, None) => {
                        d.note("`exact` gives the solution for a network output or a `let`")
                    }
                };
                self.err(d);
            }
        }
        self.expr(e);
        // Normals exist on boundary sets only: not on the grid an exact solution (or a
        // constrained `let`) is evaluated on.
        let mut uses = super::exprcheck::normal_uses(&self.out.scope, e);
        if let Some(Kind::Let(i)) = self.out.scope.kind(&out.name) {
            let body = self.out.scope.lets[*i].1.clone();
            uses.extend(super::exprcheck::normal_uses(&self.out.scope, &body));
        }
        for (call, _) in uses {
            let d = Diagnostic::new(call.span, format!("`{call}` in an exact solution"));
            self.err(d.note("normals exist on boundary sets, in residuals; not on the grid"));
        }
        for net in super::exprcheck::network_uses(&self.out.scope, e) {
            let msg = format!("the network output `{net}` in the exact solution of `{out}`");
            let d = Diagnostic::new(net.span, msg);
            self.err(d.note("an exact solution is a closed form of the inputs, consts and params"));
        }
        self.out.exact.push((out.name.clone(), e.clone()));
    }

    /// An output's `exact` may be given once: with two, which one the error reports use
    /// would depend on their order.
    fn exact_once(&mut self, out: &Ident) {
        if let Some(&prev) = self.exact_first.get(&out.name) {
            let line = line_of(self.src, prev);
            let d = Diagnostic::new(out.span, format!("`exact {out}` is given twice"));
            return self.err(d.note(format!("first given on line {line}; keep one")));
        }
        self.exact_first.insert(out.name.clone(), out.span);
    }

    /// A face holds its input at one value; outside the input's interval the points would
    /// lie outside the problem's box, where nothing else is sampled.
    fn face_positions(&mut self) {
        for (i, v, span) in std::mem::take(&mut self.faces) {
            let name = &self.out.scope.inputs[i];
            let Some(d) = self.out.inputs.iter().find(|d| &d.name == name) else {
                continue; // the interval has its own error
            };
            if v < d.lo || v > d.hi {
                let text = self.src.get(span.start..span.end).unwrap_or_default();
                let msg = format!("the face `{name} = {text}` lies outside `{name}`'s interval");
                let mut note = format!("`{name}` is in [{}, {}]", d.lo, d.hi);
                if text != v.to_string() {
                    note += &format!(", and the face is at {name} = {v}");
                }
                self.err(Diagnostic::new(span, msg).note(note));
            }
        }
    }

    /// `boundary(N)` samples the faces of the inputs' box: with no inputs there are none
    /// (`interior(N)` is the one point of a problem without inputs, repeated).
    fn box_boundaries(&mut self) {
        if !self.out.scope.inputs.is_empty() {
            return;
        }
        for span in std::mem::take(&mut self.box_boundaries) {
            let msg = "`boundary(N)` samples the faces of the inputs' box, and this problem has no inputs";
            let d = Diagnostic::new(span, msg);
            self.err(d.note("declare an `input`, or use `interior(N)`"));
        }
    }

    /// Warns about every point set that no residual is evaluated on: it is sampled (and,
    /// in training, resampled) for nothing, which usually means a residual names the wrong
    /// set. A file without residuals gets no such warnings: every set is unused there, and
    /// the commands that need residuals say so.
    fn unused_point_sets(&mut self, file: &File) {
        if self.out.residuals.is_empty() {
            return;
        }
        for s in &file.stmts {
            let StmtKind::Points(n, _) = &s.kind else {
                continue;
            };
            if self.out.residuals.iter().any(|r| r.points == n.name) {
                continue;
            }
            let msg = format!("point set `{n}` is not used by any residual");
            let note =
                format!("remove it, or evaluate a residual on it: `residual NAME on {n} = EXPR`");
            self.out
                .warnings
                .push(Diagnostic::warning(n.span, msg).note(note));
        }
    }

    /// Checks every name and form in an expression.
    fn expr(&mut self, e: &Expr) {
        let errs = super::exprcheck::check_expr(&self.out.scope, e);
        self.errors.extend(errs);
    }

    /// `v` must name an input; returns its index.
    fn input_ref(&mut self, v: &Ident, what: &str) -> Option<usize> {
        match super::exprcheck::input_ref(&self.out.scope, v, what) {
            Ok(i) => Some(i),
            Err(d) => {
                self.err(d);
                None
            }
        }
    }

    /// Reports every `let` that depends on itself.
    fn let_cycles(&mut self) {
        let errs = super::exprcheck::let_cycles(&self.out.scope);
        self.errors.extend(errs);
    }
}

fn cycle_text(path: &[&str], back_to: &str) -> String {
    let from = path.iter().position(|p| *p == back_to).unwrap_or(0);
    let mut names: Vec<&str> = path[from..].to_vec();
    names.push(back_to);
    format!("cycle: {}", names.join(" -> "))
}

/// Why `x` (one node, not its operands) is not constant, if it is not.
fn non_constant(scope: &Scope, x: &Expr) -> Option<String> {
    match &x.kind {
        ExprKind::Num(_) | ExprKind::Neg(_) | ExprKind::Binary(..) => None,
        ExprKind::Name(n) if n == "pi" || n == "e" => None,
        ExprKind::Name(n) => match scope.kind(n) {
            Some(Kind::Const(_)) => None,
            Some(k) => Some(format!(
                "`{n}` is {}; use numbers, pi, e and consts",
                k.describe()
            )),
            None => {
                let consts = scope.names_where(|k| matches!(k, Kind::Const(_)));
                Some(
                    match nearest(n, consts.iter().copied().chain(["pi", "e"])) {
                        Some(m) => format!("unknown name `{n}`; did you mean `{m}`?"),
                        None => format!("unknown name `{n}`"),
                    },
                )
            }
        },
        ExprKind::Call(f, args) if FUNCTIONS.contains(&f.name.as_str()) => {
            let want = function_arity(&f.name).unwrap_or(1);
            let s = if want == 1 { "" } else { "s" };
            (args.len() != want)
                .then(|| format!("`{f}` takes {want} argument{s}, found {}", args.len()))
        }
        _ => Some(format!("`{x}` is not constant")),
    }
}
