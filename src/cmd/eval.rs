//! `nabla eval`: the compiled objective at given parameters and points, as JSON.
//!
//! Output (`cli.md`): `{"residuals": {R: [..]}, "loss": L, "exprs": {NAME: [..]},
//! "grad": <params.json layout>, "jacobian": {R: [G_0, G_1, ..]}}` (`grad` only with
//! `--grad`; `jacobian` only with `--jacobian`, each `G_i` in the layout of `grad`).
//! Nothing is written unless everything succeeded; files are written through a temporary
//! file and a rename.

use super::common::CompileArgs;
use anyhow::{anyhow, bail, Context, Result};
use nabla::data::{
    self, bind_params, bind_points, bind_probes, bind_probes_in, check_writable, named_values, num,
    params_file_json, params_to_json, write_atomic,
};
use nabla::train::layout::Layout;
use nabla::train::model::{Batch, Model};
use nabla::train::Objective;
use nabla::{compile, Options};
use nabla_frontend::lang::{self, Loaded};
use nabla_frontend::problem::{ExprFn, Problem};
use nabla_ir::Tensor;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const EXAMPLE: &str = "Example:
  nabla eval poisson.nabla --params params.json --points points.json --grad \\
      --expr err='u - sin(pi * x) * sin(pi * y)'

  params.json: {\"u\": [{\"W\": [[..], ..], \"b\": [..]}, ...], \"mu\": 0.5}
  points.json: {\"inner\": [[0.1, 0.2], [0.5, 0.5]], \"walls\": [[0.0, 0.3]], \"err\": [[0.5, 0.5]]}
  (the points of an --expr are keyed by its name)";

/// Arguments of `nabla eval`.
#[derive(clap::Args)]
// eval's default dtype is f64: its numbers are the ones other programs check.
#[command(after_help = EXAMPLE, mut_arg("dtype", |a| a.default_value("f64")))]
pub struct Args {
    /// The problem file.
    pub file: PathBuf,
    /// Parameters (params.json); omitted: the seeded initialisation.
    #[arg(long, value_name = "P.json")]
    pub params: Option<PathBuf>,
    /// Points (points.json), keyed by point set and by --expr name.
    #[arg(long, value_name = "X.json")]
    pub points: PathBuf,
    /// Also report the gradient of the loss with respect to every trainable parameter.
    #[arg(long)]
    pub grad: bool,
    /// Also report the Jacobian of every residual: for residual R, one object per point
    /// in the layout of `grad` holding the derivative of that residual value (unweighted,
    /// before squaring) with respect to every trainable parameter.
    #[arg(long)]
    pub jacobian: bool,
    /// Seed of the random directions of sampled operators (`lap(E; sample = K)`): the
    /// directions of step 0 of a training run with this seed.
    #[arg(long, default_value_t = 0, value_parser = super::flags::count)]
    pub seed: u64,
    /// An extra expression to evaluate on the points under its name, one the problem does
    /// not use (repeatable).
    #[arg(long = "expr", value_name = "NAME=EXPR")]
    pub exprs: Vec<String>,
    /// `--backend`, `--dtype` (default f64), `--derivs`.
    #[command(flatten)]
    pub compile: CompileArgs,
    /// Write the parameters used (the initialisation when --params is omitted) here.
    #[arg(long, value_name = "P.json")]
    pub write_params: Option<PathBuf>,
    /// Write the JSON result here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl Args {
    /// Flag combinations that cannot work: the result and the parameters written to one
    /// file (the second would silently replace the first).
    pub fn check(&self) -> Result<(), String> {
        match (&self.output, &self.write_params) {
            (Some(o), Some(w)) if same_file(o, w) => Err(format!(
                "--output and --write-params both name {}: give each its own file",
                o.display()
            )),
            _ => Ok(()),
        }
    }
}

/// Whether two paths name one file: the same file behind links, or, for files that do
/// not exist yet, one name in one folder however it is spelled (`same.json`,
/// `./same.json`, `d/../same.json`).
fn same_file(a: &Path, b: &Path) -> bool {
    let real = |p: &Path| -> Option<PathBuf> {
        if let Ok(r) = std::fs::canonicalize(p) {
            return Some(r);
        }
        let dir = std::fs::canonicalize(data::folder_of(p)).ok()?;
        Some(dir.join(p.file_name()?))
    };
    a == b || real(a).is_some_and(|r| Some(r) == real(b))
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let loaded = load_objective(&args.file)?;
    let exprs = parse_exprs(&loaded, &args.exprs)?;
    let ev = evaluate(&loaded.problem, &exprs, &args)?;
    let text = serde_json::to_string(&ev.result)? + "\n";
    let params = match &args.write_params {
        Some(path) => {
            let p = serde_json::to_string(&params_file_json(&ev.problem, &ev.params))?;
            Some((path, p + "\n"))
        }
        None => None,
    };
    // both files or neither: a destination that cannot be written fails before the other
    // is written
    let files: Vec<(&PathBuf, &str)> = (params.iter().map(|(p, t)| (*p, t.as_str())))
        .chain(args.output.iter().map(|p| (p, text.as_str())))
        .collect();
    for (path, _) in &files {
        check_writable(path).with_context(|| format!("writing {}", path.display()))?;
    }
    for (path, text) in &files {
        write_atomic(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    match &args.output {
        Some(_) => Ok(()),
        None => super::common::emit(&text),
    }
}

/// Reads and loads a problem file; on errors prints every diagnostic to stderr and fails
/// with their count. Warnings are printed to stderr only when the file loaded: with
/// errors, a warning may be an echo of one (a residual that failed to parse leaves its
/// point set unused).
pub fn load_problem(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let loaded = lang::load_bytes(&path.display().to_string(), &bytes).map_err(report)?;
    eprint!("{}", loaded.warnings.render_errors());
    Ok(loaded)
}

/// [`load_problem`] for the commands that need a loss (`train`, `eval`, `bench`): a file
/// without residuals is an error there.
pub fn load_objective(path: &Path) -> Result<Loaded> {
    let loaded = load_problem(path)?;
    loaded.require_residuals().map_err(report)?;
    Ok(loaded)
}

/// Prints diagnostics to stderr; the error is their count.
fn report(d: lang::Diagnostics) -> anyhow::Error {
    eprint!("{}", d.render_errors());
    anyhow!(d.summary())
}

/// What `name` already is in the problem, if anything: an `--expr` of that name would
/// stand beside it (`inner` beside the point set's points, `pde` beside the residual).
fn taken(loaded: &Loaded, name: &str) -> Option<&'static str> {
    if let Some(k) = loaded.scope.kind(name) {
        return Some(k.describe());
    }
    (loaded.problem.residuals.iter())
        .any(|r| r.name == name)
        .then_some("a residual")
}

/// `NAME=EXPR` arguments, checked in the problem's scope.
pub fn parse_exprs(loaded: &Loaded, items: &[String]) -> Result<Vec<(String, ExprFn)>> {
    let mut out: Vec<(String, ExprFn)> = Vec::new();
    for item in items {
        let (name, src) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--expr `{item}`: expected NAME=EXPR"))?;
        let name = name.trim();
        let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            bail!("--expr `{item}`: `{name}` must be a name [A-Za-z_][A-Za-z0-9_]*");
        }
        if out.iter().any(|(n, _)| n == name) {
            bail!("--expr `{item}`: another --expr is named `{name}`; give each its own name");
        }
        if let Some(what) = taken(loaded, name) {
            bail!("--expr `{item}`: `{name}` is {what} of the problem; choose a new name");
        }
        let f = loaded
            .expression_on_points(&format!("--expr {name}"), src)
            .map_err(report)?;
        out.push((name.to_string(), f));
    }
    Ok(out)
}

/// The result JSON and the parameters it was computed with (graph names).
pub struct Evaluation {
    /// The `cli.md` output object.
    pub result: Value,
    /// The parameters used.
    pub params: Vec<(String, Tensor)>,
    /// The problem evaluated: the file's, with the Fourier features of `--params`.
    pub problem: Problem,
}

type Points = data::PointSets;

/// A program's outputs by name.
type Outputs = HashMap<String, Vec<f64>>;

/// Evaluates residuals, loss, expressions and (with `--grad`) the gradient.
pub fn evaluate(problem: &Problem, exprs: &[(String, ExprFn)], args: &Args) -> Result<Evaluation> {
    let points = read_points(&args.points, problem, exprs)?;
    let sizes: Vec<(String, usize)> = points.iter().map(|(s, r)| (s.clone(), r.len())).collect();
    let dtype = args.compile.dtype.dtype();
    let trained = match &args.params {
        Some(path) => Some(read_params(path, problem)?),
        None => None,
    };
    let problem = trained.as_ref().map_or(problem, |t| &t.0);
    let given = trained.as_ref().map(|(_, p)| p.clone());
    let opts = args.compile.options();
    let (outs, params) = objective_at(problem, &points, given, &opts, (args.grad, args.seed))?;
    let mut result = objective_json(problem, &outs, args.grad);
    if args.jacobian {
        let g = problem.jacobian_objective(&sizes, dtype)?.graph;
        let outs = run_graph(problem, &g, &opts, &points, &params, args.seed)?;
        result["jacobian"] = jacobian_json(problem, &outs, &sizes);
    }
    let mut ex = Map::new();
    for (name, f) in exprs {
        let rows = lookup(&points, name);
        let values = expr_at(problem, (name, f), rows, &opts, &params, args.seed)?;
        ex.insert(name.clone(), column_json(&values));
    }
    result["exprs"] = Value::Object(ex);
    let problem = problem.clone();
    Ok(Evaluation {
        result,
        params,
        problem,
    })
}

fn lookup<'a>(points: &'a Points, set: &str) -> &'a [Vec<f64>] {
    points
        .iter()
        .find(|(s, _)| s == set)
        .map_or(&[], |(_, r)| r)
}

