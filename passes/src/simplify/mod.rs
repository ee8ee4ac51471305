//! Equality saturation with egg: algebra, constant folding, CSE and collapsing of sums
//! over directions, extracted by a FLOP cost model.
//!
//! [`simplify`] takes a derivative-free graph, adds it to an e-graph ([`lang`]: one e-node
//! per IR op; [`analysis`]: types and constant folding), runs the rule tables in phases,
//! and extracts the cheapest equivalent graph ([`cost`]). The result computes the same
//! outputs, in the same order and with the same names and types.
//!
//! # Rule-writing rules
//!
//! - **One identity per rule, named.** A rule is `lhs => rhs` with a kebab-case name and a
//!   one-line comment stating the identity (`// a·b + a·c = a·(b + c)`). Rules live in
//!   [`rules`] by topic: `arith`, `transcendental`, `tensor`, `taylor`.
//! - **Non-worsening direction.** Write a rule in the direction that does not add work
//!   (factoring, not expanding; elementwise functions into broadcasts, not out of them).
//!   Both sides stay in the e-graph, so a rule never makes the extracted result worse, but
//!   rules that only grow the graph waste the node budget.
//! - **Partial identities carry guards** ([`rule::Cond`]): `a + 0 = a` only when the
//!   operand is a constant zero splat, matrix scaling only for a scalar factor.
//! - **Types are preserved.** A right-hand side is instantiated with the IR's own type
//!   inference; one that does not type-check, or whose type differs from the matched
//!   class, is not applied. Broadcast shapes and literal constants in a right-hand side
//!   take their type from the context.
//! - **The `real_only` set.** Identities true over the reals but not under IEEE NaN/Inf or
//!   overflow — `a·0 = 0`, `a − a = 0`, `a/a = 1`, reassociation, distributivity,
//!   `log(eᵃ) = a` — are in each module's `real_only()` list and together form the named
//!   set [`rules::real_only`], switched by [`SimplifyOptions::real_only`]. It is **on by
//!   default**: derivative graphs are full of `0·x` and `x − x` terms that only it removes,
//!   and the collapsing rules are distributive laws. Turn it off when NaN/Inf must
//!   propagate exactly as written. The simplifier turns it off itself for a graph with a
//!   constant that is not finite in its element type (`1e39` in f32, `1/0`), where an
//!   infinity is certain; and the constant-folding reassociations apply only where the
//!   folded constant is a normal number (no overflow or underflow that the written order
//!   would not have). Identities that hold only on a domain of their left-hand side
//!   (`e^(log a) = a`, `(√a)² = a`, `log a + log b = log(a·b)`) are in no set: they made a
//!   residual undefined at some points a number there.
//! - **Every rule has a soundness test** that evaluates both sides with the interpreter on
//!   random inputs (`passes/tests/simplify_rules.rs`, generated from the tables).
//!
//! # Running
//!
//! Saturation is bounded and deterministic: node and iteration limits decide when to stop;
//! the time limit is set far out (an hour) so that it never decides the output. Rules run
//! under egg's `BackoffScheduler` in four phases, each on a fresh e-graph of the graph
//! extracted after the one before, so that commutativity, negation moves, scalar moves and
//! regrouping never meet in one e-graph:
//!
//! 1. `algebra`: every enabled rule except the medial laws, commutativity of `add`,
//!    associativity of `mul` and the negation moves (on B7 and B8 the moves pushed
//!    negations through every layer for 30 iterations, growing the e-graph 25-fold and
//!    taking 60–70% of the time, while the rewrites that lower the cost had all fired by
//!    the fourth iteration), in rounds of 8 iterations like `cleanup`'s of 4: a round
//!    that lowers the cost by less than 0.1% ends it. Most graphs saturate within the
//!    first round; B7's 18 iterations and B8's 22 gained nothing after the eighth, and
//!    stopping there took B7's simplification from 66–69 to 46–47 ms, B8's from 47 to
//!    37 and Burgers' from 70 to 54, with the same FLOPs on every example and benchmark
//!    problem (one of 20.5 million more on a 100-dimensional ball);
//! 2. `collapse`: adds the medial laws (`add-interchange`, `add-sub-interchange`), still
//!    without the negation moves, so sums over directions regroup and factor; shared
//!    factors of products are found by flattening (`add-common-factor`) rather than by
//!    saturating associativity and commutativity of `mul`, which explodes on sums of
//!    products;
//! 3. `scale`: `mul-scale-out` and `mul-scale-out-right` (`(a·k)·b = (a·b)·k` for a
//!    scalar `k`) with the rules that move a scalar out of a matrix product or a
//!    reduction, and `add-matmul-common` (`Σ op(x)·op(yᵢ)·kᵢ = op(x)·op(Σ kᵢ·yᵢ)`
//!    over a flattened sum), in rounds of 4 iterations like `cleanup` (constants that
//!    end up side by side are folded there, where `mul-comm` brings them together).
//!    Scalars travel toward the outputs, so two chains that differ by a constant factor
//!    become one: the adjoints of `u_t` and of `c·u_xx` in a residual such as Burgers' or
//!    the heat equation's go back through the same layers from seeds `δ` and `c·δ`, and
//!    after this phase the second is `c` times the first at every layer; each weight's
//!    gradient terms `δᵀ·h_t + (c·δ)ᵀ·h_xx` are then one product
//!    `δᵀ·(h_t + c·h_xx)`. B8 goes from 73,332 to 62,532 FLOPs per point (31 back
//!    products to 24, 35 gradient products to 28), `examples/heat1d.nabla` from 29,145
//!    to 24,920. With `mul-comm` in the same e-graph (in `algebra`) `mul-scale-out` grew
//!    B8's e-graph sevenfold; alone it needs two iterations per layer, and a round that
//!    gains nothing ends the phase where nothing differs by a constant (every other B
//!    objective, in its first round). It runs only with the `real_only` set
//!    (reassociation changes rounding).
//! 4. `cleanup`: every rule except the medial laws, `mul-assoc` and those of `scale` only,
//!    commutativity of `add`, the negation moves and the outer products with a broadcast
//!    scalar (`matmul-*-outer-*`, a net's input tangents; only here) included, in rounds of
//!    4 iterations on one e-graph, extracting after each round and stopping after the first
//!    round that lowers the cost by less than 0.1% (or at the iteration limit). How long
//!    moving negations pays depends on the graph, not on a fixed count: on B7
//!    (`lap(lap(u))`, three hidden layers) and the benchmark objectives the first round
//!    finds everything (a fixed 10 iterations grew B7's e-graph sevenfold for another 0.05%
//!    of FLOPs, 40% of its simplification time), while `lap(lap(u))` of a one-hidden-layer
//!    network keeps paying for several rounds (−5 to −17% of FLOPs, against −1.3 to −2.7%
//!    after 4), and a Taylor-mode Laplacian, once collapsed, needs more than 4 to move its
//!    negations into the constant factor.
//!
//! `collapse` runs only for sums over directions ([`SimplifyOptions::collapse`]: the
//! pipeline turns it off unless the AD added up derivatives along separate directions,
//! [`AdReport::sums_over_directions`](crate::ad::AdReport::sums_over_directions)). Sums
//! of mixed partials without it cost 23–41% more; nested operators without a sum
//! (`lap(lap(u))`, `d(lap(u), x)`, `d(d(u, x), x)`) found nothing more with it (within
//! 0.07% of FLOPs on networks of one to three hidden layers of width 4–64 in one to three
//! dimensions), and B7's simplification takes 69 ms instead of 145 without it (compile
//! 0.16 → 0.085 s; BENCHMARKS.md, "Simplifier rounds").
//!
//! `mul-assoc` is in the tables (and tested) but in no phase: with `mul-comm` it closes
//! every product under reordering, which the node budget cannot afford on derivative
//! graphs.
//!
//! The default limits (30 iterations and 50,000 e-nodes per phase) are what collapsing
//! needs: the AD's Taylor-mode Laplacian of a 3-hidden-layer MLP in 10 dimensions reaches
//! the Forward Laplacian's cost in the 30th `algebra` iteration and not before (the
//! rewrites have to travel through every layer), while every benchmark objective
//! simplifies in under a second. More iterations mostly grow the e-graph with
//! commutations.
//!
//! Each phase extracts with [`extract`]: the greedy DAG choice, the input's own choice and a
//! local search from the cheaper one, so a phase never returns a graph costlier than its
//! input.
//!
//! # Levels
//!
//! After `ad` the graph is ordinary IR, so every sound rewrite is level-safe. Leaves keep
//! their identity (a `bound` leaf its level) in the e-node, so values of different levels
//! are never merged unless a rule proves them equal.

