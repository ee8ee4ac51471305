//! The data a problem is run on: parameters (`params.json`) and points (`points.json`) as
//! `nabla eval` and `nabla train` read and write them, binding a point set's columns to a
//! compiled program, and writing output files without ever leaving a partial one.
//!
//! `params.json` is keyed by net name and param name. A net is a list of layers, input
//! layer first; `W` has one row per output unit (`[out][in]`), `b` one entry per output
//! unit; a trainable scalar is a number:
//!
//! ```json
//! {"u": [{"W": [[0.1, -0.2], [0.3, 0.05]], "b": [0.0, 0.0]}, {"W": [[1.0, -1.0]], "b": [0.5]}],
//!  "mu": 0.5}
//! ```
//!
//! In the graph, layer `l` of net `u` is the pair of params `u.l.W` (`[out, in]`) and
//! `u.l.b` (`[out]`); a scalar is the rank-0 param of its name.
//!
//! `points.json` is keyed by point-set name; each point lists the inputs in declaration
//! order: `{"inner": [[0.1, 0.2], [0.5, 0.5]]}`.

use crate::{Executable, RunError};
use nabla_frontend::lang::diag::nearest as nearest_name;
use nabla_frontend::problem::{input_name, is_probe, normal_name, probe_values, Problem};
use nabla_ir::{Shape, Tensor};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

/// Why a params or points file does not fit the problem.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Not JSON, or not the expected layout.
    #[error("{0}")]
    Layout(String),
    /// A layer whose shape differs from the network's.
    #[error(
        "net `{net}` layer {layer}: `{what}` has shape {found} but the network needs {expected}"
    )]
    Shape {
        /// Net name.
        net: String,
        /// Layer index (0 = input layer).
        layer: usize,
        /// `W` or `b`.
        what: &'static str,
        /// The file's shape.
        found: Shape,
        /// The network's shape.
        expected: Shape,
    },
    /// A point set's row that is not a point of the problem.
    #[error("point set `{set}`, row {row}: {reason}")]
    Row {
        /// Set name.
        set: String,
        /// Row index (0-based).
        row: usize,
        /// What is wrong.
        reason: String,
    },
}

fn layout(msg: impl Into<String>) -> DataError {
    DataError::Layout(msg.into())
}

/// Parses JSON text, with the parser's line and column on failure. A key given twice in
/// one object is an error: JSON parsers commonly keep the last value, which would drop a
/// point set's first points or a layer's first weights without a word.
pub fn parse_json(text: &str) -> Result<Value, DataError> {
    strict_json(text).map_err(|e| layout(format!("invalid JSON: {e}")))
}

/// JSON text as a [`Value`], refusing an object with a key twice (`duplicate key `k` at
/// line L column C`).
pub fn strict_json(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = serde::de::Deserializer::deserialize_any(&mut de, StrictValue)?;
    de.end()?;
    Ok(v)
}

/// Builds a [`Value`] as `serde_json` does, but an object's keys must differ.
struct StrictValue;

impl<'de> serde::de::DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictValue)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictValue {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::from(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if obj.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            let v = map.next_value_seed(StrictValue)?;
            obj.insert(key, v);
        }
        Ok(Value::Object(obj))
    }
}

/// The params of `problem` from a `params.json` value: `(param name, tensor)` in the
/// order nets (layer by layer, `W` then `b`), then scalars — the order of
/// [`nabla_frontend::problem::Objective::init`].
pub fn params_from_json(problem: &Problem, v: &Value) -> Result<Vec<(String, Tensor)>, DataError> {
    let obj = v
        .as_object()
        .ok_or_else(|| layout("expected an object keyed by net and param names"))?;
    let known = declared_params(problem);
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    unknown_keys(obj, &known, "net or param")?;
    let mut out = Vec::new();
    for net in &problem.nets {
        let layers = obj
            .get(&net.name)
            .ok_or_else(|| layout(format!("net `{}` is missing", net.name)))?;
        out.extend(net_from_json(&net.name, &net.mlp.widths, layers)?);
    }
    for p in &problem.params {
        let x = obj
            .get(&p.name)
            .ok_or_else(|| layout(format!("param `{}` is missing", p.name)))?;
        let x = x
            .as_f64()
            .ok_or_else(|| layout(format!("param `{}` must be a number", p.name)))?;
        out.push((p.name.clone(), Tensor::scalar(x)));
    }
    Ok(out)
}