/// Points for every residual's set and every expression; unknown keys are errors.
fn read_points(path: &Path, problem: &Problem, exprs: &[(String, ExprFn)]) -> Result<Points> {
    let mut points = read_json(path, |v| data::points_from_json(v, problem.inputs.len()))?;
    for (set, rows) in &mut points {
        problem
            .attach_normals(set, rows)
            .map_err(|e| anyhow!("in {}: {e}", path.display()))?;
    }
    let has = |s: &str| points.iter().any(|(n, _)| n == s);
    for r in &problem.residuals {
        if !has(&r.points) {
            bail!(
                "residual `{}` is on point set `{}`, which is missing from {}",
                r.name,
                r.points,
                path.display()
            );
        }
    }
    for (name, _) in exprs {
        if !has(name) {
            bail!(
                "--expr `{name}` needs points under the key `{name}` in {}",
                path.display()
            );
        }
    }
    let known: Vec<&str> = problem
        .point_sets
        .iter()
        .map(|s| s.name.as_str())
        .chain(exprs.iter().map(|e| e.0.as_str()))
        .collect();
    if let Some((k, _)) = points.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        let hint = lang::diag::nearest(k, known.iter().copied())
            .map_or(String::new(), |n| format!("; did you mean `{n}`?"));
        bail!(
            "in {}: `{k}` is neither a point set nor an --expr name{hint}",
            path.display()
        );
    }
    Ok(points)
}

