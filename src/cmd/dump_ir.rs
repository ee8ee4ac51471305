//! `nabla dump-ir`: the program at each stage of the pipeline.
//!
//! Stages run in order, each from the previous graph stage's output: `traced` (the
//! objective as the front end builds it, derivative operators included), then the output
//! of every pass of the pipeline's registry, `nabla_passes::pipeline::PASSES` (today `ad`,
//! derivative operators expanded, and `simplified`, after equality saturation), then
//! `scheduled` (kernels and buffers), `clif` (Cranelift IR of every kernel), `asm` (the
//! machine instructions Cranelift made of them), `opencl` (OpenCL C). One function per
//! stage ([`stage`]); a stage whose pass this build lacks is an error naming it.
//!
//! Output: in text format, the stages on standard output with their headers. In DOT
//! format standard output holds exactly one graph, so that it can be piped into `dot`:
//! headers and reports go to standard error, and several graphs (every stage, several
//! `--expr`) need `--out DIR`, one file per graph and stage.

use super::eval::{load_objective, load_problem};
use anyhow::{Context, Result};
use nabla::data::write_atomic;
use nabla::train::output::prepare_dir;
use nabla_backends::{cranelift, opencl};
use nabla_ir::{dot, text, DType, Graph, Method};
use nabla_passes::ad::{flops_per_point, AdOptions};
use nabla_passes::pipeline::{Pass, PipelineOptions, Report, PASSES};
use nabla_passes::schedule::{self, ScheduleOptions};
use nabla_passes::simplify::SimplifyOptions;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const EXAMPLE: &str = "Examples:
  nabla dump-ir poisson.nabla --stage traced
  nabla dump-ir poisson.nabla --format dot | dot -Tsvg > simplified.svg
  nabla dump-ir poisson.nabla --stage traced --format dot | dot -Tsvg > traced.svg
  nabla dump-ir poisson.nabla --format dot --out ir/      # ir/traced.dot, ir/ad.dot, ...
  nabla dump-ir poisson.nabla --expr uxy='d(u, x, y)'

With --format dot, standard output is one DOT graph and nothing else (headers and reports
go to standard error): the --stage given, or `simplified`, the graph that is compiled.
Several graphs (every stage, or several --expr) need --out DIR, which writes one file per
graph and stage: [EXPR.]STAGE.dot, or with --format text [EXPR.]STAGE.ir (graphs),
scheduled.txt, clif.clif, asm.s, opencl.cl.";

/// A stage of the pipeline: the traced graph, the output of each pass of
/// [`PASSES`] (so a new pass is a new stage), then the schedule and each
/// backend's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The traced graph, with derivative operators.
    Traced,
    /// The graph after pass `PASSES[i]`.
    Pass(usize),
    /// Kernels and buffers.
    Scheduled,
    /// Cranelift IR of every kernel.
    Clif,
    /// The machine instructions of every kernel.
    Asm,
    /// OpenCL C source.
    Opencl,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub fn all() -> &'static [Stage] {
        static ALL: OnceLock<Vec<Stage>> = OnceLock::new();
        ALL.get_or_init(|| {
            let passes = (0..PASSES.len()).map(Stage::Pass);
            let code = [Stage::Scheduled, Stage::Clif, Stage::Asm, Stage::Opencl];
            std::iter::once(Stage::Traced)
                .chain(passes)
                .chain(code)
                .collect()
        })
    }

    /// The graph that is compiled: the last pass's output.
    fn compiled() -> Stage {
        PASSES
            .len()
            .checked_sub(1)
            .map_or(Stage::Traced, Stage::Pass)
    }

    /// The name used by `--stage`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Traced => "traced",
            Stage::Pass(i) => PASSES[i].stage,
            Stage::Scheduled => "scheduled",
            Stage::Clif => "clif",
            Stage::Asm => "asm",
            Stage::Opencl => "opencl",
        }
    }

    /// Whether the stage is a graph (printable as DOT) rather than source text.
    pub fn is_graph(self) -> bool {
        matches!(self, Stage::Traced | Stage::Pass(_))
    }

    /// The extension of the stage's file under `--out`.
    fn extension(self, format: Format) -> &'static str {
        match (self, format) {
            (_, Format::Dot) => "dot",
            (Stage::Traced | Stage::Pass(_), Format::Text) => "ir",
            (Stage::Scheduled, Format::Text) => "txt",
            (Stage::Clif, Format::Text) => "clif",
            (Stage::Asm, Format::Text) => "s",
            (Stage::Opencl, Format::Text) => "cl",
        }
    }

    /// What the stage holds, for `--help`.
    fn about(self) -> String {
        match self {
            Stage::Traced => "The traced graph, with derivative operators".into(),
            Stage::Pass(i) => format!("After `{}`: {}", PASSES[i].name, PASSES[i].about),
            Stage::Scheduled => "Kernels and buffers".into(),
            Stage::Clif => "Cranelift IR of every kernel".into(),
            Stage::Asm => {
                "Machine instructions of every kernel, after register allocation (Cranelift's listing)"
                    .into()
            }
            Stage::Opencl => "OpenCL C source".into(),
        }
    }
}

