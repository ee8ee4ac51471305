//! Automatic differentiation: expands `diff`, `laplacian`, `grad`, `jacobian` and `at`
//! into plain ops.
//!
//! [`expand`] rebuilds the graph node by node in id order. Because ids are a topological
//! order, the operands of a derivative operator are already expanded when it is reached:
//! expansion is **innermost first**, and every operator differentiates ordinary IR.
//!
//! | operator | meaning | expansion |
//! |---|---|---|
//! | `diff{order n}[f, v]` | `∂ⁿf/∂vⁿ`, all-ones seed | forward (JVP, nested `n` times), Taylor (jets of order `n`), reverse (pointwise, first order), finite differences |
//! | `laplacian[f, v₁..v_D]` | `Σᵢ ∂²f/∂vᵢ²` | collapsed Taylor (forward Laplacian), `D` Taylor jets, nested forward, reverse over forward, finite differences |
//! | `grad[loss, p]` | `∂loss/∂p` | one reverse sweep per (level, loss), shared by all its `grad`s |
//! | `jacobian[f, p]` | `∂f[n]/∂p` per point, `[N, numel(p)]` | one per-point reverse sweep per (level, f), the batch axis kept (see `jacobian.rs`) |
//! | `at[f, v₁, a₁, …]` | `f` with `vᵢ := aᵢ` | substitution in the expanded cone of `f` |
//!
//! ## Levels, and why nesting is safe
//!
//! A closure-tracing front end builds `diff(|z| f(z), x)` as `at[diff_L[f(z), z], z, x]` where
//! `z = bound{L}` is a leaf owned by the operator's level `L` and by nothing else. Every
//! derivative here is the symbolic derivative with respect to one leaf, with all other
//! leaves — including the bound variables of enclosing levels — held constant, and its
//! result is ordinary IR in which the perturbation of level `L` no longer exists as a value.
//! An outer operator therefore cannot mistake an inner tangent for its own (perturbation
//! confusion): it only ever sees leaves and plain ops. The chain rule through `at` comes for
//! free, since `at` substitutes into the already-expanded derivative. After expansion no
//! `bound` leaf may stay reachable from the outputs ([`AdError::UnboundVariable`]).
//!
//! ## Choosing a method
//!
//! [`AdOptions::method`] overrides every operator's own method (used to compare methods);
//! otherwise each operator's [`Method`] applies. `Method::Auto` is the cost model's choice:
//! first order → forward, order ≥ 2 → Taylor (`O(K²)` nodes per op, where nested forward
//! grows with the number of distinct derivative terms), Laplacian → collapsed Taylor
//! (`2 + D` vectors per node instead of `1 + 2D`). With 16 (`stacked::STACK_MIN`) or
//! more variables the collapsed expansion stacks the `D` tangents of a node on a leading axis
//! (`stacked.rs`: one product per layer instead of `D`, a graph whose size does not grow
//! with `D`), unless the graph holds a per-point `jacobian` or a pointwise reverse-mode
//! derivative, which need the batch axis first in everything they differentiate.
//! Finite-difference stencils stack their shifted points the same way (`fd.rs`,
//! `lift.rs`: one evaluation of the network at every point of the stencil), whatever the
//! number of variables, unless the graph holds such a `jacobian` or reverse-mode
//! derivative; then each point is a substituted copy. A stencil with a centre whose
//! function nothing else uses (`centred_alone`) stacks the centre too, point-major
//! (`fd::Points::Rows`), so that a weight's gradient cancels the stencil's large terms
//! point by point.
//!
//! Mixed partials (`∂²/∂x∂y`, `∂⁵/∂x²∂y³`) are expanded by nesting: the inner operator is
//! expanded first and the outer one differentiates its result. For the small mixed orders
//! PINNs use this is cheaper than polarisation (recovering mixed terms from pure jets along
//! combined directions `x + c·y`): polarisation of a total order `K` in two variables needs
//! `K + 1` jets of order `K`, each `O(K²)` per op, plus a dense solve whose conditioning
//! worsens with `K`, while nesting an order-`a` and an order-`b` expansion costs
//! `O(a²)·O(b²)` with exact coefficients and hash-consing shares the common values.
//!
//! ## Example
//!
//! ```
//! use nabla_ir::{interp, DType, Graph, Method, Op, Shape, Tensor};
//! use nabla_passes::ad::{expand, AdOptions};
//!
//! let mut g = Graph::new();
//! let x = g.add(Op::Input { name: "x".into(), dtype: DType::F64, shape: Shape::matrix(2, 1) }, &[]).unwrap();
//! let x3 = g.add(Op::Powi(3), &[x]).unwrap();
//! let level = g.fresh_level();
//! let d2 = g.add(Op::Diff { level, order: 2, method: Method::Auto }, &[x3, x]).unwrap();
//! g.set_output("d2", d2);
//!
//! let (e, _report) = expand(&g, &AdOptions::default()).unwrap();
//! let env = [("x".to_string(), Tensor::column(vec![1.0, 2.0]))].into();
//! let out = interp::eval_outputs(&e, &env, DType::F64).unwrap();
//! assert_eq!(out[0].1.data, vec![6.0, 12.0]); // d²/dx² x³ = 6x
//! ```

