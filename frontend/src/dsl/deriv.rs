//! Derivative operators of the DSL.
//!
//! Each call creates derivative-operator nodes with a fresh [`Level`]; `passes::ad`
//! expands them. Functions that take a closure trace it at fresh bound variables of that
//! level and substitute the real arguments afterwards (`at`), so a closure that captures
//! other traced values — parameters, outer variables, outer derivatives — is
//! differentiated only with respect to its own argument: no perturbation confusion.
//!
//! Every operator has a `_with` form taking a [`Method`]; the plain form uses
//! [`Method::Auto`], the compiler's choice.

use super::{Builder, Var};
use nabla_ir::{Level, Method, Op};

pub use nabla_ir::Method as DerivMethod;

/// Values that name what to differentiate with respect to (a list of variables).
pub trait AsVars<'g> {
    /// The variables, in order.
    fn as_vars(&self) -> Vec<Var<'g>>;
}

impl<'g> AsVars<'g> for [Var<'g>] {
    fn as_vars(&self) -> Vec<Var<'g>> {
        self.to_vec()
    }
}

impl<'g, const N: usize> AsVars<'g> for [Var<'g>; N] {
    fn as_vars(&self) -> Vec<Var<'g>> {
        self.to_vec()
    }
}

impl<'g> AsVars<'g> for Vec<Var<'g>> {
    fn as_vars(&self) -> Vec<Var<'g>> {
        self.clone()
    }
}

impl<'g> AsVars<'g> for Var<'g> {
    fn as_vars(&self) -> Vec<Var<'g>> {
        vec![*self]
    }
}

impl Builder {
    /// Bound variable `index` of `level`, with the type of `like`. The index keeps the
    /// variables of one closure apart: they share level, type and shape, and hash-consing
    /// would otherwise make them one node.
    fn bound(&self, level: Level, index: usize, like: Var<'_>) -> Var<'_> {
        let op = Op::Bound {
            level,
            index: index as u32,
            dtype: self.dtype(),
            shape: like.shape(),
        };
        self.add(op, &[], "bound variable")
    }
}

/// Gives a closure of one traced value the signature the derivative operators expect, so
/// it can be named with an annotated argument and used many times:
///
/// ```
/// # use nabla_frontend::dsl::*;
/// let b = Builder::new();
/// let t = b.input("t", 4);
/// let net = func(|x: Var| x * x.sin());   // `let net = |x: Var| ...` alone does not compile
/// let u_t = diff(net, t);
/// let u_tt = diff(|s| diff(net, s), t);
/// # let _ = (u_t, u_tt, net(t));
/// ```
///
/// Why it is needed: a [`Var`] borrows its [`Builder`] (`Var<'g>`), and a closure stored
/// in a `let` with an annotated `|x: Var|` argument gets a lifetime of its own for `x`,
/// unrelated to that of its result, so returning a value built from `x` is rejected.
/// Passed to a function whose bound says "`Var<'g>` in, `Var<'g>` out", the annotation
/// is unified with the bound instead. The same holds for closures given straight to an
/// operator (`diff(|x: Var| x * x, t)` compiles). An unannotated `let net = |x| ...;`
/// compiles when the body fixes `x`'s type before calling a method on it
/// (`|x| x * theta.apply(x)` does; `|x| x * x.sin()` does not: the type of `x` is not
/// known at `x.sin()`). The rejected spelling, for the record:
///
/// ```compile_fail
/// # use nabla_frontend::dsl::*;
/// let b = Builder::new();
/// let t = b.input("t", 4);
/// let net = |x: Var| x * x.sin(); // error: lifetime may not live long enough
/// let _ = diff(net, t);
/// ```
pub fn func<'g, F: Fn(Var<'g>) -> Var<'g>>(f: F) -> F {
    f
}

/// `d f(x) / dx` for a closure `f`: pointwise first derivative.
pub fn diff<'g>(f: impl FnOnce(Var<'g>) -> Var<'g>, x: Var<'g>) -> Var<'g> {
    diff_with(Method::Auto, 1, f, x)
}

