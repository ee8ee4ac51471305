//! `nabla dump-ir`: the program at each stage of the pipeline.
//!
//! Stages run in order, each from the previous graph stage's output: `traced` (the
//! objective as the front end builds it, derivative operators included), `ad`
//! (derivative operators expanded), `simplified` (after equality saturation), `scheduled`
//! (kernels and buffers), `clif` (Cranelift IR of every kernel), `opencl` (OpenCL C).
//! One function per stage ([`stage`]); a stage whose pass this build lacks is an error
//! naming it.

use super::eval::load_problem;
use anyhow::{bail, Result};
use nabla_ir::{dot, text, DType, Graph};
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
}

/// What a stage produces.
pub enum Dump {
    /// A graph (printed as text or DOT).
    Graph(Graph),
    /// Source text (schedules, CLIF, OpenCL C).
    Text(String),
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let mut out = String::new();
    for (label, graph) in traced(&args)? {
        if let Some(label) = label {
            out.push_str(&format!("==== --expr {label} ====\n"));
        }
        out.push_str(&stages(&args, graph)?);
    }
    print!("{out}");
    Ok(())
}

/// The requested stages of one traced graph, printed.
fn stages(args: &Args, traced: Graph) -> Result<String> {
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
        match stage(s, &graph) {
            Ok(Dump::Graph(g)) => {
                if print {
                    out.push_str(&render(s, &g, args.format));
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
pub fn stage(s: Stage, prev: &Graph) -> Result<Dump> {
    match s {
        Stage::Traced => Ok(Dump::Graph(prev.clone())),
        Stage::Ad => unavailable(s, "derivative expansion"),
        Stage::Simplified => unavailable(s, "the simplifier"),
        Stage::Scheduled => unavailable(s, "the scheduler"),
        Stage::Clif => unavailable(s, "the Cranelift backend"),
        Stage::Opencl => unavailable(s, "the OpenCL backend"),
    }
}

fn unavailable(s: Stage, pass: &str) -> Result<Dump> {
    bail!(
        "stage `{}` is not available in this build ({pass} is not connected yet)",
        s.name()
    )
}

fn render(s: Stage, g: &Graph, format: Format) -> String {
    let nodes = g.len();
    match format {
        Format::Text => format!("== {}: {nodes} nodes ==\n{}\n", s.name(), text::print(g)),
        Format::Dot => format!("// {}: {nodes} nodes\n{}", s.name(), dot::to_dot(g)),
    }
}

/// The traced objective (with its gradient, as training compiles it) on point sets of
/// the file's sizes, or each `--expr` expression (labelled) on a set of the file's first
/// size.
fn traced(args: &Args) -> Result<Vec<(Option<String>, Graph)>> {
    let loaded = load_problem(&args.file)?;
    let p = &loaded.problem;
    let sizes: Vec<(String, usize)> = p
        .point_sets
        .iter()
        .map(|s| (s.name.clone(), s.spec.len()))
        .collect();
    if args.exprs.is_empty() {
        return Ok(vec![(None, p.objective(&sizes, DType::F64, true)?.graph)]);
    }
    let n = sizes.first().map_or(1, |s| s.1);
    let exprs = super::eval::parse_exprs(&loaded, &args.exprs)?;
    exprs
        .iter()
        .map(|(name, f)| {
            Ok((
                Some(name.clone()),
                p.expression(name, f, name, n, DType::F64)?.graph,
            ))
        })
        .collect()
}
