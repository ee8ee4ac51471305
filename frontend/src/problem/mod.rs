//! The `Problem`: what both front ends produce, and the objective graph built from it.
//!
//! A problem has inputs with intervals, networks, trainable scalars, point sets, weighted
//! residuals and exact solutions. Residual and exact expressions are closures over a
//! [`Ctx`] that trace DSL code for one point set: the problem language lowers its
//! expressions to such closures, so it has no semantics of its own.
//!
//! [`Problem::objective`] traces every residual on its point set and builds one graph with
//! the outputs
//! - `loss` = `Σᵣ wᵣ · mean(rᵣ²)`,
//! - `loss.R` = `mean(r_R²)` (unweighted) and `residual.R` (`[N_R, 1]`) per residual `R`,
//! - `grad.P` for every trainable param `P` when asked (`∂loss/∂P`, same shape as `P`).
//!
//! A residual with sampled operators (`lap(E; sample = K)`) is traced twice, with
//! independent probe directions, and `loss.R` = `mean(r_R · r'_R)`: the product of two
//! independent unbiased residuals is an unbiased estimate of the squared residual, and its
//! gradient of the gradient, where `mean(r_R²)` would add the estimator's variance to the
//! loss and train the network to lower that variance instead of solving the equation.
//! (It can be negative for one draw.) `residual.R` is the first trace.
//!
//! Point-set inputs are leaves named `SET.INPUT` of shape `[N_SET, 1]`; net parameters are
//! `NET.l.W` / `NET.l.b`; trainable scalars are rank-0 params under their own name.

mod build;
mod ctx;
pub mod domain;
mod embed;
mod sample;

pub use build::{
    boundary, boundary_of, face, interior, interior_of, mlp, BuildError, Domain, Input, Let,
    NetSpec, Output, Owner, Param, Points, ProblemBuilder, ResidualWeight, Solved,
};
pub use ctx::{Ctx, MAX_SAMPLE};
pub use embed::{Embedding, Fourier, Periodic};
pub use sample::Sampler;

use crate::dsl::{grad, jacobian, Builder, DslError, Var};
use crate::nn::{Mlp, MlpParams, Rng};
use nabla_ir::{DType, Graph, Shape, Tensor};
use std::sync::Arc;

/// A closure that traces an expression for one point set.
pub type ExprFn = Arc<dyn for<'g> Fn(&Ctx<'g>) -> Var<'g> + Send + Sync>;