pub mod analysis;
pub mod convert;
pub mod cost;
pub mod extract;
pub mod lang;
pub mod rule;
pub mod rules;

use analysis::EG;
use egg::{BackoffScheduler, Runner, StopReason};
use nabla_ir::Graph;
use std::fmt;
use std::time::{Duration, Instant};

/// Limits and rule sets.
#[derive(Clone, Debug, PartialEq)]
pub struct SimplifyOptions {
    /// Stop a phase when the e-graph has this many e-nodes.
    pub node_limit: usize,
    /// Iterations of each phase.
    pub iter_limit: usize,
    /// Enable the `real_only` rule set (identities true over the reals only).
    pub real_only: bool,
    /// Run the `collapse` phase (see the module docs). The pipeline turns this off when
    /// the AD added up no derivatives along separate directions
    /// ([`AdReport::sums_over_directions`](crate::ad::AdReport::sums_over_directions)); on
    /// the benchmark objectives the phase then found nothing while taking a quarter to a
    /// third of the time.
    pub collapse: bool,
}

impl Default for SimplifyOptions {
    fn default() -> SimplifyOptions {
        SimplifyOptions {
            node_limit: 50_000,
            iter_limit: 30,
            real_only: true,
            collapse: true,
        }
    }
}

/// What one run did.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// E-nodes in the largest e-graph (over the phases).
    pub egraph_nodes: usize,
    /// E-classes in the largest e-graph.
    pub egraph_classes: usize,
    /// Iterations, all phases together.
    pub iterations: usize,
    /// Why each phase stopped, `phase: reason`, comma-separated.
    pub stop_reason: String,
    /// Cost ([`cost`]) of the input graph.
    pub flops_before: f64,
    /// Cost of the output graph.
    pub flops_after: f64,
    /// Wall time (diagnostic only; it never changes the result).
    pub time: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = if self.flops_before > 0.0 {
            100.0 * (self.flops_after / self.flops_before - 1.0)
        } else {
            0.0
        };
        write!(
            f,
            "simplify: flops {:.0} -> {:.0} ({pct:+.1}%), e-graph {} nodes / {} classes, \
             {} iterations ({}), {:.1} ms",
            self.flops_before,
            self.flops_after,
            self.egraph_nodes,
            self.egraph_classes,
            self.iterations,
            self.stop_reason,
            self.time.as_secs_f64() * 1e3
        )
    }
}

