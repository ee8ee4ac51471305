//! Checks of expressions against a scope: names, calls, derivative variables, `let` cycles.

use super::ast::*;
use super::diag::{nearest, Diagnostic};
use super::scope::{function_arity, Kind, Scope, FUNCTIONS};
use crate::problem::MAX_SAMPLE;

/// Every error in `e`: unknown names (with the nearest known one), calls with the wrong
/// number of arguments, derivatives and substitutions by something that is not an input.
pub fn check_expr(scope: &Scope, e: &Expr) -> Vec<Diagnostic> {
    let mut errs = Vec::new();
    e.walk(&mut |x| errs.extend(check_node(scope, x)));
    if errs.is_empty() {
        let whole = constant_part(scope, e, &mut errs);
        not_finite(e, whole, &mut errs);
    }
    errs
}

/// The value of `e` if it is a constant (folded in f64 as `const` is), reporting into
/// `errs` every outermost constant part of it that is not finite (`sqrt(-1)`, `1/0`,
/// `log(0)`): one value at every point, so what holds it is NaN or infinite everywhere,
/// which training found only at step 0, with no place in the file. Bottom-up, each node
/// once.
fn constant_part(scope: &Scope, e: &Expr, errs: &mut Vec<Diagnostic>) -> Option<f64> {
    match &e.kind {
        ExprKind::Num(v) => Some(*v),
        ExprKind::Name(_) => scope.fold(e),
        ExprKind::Neg(a) => parts(scope, &[a], errs).map(|v| -v[0]),
        ExprKind::Binary(op, a, b) => {
            parts(scope, &[a, b], errs).map(|v| super::scope::apply(*op, v[0], v[1]))
        }
        ExprKind::Call(f, args) => {
            let v = parts(scope, &args.iter().collect::<Vec<_>>(), errs)?;
            let folded = super::scope::call(&f.name, &v);
            if folded.is_none() {
                // a network applied to constants: its arguments are the outermost parts
                for (x, v) in args.iter().zip(v) {
                    not_finite(x, Some(v), errs);
                }
            }
            folded
        }
        // derivatives are not folded: their operands' parts are reported
        ExprKind::D(a, _) | ExprKind::Lap(a, _, _) => {
            let v = constant_part(scope, a, errs);
            not_finite(a, v, errs);
            None
        }
        ExprKind::At(a, subs) => {
            for x in std::iter::once(&**a).chain(subs.iter().map(|s| &s.1)) {
                let v = constant_part(scope, x, errs);
                not_finite(x, v, errs);
            }
            None
        }
    }
}

/// The values of `xs` when all are constant; otherwise `None`, each constant one that is
/// not finite reported (it is an outermost constant part).
fn parts(scope: &Scope, xs: &[&Expr], errs: &mut Vec<Diagnostic>) -> Option<Vec<f64>> {
    let vs: Vec<Option<f64>> = xs.iter().map(|x| constant_part(scope, x, errs)).collect();
    if vs.iter().all(Option::is_some) {
        return vs.into_iter().collect();
    }
    for (x, v) in xs.iter().zip(vs) {
        not_finite(x, v, errs);
    }
    None
}

/// An error at `x` when its constant value `v` is not finite.
fn not_finite(x: &Expr, v: Option<f64>, errs: &mut Vec<Diagnostic>) {
    if let Some(v) = v.filter(|v| !v.is_finite()) {
        let msg = format!("this is {v} wherever it is evaluated");
        let note = "a constant part, computed in f64 as `const`s are";
        errs.push(Diagnostic::new(x.span, msg).note(note));
    }
}