/// The keys of `params.json`: nets, params, and `NET.fourier` for every net with Fourier
/// features.
fn declared_params(problem: &Problem) -> Vec<String> {
    let nets = problem.nets.iter().map(|n| n.name.clone());
    let fourier = (problem.nets.iter())
        .filter(|n| n.embed.fourier.is_some())
        .map(|n| fourier_key(&n.name));
    let params = problem.params.iter().map(|p| p.name.clone());
    nets.chain(fourier).chain(params).collect()
}

/// The `params.json` key of a net's Fourier matrix `B`.
pub fn fourier_key(net: &str) -> String {
    format!("{net}.fourier")
}

/// `problem` with every net's Fourier matrix `B` taken from a `params.json` value
/// (`"NET.fourier"`, `[M][d]`), so that a net is evaluated with the features it was
/// trained with whatever seed drew them. Nets without Fourier features are unchanged.
pub fn with_embeddings(problem: &Problem, v: &Value) -> Result<Problem, DataError> {
    let mut p = problem.clone();
    for net in &mut p.nets {
        let d = net.embed.periodic_width(net.args.len());
        let Some(f) = &mut net.embed.fourier else {
            continue;
        };
        let key = fourier_key(&net.name);
        let b = v.get(&key).ok_or_else(|| {
            layout(format!(
                "`{key}` is missing: net `{}` has Fourier features",
                net.name
            ))
        })?;
        let b = tensor(b, &format!("`{key}`"))?;
        let want = Shape::matrix(f.m, d);
        if b.shape != want {
            let msg = format!(
                "`{key}` has shape {}, net `{}` needs {want} (fourier = {} of {d} features)",
                b.shape, net.name, f.m
            );
            return Err(layout(msg));
        }
        f.b = Some(b);
    }
    Ok(p)
}

fn unknown_keys(obj: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), DataError> {
    let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) else {
        return Ok(());
    };
    let hint = match nearest_name(k, known.iter().copied()) {
        Some(n) => format!("; did you mean `{n}`?"),
        None => format!("; expected one of: {}", known.join(", ")),
    };
    Err(layout(format!("unknown {what} `{k}`{hint}")))
}

fn net_from_json(
    net: &str,
    widths: &[usize],
    v: &Value,
) -> Result<Vec<(String, Tensor)>, DataError> {
    let layers = v
        .as_array()
        .ok_or_else(|| layout(format!("net `{net}` must be a list of layers")))?;
    let want = widths.len() - 1;
    if layers.len() != want {
        let msg = format!(
            "net `{net}` has {want} layers, the file gives {}",
            layers.len()
        );
        return Err(layout(msg));
    }
    let mut out = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let (fan_in, fan_out) = (widths[l], widths[l + 1]);
        let obj = layer.as_object().ok_or_else(|| {
            layout(format!(
                "net `{net}` layer {l} must be an object with `W` and `b`"
            ))
        })?;
        unknown_keys(obj, &["W", "b"], &format!("key in net `{net}` layer {l}:"))?;
        let field = |k: &str| {
            obj.get(k)
                .ok_or_else(|| layout(format!("net `{net}` layer {l} has no `{k}`")))
        };
        let w = tensor(field("W")?, &format!("net `{net}` layer {l} `W`"))?;
        let b = tensor(field("b")?, &format!("net `{net}` layer {l} `b`"))?;
        expect_shape(net, l, "W", &w, Shape::matrix(fan_out, fan_in))?;
        expect_shape(net, l, "b", &b, Shape::new(&[fan_out]))?;
        out.push((format!("{net}.{l}.W"), w));
        out.push((format!("{net}.{l}.b"), b));
    }
    Ok(out)
}

fn expect_shape(
    net: &str,
    layer: usize,
    what: &'static str,
    t: &Tensor,
    expected: Shape,
) -> Result<(), DataError> {
    if t.shape == expected {
        return Ok(());
    }
    Err(DataError::Shape {
        net: net.into(),
        layer,
        what,
        found: t.shape.clone(),
        expected,
    })
}