/// A phase: a name, the rules it runs and its iteration budget.
struct Phase {
    name: &'static str,
    rules: Vec<rule::Rule>,
    /// Iterations in all.
    iters: usize,
    /// Iterations per round: the phase extracts after each round and goes on (in the same
    /// e-graph) only while a round lowers the extracted cost by [`ROUND_GAIN`] or more.
    round: usize,
}

/// The least relative cost reduction for which a phase runs another round.
const ROUND_GAIN: f64 = 1e-3;

/// Iterations per round of `cleanup`.
const CLEANUP_ROUND: usize = 4;

/// Iterations per round of `algebra` (see the module docs).
const ALGEBRA_ROUND: usize = 8;

/// Rules that regroup sums across terms (the medial laws).
const REGROUP: [&str; 2] = ["add-interchange", "add-sub-interchange"];

/// Arithmetic rules that move negations.
const NEG_MOVES: [&str; 7] = [
    "mul-neg",
    "div-neg",
    "neg-add",
    "add-neg",
    "sub-neg",
    "neg-sub",
    "neg-mul-const",
];

/// The rules that run in `scale` only: `mul-scale-out` and `mul-scale-out-right`, which
/// move scalar factors out of elementwise products (in `algebra`, with `mul-comm`, they
/// grew B8's e-graph sevenfold and hit the iteration limit), and `add-matmul-common`,
/// which flattens every sum it meets.
const SCALE_ONLY: [&str; 3] = ["mul-scale-out", "mul-scale-out-right", "add-matmul-common"];

/// Whether rule `name` is an outer product with a broadcast scalar (`matmul-*-outer-*`):
/// those run in `cleanup` only. In `algebra` they added 7 iterations to B7's saturation
/// (26 → 33, 66 → 84 ms), and in `scale` 7 ms to B8's, for rewrites that the first round
/// of `cleanup` finds (with the moves of elementwise ops into the new broadcasts).
fn is_outer(name: &str) -> bool {
    name.starts_with("matmul-") && name.contains("-outer-")
}