fn check_node(scope: &Scope, x: &Expr) -> Vec<Diagnostic> {
    let ident = |name: &str| Ident {
        name: name.into(),
        span: x.span,
    };
    match &x.kind {
        ExprKind::Num(_) | ExprKind::Neg(_) | ExprKind::Binary(..) => vec![],
        ExprKind::Name(n) => value_ref(scope, &ident(n)).err().into_iter().collect(),
        ExprKind::Call(f, args) if f.name == "normal" => normal_arg(scope, f, args),
        ExprKind::Call(f, args) => call(scope, f, args.len()).err().into_iter().collect(),
        ExprKind::D(_, vs) => vars(scope, vs.iter(), "differentiate with respect to {}"),
        ExprKind::Lap(_, vs, k) => {
            let mut errs = match vs {
                Some(vs) => {
                    let mut e = vars(scope, vs.iter(), "take a Laplacian over {}");
                    // exact or sampled, a variable listed twice counts its direction
                    // twice: lap(u; x, x) would be 2·u_xx
                    e.extend(repeated(vs.iter(), "listed"));
                    e
                }
                None if scope.inputs.is_empty() => vec![Diagnostic::new(
                    x.span,
                    "`lap` needs inputs, and none are declared",
                )],
                None => vec![],
            };
            errs.extend(k.as_ref().and_then(|k| sample_count(scope, k).err()));
            errs
        }
        ExprKind::At(_, subs) => {
            let mut errs = vars(scope, subs.iter().map(|s| &s.0), "substitute {}");
            errs.extend(repeated(subs.iter().map(|s| &s.0), "substituted"));
            errs
        }
    }
}

/// `sample = K`: K must fold to a whole number from 1 to [`MAX_SAMPLE`].
pub fn sample_count(scope: &Scope, k: &Expr) -> Result<usize, Diagnostic> {
    let v = scope.fold(k);
    match v {
        Some(v) if v.fract() == 0.0 && v >= 1.0 && v <= MAX_SAMPLE as f64 => Ok(v as usize),
        _ => {
            let msg = match v {
                Some(v) => {
                    format!("`sample` must be a whole number from 1 to {MAX_SAMPLE}, found {v}")
                }
                None => {
                    format!("`sample` must be a constant: a whole number from 1 to {MAX_SAMPLE}")
                }
            };
            let note = "the number of random directions per point, as in lap(u; sample = 8)";
            Err(Diagnostic::new(k.span, msg).note(note))
        }
    }
}

fn vars<'a>(scope: &Scope, vs: impl Iterator<Item = &'a Ident>, what: &str) -> Vec<Diagnostic> {
    vs.filter_map(|v| input_ref(scope, v, what).err()).collect()
}

/// Every repeat of a variable already named earlier in the list, as "`x` is `done` twice":
/// a substitution made twice, or a variable listed twice in a Laplacian (one direction
/// counted twice).
fn repeated<'a>(vs: impl Iterator<Item = &'a Ident>, done: &str) -> Vec<Diagnostic> {
    let vs: Vec<&Ident> = vs.collect();
    (0..vs.len())
        .filter(|&i| vs[..i].iter().any(|w| w.name == vs[i].name))
        .map(|i| Diagnostic::new(vs[i].span, format!("`{}` is {done} twice", vs[i])))
        .collect()
}

/// `v` must name an input; `what` says for what, with `{}` where the name goes
/// ("differentiate with respect to {}").
pub fn input_ref(scope: &Scope, v: &Ident, what: &str) -> Result<usize, Diagnostic> {
    match scope.kind(&v.name) {
        Some(Kind::Input(i)) => Ok(*i),
        k => {
            let msg = match k {
                Some(k) => format!("`{v}` is {}, not an input", k.describe()),
                None if v.name == "pi" || v.name == "e" => {
                    format!("`{v}` is a constant, not an input")
                }
                None => format!("unknown input `{v}`"),
            };
            let msg = format!("cannot {}: {msg}", what.replace("{}", &format!("`{v}`")));
            let inputs: Vec<&str> = scope.inputs.iter().map(String::as_str).collect();
            let d = Diagnostic::new(v.span, msg).about(&v.name);
            Err(match nearest(&v.name, inputs.iter().copied()) {
                Some(n) => d.note(format!("did you mean `{n}`?")),
                None => d.note(format!("the inputs are: {}", inputs.join(", "))),
            })
        }
    }
}