/// The params of a `params.json`, and the problem with the Fourier features stored there.
fn read_params(path: &Path, problem: &Problem) -> Result<(Problem, Vec<(String, Tensor)>)> {
    read_json(path, |v| {
        let p = data::with_embeddings(problem, v)?;
        let params = data::params_from_json(&p, v)?;
        Ok((p, params))
    })
}

/// Reads the JSON file at `path` and converts it with `convert`; errors name the file.
fn read_json<T>(path: &Path, convert: impl Fn(&Value) -> Result<T, data::DataError>) -> Result<T> {
    let ctx = || format!("in {}", path.display());
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v = data::parse_json(&text).with_context(ctx)?;
    convert(&v).with_context(ctx)
}

/// Rows of an expression's points evaluated by one program at most: its values are
/// computed point by point, so a long list runs chunk after chunk through one compiled
/// program (and one for the last, shorter chunk) with memory for a chunk, not for every
/// point.
const EXPR_CHUNK: usize = 16384;

/// Elements of an expression's widest value that a chunk holds at most (32 MB in f64):
/// an expression that stacks wide values per point runs in chunks of fewer rows (a
/// Laplacian over 100 inputs holds 12,800 values per row of a 128-wide net: 327 rows).
const EXPR_ELEMENTS: usize = 1 << 22;

