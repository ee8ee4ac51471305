//! [`ProblemBuilder`]: a [`Problem`] stated in Rust in the order a paper states it, with
//! handles instead of names.
//!
//! Each declaration returns a small `Copy` handle ([`Input`], [`Output`], [`Param`],
//! [`Let`], [`Points`]); expressions are closures over a [`Ctx`] that index it with the
//! handles (`c[x]`, `c[u]`). The closures are traced once per residual when the objective
//! is built, exactly as the problem language's expressions are, so a problem built here
//! and the same problem in a `.nabla` file give the same graph.
//!
//! ```
//! use nabla_frontend::prelude::*;
//! use std::f64::consts::PI;
//!
//! let mut p = ProblemBuilder::new("poisson2d");
//! let x = p.input("x", [0.0, 1.0]);
//! let y = p.input("y", [0.0, 1.0]);
//! let u = p.net("u", &[x, y], mlp(&[32, 32]));
//! let f = p.define("f", move |c| 2.0 * PI.powi(2) * (PI * c[x]).sin() * (PI * c[y]).sin());
//! let inner = p.points("inner", interior(1024));
//! let walls = p.points("walls", boundary(256));
//! p.residual("pde", inner, move |c| -c.lap(c[u]) - c[f]);
//! p.residual("bc", walls, move |c| c[u]).weight(10.0);
//! p.exact(u, move |c| (PI * c[x]).sin() * (PI * c[y]).sin());
//! let problem = p.build().unwrap();
//! assert_eq!(problem.nets[0].mlp.widths, vec![2, 32, 32, 1]);
//! ```
//!
//! Handles index the problem they were declared in. Each builder has an [`Owner`] id,
//! unique in the process, that its handles carry and its problem keeps, so a handle of
//! another builder is refused wherever it is used rather than read as an index of this
//! problem (where it would name some other declaration, or none): given to a builder
//! method, it is a [`BuildError::Foreign`] that [`ProblemBuilder::build`] returns; used in
//! an expression (`c[x]`), it is a [`DslError::ForeignHandle`] that building the objective
//! returns.
//!
//! [`DslError::ForeignHandle`]: crate::dsl::DslError::ForeignHandle

use super::{
    Ctx, Embedding, ExactDecl, ExprFn, Fourier, InputDecl, LetDecl, NetDecl, Periodic,
    PointSetDecl, PointSpec, Problem, ResidualDecl, ScalarParam,
};
use crate::dsl::Var;
use crate::nn::{Act, Mlp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Which [`ProblemBuilder`] declared a handle: an id unique in the process, carried by
/// every handle and kept by the built [`Problem`] ([`Problem::owner`]), so that a handle
/// is checked against the problem it is used with instead of trusted as an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner(u64);

impl Owner {
    /// An id no builder of this process has had (64 bits: it never wraps).
    fn next() -> Owner {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Owner(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// An input (independent variable): `c[x]` is its column on the point set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Input {
    /// The builder that declared it.
    pub(super) owner: Owner,
    /// Index into [`Problem::inputs`].
    pub(super) i: usize,
}

/// A net output: `c[u]` is the net at its declared arguments, `c.call(u, &[..])` elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Output {
    /// The builder that declared it.
    pub(super) owner: Owner,
    pub(super) net: usize,
    pub(super) col: usize,
    /// Index over every net's outputs, in declaration order.
    pub(super) flat: usize,
}

/// A trainable scalar (inverse problems): `c[k]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    /// The builder that declared it.
    pub(super) owner: Owner,
    /// Index into [`Problem::params`].
    pub(super) i: usize,
}

/// A named expression, traced once per residual and shared by its uses: `c[f]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Let {
    /// The builder that declared it.
    pub(super) owner: Owner,
    /// Index into [`Problem::lets`].
    pub(super) i: usize,
}

/// What an exact solution describes: a net output, or a `let` (a constrained output, such
/// as a hard-constraint ansatz `x (1 − x) n(x)`), which reports then measure and plot
/// like a net output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Solved {
    /// A net output.
    Output(Output),
    /// A `let`.
    Let(Let),
}

impl From<Output> for Solved {
    fn from(o: Output) -> Solved {
        Solved::Output(o)
    }
}

impl From<Let> for Solved {
    fn from(l: Let) -> Solved {
        Solved::Let(l)
    }
}