/// A number, a list of numbers (`[n]`) or a rectangular list of lists (`[rows, cols]`).
fn tensor(v: &Value, what: &str) -> Result<Tensor, DataError> {
    let num = |x: &Value| {
        x.as_f64()
            .ok_or_else(|| layout(format!("{what}: `{x}` is not a number")))
    };
    let Some(items) = v.as_array() else {
        return Ok(Tensor::scalar(num(v)?));
    };
    if !items.first().is_some_and(Value::is_array) {
        let data = items.iter().map(num).collect::<Result<Vec<_>, _>>()?;
        return Ok(Tensor::new(Shape::new(&[data.len()]), data));
    }
    let cols = items[0].as_array().map_or(0, Vec::len);
    let mut data = Vec::with_capacity(items.len() * cols);
    for (r, row) in items.iter().enumerate() {
        let row = row
            .as_array()
            .ok_or_else(|| layout(format!("{what}: row {r} is not a list")))?;
        if row.len() != cols {
            let msg = format!(
                "{what}: row {r} has {} entries, row 0 has {cols}",
                row.len()
            );
            return Err(layout(msg));
        }
        data.extend(row.iter().map(num).collect::<Result<Vec<_>, _>>()?);
    }
    Ok(Tensor::new(Shape::matrix(items.len(), cols), data))
}

/// The name and shape of every trainable parameter of `problem`, in graph order.
pub fn param_shapes(problem: &Problem) -> Vec<(String, Shape)> {
    let mut out = Vec::new();
    for net in &problem.nets {
        for (l, w) in net.mlp.widths.windows(2).enumerate() {
            out.push((format!("{}.{l}.W", net.name), Shape::matrix(w[1], w[0])));
            out.push((format!("{}.{l}.b", net.name), Shape::new(&[w[1]])));
        }
    }
    out.extend(
        problem
            .params
            .iter()
            .map(|p| (p.name.clone(), Shape::scalar())),
    );
    out
}

/// `params` (named as in the graph) in the `params.json` layout of `problem`. Entries
/// that are absent from `params` are left out.
pub fn params_to_json(problem: &Problem, params: &[(String, Tensor)]) -> Value {
    let get = |n: &str| params.iter().find(|(p, _)| p == n).map(|(_, t)| t);
    let mut obj = Map::new();
    for net in &problem.nets {
        let layers: Option<Vec<Value>> = (0..net.mlp.layers())
            .map(|l| {
                let w = get(&format!("{}.{l}.W", net.name))?;
                let b = get(&format!("{}.{l}.b", net.name))?;
                Some(serde_json::json!({"W": tensor_json(w), "b": tensor_json(b)}))
            })
            .collect();
        if let Some(layers) = layers {
            obj.insert(net.name.clone(), Value::Array(layers));
        }
    }
    for p in &problem.params {
        if let Some(t) = get(&p.name) {
            obj.insert(p.name.clone(), tensor_json(t));
        }
    }
    Value::Object(obj)
}

/// The contents of a `params.json` file: [`params_to_json`] and, for every net with Fourier
/// features, its matrix `B` under `NET.fourier` (not a trained value, but what the net
/// was trained with).
pub fn params_file_json(problem: &Problem, params: &[(String, Tensor)]) -> Value {
    let mut v = params_to_json(problem, params);
    if let Value::Object(obj) = &mut v {
        for net in &problem.nets {
            if let Some(b) = net.fourier_matrix() {
                obj.insert(fourier_key(&net.name), tensor_json(&b));
            }
        }
    }
    v
}

/// A tensor as JSON: a number (rank 0), a list (rank 1) or a list of rows (rank 2).
pub fn tensor_json(t: &Tensor) -> Value {
    match t.shape.dims() {
        [] => num(t.data[0]),
        [_] => Value::Array(t.data.iter().map(|&x| num(x)).collect()),
        [_, cols, ..] => Value::Array(
            t.data
                .chunks((*cols).max(1))
                .map(|r| Value::Array(r.iter().map(|&x| num(x)).collect()))
                .collect(),
        ),
    }
}

/// A JSON number; JSON has no NaN or infinity, so those become `null`.
pub fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Point sets by name: `(set, rows)`, each row the inputs in declaration order.
pub type PointSets = Vec<(String, Vec<Vec<f64>>)>;