/// `--stage` takes the names of [`Stage::all`].
impl clap::ValueEnum for Stage {
    fn value_variants<'a>() -> &'a [Self] {
        Stage::all()
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.about()))
    }
}

/// The names of the graph stages, as a list in prose: `traced, ad and simplified`.
fn graph_stages() -> String {
    let names: Vec<&str> = (Stage::all().iter())
        .filter(|s| s.is_graph())
        .map(|s| s.name())
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Output format for graph stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The IR text format.
    Text,
    /// Graphviz DOT: one graph on standard output (see --stage), or one file per graph
    /// with --out.
    Dot,
}

/// Arguments of `nabla dump-ir`.
#[derive(clap::Args)]
#[command(after_help = EXAMPLE)]
pub struct Args {
    /// The problem file.
    pub file: PathBuf,
    /// The stage to print (default: every stage, in order, with headers; with --format
    /// dot, `simplified`, or every graph stage with --out).
    #[arg(long, value_enum)]
    pub stage: Option<Stage>,
    /// Text or Graphviz DOT (graph stages: traced, ad, simplified).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Dump this expression (on a point set of the file's first size) instead of the
    /// objective; repeatable.
    #[arg(long = "expr", value_name = "NAME=EXPR")]
    pub exprs: Vec<String>,
    /// Dump the residual-Jacobian program the Gauss–Newton optimizers compile
    /// (`residual.R` and `jacobian.R.P`, the per-point Jacobian of every residual w.r.t. every
    /// trainable value) instead of the loss and its gradient.
    #[arg(long, conflicts_with = "exprs")]
    pub jacobian: bool,
    /// How derivatives are expanded (stage `ad` and later): `auto` (or `ad`), the
    /// compiler's choice of exact method; `forward`, `taylor`, `collapsed` or `reverse`,
    /// that method forced on every operator; `fd`, central finite differences (`fd=H`:
    /// with step H, from 1e-150 to 1e150).
    // The full path keeps clap from reading `Option` as "the flag may be absent".
    #[arg(long, value_name = "DERIVS", value_parser = nabla::parse_derivs, default_value = "auto")]
    pub derivs: std::option::Option<Method>,
    /// Write one file per graph and stage into DIR instead of standard output; headers and
    /// reports go to standard error.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

impl Args {
    /// The flag combinations that cannot work, as a usage error: DOT of a stage that is
    /// not a graph, or several DOT graphs for standard output, which holds one.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.format != Format::Dot {
            return Ok(());
        }
        if let Some(s) = self.stage.filter(|s| !s.is_graph()) {
            return Err(format!(
                "--stage {} is source text, not a graph; --format dot applies to the \
                 stages {}",
                s.name(),
                graph_stages()
            ));
        }
        if self.out.is_none() && self.exprs.len() > 1 {
            return Err(format!(
                "--format dot writes one graph to standard output, and {} --expr give {}; \
                 write one file per graph with --out DIR",
                self.exprs.len(),
                self.exprs.len()
            ));
        }
        Ok(())
    }

    /// The stages to run, in order, and whether each is printed.
    fn plan(&self) -> Vec<(Stage, bool)> {
        let dot = self.format == Format::Dot;
        let all = Stage::all();
        let last = (self.stage).unwrap_or(if dot {
            Stage::compiled()
        } else {
            all[all.len() - 1]
        });
        let every = self.every();
        let upto = all.iter().position(|&s| s == last).unwrap_or(0);
        all[..=upto]
            .iter()
            .map(|&s| (s, s == last || every))
            .collect()
    }

    /// Whether every stage is printed (no --stage), rather than one: all but DOT on
    /// standard output, which holds one graph.
    fn every(&self) -> bool {
        let dot_stdout = self.format == Format::Dot && self.out.is_none();
        self.stage.is_none() && !dot_stdout
    }
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