mod build;
mod collapsed;
mod fd;
mod flops;
mod forward;
mod jacobian;
mod lift;
mod reverse;
mod stacked;
mod subst;
mod taylor;

pub use fd::weights as fd_weights;
pub use flops::{flops_per_point, node_flops};

use build::{fill_like, or_zeros, sum_t};
use nabla_ir::{Graph, Level, Method, NodeId, Op};
use std::collections::HashMap;

/// Options of the AD pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdOptions {
    /// Forces one method on every `diff` and `laplacian` (`--derivs`, benchmarks); `None`
    /// keeps each operator's own method.
    pub method: Option<Method>,
}

/// What happened to one derivative operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expansion {
    /// The operator in the input graph.
    pub node: NodeId,
    /// Its mnemonic (`diff`, `laplacian`, `grad`, `jacobian`, `at`).
    pub op: &'static str,
    /// The method used (`None` for `grad` and `jacobian`, always reverse, and `at`).
    pub method: Option<Method>,
    /// The derivative's order: `diff`'s own, 2 for `laplacian`, 1 for `grad` and
    /// `jacobian`, 0 for `at`.
    pub order: usize,
    /// Directions whose derivatives the expansion adds up: a `laplacian`'s variables
    /// (1 when `collapsed` already sums them while propagating), 1 for the others.
    pub summed: usize,
    /// Whether the operand of this `diff` or `laplacian` holds another `diff` or
    /// `laplacian` (`d(d(u, x), y)`, `lap(lap(u))`).
    pub nested: bool,
    /// Nodes in the cone of the operand being differentiated (after its own expansion).
    pub nodes_before: usize,
    /// Nodes in the cone of the expanded result.
    pub nodes_after: usize,
}

/// What the AD pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdReport {
    /// One entry per derivative operator, in id order.
    pub expansions: Vec<Expansion>,
    /// Nodes in the input graph.
    pub nodes_before: usize,
    /// Nodes in the output graph (only what the outputs reach).
    pub nodes_after: usize,
}

impl AdReport {
    /// Whether the expanded graph adds up derivatives propagated along separate
    /// directions, which the simplifier's `collapse` phase can regroup into one collapsed
    /// propagation: a Laplacian over several variables not expanded `collapsed`, or two
    /// or more `diff`s of order two or more or of another `diff` (a Laplacian written out
    /// as `d(u, x, x) + d(u, y, y)`, sums of mixed partials, a sampled Laplacian's jets).
    pub fn sums_over_directions(&self) -> bool {
        let diffs = (self.expansions.iter())
            .filter(|e| e.op == "diff" && (e.order >= 2 || e.nested))
            .count();
        diffs >= 2 || self.expansions.iter().any(|e| e.summed > 1)
    }
}