/// An independent variable and its interval.
#[derive(Clone, Debug, PartialEq)]
pub struct InputDecl {
    /// Name.
    pub name: String,
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

/// A network: arguments (input names, in order), output names and architecture.
#[derive(Clone, Debug, PartialEq)]
pub struct NetDecl {
    /// Name (parameters are stored under it).
    pub name: String,
    /// The inputs it takes, in order (its default arguments).
    pub args: Vec<String>,
    /// Output names (one column each).
    pub outputs: Vec<String>,
    /// Architecture (widths include inputs and outputs).
    pub mlp: Mlp,
    /// Initialisation seed.
    pub seed: u64,
    /// How the arguments become the first layer's features (`mlp.widths[0]` of them).
    pub embed: Embedding,
}

/// A trainable scalar (inverse problems).
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarParam {
    /// Name.
    pub name: String,
    /// Initial value.
    pub init: f64,
}

/// A domain beyond a box: a shape in some of the inputs (its coordinates); the other
/// inputs keep their intervals (`interior(D, N)` with `t` not a coordinate samples
/// D × [t₀, t₁]).
#[derive(Clone, Debug, PartialEq)]
pub struct DomainDecl {
    /// Name.
    pub name: String,
    /// The inputs that are its coordinates, in the shape's order (indices into
    /// [`Problem::inputs`]).
    pub coords: Vec<usize>,
    /// The shape.
    pub shape: domain::Region,
}

/// How a point set is sampled.
#[derive(Clone, Debug, PartialEq)]
pub enum PointSpec {
    /// `n` points uniform in the box.
    Interior(usize),
    /// `n` points uniform on the box's faces, shared among the faces in proportion to
    /// their measure (deterministic counts where `n` allows; see `boundary_points`).
    Boundary(usize),
    /// `n` points uniform on the face where `input = value`.
    Face {
        /// Index of the input held fixed.
        input: usize,
        /// Its value.
        value: f64,
        /// Number of points.
        n: usize,
        /// The builder whose input handle gave `input` ([`face`]); `None` when written out
        /// or read from a file. [`ProblemBuilder::points`] refuses another builder's and
        /// stores `None`.
        owner: Option<Owner>,
    },
    /// `n` points uniform in a domain (index into [`Problem::domains`]), the other inputs
    /// uniform in their intervals.
    InteriorOf {
        /// The domain.
        domain: usize,
        /// Number of points.
        n: usize,
        /// The builder whose domain handle gave `domain` ([`interior_of`]), as for
        /// [`PointSpec::Face`].
        owner: Option<Owner>,
    },
    /// `n` points uniform by measure on a domain's boundary, the other inputs uniform in
    /// their intervals.
    BoundaryOf {
        /// The domain.
        domain: usize,
        /// Number of points.
        n: usize,
        /// The builder whose domain handle gave `domain` ([`boundary_of`]), as for
        /// [`PointSpec::Face`].
        owner: Option<Owner>,
    },
    /// The union of sets, in order.
    Union(Vec<PointSpec>),
}

/// A named point set.
#[derive(Clone, Debug, PartialEq)]
pub struct PointSetDecl {
    /// Name.
    pub name: String,
    /// How it is sampled.
    pub spec: PointSpec,
}

/// A residual: `weight · mean(expr²)` over a point set enters the loss.
#[derive(Clone)]
pub struct ResidualDecl {
    /// Name.
    pub name: String,
    /// The point set it is evaluated on.
    pub points: String,
    /// Its weight in the loss.
    pub weight: f64,
    /// The residual expression.
    pub expr: ExprFn,
}

/// The closed-form solution of one net output.
#[derive(Clone)]
pub struct ExactDecl {
    /// The output it describes.
    pub output: String,
    /// The solution as an expression of the inputs.
    pub expr: ExprFn,
}

/// A named expression shared by the residuals that use it (`let` of the Rust builder;
/// the problem language keeps its `let`s inside its own lowering).
#[derive(Clone)]
pub struct LetDecl {
    /// Name.
    pub name: String,
    /// The expression.
    pub expr: ExprFn,
}

/// A PINN problem.
#[derive(Clone, Default)]
pub struct Problem {
    /// Name used in reports.
    pub name: String,
    /// Inputs in declaration order (the column order of every point array).
    pub inputs: Vec<InputDecl>,
    /// Networks.
    pub nets: Vec<NetDecl>,
    /// Trainable scalars.
    pub params: Vec<ScalarParam>,
    /// Point sets.
    pub point_sets: Vec<PointSetDecl>,
    /// Residuals.
    pub residuals: Vec<ResidualDecl>,
    /// Exact solutions.
    pub exact: Vec<ExactDecl>,
    /// Named expressions reached by [`Let`] handles (traced once per [`Ctx`]).
    pub lets: Vec<LetDecl>,
    /// Domains beyond the inputs' box.
    pub domains: Vec<DomainDecl>,
    /// Residuals whose squares are weighted point by point in the loss: residual `R` is
    /// `mean(c · r²)` with `c` the input leaf [`point_weight_name`]`(R)` of shape
    /// `[N_R, 1]`, bound by the trainer (causal training weights the residual over time),
    /// and the per-point squares are the output [`square_name`]`(R)`. Empty for a problem
    /// as written; `loss.R` stays the unweighted mean either way.
    pub point_weights: Vec<String>,
    /// The [`ProblemBuilder`] that built this problem, whose handles ([`Input`], [`Output`],
    /// ...) index it: [`Ctx`] refuses any other handle, which would name some other
    /// declaration here. `None` for a problem read from a file or written out, which no
    /// handle indexes.
    pub owner: Option<Owner>,
}

/// The leaf that holds residual `residual`'s per-point loss weights when the residual is
/// listed in [`Problem::point_weights`]. (`%` cannot appear in the language's names, so the
/// leaf never collides with a point set's inputs `SET.INPUT`.)
pub fn point_weight_name(residual: &str) -> String {
    format!("%weight.{residual}")
}

/// The output that holds residual `residual`'s per-point square (`r²`, or `r·r′` of its
/// two traces with sampled operators) when the residual has sampled operators or is in
/// [`Problem::point_weights`]: what the trainer adds up the loss from (otherwise from
/// `residual.R` squared) and measures the residual's time chunks by.
pub fn square_name(residual: &str) -> String {
    format!("%square.{residual}")
}

/// Why an objective cannot be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProblemError {
    /// A residual names a point set that does not exist or has no size given.
    #[error("residual `{residual}` is on point set `{set}`, which has no points")]
    MissingPoints {
        /// The residual.
        residual: String,
        /// The set.
        set: String,
    },
    /// Tracing failed.
    #[error(transparent)]
    Dsl(#[from] DslError),
}

/// The traced objective: the graph plus the initial values of its params.
pub struct Objective {
    /// The graph (with derivative operators still in it).
    pub graph: Graph,
    /// Initial values of every param, in declaration order (nets, then scalars).
    pub init: Vec<(String, Tensor)>,
}

impl Problem {
    /// Builds the objective for point sets of the given sizes (`(set, N)`), in `dtype`.
    /// Residuals whose set is absent are an error. Outputs `loss`, and per residual `R`
    /// `loss.R`, `residual.R` and, where needed, its per-point squares ([`square_name`]);
    /// `with_grad` adds `grad.P` outputs.
    pub fn objective(
        &self,
        sizes: &[(String, usize)],
        dtype: DType,
        with_grad: bool,
    ) -> Result<Objective, ProblemError> {
        self.build_objective(sizes, dtype, with_grad, false)
    }