/// A domain beyond the box (see [`super::domain`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Domain {
    /// The builder that declared it.
    owner: Owner,
    /// Index into [`Problem::domains`].
    i: usize,
}

/// `n` points uniform in domain `d` (the other inputs uniform in their intervals).
pub fn interior_of(d: Domain, n: usize) -> PointSpec {
    let (domain, owner) = (d.i, Some(d.owner));
    PointSpec::InteriorOf { domain, n, owner }
}

/// `n` points uniform by measure on domain `d`'s boundary.
pub fn boundary_of(d: Domain, n: usize) -> PointSpec {
    let (domain, owner) = (d.i, Some(d.owner));
    PointSpec::BoundaryOf { domain, n, owner }
}

/// A point set, named by the residuals evaluated on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Points {
    /// The builder that declared it.
    owner: Owner,
    /// Index into [`Problem::point_sets`].
    i: usize,
}

/// An MLP's hidden widths, activation and seed (the inputs and outputs come from the net's
/// declaration), as `mlp(widths = [..], act = .., seed = ..)` in a problem file.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    hidden: Vec<usize>,
    act: Act,
    seed: u64,
    periodic: Vec<Input>,
    fourier: Option<(usize, f64)>,
}

/// An MLP with these hidden widths, `tanh` and seed 0 (change them with
/// [`NetSpec::act`] and [`NetSpec::seed`]).
pub fn mlp(hidden: &[usize]) -> NetSpec {
    NetSpec {
        hidden: hidden.to_vec(),
        act: Act::Tanh,
        seed: 0,
        periodic: Vec::new(),
        fourier: None,
    }
}

impl NetSpec {
    /// The activation after every layer but the last.
    pub fn act(mut self, act: Act) -> NetSpec {
        self.act = act;
        self
    }

    /// The initialisation seed (Glorot-normal weights, zero biases).
    pub fn seed(mut self, seed: u64) -> NetSpec {
        self.seed = seed;
        self
    }

    /// Makes the net exactly periodic in these arguments over their intervals (each enters
    /// as `cos`, `sin` of `2π(v − a)/(b − a)`), as `periodic = [..]`.
    pub fn periodic(mut self, args: &[Input]) -> NetSpec {
        self.periodic = args.to_vec();
        self
    }

    /// `m` random Fourier features with frequencies of standard deviation `sigma`, as
    /// `fourier = M, sigma = S`.
    pub fn fourier(mut self, m: usize, sigma: f64) -> NetSpec {
        self.fourier = Some((m, sigma));
        self
    }
}

/// `n` points uniform in the box of the inputs' intervals.
pub fn interior(n: usize) -> PointSpec {
    PointSpec::Interior(n)
}

/// `n` points uniform on the box's faces, shared in proportion to their measure.
pub fn boundary(n: usize) -> PointSpec {
    PointSpec::Boundary(n)
}

/// `n` points uniform on the face where input `x` equals `value`.
pub fn face(x: Input, value: f64, n: usize) -> PointSpec {
    PointSpec::Face {
        input: x.i,
        value,
        n,
        owner: Some(x.owner),
    }
}

/// `a + b`: the union of two point sets (as `A + B` in a problem file).
impl std::ops::Add for PointSpec {
    type Output = PointSpec;

    fn add(self, rhs: PointSpec) -> PointSpec {
        let parts = |s: PointSpec| match s {
            PointSpec::Union(parts) => parts,
            one => vec![one],
        };
        let mut all = parts(self);
        all.extend(parts(rhs));
        PointSpec::Union(all)
    }
}