/// Why a graph cannot be expanded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdError {
    /// A `bound` variable stays reachable from an output: a closure variable that no `at`
    /// replaced.
    #[error("the variable bound at level {level} ({node}) is used outside its `at`")]
    UnboundVariable {
        /// The `bound` leaf in the input graph.
        node: NodeId,
        /// Its level.
        level: Level,
    },
    /// Reverse mode was asked for a per-point derivative it cannot compute.
    #[error("{node}: reverse mode cannot give this derivative per point: {reason}")]
    NotPointwise {
        /// The derivative operator.
        node: NodeId,
        /// Why.
        reason: String,
    },
}

/// Expands every derivative operator reachable from the outputs of `g` into plain ops
/// (operators no output reaches are dropped unexpanded).
/// The result has the same named outputs and no `diff`, `laplacian`, `grad`, `jacobian`,
/// `at` or `bound` reachable from them.
pub fn expand(g: &Graph, opts: &AdOptions) -> Result<(Graph, AdReport), AdError> {
    let mut x = Expander::new(g, *opts);
    let roots: Vec<NodeId> = g.outputs().iter().map(|o| o.1).collect();
    let live = g.live(&roots);
    for id in g.ids() {
        // nodes no output reaches are never operands of live ones: skip their expansion
        let new = if live[id.index()] { x.node(id)? } else { DEAD };
        x.map.push(new);
    }
    let mut out = std::mem::take(&mut x.out);
    for (name, id) in g.outputs() {
        out.set_output(name, x.map[id.index()]);
    }
    let out = out.compact();
    check_unbound(g, &out)?;
    if cfg!(debug_assertions) {
        if let Err(e) = nabla_ir::verify(&out) {
            panic!("internal error: the AD pass produced an invalid graph: {e}");
        }
    }
    x.report.nodes_before = g.len();
    x.report.nodes_after = out.len();
    Ok((out, x.report))
}

/// The image of a node no output reaches (never read).
const DEAD: NodeId = NodeId(u32::MAX);

/// The first `bound` leaf reachable in the expanded graph, as an error.
fn check_unbound(src: &Graph, out: &Graph) -> Result<(), AdError> {
    for id in out.ids() {
        if let Op::Bound { level, .. } = out.op(id) {
            let node = src.ids().find(|i| src.op(*i) == out.op(id)).unwrap_or(id);
            return Err(AdError::UnboundVariable {
                node,
                level: *level,
            });
        }
    }
    Ok(())
}

/// The state of one expansion: the graph being built and the old → new id map.
struct Expander<'g> {
    src: &'g Graph,
    opts: AdOptions,
    out: Graph,
    map: Vec<NodeId>,
    /// Reverse sweeps already made, by (level, old loss): adjoint of each leaf of the group.
    sweeps: HashMap<(Level, NodeId), HashMap<NodeId, NodeId>>,
    /// The leaves each (level, old loss) group of `grad`s differentiates w.r.t.
    groups: HashMap<(Level, NodeId), Vec<NodeId>>,
    /// Per-point sweeps already made, by (level, old f): the Jacobian of each leaf.
    jac_sweeps: HashMap<(Level, NodeId), HashMap<NodeId, NodeId>>,
    /// The leaves each (level, old f) group of `jacobian`s differentiates w.r.t.
    jac_groups: HashMap<(Level, NodeId), Vec<NodeId>>,
    /// For each source node: whether its cone holds a `diff` or `laplacian`.
    holds_diff: Vec<bool>,
    /// Whether collapsed Laplacians may stack their tangents, and finite-difference
    /// stencils their shifted points, on a leading axis ([`stacked`], [`lift`]): not when
    /// a per-point Jacobian or a pointwise reverse-mode derivative will need the batch
    /// axis first in everything it differentiates.
    stack_ok: bool,
    /// For each source node: whether its only use is as the function of one
    /// finite-difference stencil with a centre (a Laplacian, a derivative of even order),
    /// so that the stencil may evaluate it at the centre itself ([`fd::Points::Rows`]).
    alone: Vec<bool>,
    /// Per source node, the total order of its nest of derivative operators
    /// ([`nest_orders`]): what a default finite-difference step is chosen for.
    nest: Vec<usize>,
    report: AdReport,
}