    /// The objective (without its gradient) and, for every residual `R` and trainable
    /// value `P` (the names of `grad.P`), the Jacobian `jacobian.R.P: [N_R, numel(P)]`: row
    /// `i` holds `∂r_i/∂P` in `P`'s row-major layout, so that
    /// `Σ_R W_R/N_R · Σ_i 2 r_i J_R,P[i] = grad.P`. (Separate outputs rather than one
    /// `[N_R, Σ numel]` block: each is written where it is computed, with no copy.)
    pub fn jacobian_objective(
        &self,
        sizes: &[(String, usize)],
        dtype: DType,
    ) -> Result<Objective, ProblemError> {
        self.build_objective(sizes, dtype, false, true)
    }

    fn build_objective(
        &self,
        sizes: &[(String, usize)],
        dtype: DType,
        with_grad: bool,
        with_jacobian: bool,
    ) -> Result<Objective, ProblemError> {
        let b = Builder::with_dtype(dtype);
        let nets = self.declare_nets(&b);
        let params = self.declare_scalars(&b);
        let all: Vec<Var<'_>> = nets
            .iter()
            .flat_map(|n| n.vars())
            .chain(params.iter().copied())
            .collect();
        let mut loss: Option<Var<'_>> = None;
        for r in &self.residuals {
            let n = size_of(sizes, &r.points).ok_or_else(|| ProblemError::MissingPoints {
                residual: r.name.clone(),
                set: r.points.clone(),
            })?;
            let ctx = self.ctx(&b, &r.points, n, &nets, &params);
            let res = (r.expr)(&ctx);
            let res = res.broadcast_to(&Shape::matrix(n, 1));
            // r², or r·r' of two independent traces for sampled operators
            let sampled = ctx.sampled();
            let sq = match sampled {
                0 => res.square(),
                k => {
                    let twin = self.ctx(&b, &r.points, n, &nets, &params);
                    twin.skip_sampled(k);
                    let again = (r.expr)(&twin).broadcast_to(&Shape::matrix(n, 1));
                    res * again
                }
            };
            let l = sq.mean();
            b.output(&format!("residual.{}", r.name), res);
            b.output(&format!("loss.{}", r.name), l);
            if with_jacobian {
                let blocks = jacobian(res, &all);
                for (j, (p, _)) in blocks.iter().zip(b.initial_params()) {
                    b.output(&format!("jacobian.{}.{p}", r.name), *j);
                }
            }
            // per-point squares where they are not `residual.R` squared (sampled operators)
            // or where they weigh the loss (causal weights): the trainer adds them up itself
            let weighted = self.point_weights.contains(&r.name);
            if (sampled > 0 || weighted) && !with_jacobian {
                b.output(&square_name(&r.name), sq);
            }
            // per-point weights in the loss (the Jacobian program has no loss: the trainer
            // scales its rows by √c instead)
            let l = if weighted && !with_jacobian {
                let c = b.input(&point_weight_name(&r.name), n);
                (c * sq).mean()
            } else {
                l
            };
            let wl = l * r.weight;
            loss = Some(loss.map_or(wl, |acc| acc + wl));
        }
        let loss = loss.unwrap_or_else(|| b.constant(0.0));
        b.output("loss", loss);
        if with_grad {
            let grads = grad(loss, &all);
            for (p, (name, _)) in grads.iter().zip(b.initial_params()) {
                b.output(&format!("grad.{name}"), *p);
            }
        }
        Ok(Objective {
            graph: b.finish()?,
            init: b.initial_params(),
        })
    }