/// Why [`ProblemBuilder::build`] refused a problem.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BuildError {
    /// A name declared twice (inputs, params, nets, outputs, lets and point sets share
    /// one namespace, as in a problem file).
    #[error("`{0}` is declared twice")]
    Duplicate(String),
    /// A name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("`{0}` is not a name: use letters, digits and `_`, not starting with a digit")]
    BadName(String),
    /// An input interval that is empty or not finite.
    #[error("input `{name}` has the interval [{lo}, {hi}]; it needs finite ends with lo < hi")]
    Interval {
        /// The input.
        name: String,
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// A net without arguments or outputs, or with a zero width.
    #[error("net `{name}`: {reason}")]
    Net {
        /// The net.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A point set that cannot be sampled as declared.
    #[error("point set `{name}`: {reason}")]
    Points {
        /// The set.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A domain that cannot be sampled as declared (see [`super::domain::check_domain`]).
    #[error("domain `{name}`: {reason}")]
    Domain {
        /// The domain.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two `exact` solutions for one output.
    #[error("output `{0}` is given two exact solutions")]
    ExactTwice(String),
    /// A residual weight that is negative or not finite.
    #[error("residual `{name}` has weight {weight}; it needs a finite weight ≥ 0")]
    Weight {
        /// The residual.
        name: String,
        /// Its weight.
        weight: f64,
    },
    /// A handle declared by another [`ProblemBuilder`]: as an index of this problem it
    /// would name some other declaration, or none.
    #[error(
        "{used_in}: the {what} handle was declared by another ProblemBuilder (a handle \
         indexes only the problem it was declared in)"
    )]
    Foreign {
        /// The kind of handle (`input`, `output`, `let`, `point set`, `domain`).
        what: &'static str,
        /// The declaration it was given to (net `u`, point set `s`, ...).
        used_in: String,
    },
    /// A problem without residuals has nothing to train.
    #[error("the problem has no residuals: its loss is 0, with nothing to train")]
    NoResiduals,
}

/// Builds a [`Problem`] declaration by declaration (see the [module docs](self)).
pub struct ProblemBuilder {
    /// This builder's id, carried by its handles (and kept in `p.owner`).
    owner: Owner,
    p: Problem,
    errors: Vec<BuildError>,
    outputs: usize,
}

/// What [`ProblemBuilder::residual`] returns: set the residual's weight with
/// [`ResidualWeight::weight`] (default 1).
pub struct ResidualWeight<'a>(&'a mut ResidualDecl);

impl ResidualWeight<'_> {
    /// The residual's weight in the loss: `weight · mean(r²)`.
    pub fn weight(self, weight: f64) -> Self {
        self.0.weight = weight;
        self
    }
}

impl ProblemBuilder {
    /// An empty problem named `name` (used in reports).
    pub fn new(name: &str) -> ProblemBuilder {
        let owner = Owner::next();
        ProblemBuilder {
            owner,
            p: Problem {
                name: name.into(),
                owner: Some(owner),
                ..Problem::default()
            },
            errors: Vec::new(),
            outputs: 0,
        }
    }