/// The most points of a set whose residuals, loss and gradient run as one program (as
/// before tiles): compiling one program is quicker than compiling the tiles' programs for
/// the few points a check evaluates at, and its memory is small at this size.
const ONE_PROGRAM_ROWS: usize = 4096;

/// The residuals, the loss and (`grad`) the gradient at `points` as [`run_graph`]'s
/// outputs, and the params they were computed with (`given`, else the initialisation).
/// Up to [`ONE_PROGRAM_ROWS`] points of a set they run as one program; more run as
/// training runs them ([`Model`]): the points cut into tiles of a few hundred, one program
/// per tile shape, the loss and the gradient added up over the tiles — so memory grows
/// with a tile, not with the number of points (B4's loss and gradient at 65,536 points
/// took 3.1 GB as one program), whatever the size of the smallest set (a tile without
/// rows of a set leaves its residuals out). Probe directions of sampled operators as for
/// step 0 of a run seeded `seed`.
fn objective_at(
    problem: &Problem,
    points: &Points,
    given: Option<Vec<(String, Tensor)>>,
    opts: &Options,
    (grad, seed): (bool, u64),
) -> Result<(Outputs, Vec<(String, Tensor)>)> {
    let used = |s: &str| problem.residuals.iter().any(|r| r.points == s);
    let sets: Points = (points.iter()).filter(|(s, _)| used(s)).cloned().collect();
    if sets.iter().all(|(_, r)| r.len() <= ONE_PROGRAM_ROWS) {
        let sizes: Vec<_> = points.iter().map(|(s, r)| (s.clone(), r.len())).collect();
        let obj = problem.objective(&sizes, opts.dtype, grad)?;
        let params = given.unwrap_or(obj.init);
        let outs = run_graph(problem, &obj.graph, opts, points, &params, seed)?;
        return Ok((outs, params));
    }
    let sizes = sets.iter().map(|(s, r)| (s.clone(), r.len())).collect();
    let (mut model, init, _) = Model::compile_for(problem, &Batch { sizes, grad }, opts)?;
    let params = given.unwrap_or_else(|| model.layout().tensors(&init));
    let theta = theta_of(model.layout(), &params)?;
    model.bind_given_points(sets, seed)?;
    let mut g = vec![0.0; theta.len()];
    let loss = match grad {
        true => model.eval(&theta, &mut g)?,
        false => model.loss(&theta)?,
    };
    let mut outs = HashMap::from([("loss".to_string(), vec![loss])]);
    for (r, v) in problem.residuals.iter().zip(model.last_residuals_each()) {
        outs.insert(format!("residual.{}", r.name), v.clone());
    }
    if grad {
        for (name, v) in model.layout().split(&g) {
            outs.insert(format!("grad.{name}"), v.to_vec());
        }
    }
    Ok((outs, params))
}

/// `params` in the order of `layout`, each checked for its length.
fn theta_of(layout: &Layout, params: &[(String, Tensor)]) -> Result<Vec<f64>> {
    let mut theta = Vec::with_capacity(layout.len());
    for (name, len) in layout.sizes() {
        let (_, t) = (params.iter())
            .find(|(n, _)| n == name)
            .with_context(|| format!("no value for param `{name}`"))?;
        if t.data.len() != len {
            bail!(
                "param `{name}` has {} values, the program takes {len}",
                t.data.len()
            );
        }
        theta.extend_from_slice(&t.data);
    }
    Ok(theta)
}

