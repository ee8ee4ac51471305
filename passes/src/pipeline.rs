//! The pass pipeline and the registry of pass names.
//!
//! [`run`] calls the passes in order; [`PASSES`] lists them with what each does, by the
//! names the timing report ([`PassStat::name`]) gives them. Each pass's output is verified
//! in debug and test builds: a verifier failure there is a compiler bug.

use crate::ad::{self, AdError, AdOptions, AdReport};
use crate::simplify::{self, SimplifyOptions};
use nabla_ir::{verify, Graph, VerifyError};
use std::time::{Duration, Instant};

/// The graph-to-graph passes, in pipeline order, with what each does.
pub const PASSES: &[(&str, &str)] = &[
    (
        "ad",
        "expand derivative operators into plain ops (innermost first)",
    ),
    (
        "simplify",
        "equality saturation: algebra, constant folding, collapsing sums",
    ),
];

/// Options of the whole pipeline.
#[derive(Clone, Debug, Default)]
pub struct PipelineOptions {
    /// AD options (forced method).
    pub ad: AdOptions,
    /// The simplifier's options; `None` skips it.
    pub simplify: Option<SimplifyOptions>,
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
    /// Per pass, in order.
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

/// Runs the passes in order on a traced graph; returns a derivative-free graph.
pub fn run(g: &Graph, opts: &PipelineOptions) -> Result<(Graph, Report), PipelineError> {
    verify(g).map_err(PipelineError::Input)?;
    let mut report = Report::default();
    // AD first: every later pass and backend sees plain ops only.
    let t = Instant::now();
    let (g, ad_report) = ad::expand(g, &opts.ad)?;
    report.ad = ad_report;
    record(&mut report, "ad", t, &g);
    // Then simplification, on plain ops: every rewrite is sound IR algebra, so values of
    // different levels can only meet where they are provably equal.
    let g = match &opts.simplify {
        Some(sopts) => {
            let t = Instant::now();
            let (g, r) = simplify::simplify(&g, sopts);
            report.simplify = Some(r);
            record(&mut report, "simplify", t, &g);
            g
        }
        None => g,
    };
    Ok((g, report))
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