/// A name used as a value.
fn value_ref(scope: &Scope, v: &Ident) -> Result<(), Diagnostic> {
    let n = v.name.as_str();
    match scope.kind(n) {
        Some(Kind::Points) => Err(Diagnostic::new(
            v.span,
            format!("`{n}` is a point set, not a value"),
        )),
        Some(Kind::Domain(_)) => Err(Diagnostic::new(
            v.span,
            format!("`{n}` is a domain, not a value"),
        )
        .note("sample it with `points NAME = interior(D, N)` or `boundary(D, N)`")),
        Some(Kind::Net(k)) => {
            let outs = scope.nets[*k].outputs.join(", ");
            Err(
                Diagnostic::new(v.span, format!("`{n}` is a network with several outputs"))
                    .note(format!("use one of its outputs: {outs}")),
            )
        }
        Some(_) => Ok(()),
        None if n == "pi" || n == "e" => Ok(()),
        None if FUNCTIONS.contains(&n) => {
            Err(Diagnostic::new(v.span, format!("`{n}` is a function"))
                .note(format!("call it: `{n}(...)`")))
        }
        None => Err(unknown(v, scope.value_names())),
    }
}

fn unknown(v: &Ident, candidates: Vec<&str>) -> Diagnostic {
    let d = Diagnostic::new(v.span, format!("unknown name `{v}`")).about(&v.name);
    match nearest(&v.name, candidates) {
        Some(n) => d.note(format!("did you mean `{n}`?")),
        None => d.note("not declared"),
    }
}

/// `f(args)` with `n` arguments: a built-in function of one argument or a net output.
/// `normal(v)`: one input's name.
fn normal_arg(scope: &Scope, f: &Ident, args: &[Expr]) -> Vec<Diagnostic> {
    let [arg] = args else {
        let d = Diagnostic::new(
            f.span,
            format!("`normal` takes 1 argument, found {}", args.len()),
        );
        return vec![d.note("the coordinate of the normal, e.g. `normal(x)`")];
    };
    let ExprKind::Name(n) = &arg.kind else {
        let d = Diagnostic::new(arg.span, "`normal` takes an input's name");
        return vec![d.note("e.g. `normal(x)`")];
    };
    let v = Ident {
        name: n.clone(),
        span: arg.span,
    };
    input_ref(scope, &v, "take the normal along {}")
        .err()
        .into_iter()
        .collect()
}

/// A `normal(v)` or `dn(E)`: the call's name (where it is written) and `v` for a `normal`.
pub type NormalUse = (Ident, Option<Ident>);

/// Calls `f` on every sub-expression of `e` and of the `let`s it uses (transitively, each
/// `let` once).
fn walk_through_lets<'a>(scope: &'a Scope, e: &'a Expr, f: &mut impl FnMut(&'a Expr)) {
    let mut seen = vec![false; scope.lets.len()];
    let mut todo = vec![e];
    while let Some(x) = todo.pop() {
        x.walk(&mut |y| {
            if let ExprKind::Name(n) = &y.kind {
                if let Some(Kind::Let(i)) = scope.kind(n) {
                    if !std::mem::replace(&mut seen[*i], true) {
                        todo.push(&scope.lets[*i].1);
                    }
                }
            }
            f(y);
        });
    }
}

/// Every `normal(v)` and `dn(E)` in `e` and in the `let`s it uses (transitively).
pub fn normal_uses(scope: &Scope, e: &Expr) -> Vec<NormalUse> {
    let mut out = Vec::new();
    walk_through_lets(scope, e, &mut |y| match &y.kind {
        ExprKind::Call(f, _) if f.name == "dn" => out.push((f.clone(), None)),
        ExprKind::Call(f, args) if f.name == "normal" => {
            let v = args.first().and_then(|a| match &a.kind {
                ExprKind::Name(n) => Some(Ident {
                    name: n.clone(),
                    span: a.span,
                }),
                _ => None,
            });
            out.push((f.clone(), v));
        }
        _ => {}
    });
    out
}