/// Whether rule `name` runs in `scale`: [`SCALE_ONLY`] and the rules that move a scalar
/// factor out of a matrix product or a reduction, fold two constant factors or drop a
/// factor 1.
fn in_scale_phase(name: &str) -> bool {
    SCALE_ONLY.contains(&name)
        || (name.starts_with("matmul-") && name.contains("-scale-"))
        || (name.starts_with("sum") && name.ends_with("-scale"))
        || name == "mul-const-assoc"
        || name == "mul-one"
}

/// Whether a rule moves a negation; such rules run in `cleanup` only: in `algebra` they
/// push negations through every layer, and in `collapse` they would multiply the ways of
/// writing every regrouped sum.
fn moves_negation(name: &str) -> bool {
    NEG_MOVES.contains(&name)
        || (name.starts_with("matmul-") && name.contains("-neg-"))
        || (name.starts_with("sum") && name.ends_with("-neg"))
}

/// The phases for `opts` (see the module docs).
fn phases(opts: &SimplifyOptions) -> Vec<Phase> {
    let pool = if opts.real_only {
        rules::all()
    } else {
        rules::exact()
    };
    let select = |keep: &dyn Fn(&str) -> bool| -> Vec<rule::Rule> {
        pool.iter().filter(|r| keep(&r.name)).cloned().collect()
    };
    let all = vec![
        Phase {
            name: "algebra",
            rules: select(&|n| {
                !REGROUP.contains(&n)
                    && n != "add-comm"
                    && n != "mul-assoc"
                    && !moves_negation(n)
                    && !SCALE_ONLY.contains(&n)
                    && !is_outer(n)
            }),
            iters: opts.iter_limit,
            round: ALGEBRA_ROUND,
        },
        Phase {
            name: "collapse",
            rules: select(&|n| {
                !moves_negation(n)
                    && n != "add-comm"
                    && n != "mul-assoc"
                    && !SCALE_ONLY.contains(&n)
                    && !is_outer(n)
            }),
            iters: opts.iter_limit,
            round: opts.iter_limit,
        },
        Phase {
            name: "scale",
            rules: select(&in_scale_phase),
            iters: opts.iter_limit,
            round: CLEANUP_ROUND,
        },
        Phase {
            name: "cleanup",
            rules: select(&|n| {
                !REGROUP.contains(&n) && n != "mul-assoc" && !SCALE_ONLY.contains(&n)
            }),
            iters: opts.iter_limit,
            round: CLEANUP_ROUND,
        },
    ];
    (all.into_iter())
        .filter(|p| opts.collapse || p.name != "collapse")
        .filter(|p| opts.real_only || p.name != "scale")
        .collect()
}

/// Simplifies a derivative-free graph. Graphs that still contain derivative operators are
/// returned unchanged (expand them with `ad` first); the report says so.
pub fn simplify(g: &Graph, opts: &SimplifyOptions) -> (Graph, Report) {
    let start = Instant::now();
    let before = cost::graph_cost(g);
    if g.ids().any(|i| g.op(i).is_derivative()) {
        return (g.clone(), skipped(g, before, start));
    }
    let mut cur = g.clone();
    let (mut iterations, mut nodes, mut classes) = (0, 0, 0);
    let mut reasons = Vec::new();
    let mut opts = opts.clone();
    if opts.real_only && folds_non_finite(g) {
        opts.real_only = false;
        reasons.push("real_only off: a constant is not finite".to_string());
    }
    for phase in phases(&opts) {
        let (eg, next, n, why) = run_rounds(&cur, &phase, opts.node_limit);
        iterations += n;
        nodes = nodes.max(eg.total_number_of_nodes());
        classes = classes.max(eg.number_of_classes());
        // Extraction starts from the input's own choice, so it costs no more than the
        // input; the check guards that promise (up to the rounding of float sums).
        if cost::graph_cost(&next) <= cost::graph_cost(&cur) * (1.0 + 1e-12) {
            reasons.push(format!("{}: {why}", phase.name));
            cur = next;
        } else {
            reasons.push(format!("{}: {why}, costlier result discarded", phase.name));
        }
    }
    let report = Report {
        egraph_nodes: nodes,
        egraph_classes: classes,
        iterations,
        stop_reason: reasons.join(", "),
        flops_before: before,
        flops_after: cost::graph_cost(&cur),
        time: start.elapsed(),
    };
    (cur, report)
}