/// Binds the points of set `set` to `exe`: column `k` of `rows` (input `k` in declaration
/// order) to the leaf `SET.INPUT`, for every input the program binds (a program that does
/// not depend on an input may not bind it), and on a boundary set the normal columns that
/// follow the inputs to `SET.normal.INPUT`.
pub fn bind_points(
    exe: &mut dyn Executable,
    problem: &Problem,
    set: &str,
    rows: &[Vec<f64>],
) -> Result<(), RunError> {
    let bound: HashSet<String> = exe.bindings().iter().map(|b| b.name.clone()).collect();
    for (k, input) in problem.inputs.iter().enumerate() {
        let name = input_name(set, &input.name);
        if bound.contains(&name) {
            let column: Vec<f64> = rows.iter().map(|r| r[k]).collect();
            exe.set(&name, &column)?;
        }
    }
    // A boundary set's rows carry the outward normal after the inputs.
    if let Some(d) = problem.boundary_domain(set) {
        let width = problem.inputs.len();
        for (j, &k) in d.coords.iter().enumerate() {
            let name = normal_name(set, &problem.inputs[k].name);
            if bound.contains(&name) {
                let column: Vec<f64> = (rows.iter())
                    .map(|r| r.get(width + j).copied().unwrap_or(f64::NAN))
                    .collect();
                exe.set(&name, &column)?;
            }
        }
    }
    Ok(())
}

/// Binds fresh probe directions of the sampled operators (`lap(E; sample = K)`) for step
/// `step` of a run seeded `seed`: every probe leaf `exe` binds gets its Rademacher signs
/// ([`probe_values`]). Returns whether there were any: a program without sampled
/// operators is deterministic and needs no redraws.
pub fn bind_probes(exe: &mut dyn Executable, seed: u64, step: u64) -> Result<bool, RunError> {
    bind_probes_in(exe, seed, step, &|_| None)
}

/// The rows of a point set that a process owns and the set's full size, by set name
/// (`None`: all of them).
pub type RowsOf<'a> = dyn Fn(&str) -> Option<(Range<usize>, usize)> + 'a;

/// [`bind_probes`] for a process that owns only some rows of the point sets (a
/// distributed run): `rows(set)` gives those rows and the set's full size, and the process
/// gets those rows of the directions one process would draw for the whole set.
pub fn bind_probes_in(
    exe: &mut dyn Executable,
    seed: u64,
    step: u64,
    rows: &RowsOf<'_>,
) -> Result<bool, RunError> {
    let probes: Vec<(String, usize)> = (exe.bindings().iter())
        .filter(|b| is_probe(&b.name))
        .map(|b| (b.name.clone(), b.shape.numel()))
        .collect();
    for (name, n) in &probes {
        let set = name.split('.').next().unwrap_or_default();
        let values = match rows(set) {
            Some((range, full)) if range.len() == *n => {
                probe_values(name, seed, step, full)[range].to_vec()
            }
            _ => probe_values(name, seed, step, *n),
        };
        exe.set(name, &values)?;
    }
    Ok(!probes.is_empty())
}

/// Binds the values of every param in `params` (`(name, values)`) that `exe` binds (a
/// param no output depends on is not a binding of the compiled program).
pub fn bind_params<'a>(
    exe: &mut dyn Executable,
    params: impl IntoIterator<Item = (&'a str, &'a [f64])>,
) -> Result<(), RunError> {
    for (name, values) in params {
        if exe.bindings().iter().any(|b| b.name == name) {
            exe.set(name, values)?;
        }
    }
    Ok(())
}

/// Named tensors as the `(name, values)` pairs [`bind_params`] takes.
pub fn named_values(params: &[(String, Tensor)]) -> impl Iterator<Item = (&str, &[f64])> {
    params.iter().map(|(n, t)| (n.as_str(), t.data.as_slice()))
}

/// Point sets from a `points.json` value: `(name, rows)` in file order, every row of
/// `width` finite numbers, no set empty.
pub fn points_from_json(v: &Value, width: usize) -> Result<PointSets, DataError> {
    let obj = v
        .as_object()
        .ok_or_else(|| layout("expected an object keyed by point-set name"))?;
    obj.iter()
        .map(|(name, rows)| Ok((name.clone(), point_rows(name, rows, width)?)))
        .collect()
}

fn point_rows(set: &str, v: &Value, width: usize) -> Result<Vec<Vec<f64>>, DataError> {
    let rows = v
        .as_array()
        .ok_or_else(|| layout(format!("point set `{set}` must be a list of points")))?;
    if rows.is_empty() {
        return Err(layout(format!("point set `{set}` is empty")));
    }
    rows.iter()
        .enumerate()
        .map(|(row, r)| {
            point(r, width).map_err(|reason| DataError::Row {
                set: set.into(),
                row,
                reason,
            })
        })
        .collect()
}