/// One stage of one traced graph, rendered.
struct Piece {
    /// The `--expr` name, when the graph is one.
    label: Option<String>,
    /// The stage.
    stage: Stage,
    /// What the simplifier reports (for people, never part of the graph).
    report: Option<String>,
    /// `STAGE: N nodes, F FLOPs per point` for graphs; the stage name for source text.
    head: String,
    /// The graph (text or DOT) or the source text.
    body: String,
}

impl Piece {
    /// The piece as `dump-ir` prints it on standard output in text format.
    fn text(&self) -> String {
        let report = self.report.as_ref();
        let report = report.map_or(String::new(), |r| format!("{}: {r}\n", self.stage.name()));
        format!("{report}== {} ==\n{}\n", self.head, self.body)
    }

    /// The file name under `--out`.
    fn file_name(&self, format: Format) -> String {
        let ext = self.stage.extension(format);
        match &self.label {
            Some(l) => format!("{l}.{}.{ext}", self.stage.name()),
            None => format!("{}.{ext}", self.stage.name()),
        }
    }

    /// The head and report, for standard error.
    fn note(&self) -> String {
        let report = self.report.as_ref();
        let report = report.map_or(String::new(), |r| format!("{}: {r}\n", self.stage.name()));
        let label = self.label.as_ref();
        let label = label.map_or(String::new(), |l| format!("--expr {l}: "));
        format!("{report}{label}{}\n", self.head)
    }
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    args.check().map_err(anyhow::Error::msg)?;
    let _created = args.out.as_deref().map(prepare_dir).transpose()?;
    let (batch, graphs) = traced(&args)?;
    let mut pieces = Vec::new();
    for (label, graph) in graphs {
        for mut p in stages(&args, graph, batch)? {
            p.label = label.clone();
            pieces.push(p);
        }
    }
    match (&args.out, args.format) {
        (Some(dir), _) => write_files(dir, &pieces, args.format),
        (None, Format::Dot) => {
            let p = pieces
                .first()
                .ok_or_else(|| anyhow::anyhow!("no graph to print"))?;
            eprint!("{}", p.note());
            super::common::emit(&p.body)
        }
        (None, Format::Text) => super::common::emit(&text_listing(&pieces)),
    }
}

/// Every piece in text format, each `--expr` graph under its own header.
fn text_listing(pieces: &[Piece]) -> String {
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for p in pieces {
        if let Some(l) = p.label.as_deref().filter(|&l| current != Some(l)) {
            out.push_str(&format!("==== --expr {l} ====\n"));
            current = Some(l);
        }
        out.push_str(&p.text());
    }
    out
}