/// `dⁿ f(x) / dxⁿ` for a closure `f`.
pub fn diff_n<'g>(order: u8, f: impl FnOnce(Var<'g>) -> Var<'g>, x: Var<'g>) -> Var<'g> {
    diff_with(Method::Auto, order, f, x)
}

/// `dⁿ f(x) / dxⁿ` for a closure `f`, expanded by `method`.
pub fn diff_with<'g>(
    method: Method,
    order: u8,
    f: impl FnOnce(Var<'g>) -> Var<'g>,
    x: Var<'g>,
) -> Var<'g> {
    let b = x.b;
    let level = b.fresh_level();
    let z = b.bound(level, 0, x);
    let body = f(z);
    let Some(body) = b.own(body, "diff") else {
        return x;
    };
    let d = b.add(
        Op::Diff {
            level,
            order,
            method,
        },
        &[body, z.id],
        "diff",
    );
    at(d, &[(z, x)])
}

/// `∂ expr / ∂v` where `v` is an input (or other variable leaf) that `expr` uses.
pub fn partial<'g>(expr: Var<'g>, v: Var<'g>) -> Var<'g> {
    partial_with(Method::Auto, 1, expr, v)
}

/// `∂/∂vₖ ⋯ ∂/∂v₁ expr`: the mixed partial derivative along `vs`, left to right, with each
/// run of one variable taken as one derivative of that order (`[x, x, y]` is
/// `∂/∂y (∂²expr/∂x²)`), as the problem language's `d(E, x, x, y)`.
pub fn partials<'g>(expr: Var<'g>, vs: &[Var<'g>]) -> Var<'g> {
    let mut acc = expr;
    let mut i = 0;
    while i < vs.len() {
        let same = vs[i..].iter().take_while(|v| v.id == vs[i].id);
        let run = same.take(u8::MAX as usize).count();
        acc = partial_with(Method::Auto, run as u8, acc, vs[i]);
        i += run;
    }
    acc
}

/// `∂ⁿ expr / ∂vⁿ`, expanded by `method`.
pub fn partial_with<'g>(method: Method, order: u8, expr: Var<'g>, v: Var<'g>) -> Var<'g> {
    let b = expr.b;
    let Some(v) = b.own(v, "partial derivative") else {
        return expr;
    };
    let level = b.fresh_level();
    b.add(
        Op::Diff {
            level,
            order,
            method,
        },
        &[expr.id, v],
        "partial derivative",
    )
}

/// `Σᵢ ∂²f/∂xᵢ²` for a closure of several arguments.
pub fn laplacian<'g>(f: impl FnOnce(&[Var<'g>]) -> Var<'g>, xs: &[Var<'g>]) -> Var<'g> {
    laplacian_with(Method::Auto, f, xs)
}