/// Expression `name` (`f`) at `rows`, a chunk of rows at a time: [`EXPR_CHUNK`], or fewer
/// where its widest value would hold more than [`EXPR_ELEMENTS`]. Each chunk gets its rows
/// of the probe directions one program over all the rows would draw.
fn expr_at(
    problem: &Problem,
    (name, f): (&String, &ExprFn),
    rows: &[Vec<f64>],
    opts: &Options,
    params: &[(String, Tensor)],
    seed: u64,
) -> Result<Vec<f64>> {
    let graph = |n: usize| -> Result<nabla_ir::Graph> {
        Ok(problem.expression(name, f, name, n, opts.dtype)?.graph)
    };
    let first = rows.len().clamp(1, EXPR_CHUNK);
    let per_row = nabla::widest_value(&graph(first)?, opts).map_or(1, |w| w / first);
    let chunk = (EXPR_ELEMENTS / per_row.max(1)).clamp(1, EXPR_CHUNK);
    let mut exes: HashMap<usize, Box<dyn nabla::Executable>> = HashMap::new();
    let mut values = Vec::with_capacity(rows.len());
    for (k, part) in rows.chunks(chunk).enumerate() {
        let exe = match exes.entry(part.len()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut exe =
                    compile(&graph(part.len())?, opts).context("compiling the expression")?;
                bind_params(exe.as_mut(), named_values(params))?;
                e.insert(exe)
            }
        };
        let start = k * chunk;
        let mine = |_: &str| Some((start..start + part.len(), rows.len()));
        bind_probes_in(exe.as_mut(), seed, 0, &mine)?;
        bind_points(exe.as_mut(), problem, name, part)?;
        exe.run()?;
        let i = (exe.output_names().iter())
            .position(|o| o == name)
            .with_context(|| format!("the expression program has no output `{name}`"))?;
        values.extend(exe.output(i));
    }
    Ok(values)
}

/// Compiles `g`, binds points, params and the probe directions drawn with `seed`, runs
/// it: every output by name.
fn run_graph(
    problem: &Problem,
    g: &nabla_ir::Graph,
    opts: &Options,
    points: &Points,
    params: &[(String, Tensor)],
    seed: u64,
) -> Result<Outputs> {
    let mut exe = compile(g, opts).context("compiling the problem")?;
    bind_params(exe.as_mut(), named_values(params))?;
    for (set, rows) in points {
        bind_points(exe.as_mut(), problem, set, rows)?;
    }
    bind_probes(exe.as_mut(), seed, 0)?;
    exe.run()?;
    Ok(exe
        .output_names()
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, exe.output(i)))
        .collect())
}

fn column_json(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|&x| num(x)).collect())
}

/// `residuals`, `loss` and (when asked) `grad` from the objective's outputs.
fn objective_json(problem: &Problem, outs: &HashMap<String, Vec<f64>>, grad: bool) -> Value {
    let mut res = Map::new();
    for r in &problem.residuals {
        let v = outs
            .get(&format!("residual.{}", r.name))
            .map_or(&[][..], |v| v);
        res.insert(r.name.clone(), column_json(v));
    }
    let loss = outs
        .get("loss")
        .and_then(|v| v.first())
        .copied()
        .unwrap_or(f64::NAN);
    let mut out = json!({"residuals": res, "loss": num(loss), "exprs": {}});
    if grad {
        out["grad"] = grad_json(problem, outs);
    }
    out
}

/// `{R: [G_0, ..]}`: row `i` of every `jacobian.R.P`, in the params.json layout.
fn jacobian_json(
    problem: &Problem,
    outs: &HashMap<String, Vec<f64>>,
    sizes: &[(String, usize)],
) -> Value {
    let shapes = data::param_shapes(problem);
    let mut by_residual = Map::new();
    for r in &problem.residuals {
        let rows = sizes
            .iter()
            .find(|(s, _)| *s == r.points)
            .map_or(0, |s| s.1);
        let row = |i: usize| {
            let named: Vec<(String, Tensor)> = (shapes.iter())
                .filter_map(|(name, shape)| {
                    let v = outs.get(&format!("jacobian.{}.{name}", r.name))?;
                    let w = shape.numel();
                    Tensor::try_new(shape.clone(), v.get(i * w..(i + 1) * w)?.to_vec())
                        .map(|t| (name.clone(), t))
                })
                .collect();
            params_to_json(problem, &named)
        };
        by_residual.insert(r.name.clone(), Value::Array((0..rows).map(row).collect()));
    }
    Value::Object(by_residual)
}

fn grad_json(problem: &Problem, outs: &HashMap<String, Vec<f64>>) -> Value {
    let shapes = data::param_shapes(problem);
    let grads: Vec<(String, Tensor)> = shapes
        .into_iter()
        .filter_map(|(name, shape)| {
            let v = outs.get(&format!("grad.{name}"))?;
            Some((name, Tensor::try_new(shape, v.clone())?))
        })
        .collect();
    params_to_json(problem, &grads)
}