fn call(scope: &Scope, f: &Ident, n: usize) -> Result<(), Diagnostic> {
    let name = f.name.as_str();
    let want = match scope.kind(name) {
        _ if name == "dn" => 1,
        _ if FUNCTIONS.contains(&name) => function_arity(name).unwrap_or(1),
        Some(Kind::Output(k)) => scope.nets[*k].args.len(),
        Some(k) => {
            let d = Diagnostic::new(f.span, format!("`{f}` is {}, not a function", k.describe()));
            return Err(d);
        }
        None => {
            let mut c: Vec<&str> = scope.names_where(|k| matches!(k, Kind::Output(_)));
            c.extend(FUNCTIONS);
            return Err(unknown(f, c));
        }
    };
    if n == want {
        return Ok(());
    }
    let s = if want == 1 { "" } else { "s" };
    let d = Diagnostic::new(f.span, format!("`{f}` takes {want} argument{s}, found {n}"));
    Err(match scope.kind(name) {
        Some(Kind::Output(k)) if want > 0 => d.note(format!(
            "its arguments are ({})",
            scope.nets[*k].args.join(", ")
        )),
        _ => d,
    })
}

/// Every group of `let`s that depend on themselves, directly or through each other (one
/// error per strongly connected group, at its first `let`, with a shortest cycle
/// through it); when there is none, every `let`
/// that is more than [`MAX_HEIGHT`] levels deep once the lets it uses are written out
/// (the passes over the problem recurse through them as through its sub-expressions: a
/// chain of 12,000 lets overflowed the stack). Linear in the lets and their uses, and
/// without recursion over the lets: a chain of 100,000 is checked in a blink.
pub fn let_cycles(scope: &Scope) -> Vec<Diagnostic> {
    let deps: Vec<Vec<(usize, Ident)>> =
        scope.lets.iter().map(|(_, e)| let_deps(scope, e)).collect();
    let components = strongly_connected(&deps);
    let mut errs = Vec::new();
    for c in &components {
        let start = c.iter().copied().min().unwrap_or(0);
        let cyclic = c.len() > 1 || deps[start].iter().any(|(j, _)| *j == start);
        if !cyclic {
            continue;
        }
        let path = cycle_through(&deps, c, start);
        let first = &deps[start][path[0].1].1;
        let names: Vec<&str> = std::iter::once(start)
            .chain(path.iter().map(|p| p.0))
            .map(|i| scope.lets[i].0.as_str())
            .collect();
        let d = Diagnostic::new(
            first.span,
            format!("let `{}` refers to itself", scope.lets[start].0),
        );
        errs.push(d.note(format!("cycle: {}", names.join(" -> "))));
    }
    if errs.is_empty() {
        // the components come dependencies first
        let order: Vec<usize> = components.iter().flatten().copied().collect();
        errs.extend(too_deep_lets(scope, &order));
    }
    errs
}

/// The lets more than [`MAX_HEIGHT`] deep with the lets they use written out, each taken
/// after the lets it uses (`order`); only those whose own lets are not too deep, so that
/// a long chain gets one error, where it passes the limit.
fn too_deep_lets(scope: &Scope, order: &[usize]) -> Vec<Diagnostic> {
    let mut height = vec![0u32; scope.lets.len()];
    let mut over = vec![false; scope.lets.len()];
    let mut errs = Vec::new();
    for &i in order {
        let e = &scope.lets[i].1;
        let (mut h, mut inherited) = (e.height, false);
        with_depths(e, 0, &mut |x, depth| {
            if let ExprKind::Name(n) = &x.kind {
                if let Some(Kind::Let(j)) = scope.kind(n) {
                    h = h.max(depth.saturating_add(height[*j]));
                    inherited |= over[*j];
                }
            }
        });
        height[i] = h;
        over[i] = h > MAX_HEIGHT;
        if over[i] && !inherited {
            let name = &scope.lets[i].0;
            let d = Diagnostic::new(
                e.span,
                format!(
                    "let `{name}` is more than {MAX_HEIGHT} levels deep with the lets it uses \
                     written out ({h})"
                ),
            );
            errs.push(d.note("fold some of the chain into one expression, or split it"));
        }
    }
    errs
}

