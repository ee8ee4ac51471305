//! `nabla dump-ir`: the program at each stage of the pipeline.
//!
//! Stages run in order, each from the previous graph stage's output: `traced` (the
//! objective as the front end builds it, derivative operators included), `ad`
//! (derivative operators expanded), `simplified` (after equality saturation), `scheduled`
//! (kernels and buffers), `clif` (Cranelift IR of every kernel), `opencl` (OpenCL C).
//! One function per stage ([`stage`]); a stage whose pass this build lacks is an error
//! naming it.

use super::eval::{load_objective, load_problem, DerivsArg};
use anyhow::Result;
use nabla_backends::{cranelift, opencl};
use nabla_ir::{dot, text, DType, Graph};
use nabla_passes::ad::{self, flops_per_point, AdOptions};
use nabla_passes::schedule::{self, ScheduleOptions};
use nabla_passes::simplify::{self, SimplifyOptions};
use std::path::PathBuf;

const EXAMPLE: &str = "Examples:
  nabla dump-ir poisson.nabla --stage traced
  nabla dump-ir poisson.nabla --stage traced --format dot | dot -Tsvg > traced.svg
  nabla dump-ir poisson.nabla --expr uxy='d(u, x, y)'";

/// A stage of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// The traced graph, with derivative operators.
    Traced,
    /// After derivative expansion.
    Ad,
    /// After simplification.
    Simplified,
    /// Kernels and buffers.
    Scheduled,
    /// Cranelift IR of every kernel.
    Clif,
    /// OpenCL C source.
    Opencl,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [
        Stage::Traced,
        Stage::Ad,
        Stage::Simplified,
        Stage::Scheduled,
        Stage::Clif,
        Stage::Opencl,
    ];

    /// The name used by `--stage`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Traced => "traced",
            Stage::Ad => "ad",
            Stage::Simplified => "simplified",
            Stage::Scheduled => "scheduled",
            Stage::Clif => "clif",
            Stage::Opencl => "opencl",
        }
    }
}

/// Output format for graph stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The IR text format.
    Text,
    /// Graphviz DOT.
    Dot,
}

/// Arguments of `nabla dump-ir`.
#[derive(clap::Args)]
#[command(after_help = EXAMPLE)]
pub struct Args {
    /// The problem file.
    pub file: PathBuf,
    /// The stage to print (default: every stage, in order, with headers).
    #[arg(long, value_enum)]
    pub stage: Option<Stage>,
    /// Text or Graphviz DOT (graph stages).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Dump this expression (on a point set of the file's first size) instead of the
    /// objective; repeatable.
    #[arg(long = "expr", value_name = "NAME=EXPR")]
    pub exprs: Vec<String>,
    /// How derivatives are expanded (stage `ad` and later).
    #[arg(long, value_enum, default_value = "auto")]
    pub derivs: DerivsArg,
}

/// A traced graph, labelled with its `--expr` name when it is one.
type Labelled = (Option<String>, Graph);

/// What a stage produces.
pub enum Dump {
    /// A graph (printed as text or DOT).
    Graph(Graph),
    /// Source text (schedules, CLIF, OpenCL C).
    Text(String),
    /// A graph with a pass report printed above it (the simplifier's e-graph statistics).
    Reported(Graph, String),
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let mut out = String::new();
    let (batch, graphs) = traced(&args)?;
    for (label, graph) in graphs {
        if let Some(label) = label {
            out.push_str(&format!("==== --expr {label} ====\n"));
        }
        out.push_str(&stages(&args, graph, batch)?);
    }
    print!("{out}");
    Ok(())
}