/// For each node of `src`: whether it is the function of exactly one derivative operator
/// whose finite-difference stencil has a centre (a Laplacian, a derivative of even order)
/// and has no other use, not even as an output. Its value at the centre is then needed by
/// that stencil alone.
fn centred_alone(src: &Graph) -> Vec<bool> {
    let (mut centred, mut other) = (vec![0u32; src.len()], vec![0u32; src.len()]);
    for id in src.ids() {
        let with_centre = match src.op(id) {
            Op::Laplacian { .. } => true,
            Op::Diff { order, .. } => order % 2 == 0,
            _ => false,
        };
        for (k, a) in src.args(id).iter().enumerate() {
            match k == 0 && with_centre {
                true => centred[a.index()] += 1,
                false => other[a.index()] += 1,
            }
        }
    }
    for (_, o) in src.outputs() {
        other[o.index()] += 1;
    }
    (centred.iter().zip(&other))
        .map(|(&c, &o)| c == 1 && o == 0)
        .collect()
}

/// The order a derivative operator adds: `k` for `Diff` of order `k`, 2 for a Laplacian,
/// 0 for everything else (`grad` and `jacobian` are exact sweeps, not stencils).
fn stencil_order(op: &Op) -> usize {
    match op {
        Op::Diff { order, .. } => *order as usize,
        Op::Laplacian { .. } => 2,
        _ => 0,
    }
}

/// For each node of `src`: the total order of the derivative operators nested with it —
/// the orders inside it (its own included) plus those of the operators whose function
/// holds it. Central differences of a nest such as `∂_y ∂_x ∂_y u` divide the innermost
/// rounding error by every step of the nest, so each operator's default step is chosen
/// for the nest's total order `K`, `ε^(1/(K+2))`, not for its own: with steps for their
/// own orders, `d(u, y, x, y)` came out −0.119 instead of 0.0104 in f64 and
/// `d(u, x, x, y, y)` exactly 0 instead of 0.270.
pub fn nest_orders(src: &Graph) -> Vec<usize> {
    let mut below = vec![0usize; src.len()];
    for id in src.ids() {
        let args = src.args(id);
        below[id.index()] = match stencil_order(src.op(id)) {
            0 => args.iter().map(|a| below[a.index()]).max().unwrap_or(0),
            k => k + below[args[0].index()],
        };
    }
    let mut above = vec![0usize; src.len()];
    for id in src.ids().rev() {
        let (k, up) = (stencil_order(src.op(id)), above[id.index()]);
        for (j, a) in src.args(id).iter().enumerate() {
            // the function of an operator is `k` deeper; its variables are leaves
            let here = match (k, j) {
                (0, _) => up,
                (_, 0) => up + k,
                _ => continue,
            };
            above[a.index()] = above[a.index()].max(here);
        }
    }
    below.iter().zip(&above).map(|(b, a)| b + a).collect()
}