/// Calls `f` on every node of `e` with the number of nodes above it (`depth` for `e`).
fn with_depths(e: &Expr, depth: u32, f: &mut impl FnMut(&Expr, u32)) {
    f(e, depth);
    let d = depth + 1;
    match &e.kind {
        ExprKind::Num(_) | ExprKind::Name(_) => {}
        ExprKind::Neg(a) | ExprKind::D(a, _) | ExprKind::Lap(a, _, None) => with_depths(a, d, f),
        ExprKind::Lap(a, _, Some(k)) => {
            with_depths(a, d, f);
            with_depths(k, d, f);
        }
        ExprKind::Binary(_, a, b) => {
            with_depths(a, d, f);
            with_depths(b, d, f);
        }
        ExprKind::Call(_, args) => args.iter().for_each(|a| with_depths(a, d, f)),
        ExprKind::At(a, subs) => {
            with_depths(a, d, f);
            subs.iter().for_each(|(_, x)| with_depths(x, d, f));
        }
    }
}

fn let_deps(scope: &Scope, e: &Expr) -> Vec<(usize, Ident)> {
    let mut out = Vec::new();
    e.walk(&mut |x| {
        if let ExprKind::Name(n) = &x.kind {
            if let Some(Kind::Let(i)) = scope.kind(n) {
                out.push((
                    *i,
                    Ident {
                        name: n.clone(),
                        span: x.span,
                    },
                ));
            }
        }
    });
    out
}

/// The strongly connected components of the graph `deps` (node `i` uses `deps[i][_].0`),
/// each component after every component it uses (Tarjan's algorithm with an explicit
/// stack: no recursion, however long a chain).
fn strongly_connected(deps: &[Vec<(usize, Ident)>]) -> Vec<Vec<usize>> {
    const NONE: usize = usize::MAX;
    let n = deps.len();
    let (mut index, mut low) = (vec![NONE; n], vec![0; n]);
    let (mut on_stack, mut stack) = (vec![false; n], Vec::new());
    let (mut next, mut out) = (0, Vec::new());
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        // (node, next edge to look at)
        let mut calls = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut k)) = calls.last_mut() {
            if let Some(&(w, _)) = deps[v].get(*k) {
                *k += 1;
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut c = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    c.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(c);
            }
        }
    }
    out
}

/// A shortest path `start -> ... -> start` inside the component `c` (which holds a cycle
/// through `start`), as `(let, index of the edge taken)`, found breadth first.
fn cycle_through(deps: &[Vec<(usize, Ident)>], c: &[usize], start: usize) -> Vec<(usize, usize)> {
    let inside: std::collections::HashSet<usize> = c.iter().copied().collect();
    let mut came: std::collections::HashMap<usize, (usize, usize)> = Default::default();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for (k, (w, _)) in deps[v].iter().enumerate() {
            if *w == start {
                // back at the start: the edges taken, in order
                let mut path = vec![(start, k)];
                let mut at = v;
                while at != start {
                    let (from, edge) = came[&at];
                    path.push((at, edge));
                    at = from;
                }
                path.reverse();
                return path;
            }
            if inside.contains(w) && !came.contains_key(w) {
                came.insert(*w, (v, k));
                queue.push_back(*w);
            }
        }
    }
    Vec::new()
}

/// Every use of a network output (by name or called at other arguments) in `e` and in the
/// `let`s it reaches: what an exact solution, a closed form, may not contain (`exact u =
/// u` made every error against it 0).
pub fn network_uses(scope: &Scope, e: &Expr) -> Vec<Ident> {
    let is_net = |n: &str| matches!(scope.kind(n), Some(Kind::Output(_) | Kind::Net(_)));
    let mut out = Vec::new();
    walk_through_lets(scope, e, &mut |y| match &y.kind {
        ExprKind::Call(f, _) if is_net(&f.name) => out.push(f.clone()),
        ExprKind::Name(n) if is_net(n) => out.push(Ident {
            name: n.clone(),
            span: y.span,
        }),
        _ => {}
    });
    out
}
