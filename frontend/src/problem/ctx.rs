//! [`Ctx`]: what an expression closure traces with, for one point set.
//!
//! Values are reached by handle ([`Input`], [`Output`], [`Param`], [`Let`]) with
//! indexing, `c[x]`, or by name for the problem language. A net output at its declared
//! arguments and a `let` are traced once per context, on first use, and shared by every
//! later use (cached in a [`OnceCell`], which is what lets `c[u]` hand out a reference to
//! a value traced on demand).
//!
//! A handle indexes only the problem whose builder declared it ([`Problem::owner`]). Any
//! other, whose index would name some other value here or none, is an error of the traced
//! program ([`DslError::ForeignHandle`], returned when the objective is built); tracing
//! goes on with a placeholder in its place.

use super::build::{Input, Let, Output, Owner, Param};
use super::{NetDecl, Problem};
use crate::dsl::{at, laplacian_of, laplacian_sampled, partials, Builder, DslError, Var};
use crate::nn::MlpParams;
use std::cell::{Cell, OnceCell};
use std::ops::Index;

/// The handles an expression closure traces with, for one point set.
pub struct Ctx<'g> {
    /// The builder.
    pub b: &'g Builder,
    /// The problem.
    pub problem: &'g Problem,
    /// The point set's coordinates, one `[N, 1]` value per input, in declaration order.
    pub inputs: Vec<Var<'g>>,
    nets: Vec<MlpParams<'g>>,
    params: Vec<Var<'g>>,
    /// Net outputs at their declared arguments, flat over the nets' outputs in order.
    outputs: Vec<OnceCell<Var<'g>>>,
    /// `let`s of [`Problem::lets`], in order.
    lets: Vec<OnceCell<Var<'g>>>,
    /// The point set traced on and its size.
    pub(super) set: (String, usize),
    /// Sampled operators traced so far (numbers their probe leaves).
    sampled: Cell<usize>,
    /// What a refused handle traces as (a constant 0, made on first use).
    placeholder: OnceCell<Var<'g>>,
}

/// The most probe directions one sampled operator may draw.
pub const MAX_SAMPLE: usize = 4096;