/// The Laplacian of a closure, expanded by `method`. Each argument is a variable of its
/// own, even where `xs` lists one value twice.
///
/// # Panics
///
/// When `xs` is empty: there is no variable, and no builder to record the error.
pub fn laplacian_with<'g>(
    method: Method,
    f: impl FnOnce(&[Var<'g>]) -> Var<'g>,
    xs: &[Var<'g>],
) -> Var<'g> {
    let b = xs.first().expect("a Laplacian over no variables").b;
    if b.own_all(xs, "laplacian").is_none() {
        return xs[0];
    }
    let level = b.fresh_level();
    let zs: Vec<Var<'g>> = (xs.iter().enumerate())
        .map(|(i, &x)| b.bound(level, i, x))
        .collect();
    let body = f(&zs);
    let lap = lap_node(method, level, body, &zs);
    let subs: Vec<(Var<'g>, Var<'g>)> = zs.into_iter().zip(xs.iter().copied()).collect();
    at(lap, &subs)
}

/// `Σᵢ ∂² expr/∂vᵢ²` over variable leaves `vs`.
pub fn laplacian_of<'g>(expr: Var<'g>, vs: &[Var<'g>]) -> Var<'g> {
    laplacian_of_with(Method::Auto, expr, vs)
}

/// The Laplacian of an expression, expanded by `method`. A variable listed twice is an
/// error (it would count `∂²/∂v²` twice), as `lap(u; x, x)` is in a problem file.
pub fn laplacian_of_with<'g>(method: Method, expr: Var<'g>, vs: &[Var<'g>]) -> Var<'g> {
    if twice(expr.b, vs, "laplacian") {
        return expr;
    }
    let level = expr.b.fresh_level();
    lap_node(method, level, expr, vs)
}

fn lap_node<'g>(method: Method, level: Level, body: Var<'g>, vs: &[Var<'g>]) -> Var<'g> {
    let b = body.b;
    let (Some(body_id), Some(ids)) = (b.own(body, "laplacian"), b.own_all(vs, "laplacian")) else {
        return body;
    };
    let mut args = vec![body_id];
    args.extend(ids);
    b.add(Op::Laplacian { level, method }, &args, "laplacian")
}

/// Whether a variable of `vs` is listed twice; if so, records it as an error of `what`.
fn twice(b: &Builder, vs: &[Var<'_>], what: &str) -> bool {
    let k = (1..vs.len()).find(|&k| vs[..k].iter().any(|v| v.id == vs[k].id));
    if let Some(k) = k {
        b.usage(what, format!("variable {} is listed twice", vs[k].id));
    }
    k.is_some()
}

/// An unbiased estimate of the Laplacian `Σᵢ ∂²expr/∂vᵢ²` from random probe directions
/// (the stochastic Taylor derivative estimator): `(1/K) Σₖ sₖᵀ H sₖ` with `H` the Hessian
/// over `vs` and `probes[k] = sₖ`, one value per variable (per point: `[N, 1]` like the
/// variables). With independent entries of mean 0 and variance 1 (Rademacher ±1),
/// `E[sᵀ H s] = tr H`. Each term is ONE second-order Taylor jet along `sₖ`:
/// `d²/dt² expr(v + t·sₖ)` at `t = 0`, a derivative instance with a level of its own, so
/// its cost is that of three forward passes whatever the number of variables, where the
/// exact Laplacian carries one tangent per variable.
///
/// No variables, no probes, or a probe with another number of entries than `vs` are
/// errors at [`Builder::finish`].
pub fn laplacian_sampled<'g>(expr: Var<'g>, vs: &[Var<'g>], probes: &[Vec<Var<'g>>]) -> Var<'g> {
    let b = expr.b;
    let what = "sampled Laplacian";
    if vs.is_empty() {
        b.usage(what, "no variables");
        return expr;
    }
    if probes.is_empty() {
        b.usage(what, "no probe directions");
        return expr;
    }
    if let Some(s) = probes.iter().find(|s| s.len() != vs.len()) {
        let reason = format!("a probe has {} entries for {} variables", s.len(), vs.len());
        b.usage(what, reason);
        return expr;
    }
    if twice(b, vs, what) {
        return expr;
    }
    let terms = probes.iter().map(|s| along_twice(expr, vs, s));
    let sum = terms.reduce(|a, t| a + t).expect("at least one probe");
    sum * (1.0 / probes.len() as f64)
}

/// `sᵀ H s = d²/dt² expr(v + t·s)` at `t = 0`: the line through the point along `s`,
/// traced at a bound `t` of a fresh level and differentiated twice by Taylor mode.
fn along_twice<'g>(expr: Var<'g>, vs: &[Var<'g>], s: &[Var<'g>]) -> Var<'g> {
    let b = expr.b;
    let level = b.fresh_level();
    let t = b.bound(level, 0, vs[0]);
    let line: Vec<(Var<'g>, Var<'g>)> = vs.iter().zip(s).map(|(&v, &d)| (v, v + t * d)).collect();
    let on_line = at(expr, &line);
    let op = Op::Diff {
        level,
        order: 2,
        method: Method::Taylor,
    };
    let Some(on_line) = b.own(on_line, "sampled Laplacian") else {
        return expr;
    };
    let d2 = b.add(op, &[on_line, t.id], "sampled Laplacian term");
    at(d2, &[(t, b.constant(0.0))])
}

/// The Hessian `[∂²expr/∂vᵢ∂vⱼ]` by nested partial derivatives.
pub fn hessian<'g>(expr: Var<'g>, vs: &[Var<'g>]) -> Vec<Vec<Var<'g>>> {
    vs.iter()
        .map(|&vi| {
            let di = partial(expr, vi);
            vs.iter().map(|&vj| partial(di, vj)).collect()
        })
        .collect()
}

/// The Jacobian-vector product `Σᵢ ∂expr/∂vᵢ · tᵢ` (tangents `ts` broadcast pointwise).
/// As many tangents as variables, at least one.
pub fn jvp<'g>(expr: Var<'g>, vs: &[Var<'g>], ts: &[Var<'g>]) -> Var<'g> {
    if vs.is_empty() || vs.len() != ts.len() {
        let reason = format!("{} variables and {} tangents", vs.len(), ts.len());
        expr.b.usage("jvp", reason);
        return expr;
    }
    let mut terms = vs.iter().zip(ts).map(|(&v, &t)| partial(expr, v) * t);
    let first = terms.next().expect("at least one variable");
    terms.fold(first, |acc, t| acc + t)
}