    /// An input and its interval `[lo, hi]`; declaration order is the column order of every
    /// point array.
    pub fn input(&mut self, name: &str, [lo, hi]: [f64; 2]) -> Input {
        self.name(name);
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            let name = name.into();
            self.errors.push(BuildError::Interval { name, lo, hi });
        }
        let name = name.into();
        self.p.inputs.push(InputDecl { name, lo, hi });
        let (owner, i) = (self.owner, self.p.inputs.len() - 1);
        Input { owner, i }
    }

    /// A trainable scalar with its initial value.
    pub fn param(&mut self, name: &str, init: f64) -> Param {
        self.name(name);
        let name = name.into();
        self.p.params.push(ScalarParam { name, init });
        let (owner, i) = (self.owner, self.p.params.len() - 1);
        Param { owner, i }
    }

    /// A network of `args` with one output, named like the net.
    pub fn net(&mut self, name: &str, args: &[Input], spec: NetSpec) -> Output {
        let [u] = self.net_outputs(name, args, [name], spec);
        u
    }

    /// A network of `args` with several outputs (`net flow(x, y) -> (u, v, p)`); its
    /// parameters are stored under `name`.
    pub fn net_outputs<const K: usize>(
        &mut self,
        name: &str,
        args: &[Input],
        outputs: [&str; K],
        spec: NetSpec,
    ) -> [Output; K] {
        let own = K == 1 && outputs[0] == name;
        let names: Vec<&str> = (!own).then_some(name).into_iter().chain(outputs).collect();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                self.errors.push(BuildError::Duplicate(n.to_string()));
            }
            self.name(n);
        }
        let args = self.own_inputs(args, &format!("net `{name}`"));
        self.check_net(name, &args, K, &spec);
        let embed = self.embedding(name, &args, &spec);
        // (a width of 0 is an error already recorded by `check_net`; 1 keeps tracing)
        let widths: Vec<usize> = (std::iter::once(embed.width(args.len())))
            .chain(spec.hidden.iter().copied())
            .chain(std::iter::once(K))
            .map(|w| w.max(1))
            .collect();
        let net = self.p.nets.len();
        self.p.nets.push(NetDecl {
            name: name.into(),
            args: args
                .iter()
                .map(|&a| self.p.inputs[a].name.clone())
                .collect(),
            outputs: outputs.iter().map(|o| o.to_string()).collect(),
            mlp: Mlp::new(&widths, spec.act),
            seed: spec.seed,
            embed,
        });
        let first = self.outputs;
        self.outputs += K;
        std::array::from_fn(|col| Output {
            owner: self.owner,
            net,
            col,
            flat: first + col,
        })
    }

    /// The indices of the inputs `xs` this builder declared; each other one is recorded as
    /// a [`BuildError::Foreign`] of `used_in` and left out.
    fn own_inputs(&mut self, xs: &[Input], used_in: &str) -> Vec<usize> {
        (xs.iter())
            .filter(|x| self.owns(x.owner, "input", used_in))
            .map(|x| x.i)
            .collect()
    }

    /// Whether `owner` is this builder; if not, records a [`BuildError::Foreign`]: a `what`
    /// handle of another builder given to `used_in`.
    fn owns(&mut self, owner: Owner, what: &'static str, used_in: &str) -> bool {
        if owner == self.owner {
            return true;
        }
        let used_in = used_in.into();
        self.errors.push(BuildError::Foreign { what, used_in });
        false
    }

    fn check_net(&mut self, name: &str, args: &[usize], outputs: usize, spec: &NetSpec) {
        let reason = if args.is_empty() {
            "it has no arguments"
        } else if outputs == 0 {
            "it has no outputs"
        } else if spec.hidden.contains(&0) {
            "a hidden width is 0"
        } else if (1..args.len()).any(|i| args[..i].contains(&args[i])) {
            "an argument is listed twice"
        } else if spec
            .fourier
            .is_some_and(|(m, s)| m == 0 || !(s.is_finite() && s > 0.0))
        {
            "Fourier features need m ≥ 1 and a finite sigma > 0"
        } else {
            return;
        };
        let (name, reason) = (name.into(), reason.into());
        self.errors.push(BuildError::Net { name, reason });
    }

    /// The net's embedding (`args` are indices of inputs); a periodic input that is not an
    /// argument is an error.
    fn embedding(&mut self, name: &str, args: &[usize], spec: &NetSpec) -> Embedding {
        let mut periodic = Vec::new();
        for v in self.own_inputs(&spec.periodic, &format!("net `{name}`")) {
            let Some(arg) = args.iter().position(|&a| a == v) else {
                let input = &self.p.inputs[v].name;
                let reason = format!("periodic input `{input}` is not one of its arguments");
                self.errors.push(BuildError::Net {
                    name: name.into(),
                    reason,
                });
                continue;
            };
            let d = &self.p.inputs[v];
            if periodic.iter().any(|p: &Periodic| p.arg == arg) {
                let reason = format!("periodic input `{}` is listed twice", d.name);
                self.errors.push(BuildError::Net {
                    name: name.into(),
                    reason,
                });
                continue;
            }
            periodic.push(Periodic {
                arg,
                lo: d.lo,
                hi: d.hi,
            });
        }
        periodic.sort_by_key(|p| p.arg);
        let fourier = spec.fourier.map(|(m, sigma)| Fourier { m, sigma, b: None });
        Embedding { periodic, fourier }
    }

    /// A named expression (`let` in a problem file), traced once per residual and shared.
    pub fn define<F>(&mut self, name: &str, expr: F) -> Let
    where
        F: for<'g> Fn(&Ctx<'g>) -> Var<'g> + Send + Sync + 'static,
    {
        self.name(name);
        let expr: ExprFn = Arc::new(expr);
        self.p.lets.push(LetDecl {
            name: name.into(),
            expr,
        });
        let (owner, i) = (self.owner, self.p.lets.len() - 1);
        Let { owner, i }
    }

    /// A domain: `shape` over the coordinates `coords` (in the shape's order); the other
    /// inputs keep their intervals. Checked here: the shape's pieces, its dimension, that
    /// it lies in the coordinates' intervals, and that it is neither empty nor too thin to
    /// sample.
    pub fn domain(&mut self, name: &str, coords: &[Input], shape: super::domain::Region) -> Domain {
        self.name(name);
        let owned = self.own_inputs(coords, &format!("domain `{name}`"));
        let intervals: Vec<[f64; 2]> = (owned.iter())
            .map(|&c| [self.p.inputs[c].lo, self.p.inputs[c].hi])
            .collect();
        let twice = (1..owned.len()).any(|i| owned[..i].contains(&owned[i]));
        let check = if owned.len() < coords.len() {
            Ok(()) // another builder's coordinate: refused by `own_inputs`
        } else if twice {
            Err("a coordinate is listed twice".to_string())
        } else {
            super::domain::check_domain(&shape, &intervals)
        };
        if let Err(reason) = check {
            let name = name.into();
            self.errors.push(BuildError::Domain { name, reason });
        }
        self.p.domains.push(super::DomainDecl {
            name: name.into(),
            coords: owned,
            shape,
        });
        let (owner, i) = (self.owner, self.p.domains.len() - 1);
        Domain { owner, i }
    }

    /// A point set. Its parts made from handles ([`face`], [`interior_of`], [`boundary_of`])
    /// must be of this builder's handles; it is stored as a problem file states it, with
    /// no owner.
    pub fn points(&mut self, name: &str, spec: PointSpec) -> Points {
        self.name(name);
        let owned = self.owns_parts(&spec, &format!("point set `{name}`"));
        // (another builder's index is not checked against this problem: refused above)
        let check = if owned {
            self.check_points(&spec)
        } else {
            Ok(())
        };
        if let Err(reason) = check {
            let name = name.into();
            self.errors.push(BuildError::Points { name, reason });
        }
        let (name, spec) = (name.into(), spec.without_owner());
        self.p.point_sets.push(PointSetDecl { name, spec });
        let (owner, i) = (self.owner, self.p.point_sets.len() - 1);
        Points { owner, i }
    }

    /// Whether every part of `spec` made from a handle is of this builder's handles; each
    /// other one is recorded as a [`BuildError::Foreign`] of `used_in`.
    fn owns_parts(&mut self, spec: &PointSpec, used_in: &str) -> bool {
        let (owner, what) = match spec {
            PointSpec::Union(parts) => {
                let mut all = true;
                for p in parts {
                    all &= self.owns_parts(p, used_in);
                }
                return all;
            }
            PointSpec::Face { owner, .. } => (owner, "input"),
            PointSpec::InteriorOf { owner, .. } | PointSpec::BoundaryOf { owner, .. } => {
                (owner, "domain")
            }
            PointSpec::Interior(_) | PointSpec::Boundary(_) => return true,
        };
        owner.is_none_or(|o| self.owns(o, what, used_in))
    }

    /// Every part has points, names a declared input or domain, and every face lies in its
    /// input's interval (outside it the points would leave the box, where nothing else is
    /// sampled).
    fn check_points(&self, spec: &PointSpec) -> Result<(), String> {
        match spec {
            PointSpec::Union(parts) => parts.iter().try_for_each(|p| self.check_points(p)),
            _ if spec.is_empty() => Err("a part has no points".into()),
            PointSpec::InteriorOf { domain, .. } | PointSpec::BoundaryOf { domain, .. }
                if *domain >= self.p.domains.len() =>
            {
                Err(format!("domain #{domain} is not declared"))
            }
            PointSpec::Face { input, value, .. } => {
                let Some(d) = self.p.inputs.get(*input) else {
                    return Err(format!("the face of input #{input}, which is not declared"));
                };
                if (d.lo..=d.hi).contains(value) {
                    return Ok(());
                }
                let (x, lo, hi) = (&d.name, d.lo, d.hi);
                Err(format!(
                    "the face `{x} = {value}` lies outside [{lo}, {hi}]"
                ))
            }
            _ => Ok(()),
        }
    }

    /// A residual on a point set: `weight · mean(expr²)` enters the loss (weight 1 unless
    /// set with [`ResidualWeight::weight`]).
    pub fn residual<F>(&mut self, name: &str, on: Points, expr: F) -> ResidualWeight<'_>
    where
        F: for<'g> Fn(&Ctx<'g>) -> Var<'g> + Send + Sync + 'static,
    {
        self.syntax(name);
        if self.p.residuals.iter().any(|r| r.name == name) {
            self.errors.push(BuildError::Duplicate(name.into()));
        }
        let used_in = format!("residual `{name}`");
        let points = match self.owns(on.owner, "point set", &used_in) {
            true => self.p.point_sets[on.i].name.clone(),
            false => String::new(),
        };
        self.p.residuals.push(ResidualDecl {
            name: name.into(),
            points,
            weight: 1.0,
            expr: Arc::new(expr),
        });
        ResidualWeight(self.p.residuals.last_mut().expect("just pushed"))
    }

    /// The closed-form solution of a net output or a `let`, for error reports and plots.
    pub fn exact<F>(&mut self, of: impl Into<Solved>, expr: F)
    where
        F: for<'g> Fn(&Ctx<'g>) -> Var<'g> + Send + Sync + 'static,
    {
        let Some(output) = self.solved_name(of.into()) else {
            return;
        };
        if self.p.exact.iter().any(|e| e.output == output) {
            self.errors.push(BuildError::ExactTwice(output.clone()));
        }
        self.p.exact.push(ExactDecl {
            output,
            expr: Arc::new(expr),
        });
    }

    /// The name of the output or `let` `of`, when this builder declared it (otherwise a
    /// [`BuildError::Foreign`] is recorded).
    fn solved_name(&mut self, of: Solved) -> Option<String> {
        let used_in = "an exact solution";
        match of {
            Solved::Output(o) => (self.owns(o.owner, "output", used_in))
                .then(|| self.p.nets[o.net].outputs[o.col].clone()),
            Solved::Let(l) => {
                (self.owns(l.owner, "let", used_in)).then(|| self.p.lets[l.i].name.clone())
            }
        }
    }

    /// Everything found wrong so far, in the order it was declared ([`ProblemBuilder::build`]
    /// returns the first).
    pub fn errors(&self) -> &[BuildError] {
        &self.errors
    }

    /// The problem, or the first thing wrong with it.
    pub fn build(mut self) -> Result<Problem, BuildError> {
        for r in &self.p.residuals {
            if !(r.weight.is_finite() && r.weight >= 0.0) {
                let (name, weight) = (r.name.clone(), r.weight);
                self.errors.push(BuildError::Weight { name, weight });
            }
        }
        if self.p.residuals.is_empty() {
            self.errors.push(BuildError::NoResiduals);
        }
        if self.p.inputs.is_empty() {
            // (checked here: inputs may be declared after the point sets)
            let sets = self.p.point_sets.iter().filter(|s| box_boundary(&s.spec));
            self.errors.extend(sets.map(|s| {
                BuildError::Points {
                    name: s.name.clone(),
                    reason: "`boundary(N)` samples the faces of the inputs' box, and the \
                         problem has no inputs"
                        .into(),
                }
            }));
        }
        match self.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(self.p),
        }
    }

    /// Records `name` in the one namespace of declarations.
    fn name(&mut self, name: &str) {
        self.syntax(name);
        if self.p.declares(name) {
            self.errors.push(BuildError::Duplicate(name.into()));
        }
    }

    /// `name` is `[A-Za-z_][A-Za-z0-9_]*` (it becomes output names and CSV columns).
    fn syntax(&mut self, name: &str) {
        let mut chars = name.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            self.errors.push(BuildError::BadName(name.into()));
        }
    }
}