impl<'g> Ctx<'g> {
    pub(super) fn new(
        b: &'g Builder,
        problem: &'g Problem,
        inputs: Vec<Var<'g>>,
        nets: Vec<MlpParams<'g>>,
        params: Vec<Var<'g>>,
    ) -> Ctx<'g> {
        let outputs = problem.nets.iter().flat_map(|n| &n.outputs);
        Ctx {
            b,
            problem,
            inputs,
            nets,
            params,
            outputs: outputs.map(|_| OnceCell::new()).collect(),
            lets: problem.lets.iter().map(|_| OnceCell::new()).collect(),
            set: (String::new(), 1),
            sampled: Cell::new(0),
            placeholder: OnceCell::new(),
        }
    }

    /// Whether a handle declared by `owner`, whose index is `in_range` here, is one of this
    /// problem's; if not, records [`DslError::ForeignHandle`] (`what`: the handle's kind),
    /// which building the objective returns.
    fn owns(&self, owner: Owner, in_range: bool, what: &str) -> bool {
        if self.problem.owner == Some(owner) && in_range {
            return true;
        }
        self.b.fail(DslError::ForeignHandle {
            what: what.into(),
            problem: self.problem.name.clone(),
        });
        false
    }

    /// The index of input `x`, when this problem declares it (otherwise an error is
    /// recorded).
    fn input_index(&self, x: Input) -> Option<usize> {
        (self.owns(x.owner, x.i < self.inputs.len(), "input")).then_some(x.i)
    }

    /// Whether this problem declares net output `o` (otherwise an error is recorded).
    fn owns_output(&self, o: Output) -> bool {
        let net = self.problem.nets.get(o.net);
        let in_range = o.flat < self.outputs.len() && net.is_some_and(|n| o.col < n.outputs.len());
        self.owns(o.owner, in_range, "output")
    }

    /// Traced in place of a refused handle's value, so that tracing goes on to the end;
    /// the error recorded for the handle is what the objective returns.
    fn placeholder(&self) -> &Var<'g> {
        self.placeholder.get_or_init(|| self.b.constant(0.0))
    }

    /// The `v`-component of the domain's outward unit normal at each point: per-point data
    /// of a boundary set (`boundary(D, N)` terms of one domain D), produced by the sampler.
    /// Elsewhere, or for a `v` that is not a coordinate of D, an error of the traced
    /// program ([`DslError::Normal`]).
    pub fn normal(&self, v: Input) -> Var<'g> {
        match self.input_index(v) {
            Some(k) => self.normal_at(k),
            None => *self.placeholder(),
        }
    }

    /// [`Ctx::normal`] of input `k` of [`Problem::inputs`].
    fn normal_at(&self, k: usize) -> Var<'g> {
        let input = &self.problem.inputs[k].name;
        match self.problem.boundary_domain(&self.set.0) {
            Some(d) if d.coords.contains(&k) => {
                let name = super::normal_name(&self.set.0, input);
                self.b.input(&name, self.set.1)
            }
            d => {
                self.b.fail(DslError::Normal {
                    set: self.set.0.clone(),
                    input: input.clone(),
                    domain: d.map(|d| d.name.clone()),
                });
                self.b.constant(0.0)
            }
        }
    }

    /// [`Ctx::normal`] of the input named `name` (`None` when there is no such input).
    pub fn normal_named(&self, name: &str) -> Option<Var<'g>> {
        let i = self.problem.inputs.iter().position(|d| d.name == name)?;
        Some(self.normal_at(i))
    }

    /// The outward normal derivative `Σ normal(v) · ∂e/∂v` over the coordinates of the
    /// set's domain (on a boundary set only, as [`Ctx::normal`]).
    pub fn dn(&self, e: Var<'g>) -> Var<'g> {
        let Some(d) = self.problem.boundary_domain(&self.set.0) else {
            let last = self.problem.inputs.last();
            self.b.fail(DslError::Normal {
                set: self.set.0.clone(),
                input: last.map_or_else(String::new, |d| d.name.clone()),
                domain: None,
            });
            return self.b.constant(0.0);
        };
        let terms = (d.coords.iter()).map(|&k| self.normal_at(k) * partials(e, &[self.inputs[k]]));
        terms
            .reduce(|a, b| a + b)
            .unwrap_or_else(|| self.b.constant(0.0))
    }

    /// The coordinate named `name`.
    pub fn input(&self, name: &str) -> Option<Var<'g>> {
        let i = self.problem.inputs.iter().position(|d| d.name == name)?;
        Some(self.inputs[i])
    }

    /// The trainable scalar named `name` (rank 0).
    pub fn param(&self, name: &str) -> Option<Var<'g>> {
        let i = self.problem.params.iter().position(|d| d.name == name)?;
        Some(self.params[i])
    }

    /// Net output `output` evaluated at `args` (default: the net's declared arguments),
    /// or, without `args`, the `let` of [`Problem::lets`] of that name (a constrained
    /// output).
    pub fn output(&self, output: &str, args: Option<&[Var<'g>]>) -> Option<Var<'g>> {
        let Some((k, net)) = self.net_of(output) else {
            let i = self.problem.lets.iter().position(|l| l.name == output);
            return i.filter(|_| args.is_none()).map(|i| *self.let_at(i));
        };
        let j = net.outputs.iter().position(|o| o == output)?;
        let a: Vec<Var<'g>> = match args {
            Some(a) => a.to_vec(),
            None => (net.args.iter())
                .map(|n| self.input(n))
                .collect::<Option<_>>()?,
        };
        Some(self.apply(k, j, &a))
    }

    /// Column `j` of net `k` at `args`.
    fn apply(&self, k: usize, j: usize, args: &[Var<'g>]) -> Var<'g> {
        let y = self.nets[k].apply(super::embed::features(&self.problem.nets[k], args));
        if self.problem.nets[k].outputs.len() == 1 {
            y
        } else {
            y.col(j)
        }
    }

    fn net_of(&self, output: &str) -> Option<(usize, &'g NetDecl)> {
        self.problem
            .nets
            .iter()
            .enumerate()
            .find(|(_, n)| n.outputs.iter().any(|o| o == output))
    }

    /// A constant (scalar, broadcast where it meets point values).
    pub fn num(&self, v: f64) -> Var<'g> {
        self.b.constant(v)
    }

    /// `∂/∂vₖ ⋯ ∂/∂v₁ e` along `vs`, left to right: `c.d(c[u], &[x, x])` is u_xx, as
    /// `d(u, x, x)` in a problem file.
    pub fn d(&self, e: Var<'g>, vs: &[Input]) -> Var<'g> {
        let vars: Vec<Var<'g>> = vs.iter().map(|&v| self[v]).collect();
        partials(e, &vars)
    }

    /// The Laplacian of `e` over every input, as `lap(E)`.
    pub fn lap(&self, e: Var<'g>) -> Var<'g> {
        laplacian_of(e, &self.inputs)
    }

    /// The Laplacian of `e` over the inputs `vs`, as `lap(E; v1, ...)`.
    pub fn lap_over(&self, e: Var<'g>, vs: &[Input]) -> Var<'g> {
        let vars: Vec<Var<'g>> = vs.iter().map(|&v| self[v]).collect();
        laplacian_of(e, &vars)
    }

    /// An unbiased estimate of the Laplacian of `e` over every input from `k` random
    /// Rademacher directions per point, as `lap(E; sample = K)`: `(1/k) Σ sᵀ H s`, each term
    /// one second-order Taylor jet (see [`laplacian_sampled`]). The directions are leaves
    /// of this point set ([`super::probe_name`]) that training redraws at every step.
    pub fn lap_sampled(&self, e: Var<'g>, k: usize) -> Var<'g> {
        let all: Vec<usize> = (0..self.inputs.len()).collect();
        self.lap_sampled_at(e, &all, k)
    }

    /// How many sampled operators this context has traced.
    pub fn sampled(&self) -> usize {
        self.sampled.get()
    }

    /// Numbers the next sampled operator `k` (its probe leaves differ from those of the
    /// first `k`): a second trace of a residual draws independent directions.
    pub(super) fn skip_sampled(&self, k: usize) {
        self.sampled.set(k);
    }

    /// [`Ctx::lap_sampled`] over the inputs named `vs` (every input when `None`); `None` when
    /// a name is not an input.
    pub(crate) fn lap_sampled_named(
        &self,
        e: Var<'g>,
        vs: Option<&[&str]>,
        k: usize,
    ) -> Option<Var<'g>> {
        let inputs = &self.problem.inputs;
        let indices: Option<Vec<usize>> = match vs {
            Some(vs) => (vs.iter())
                .map(|n| inputs.iter().position(|d| d.name == *n))
                .collect(),
            None => Some((0..inputs.len()).collect()),
        };
        Some(self.lap_sampled_at(e, &indices?, k))
    }

    /// [`Ctx::lap_sampled`] over the inputs `vs`, as `lap(E; v1, ...; sample = K)`.
    pub fn lap_sampled_over(&self, e: Var<'g>, vs: &[Input], k: usize) -> Var<'g> {
        let indices: Option<Vec<usize>> = vs.iter().map(|&v| self.input_index(v)).collect();
        match indices {
            Some(vs) => self.lap_sampled_at(e, &vs, k),
            None => *self.placeholder(),
        }
    }

    /// [`Ctx::lap_sampled`] over the inputs of [`Problem::inputs`] at indices `vs`.
    fn lap_sampled_at(&self, e: Var<'g>, vs: &[usize], k: usize) -> Var<'g> {
        if k == 0 || k > MAX_SAMPLE {
            self.b.fail(DslError::Sample { k, max: MAX_SAMPLE });
            return self.b.constant(f64::NAN);
        }
        let op = self.sampled.get();
        self.sampled.set(op + 1);
        let (set, n) = (&self.set.0, self.set.1);
        let probes: Vec<Vec<Var<'g>>> = (0..k)
            .map(|j| {
                (vs.iter())
                    .map(|&v| {
                        let input = &self.problem.inputs[v].name;
                        self.b.input(&super::probe_name(set, op, j, input), n)
                    })
                    .collect()
            })
            .collect();
        let vars: Vec<Var<'g>> = vs.iter().map(|&v| self.inputs[v]).collect();
        laplacian_sampled(e, &vars, &probes)
    }

    /// `e` with inputs replaced by values, simultaneously, after `e`'s own derivatives, as
    /// `at(E; x = A, ...)`; [`Ctx::num`] makes a number a value.
    pub fn at(&self, e: Var<'g>, subs: &[(Input, Var<'g>)]) -> Var<'g> {
        let pairs: Vec<(Var<'g>, Var<'g>)> = subs.iter().map(|&(v, a)| (self[v], a)).collect();
        at(e, &pairs)
    }

    /// Net output `out` evaluated at other arguments (one per net argument, each
    /// broadcast to a column of the point set), as `u(t, -1)` in a problem file. The wrong
    /// number of arguments is an error of the traced program ([`DslError::Arity`], reported
    /// when the objective is built).
    pub fn call(&self, out: Output, args: &[Var<'g>]) -> Var<'g> {
        if !self.owns_output(out) {
            return *self.placeholder();
        }
        let net = &self.problem.nets[out.net];
        if args.len() != net.args.len() {
            self.b.fail(DslError::Arity {
                net: net.name.clone(),
                expected: net.args.len(),
                found: args.len(),
            });
            return self.b.constant(0.0);
        }
        let col = self.inputs.first().map(|x| x.shape());
        let cols: Vec<Var<'g>> = match col {
            Some(s) => args.iter().map(|a| a.broadcast_to(&s)).collect(),
            None => args.to_vec(),
        };
        self.apply(out.net, out.col, &cols)
    }

    /// `let` `i` of [`Problem::lets`] (traced on first use, then shared).
    fn let_at(&self, i: usize) -> &Var<'g> {
        self.lets[i].get_or_init(|| (self.problem.lets[i].expr)(self))
    }
}

impl<'g> Index<Input> for Ctx<'g> {
    type Output = Var<'g>;

    /// The point set's coordinate `x`.
    fn index(&self, x: Input) -> &Var<'g> {
        match self.input_index(x) {
            Some(i) => &self.inputs[i],
            None => self.placeholder(),
        }
    }
}

impl<'g> Index<Param> for Ctx<'g> {
    type Output = Var<'g>;

    /// The trainable scalar's value (rank 0).
    fn index(&self, p: Param) -> &Var<'g> {
        match self.owns(p.owner, p.i < self.params.len(), "param") {
            true => &self.params[p.i],
            false => self.placeholder(),
        }
    }
}

impl<'g> Index<Output> for Ctx<'g> {
    type Output = Var<'g>;

    /// The net output at the net's declared arguments (traced on first use).
    fn index(&self, o: Output) -> &Var<'g> {
        if !self.owns_output(o) {
            return self.placeholder();
        }
        self.outputs[o.flat].get_or_init(|| {
            let net = &self.problem.nets[o.net];
            let args: Vec<Var<'g>> = (net.args.iter())
                .map(|n| self.input(n).expect("net arguments are inputs"))
                .collect();
            self.apply(o.net, o.col, &args)
        })
    }
}

impl<'g> Index<Let> for Ctx<'g> {
    type Output = Var<'g>;

    /// The `let`'s value (traced on first use, then shared).
    fn index(&self, l: Let) -> &Var<'g> {
        match self.owns(l.owner, l.i < self.lets.len(), "let") {
            true => self.let_at(l.i),
            false => self.placeholder(),
        }
    }
}