/// One file per piece in `dir` (each written whole or not at all); what was written is
/// listed on standard error.
fn write_files(dir: &Path, pieces: &[Piece], format: Format) -> Result<()> {
    for p in pieces {
        let path = dir.join(p.file_name(format));
        write_atomic(&path, &p.body)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        eprint!("{}", p.note());
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The planned stages of one traced graph, rendered. When every stage is printed, a
/// stage this build cannot run ends the listing with a note; when one stage is asked for,
/// it is an error.
fn stages(args: &Args, traced: Graph, batch: usize) -> Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut graph = traced;
    let mut report = Report::default();
    for (s, print) in args.plan() {
        let dump = match stage(s, &graph, args.derivs, &mut report) {
            Ok(d) => d,
            Err(e) if args.every() => {
                eprintln!("note: stopping before stage `{}`: {e}", s.name());
                break;
            }
            Err(e) => return Err(e),
        };
        if print {
            out.push(piece(s, &dump, args.format, batch));
        }
        if let Dump::Graph(g) | Dump::Reported(g, _) = dump {
            graph = g;
        }
    }
    Ok(out)
}

/// A stage's output as a piece: a graph with its header (and report), or source text.
fn piece(s: Stage, dump: &Dump, format: Format, batch: usize) -> Piece {
    let (report, head, body) = match dump {
        Dump::Graph(g) => (None, head(s, g, batch), render(g, format)),
        Dump::Reported(g, r) => (Some(r.clone()), head(s, g, batch), render(g, format)),
        Dump::Text(t) => (None, s.name().to_string(), t.clone()),
    };
    Piece {
        label: None,
        stage: s,
        report,
        head,
        body,
    }
}

/// One stage from the previous graph stage's output; `report` holds what the passes
/// before it reported, and gets this stage's report.
pub fn stage(s: Stage, prev: &Graph, derivs: Option<Method>, report: &mut Report) -> Result<Dump> {
    let dtype = prev.output_dtype().unwrap_or(DType::F64);
    match s {
        Stage::Traced => Ok(Dump::Graph(prev.clone())),
        Stage::Pass(i) => run_pass(&PASSES[i], prev, derivs, report),
        Stage::Scheduled => {
            let info = nabla_ir::verify(prev)?;
            let opts = ScheduleOptions {
                dtype,
                ..ScheduleOptions::default()
            };
            Ok(Dump::Text(
                schedule::schedule(prev, &info, &opts).to_string(),
            ))
        }
        Stage::Clif | Stage::Asm => {
            let info = nabla_ir::verify(prev)?;
            let opts = cranelift::Options {
                dtype,
                keep_clif: s == Stage::Clif,
                keep_asm: s == Stage::Asm,
                ..Default::default()
            };
            let exe = cranelift::compile(prev, &info, &opts)?;
            let text = if s == Stage::Clif {
                exe.clif()
            } else {
                exe.asm()
            };
            Ok(Dump::Text(text.unwrap_or_default().to_string()))
        }
        Stage::Opencl => {
            let info = nabla_ir::verify(prev)?;
            let opts = opencl::Options {
                dtype,
                ..Default::default()
            };
            Ok(Dump::Text(opencl::emit(prev, &info, &opts)))
        }
    }
}

/// One pass of the pipeline, every pass on (the simplifier with its default options),
/// derivatives expanded with the `--derivs` choice. The pass's summary, if it has one, is
/// printed above its graph.
fn run_pass(
    pass: &Pass,
    prev: &Graph,
    derivs: Option<Method>,
    report: &mut Report,
) -> Result<Dump> {
    let opts = PipelineOptions {
        ad: AdOptions { method: derivs },
        simplify: Some(SimplifyOptions::default()),
    };
    Ok(match (pass.run)(prev, &opts, report)? {
        None => Dump::Graph(prev.clone()),
        Some((g, r)) => {
            let summary = r.summary();
            r.record(report);
            match summary {
                Some(summary) => Dump::Reported(g, summary),
                None => Dump::Graph(g),
            }
        }
    })
}

/// A graph stage's header: node count, and FLOPs per point once derivative operators are
/// expanded (a traced graph's cost is not known before AD).
fn head(s: Stage, g: &Graph, batch: usize) -> String {
    let mut head = format!("{}: {} nodes", s.name(), g.len());
    if s != Stage::Traced {
        head += &format!(", {:.0} FLOPs per point", flops_per_point(g, batch.max(1)));
    }
    head
}

/// A graph in the chosen format.
fn render(g: &Graph, format: Format) -> String {
    match format {
        Format::Text => text::print(g),
        Format::Dot => dot::to_dot(g),
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
    if args.jacobian {
        let g = p.jacobian_objective(&sizes, DType::F64)?.graph;
        return Ok((n, vec![(None, g)]));
    }
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