/// The vector-Jacobian product: the gradients of `Σ (out · w)` w.r.t. each of `wrt`.
pub fn vjp<'g>(out: Var<'g>, wrt: &(impl AsVars<'g> + ?Sized), w: Var<'g>) -> Vec<Var<'g>> {
    grad((out * w).sum(), wrt)
}

/// The gradient of a scalar `loss` w.r.t. each variable of `wrt` (reverse mode). The loss
/// may contain any derivatives: this is reverse over forward/Taylor, exact.
pub fn grad<'g>(loss: Var<'g>, wrt: &(impl AsVars<'g> + ?Sized)) -> Vec<Var<'g>> {
    let b = loss.b;
    let level = b.fresh_level();
    wrt.as_vars()
        .into_iter()
        .map(|p| match b.own(p, "grad") {
            Some(p) => b.add(Op::Grad { level }, &[loss.id, p], "grad"),
            None => loss,
        })
        .collect()
}

/// The per-point Jacobian of `f` (one value per point, `[N, 1]`) w.r.t. each parameter
/// of `wrt`: `[N, numel(p)]`, row `n` holding `∂f[n]/∂p` in `p`'s row-major layout. One
/// reverse sweep that keeps the batch axis serves them all; `f` may contain any
/// derivatives w.r.t. the points. This is what Gauss–Newton methods need: the rows of the
/// Jacobian of the residuals.
pub fn jacobian<'g>(f: Var<'g>, wrt: &(impl AsVars<'g> + ?Sized)) -> Vec<Var<'g>> {
    let b = f.b;
    let level = b.fresh_level();
    wrt.as_vars()
        .into_iter()
        .map(|p| match b.own(p, "jacobian") {
            Some(p) => b.add(Op::Jacobian { level }, &[f.id, p], "jacobian"),
            None => f,
        })
        .collect()
}

/// Taylor coefficients `[f(x), f'(x), f''(x)/2!, ..., f⁽ᴷ⁾(x)/K!]` of a closure along `x`.
pub fn taylor<'g>(f: impl Fn(Var<'g>) -> Var<'g>, x: Var<'g>, order: u8) -> Vec<Var<'g>> {
    let mut out = vec![f(x)];
    let mut fact = 1.0;
    for k in 1..=order {
        fact *= k as f64;
        out.push(diff_with(Method::Taylor, k, &f, x) / fact);
    }
    out
}

/// `expr` with variables replaced by other values, simultaneously, after `expr`'s own
/// derivatives are taken: `at(partial(u, y), &[(y, x*x)])` is `u_y(x, x²)`. A variable
/// given twice is an error (which value would it take?).
pub fn at<'g>(expr: Var<'g>, subs: &[(Var<'g>, Var<'g>)]) -> Var<'g> {
    let b = expr.b;
    let vs: Vec<Var<'g>> = subs.iter().map(|(v, _)| *v).collect();
    if twice(b, &vs, "at") {
        return expr;
    }
    let mut args = vec![expr.id];
    for (v, a) in subs {
        let (Some(v_id), Some(_)) = (b.own(*v, "at"), b.own(*a, "at")) else {
            return expr;
        };
        args.push(v_id);
        args.push(a.broadcast_to(&v.shape()).id);
    }
    b.add(Op::At, &args, "at")
}