fn point(r: &Value, width: usize) -> Result<Vec<f64>, String> {
    let items = r
        .as_array()
        .ok_or_else(|| format!("`{r}` is not a list of coordinates"))?;
    if items.len() != width {
        let (n, s) = (items.len(), if items.len() == 1 { "" } else { "s" });
        let inputs = if width == 1 { "input" } else { "inputs" };
        return Err(format!(
            "{n} coordinate{s}, but the problem has {width} {inputs}"
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(j, x)| match x.as_f64() {
            Some(x) if x.is_finite() => Ok(x),
            _ => Err(format!("coordinate {j} is `{x}`, not a finite number")),
        })
        .collect()
}

/// Where [`write_atomic`] writes `path`: `Err(path)` to write directly — a path that is
/// neither a file nor a folder (`/dev/null`, a named pipe, a terminal), or one under
/// `/dev` or `/proc` (`/dev/stdout` names the file standard output goes to, which may be
/// a file the shell appends to) — else `Ok` of the file to replace: the file a symbolic
/// link names (a dangling link is replaced itself).
pub fn write_target(path: &Path) -> Result<std::path::PathBuf, std::path::PathBuf> {
    if system_path(path) || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return Err(path.to_path_buf());
    }
    Ok(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Whether `path` is under `/dev` or `/proc`, where a name stands for a device or an open
/// file (`/dev/stdout`), not for a file to replace.
fn system_path(path: &Path) -> bool {
    path.starts_with("/dev") || path.starts_with("/proc")
}

/// Writes `contents` to a path [`write_target`] writes directly. One under `/dev` or
/// `/proc` is opened to append: `/dev/stdout` opens the file standard output goes to
/// anew, and truncating it would wipe what a shell's `>>` appended before; a device or
/// pipe does not mind.
fn write_through(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if system_path(path) {
        let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
        return f.write_all(contents.as_bytes());
    }
    std::fs::write(path, contents)
}

/// The folder a file `path` is in (`.` for a bare name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Whether files can be created in folder `dir`: an empty probe file written and removed.
pub fn check_can_create_in(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".nabla-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// Why [`write_atomic`] could not write `path`, found before anything is written: a
/// folder in its place, or a file in a folder that does not exist or takes no new files
/// (the folder of the real file behind links, where the temporary file goes).
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    if path.is_dir() {
        return Err(Error::new(ErrorKind::IsADirectory, "it is a folder"));
    }
    match write_target(path) {
        Ok(target) => check_can_create_in(folder_of(&target)),
        // a device, pipe or standard output, written through as it is
        Err(_) => Ok(()),
    }
}

/// Writes `contents` to `path` through a temporary file in the same folder and a rename,
/// so that `path` is either untouched or complete. A symbolic link is followed: the file
/// it names is replaced and the link stays. What [`write_target`] writes directly is
/// written as a shell's `>` would: a rename would put a plain file in its place.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let target = match write_target(path) {
        Ok(t) => t,
        Err(direct) => return write_through(&direct, contents),
    };
    let path = target.as_path();
    let dir = folder_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // a failed write (a full disk) or rename leaves neither the partial file nor `path`
    let written = std::fs::write(&tmp, contents).and_then(|()| std::fs::rename(&tmp, path));
    written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_frontend::lang;
    use serde_json::json;

    fn problem() -> Problem {
        let src = "input x in [0, 1]\ninput y in [0, 1]\nparam mu = 0.5\n\
                   net u(x, y) = mlp(widths = [3])\npoints s = interior(4)\nresidual r on s = u\n";
        lang::load("p.nabla", src).unwrap().problem
    }

    fn good() -> Value {
        json!({"u": [{"W": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "b": [0.1, 0.2, 0.3]},
                     {"W": [[7.0, 8.0, 9.0]], "b": [0.5]}], "mu": 0.25})
    }

    #[test]
    fn params_round_trip_in_graph_order() {
        let p = problem();
        let params = params_from_json(&p, &good()).unwrap();
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["u.0.W", "u.0.b", "u.1.W", "u.1.b", "mu"]);
        assert_eq!(params[0].1.shape, Shape::matrix(3, 2));
        assert_eq!(params[0].1.data, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(params_to_json(&p, &params), good());
        let shapes: Vec<Shape> = param_shapes(&p).into_iter().map(|s| s.1).collect();
        let got: Vec<Shape> = params.iter().map(|(_, t)| t.shape.clone()).collect();
        assert_eq!(shapes, got);
    }

    #[test]
    fn a_transposed_layer_names_net_layer_and_both_shapes() {
        let mut v = good();
        v["u"][1]["W"] = json!([[7.0], [8.0], [9.0]]);
        let e = params_from_json(&problem(), &v).unwrap_err().to_string();
        assert_eq!(
            e,
            "net `u` layer 1: `W` has shape [3,1] but the network needs [1,3]"
        );
    }

    #[test]
    fn ragged_rows_missing_entries_and_unknown_keys_are_errors() {
        let mut v = good();
        v["u"][0]["W"] = json!([[1.0, 2.0], [3.0], [5.0, 6.0]]);
        let e = params_from_json(&problem(), &v).unwrap_err().to_string();
        assert!(e.contains("row 1 has 1 entries, row 0 has 2"), "{e}");
        let mut v = good();
        v.as_object_mut().unwrap().remove("mu");
        let e = params_from_json(&problem(), &v).unwrap_err().to_string();
        assert_eq!(e, "param `mu` is missing");
        let mut v = good();
        v["muu"] = json!(1.0);
        let e = params_from_json(&problem(), &v).unwrap_err().to_string();
        assert!(
            e.contains("unknown net or param `muu`; did you mean `mu`?"),
            "{e}"
        );
    }

    #[test]
    fn points_are_checked_row_by_row() {
        let ok = points_from_json(&json!({"s": [[0.1, 0.2], [0.3, 0.4]]}), 2).unwrap();
        assert_eq!(
            ok,
            vec![("s".to_string(), vec![vec![0.1, 0.2], vec![0.3, 0.4]])]
        );
        let e = points_from_json(&json!({"s": [[0.1, 0.2], [0.3]]}), 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "point set `s`, row 1: 1 coordinate, but the problem has 2 inputs"
        );
        let e = points_from_json(&json!({"s": [[0.1, "a"]]}), 2).unwrap_err();
        assert!(
            e.to_string().contains("row 0: coordinate 1 is `\"a\"`"),
            "{e}"
        );
        let e = points_from_json(&json!({"s": []}), 2).unwrap_err();
        assert_eq!(e.to_string(), "point set `s` is empty");
        assert!(parse_json("{\"s\": [[NaN]]}").is_err());
    }

    /// A key twice in one object is refused at its place, at any depth; the same key in
    /// different objects is fine; values parse as `serde_json` parses them.
    #[test]
    fn a_key_given_twice_is_an_error() {
        let e = parse_json("{\"inner\": [[0.1]],\n \"inner\": [[0.7]]}").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("duplicate key `inner` at line 2"), "{msg}");
        let nested = "{\"u\": [{\"W\": [[1]], \"b\": [0], \"b\": [1]}]}";
        assert!(parse_json(nested).unwrap_err().to_string().contains("`b`"));
        let text =
            "{\"u\": [{\"W\": [[1.5, -2]], \"b\": [0]}, {\"W\": null, \"b\": true}], \"k\": \"s\"}";
        let v = parse_json(text).unwrap();
        assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
        assert!(parse_json("{} {}").is_err());
    }

    #[test]
    fn atomic_writes_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, "{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        let entries = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(entries, 1);
        let missing = dir.path().join("no/such/dir/out.json");
        assert!(write_atomic(&missing, "{}").is_err());
    }

    /// A link is followed (its file replaced, the link kept), and a named pipe is written
    /// through, not replaced by a plain file.
    #[cfg(unix)]
    #[test]
    fn atomic_writes_go_through_links_and_pipes() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let (file, link) = (dir.path().join("target.json"), dir.path().join("link.json"));
        std::fs::write(&file, "old").unwrap();
        std::os::unix::fs::symlink(&file, &link).unwrap();
        write_atomic(&link, "new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        let pipe = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status();
        assert!(made.unwrap().success(), "mkfifo");
        let reader = {
            let pipe = pipe.clone();
            std::thread::spawn(move || std::fs::read_to_string(pipe).unwrap())
        };
        write_atomic(&pipe, "through").unwrap();
        let kind = std::fs::symlink_metadata(&pipe).unwrap().file_type();
        assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
        assert_eq!(reader.join().unwrap(), "through");
        // what is written where: the file behind a link, devices and standard output as
        // they are
        let real = std::fs::canonicalize(&file).unwrap();
        assert_eq!(write_target(&link), Ok(real));
        for special in ["/dev/null", "/dev/stdout", "/proc/self/fd/1"] {
            let p = Path::new(special);
            assert_eq!(write_target(p), Err(p.to_path_buf()), "{special}");
        }
    }
}