impl Problem {
    /// Whether `name` is declared (input, param, net, net output, let or point set).
    fn declares(&self, name: &str) -> bool {
        self.inputs.iter().any(|d| d.name == name)
            || self.params.iter().any(|d| d.name == name)
            || (self.nets.iter()).any(|n| n.name == name || n.outputs.iter().any(|o| o == name))
            || self.lets.iter().any(|l| l.name == name)
            || self.point_sets.iter().any(|s| s.name == name)
            || self.domains.iter().any(|d| d.name == name)
    }
}

impl PointSpec {
    /// `self` with no owner on its parts: a builder's point set, once its handles are
    /// checked, reads as the same set stated in a problem file.
    fn without_owner(self) -> PointSpec {
        match self {
            PointSpec::Face {
                input, value, n, ..
            } => PointSpec::Face {
                input,
                value,
                n,
                owner: None,
            },
            PointSpec::InteriorOf { domain, n, .. } => PointSpec::InteriorOf {
                domain,
                n,
                owner: None,
            },
            PointSpec::BoundaryOf { domain, n, .. } => PointSpec::BoundaryOf {
                domain,
                n,
                owner: None,
            },
            PointSpec::Union(parts) => {
                PointSpec::Union(parts.into_iter().map(PointSpec::without_owner).collect())
            }
            box_part => box_part,
        }
    }
}

/// Whether `spec` has a part on the faces of the inputs' box (`boundary(N)`).
fn box_boundary(spec: &PointSpec) -> bool {
    match spec {
        PointSpec::Boundary(_) => true,
        PointSpec::Union(parts) => parts.iter().any(box_boundary),
        _ => false,
    }
}