    /// Traces `expr` on a point set named `set` of `n` points (for `--expr` and exact
    /// solutions); the graph's single output is `name`.
    pub fn expression(
        &self,
        name: &str,
        expr: &ExprFn,
        set: &str,
        n: usize,
        dtype: DType,
    ) -> Result<Objective, ProblemError> {
        let b = Builder::with_dtype(dtype);
        let nets = self.declare_nets(&b);
        let params = self.declare_scalars(&b);
        let ctx = self.ctx(&b, set, n, &nets, &params);
        let v = expr(&ctx).broadcast_to(&Shape::matrix(n, 1));
        b.output(name, v);
        Ok(Objective {
            graph: b.finish()?,
            init: b.initial_params(),
        })
    }

    fn declare_nets<'g>(&self, b: &'g Builder) -> Vec<MlpParams<'g>> {
        self.nets
            .iter()
            .map(|n| n.mlp.params(b, &n.name, n.seed))
            .collect()
    }

    fn declare_scalars<'g>(&self, b: &'g Builder) -> Vec<Var<'g>> {
        self.params
            .iter()
            .map(|p| b.param(&p.name, Tensor::scalar(p.init)))
            .collect()
    }

    fn ctx<'g>(
        &'g self,
        b: &'g Builder,
        set: &str,
        n: usize,
        nets: &[MlpParams<'g>],
        params: &[Var<'g>],
    ) -> Ctx<'g> {
        let inputs = self
            .inputs
            .iter()
            .map(|d| b.input(&input_name(set, &d.name), n))
            .collect();
        let mut c = Ctx::new(b, self, inputs, nets.to_vec(), params.to_vec());
        c.set = (set.to_string(), n);
        c
    }

    /// The domain whose boundary point set `set` samples, when it is made only of
    /// `boundary(D, N)` terms of one domain D: the sets on which `normal(v)` and `dn(E)`
    /// mean something.
    pub fn boundary_domain(&self, set: &str) -> Option<&DomainDecl> {
        let d = self.point_set(set)?.spec.boundary_domain()?;
        self.domains.get(d)
    }

    /// Appends to each row of point set `set` its domain's outward normal at the nearest
    /// piece of the boundary (for given points, `nabla eval --points`), when `set` is a
    /// boundary set; a point farther than 1e-6 × the domain's diameter from the boundary is
    /// an error naming the set and the row.
    pub fn attach_normals(&self, set: &str, rows: &mut [Vec<f64>]) -> Result<(), String> {
        let Some(d) = self.boundary_domain(set) else {
            return Ok(());
        };
        let tol = 1e-6 * d.shape.diameter();
        for (i, r) in rows.iter_mut().enumerate() {
            let x: Vec<f64> = d.coords.iter().map(|&k| r[k]).collect();
            let (n, dist) = d.shape.nearest_normal(&x);
            if dist.is_infinite() {
                return Err(format!(
                    "point set `{set}` row {i}: the point is not near the boundary of \
                     domain `{}` (a side there is shared by pieces of the shape or removed)",
                    d.name
                ));
            }
            if dist.is_nan() || dist > tol {
                return Err(format!(
                    "point set `{set}` row {i}: the point is {dist:.3e} from the boundary of \
                     domain `{}` (at most {tol:.1e} = 1e-6 × its bounding box's diagonal)",
                    d.name
                ));
            }
            r.truncate(self.inputs.len());
            r.extend(n);
        }
        Ok(())
    }

    /// The outputs reports measure and plot: every net output, then every `let` that has
    /// an exact solution (a constrained output, such as a hard-constraint ansatz).
    pub fn outputs(&self) -> Vec<String> {
        let nets = self.nets.iter().flat_map(|n| n.outputs.iter().cloned());
        let lets = (self.lets.iter())
            .filter(|l| self.exact.iter().any(|e| e.output == l.name))
            .map(|l| l.name.clone());
        nets.chain(lets).collect()
    }

    /// The point set named `name`.
    pub fn point_set(&self, name: &str) -> Option<&PointSetDecl> {
        self.point_sets.iter().find(|p| p.name == name)
    }

    /// Samples every point set: `(set, rows)`, each row the inputs in declaration order,
    /// followed on a boundary set ([`Problem::boundary_domain`]) by the outward normal's
    /// components along the domain's coordinates. Deterministic in `seed` (each set gets
    /// its own stream).
    pub fn sample(&self, seed: u64) -> Vec<(String, Vec<Vec<f64>>)> {
        self.point_sets
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let mut rng = Rng::new(
                    seed.wrapping_mul(0x100_0000_01B3)
                        .wrapping_add(k as u64 + 1),
                );
                let mut rows = s.spec.sample_in(&self.inputs, &self.domains, &mut rng);
                // Normals stay only where they are defined for every point.
                if self.boundary_domain(&s.name).is_none() {
                    rows.iter_mut().for_each(|r| r.truncate(self.inputs.len()));
                }
                (s.name.clone(), rows)
            })
            .collect()
    }
}