/// The requested stages of one traced graph, printed.
fn stages(args: &Args, traced: Graph, batch: usize) -> Result<String> {
    let stages: Vec<Stage> = match args.stage {
        Some(s) => Stage::ALL
            .into_iter()
            .take_while(|&t| t != s)
            .chain([s])
            .collect(),
        None => Stage::ALL.to_vec(),
    };
    let mut out = String::new();
    let mut graph = traced;
    for s in stages {
        let print = args.stage.is_none_or(|want| want == s);
        match stage(s, &graph, &args.derivs) {
            Ok(Dump::Graph(g)) => {
                if print {
                    out.push_str(&render(s, &g, args.format, batch));
                }
                graph = g;
            }
            Ok(Dump::Reported(g, report)) => {
                if print {
                    out.push_str(&format!("{}: {report}\n", s.name()));
                    out.push_str(&render(s, &g, args.format, batch));
                }
                graph = g;
            }
            Ok(Dump::Text(t)) if print => out.push_str(&format!("== {} ==\n{t}\n", s.name())),
            Ok(Dump::Text(_)) => {}
            Err(e) if args.stage.is_none() => {
                eprintln!("note: stopping before stage `{}`: {e}", s.name());
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// One stage from the previous graph stage's output.
pub fn stage(s: Stage, prev: &Graph, derivs: &DerivsArg) -> Result<Dump> {
    match s {
        Stage::Traced => Ok(Dump::Graph(prev.clone())),
        Stage::Ad => expand(prev, derivs),
        Stage::Simplified => {
            let (g, report) = simplify::simplify(prev, &SimplifyOptions::default());
            Ok(Dump::Reported(g, report.to_string()))
        }
        Stage::Scheduled => {
            let info = nabla_ir::verify(prev)?;
            let opts = ScheduleOptions {
                dtype: prev.output_dtype().unwrap_or(DType::F64),
                fuse: true,
            };
            Ok(Dump::Text(
                schedule::schedule(prev, &info, &opts).to_string(),
            ))
        }
        Stage::Clif => {
            let info = nabla_ir::verify(prev)?;
            let opts = cranelift::Options {
                dtype: prev.output_dtype().unwrap_or(DType::F64),
                ..Default::default()
            };
            Ok(Dump::Text(cranelift::compile(prev, &info, &opts)?.clif()))
        }
        Stage::Opencl => {
            let info = nabla_ir::verify(prev)?;
            let opts = opencl::Options {
                dtype: prev.output_dtype().unwrap_or(DType::F64),
                ..Default::default()
            };
            Ok(Dump::Text(opencl::emit(prev, &info, &opts)))
        }
    }
}

/// Derivative expansion with the `--derivs` choice.
fn expand(g: &Graph, derivs: &DerivsArg) -> Result<Dump> {
    let method = derivs.derivs().method();
    let (g, _report) = ad::expand(g, &AdOptions { method })?;
    Ok(Dump::Graph(g))
}

/// A graph stage with its header: node count, and FLOPs per point once derivative
/// operators are expanded (a traced graph's cost is not known before AD).
fn render(s: Stage, g: &Graph, format: Format, batch: usize) -> String {
    let mut head = format!("{}: {} nodes", s.name(), g.len());
    if s != Stage::Traced {
        head += &format!(", {:.0} FLOPs per point", flops_per_point(g, batch.max(1)));
    }
    match format {
        Format::Text => format!("== {head} ==\n{}\n", text::print(g)),
        Format::Dot => format!("// {head}\n{}", dot::to_dot(g)),
    }
}

/// The traced objective (with its gradient, as training compiles it) on point sets of
/// the file's sizes, or each `--expr` expression (labelled) on a set of the file's first
/// size. The objective needs residuals; expressions do not, so a file of declarations
/// alone can still be looked at with `--expr`.
fn traced(args: &Args) -> Result<(usize, Vec<Labelled>)> {
    let loaded = if args.exprs.is_empty() {
        load_objective(&args.file)?
    } else {
        load_problem(&args.file)?
    };
    let p = &loaded.problem;
    let sizes: Vec<(String, usize)> = p
        .point_sets
        .iter()
        .map(|s| (s.name.clone(), s.spec.len()))
        .collect();
    let n = sizes.first().map_or(1, |s| s.1);
    if args.exprs.is_empty() {
        let g = p.objective(&sizes, DType::F64, true)?.graph;
        return Ok((n, vec![(None, g)]));
    }
    let exprs = super::eval::parse_exprs(&loaded, &args.exprs)?;
    let mut graphs = Vec::new();
    for (name, f) in &exprs {
        let g = p.expression(name, f, name, n, DType::F64)?.graph;
        graphs.push((Some(name.clone()), g));
    }
    Ok((n, graphs))
}
