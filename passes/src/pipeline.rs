//! The pass pipeline and the registry of passes.
//!
//! [`PASSES`] lists the graph-to-graph passes in order: each with its name (the timing
//! report's [`PassStat::name`]), the name of the graph it produces (`nabla dump-ir --stage`)
//! and the function that runs it. [`run`] walks that list, and so does `dump-ir`: a pass
//! added here is run, timed and dumped without editing either. Each pass's output is
//! verified in debug and test builds: a verifier failure there is a compiler bug.

use crate::ad::{self, AdError, AdOptions, AdReport};
use crate::simplify::{self, SimplifyOptions};
use nabla_ir::{verify, Graph, VerifyError};
use std::time::{Duration, Instant};

/// What a pass returns: its output graph and report, or `None` when the options skip it.
pub type PassResult = Result<Option<(Graph, PassReport)>, PipelineError>;

/// One graph-to-graph pass of the pipeline.
pub struct Pass {
    /// The pass's name, as timing reports give it.
    pub name: &'static str,
    /// The name of the graph the pass produces, as `nabla dump-ir --stage` spells it.
    pub stage: &'static str,
    /// What the pass does.
    pub about: &'static str,
    /// Runs the pass on the previous pass's output, knowing what the passes before it
    /// reported; `None` when the options skip it.
    pub run: fn(&Graph, &PipelineOptions, &Report) -> PassResult,
}

/// The graph-to-graph passes, in pipeline order. AD comes first, so that every later pass
/// and backend sees plain ops only; simplification then works on plain ops, where every
/// rewrite is sound IR algebra and values of different levels can only meet where they are
/// provably equal.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "ad",
        stage: "ad",
        about: "expand derivative operators into plain ops (innermost first)",
        run: run_ad,
    },
    Pass {
        name: "simplify",
        stage: "simplified",
        about: "equality saturation: algebra, constant folding, collapsing sums",
        run: run_simplify,
    },
];

/// Options of the whole pipeline.
#[derive(Clone, Debug, Default)]
pub struct PipelineOptions {
    /// AD options (forced method).
    pub ad: AdOptions,
    /// The simplifier's options; `None` skips it.
    pub simplify: Option<SimplifyOptions>,
}

/// What one pass reports besides its output graph.
#[derive(Clone, Debug)]
pub enum PassReport {
    /// Derivative expansion: the method used for every operator.
    Ad(AdReport),
    /// Equality saturation: e-graph size, iterations, stop reason, cost.
    Simplify(simplify::Report),
}

impl PassReport {
    /// The line a person reads next to the pass's graph (`dump-ir`), if the pass has one.
    pub fn summary(&self) -> Option<String> {
        match self {
            PassReport::Ad(_) => None,
            PassReport::Simplify(r) => Some(r.to_string()),
        }
    }

    /// Files the report under its pass in the pipeline's report.
    pub fn record(self, report: &mut Report) {
        match self {
            PassReport::Ad(r) => report.ad = r,
            PassReport::Simplify(r) => report.simplify = Some(r),
        }
    }
}

/// What one pass did.
#[derive(Clone, Debug)]
pub struct PassStat {
    /// The pass's name in [`PASSES`].
    pub name: &'static str,
    /// Wall time.
    pub time: Duration,
    /// Nodes after the pass.
    pub nodes: usize,
}

/// What the pipeline did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per pass that ran, in order.
    pub passes: Vec<PassStat>,
    /// The AD pass's report.
    pub ad: AdReport,
    /// The simplifier's report, when it ran.
    pub simplify: Option<simplify::Report>,
}

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The input graph is malformed.
    #[error("invalid input graph: {0}")]
    Input(VerifyError),
    /// Derivative expansion failed.
    #[error(transparent)]
    Ad(#[from] AdError),
}

/// Runs the passes of [`PASSES`] in order on a traced graph; returns a derivative-free
/// graph.
pub fn run(g: &Graph, opts: &PipelineOptions) -> Result<(Graph, Report), PipelineError> {
    verify(g).map_err(PipelineError::Input)?;
    let mut report = Report::default();
    let mut last: Option<Graph> = None;
    for pass in PASSES {
        let t = Instant::now();
        if let Some((out, r)) = (pass.run)(last.as_ref().unwrap_or(g), opts, &report)? {
            r.record(&mut report);
            record(&mut report, pass.name, t, &out);
            last = Some(out);
        }
    }
    Ok((last.unwrap_or_else(|| g.clone()), report))
}

/// Derivative expansion with `opts.ad`.
fn run_ad(g: &Graph, opts: &PipelineOptions, _: &Report) -> PassResult {
    let (g, r) = ad::expand(g, &opts.ad)?;
    Ok(Some((g, PassReport::Ad(r))))
}

/// Equality saturation with `opts.simplify`, when given; its `collapse` phase only when
/// the AD added up derivatives along separate directions
/// ([`AdReport::sums_over_directions`](crate::ad::AdReport::sums_over_directions)).
fn run_simplify(g: &Graph, opts: &PipelineOptions, before: &Report) -> PassResult {
    Ok(opts.simplify.as_ref().map(|s| {
        let s = SimplifyOptions {
            collapse: s.collapse && before.ad.sums_over_directions(),
            ..s.clone()
        };
        let (g, r) = simplify::simplify(g, &s);
        (g, PassReport::Simplify(r))
    }))
}

fn record(report: &mut Report, name: &'static str, t: Instant, g: &Graph) {
    if cfg!(debug_assertions) {
        if let Err(e) = verify(g) {
            panic!("internal error: the `{name}` pass produced an invalid graph: {e}");
        }
    }
    report.passes.push(PassStat {
        name,
        time: t.elapsed(),
        nodes: g.len(),
    });
}