impl<'g> Expander<'g> {
    fn new(src: &'g Graph, opts: AdOptions) -> Expander<'g> {
        let mut groups: HashMap<(Level, NodeId), Vec<NodeId>> = HashMap::new();
        let mut jac_groups: HashMap<(Level, NodeId), Vec<NodeId>> = HashMap::new();
        let mut holds_diff = vec![false; src.len()];
        let mut stack_ok = opts.method != Some(Method::Reverse);
        for id in src.ids() {
            stack_ok &= match src.op(id) {
                Op::Jacobian { .. } => false,
                Op::Diff { method, .. } | Op::Laplacian { method, .. } => {
                    *method != Method::Reverse
                }
                _ => true,
            };
            let a = src.args(id);
            let own = matches!(src.op(id), Op::Diff { .. } | Op::Laplacian { .. });
            holds_diff[id.index()] = own || a.iter().any(|x| holds_diff[x.index()]);
            match src.op(id) {
                Op::Grad { level } => groups.entry((*level, a[0])).or_default().push(a[1]),
                Op::Jacobian { level } => jac_groups.entry((*level, a[0])).or_default().push(a[1]),
                _ => {}
            }
        }
        Expander {
            src,
            opts,
            out: Graph::new(),
            map: Vec::with_capacity(src.len()),
            sweeps: HashMap::new(),
            groups,
            jac_sweeps: HashMap::new(),
            jac_groups,
            holds_diff,
            stack_ok,
            alone: centred_alone(src),
            nest: nest_orders(src),
            report: AdReport::default(),
        }
    }

    /// The new node for old node `id`.
    fn node(&mut self, id: NodeId) -> Result<NodeId, AdError> {
        let n = self.src.node(id);
        let args: Vec<NodeId> = n.args.iter().map(|a| self.map[a.index()]).collect();
        if !n.op.is_derivative() {
            return Ok(self.out.add_or_panic(n.op.clone(), &args));
        }
        let before = self.cone(args[0]);
        let inner = self.holds_diff[n.args[0].index()];
        let (mut order, mut summed) = (1, 1);
        let (r, method) = match n.op {
            Op::Diff {
                order: k, method, ..
            } => {
                let m = self.resolve_diff(method, k);
                order = k as usize;
                (self.diff(id, args[0], args[1], order, m)?, Some(m))
            }
            Op::Laplacian { method, .. } => {
                let m = self.resolve_laplacian(method);
                order = 2;
                if m != Method::Collapsed {
                    summed = args.len() - 1;
                }
                (self.laplacian(id, args[0], &args[1..], m)?, Some(m))
            }
            Op::Grad { level } => (self.grad(level, id, args[0], args[1]), None),
            Op::Jacobian { level } => (self.jacobian(level, id, args[0], args[1])?, None),
            _ => {
                order = 0;
                (self.at(&args), None)
            }
        };
        let after = self.cone(r);
        self.report.expansions.push(Expansion {
            node: id,
            op: n.op.mnemonic(),
            method,
            order,
            summed,
            nested: inner && matches!(n.op, Op::Diff { .. } | Op::Laplacian { .. }),
            nodes_before: before,
            nodes_after: after,
        });
        Ok(r)
    }

    fn cone(&self, id: NodeId) -> usize {
        self.out.live(&[id]).iter().filter(|l| **l).count()
    }

    /// The method for a `diff` of order `n`: the override or its own, `auto` resolved.
    /// A single direction has nothing to collapse, so `collapsed` means Taylor.
    fn resolve_diff(&self, own: Method, n: u8) -> Method {
        match self.opts.method.unwrap_or(own) {
            Method::Auto if n == 1 => Method::Forward,
            Method::Auto | Method::Collapsed => Method::Taylor,
            m => m,
        }
    }

    fn resolve_laplacian(&self, own: Method) -> Method {
        match self.opts.method.unwrap_or(own) {
            Method::Auto => Method::Collapsed,
            m => m,
        }
    }

    /// How the stencil of derivative operator `id` evaluates its points.
    fn points(&self, id: NodeId) -> fd::Points {
        match (self.stack_ok, self.alone[self.src.args(id)[0].index()]) {
            (false, _) => fd::Points::Copies,
            (true, true) => fd::Points::Rows,
            (true, false) => fd::Points::Stacked,
        }
    }

    /// The step of operator `id`'s stencil: `h` where the program gives one, otherwise the
    /// default for the total order of `id`'s nest ([`nest_orders`]).
    fn step(&self, h: Option<nabla_ir::Num>, id: NodeId, f: NodeId) -> f64 {
        let order = self.nest[id.index()];
        h.map(|h| h.get())
            .unwrap_or_else(|| fd::default_step(self.out.dtype(f).epsilon(), order))
    }

    fn diff(
        &mut self,
        id: NodeId,
        f: NodeId,
        v: NodeId,
        n: usize,
        m: Method,
    ) -> Result<NodeId, AdError> {
        let g = &mut self.out;
        Ok(match m {
            Method::Forward | Method::Auto | Method::Collapsed => nested_forward(g, f, v, n),
            Method::Taylor => taylor::derivative(g, f, v, n),
            Method::Reverse => {
                let d1 = reverse::pointwise(g, f, v)
                    .map_err(|reason| AdError::NotPointwise { node: id, reason })?;
                nested_forward(g, d1, v, n - 1)
            }
            Method::FiniteDiff(h) => {
                let h = self.step(h, id, f);
                let points = self.points(id);
                fd::derivative(&mut self.out, f, v, n, h, points)
            }
        })
    }

    fn laplacian(
        &mut self,
        id: NodeId,
        f: NodeId,
        vs: &[NodeId],
        m: Method,
    ) -> Result<NodeId, AdError> {
        if m == Method::Collapsed && self.stack_ok && vs.len() >= stacked::STACK_MIN {
            return Ok(stacked::laplacian(&mut self.out, f, vs));
        }
        if m == Method::Collapsed {
            return Ok(collapsed::laplacian(&mut self.out, f, vs));
        }
        if let Method::FiniteDiff(h) = m {
            let h = self.step(h, id, f);
            let points = self.points(id);
            return Ok(fd::laplacian(&mut self.out, f, vs, h, points));
        }
        let mut terms = Vec::with_capacity(vs.len());
        for &v in vs {
            terms.push(Some(self.diff(id, f, v, 2, m)?));
        }
        let s = sum_t(&mut self.out, terms);
        Ok(or_zeros(&mut self.out, s, f))
    }

    /// `∂loss/∂p` from the reverse sweep of the (level, loss) group.
    fn grad(&mut self, level: Level, id: NodeId, loss: NodeId, p: NodeId) -> NodeId {
        let old_loss = self.src.args(id)[0];
        if !self.sweeps.contains_key(&(level, old_loss)) {
            let wrt: Vec<NodeId> = self.groups[&(level, old_loss)]
                .iter()
                .map(|&w| self.out.add_or_panic(self.src.op(w).clone(), &[]))
                .collect();
            let seed = fill_like(&mut self.out, loss, 1.0);
            let adj = reverse::vjp(&mut self.out, loss, seed, &wrt);
            let found = wrt.iter().zip(adj).filter_map(|(w, a)| Some((*w, a?)));
            self.sweeps.insert((level, old_loss), found.collect());
        }
        let adj = self.sweeps[&(level, old_loss)].get(&p).copied();
        or_zeros(&mut self.out, adj, p)
    }

    /// `∂f[n]/∂p` per point from the per-point sweep of the (level, f) group.
    fn jacobian(
        &mut self,
        level: Level,
        id: NodeId,
        f: NodeId,
        p: NodeId,
    ) -> Result<NodeId, AdError> {
        let key = (level, self.src.args(id)[0]);
        if !self.jac_sweeps.contains_key(&key) {
            let wrt: Vec<NodeId> = self.jac_groups[&key]
                .iter()
                .map(|&w| self.out.add_or_panic(self.src.op(w).clone(), &[]))
                .collect();
            let jac = jacobian::per_point(&mut self.out, f, &wrt)
                .map_err(|reason| AdError::NotPointwise { node: id, reason })?;
            let found = wrt.iter().zip(jac).filter_map(|(w, j)| Some((*w, j?)));
            self.jac_sweeps.insert(key, found.collect());
        }
        Ok(match self.jac_sweeps[&key].get(&p) {
            Some(&j) => j,
            None => {
                let rows = self.out.shape(f).dims()[0];
                let cols = self.out.shape(p).numel();
                let d = self.out.dtype(f);
                self.out.fill(0.0, d, &nabla_ir::Shape::matrix(rows, cols))
            }
        })
    }

    fn at(&mut self, args: &[NodeId]) -> NodeId {
        let pairs: Vec<(NodeId, NodeId)> = args[1..].chunks(2).map(|c| (c[0], c[1])).collect();
        subst::substitute(&mut self.out, args[0], &pairs)
    }
}

/// The `n`-th derivative by `n` nested forward passes.
fn nested_forward(g: &mut Graph, f: NodeId, v: NodeId, n: usize) -> NodeId {
    let mut d = f;
    for _ in 0..n {
        let seed = fill_like(g, v, 1.0);
        match forward::jvp(g, d, &[(v, seed)]) {
            Some(t) => d = t,
            None => return fill_like(g, f, 0.0),
        }
    }
    d
}