/// The leaf name of input `input` on point set `set`: `set.input`.
pub fn input_name(set: &str, input: &str) -> String {
    format!("{set}.{input}")
}

/// The leaf name of the outward normal's component along coordinate `input` on boundary
/// set `set`: `set.normal.input` (an input name has no `.`, so it never clashes).
pub fn normal_name(set: &str, input: &str) -> String {
    format!("{set}.normal.{input}")
}

/// The leaf name of a sampled operator's probe direction: entry `input` of direction `k` of
/// the `op`-th sampled operator traced on point set `set`: `set.probe.op.k.input`. Probes
/// are per-point data, drawn by [`probe_values`], not traced randomness.
pub fn probe_name(set: &str, op: usize, k: usize, input: &str) -> String {
    format!("{set}.probe.{op}.{k}.{input}")
}

/// Whether `leaf` is a probe direction ([`probe_name`]).
pub fn is_probe(leaf: &str) -> bool {
    leaf.split('.').nth(1) == Some("probe") && leaf.split('.').count() == 5
}

/// The values of probe leaf `leaf` for `n` points at training step `step` of a run with
/// seed `seed`: independent Rademacher signs (±1), a pure function of the three, so a
/// run is reproducible and every leaf, step and seed draws afresh.
pub fn probe_values(leaf: &str, seed: u64, step: u64, n: usize) -> Vec<f64> {
    // FNV-1a of the name, mixed with the seed and the step, seeds SplitMix64.
    let name = leaf.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    let mut rng = Rng::new(name ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step.rotate_left(32));
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let bits = rng.next_u64();
        let take = (n - out.len()).min(64);
        out.extend((0..take).map(|i| if bits >> i & 1 == 1 { 1.0 } else { -1.0 }));
    }
    out
}

fn size_of(sizes: &[(String, usize)], set: &str) -> Option<usize> {
    sizes
        .iter()
        .find(|(s, _)| s == set)
        .map(|s| s.1)
        .filter(|&n| n > 0)
}