/// Whether a constant subexpression of `g` is not finite in its element type: a literal
/// beyond the type's range (`1e39` in f32), `1/0`, `log(−1)`. The program then computes an
/// infinity or a NaN wherever that constant reaches, and the `real_only` identities, true
/// over the reals only, would turn it into a wrong finite number: `∞·0 = 0` by `mul-zero`
/// gave a residual `u·1e39` in f32 a loss of 0 and a zero gradient. Such graphs are
/// simplified with the exact rules alone, so the infinity reaches the loss as written.
fn folds_non_finite(g: &Graph) -> bool {
    let (eg, _) = convert::to_egraph(g);
    let any = (eg.classes()).any(|c| c.data.splat.is_some_and(|v| !v.get().is_finite()));
    any
}

fn skipped(g: &Graph, before: f64, start: Instant) -> Report {
    Report {
        egraph_nodes: 0,
        egraph_classes: 0,
        iterations: 0,
        stop_reason: "skipped: derivative operators present".into(),
        flops_before: before,
        flops_after: cost::graph_cost(g),
        time: start.elapsed(),
    }
}

/// Runs `phase` on an e-graph of `g` in rounds of `phase.round` iterations, extracting
/// after each, until it saturates, reaches a limit or a round lowers the extracted cost by
/// less than [`ROUND_GAIN`]; returns the last e-graph, the cheapest extraction, the
/// iterations run and why it stopped.
fn run_rounds(g: &Graph, phase: &Phase, node_limit: usize) -> (EG, Graph, usize, String) {
    let rewrites: Vec<_> = phase.rules.iter().map(rule::Rule::rewrite).collect();
    let (mut eg, roots, map) = convert::to_egraph_mapped(g);
    let (mut best, mut best_cost) = (None, f64::INFINITY);
    let input_cost = cost::graph_cost(g);
    let mut done = 0;
    loop {
        let iters = phase.round.min(phase.iters - done);
        let (next, n, stop) = run_phase(eg, &rewrites, iters, node_limit);
        eg = next;
        done += n;
        let x = extract::extract(&eg, g, &roots, &map);
        let cost = cost::graph_cost(&x);
        // The first round is measured against the input's cost.
        let was = best_cost.min(input_cost);
        if cost < best_cost {
            (best, best_cost) = (Some(x), cost);
        }
        let why = match stop {
            Some(StopReason::IterationLimit(_)) if done == phase.iters => {
                format!("iteration limit {done}")
            }
            Some(StopReason::IterationLimit(_)) if cost >= was * (1.0 - ROUND_GAIN) => {
                format!("no gain in iterations {}-{done}", done - n + 1)
            }
            Some(StopReason::IterationLimit(_)) => continue,
            other => stop_text(&other),
        };
        let best = best.expect("every round extracts a graph");
        return (eg, best, done, why);
    }
}

/// Runs `iters` iterations of `rewrites` on `eg` (fewer if it saturates or reaches the
/// node limit); returns the e-graph, the iterations run and why it stopped.
fn run_phase(
    eg: EG,
    rewrites: &[egg::Rewrite<lang::ENode, analysis::Types>],
    iters: usize,
    node_limit: usize,
) -> (EG, usize, Option<StopReason>) {
    let runner = Runner::default()
        .with_egraph(eg)
        .with_iter_limit(iters)
        .with_node_limit(node_limit)
        .with_time_limit(Duration::from_secs(3600))
        .with_scheduler(BackoffScheduler::default())
        .run(rewrites);
    let n = runner.iterations.len();
    (runner.egraph, n, runner.stop_reason)
}

/// How a phase's stop reads in the report.
fn stop_text(stop: &Option<StopReason>) -> String {
    match stop {
        Some(StopReason::Saturated) => "saturated".to_string(),
        Some(StopReason::IterationLimit(n)) => format!("iteration limit {n}"),
        Some(StopReason::NodeLimit(n)) => format!("node limit {n}"),
        Some(StopReason::TimeLimit(t)) => format!("time limit {t} s"),
        Some(StopReason::Other(s)) => s.clone(),
        None => "not run".into(),
    }
}
