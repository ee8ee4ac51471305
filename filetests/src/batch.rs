//! OpenCL runs in batches. Building a program costs about a second on PoCL (the OpenCL
//! compiler's start-up), whatever its size, and nearly all of a file's OpenCL time: so
//! the `opencl` target compiles the graphs of every `test run` file of a folder that
//! lists it as one program per dtype ([`merge`]: leaves and outputs renamed
//! `<file stem>/<name>`), and each file reads its own outputs back ([`split`]). The
//! merged graph is scheduled as a whole, so kernels of different files may fuse; values
//! must not change, and when a batched file differs, its message says whether it also
//! differs alone.
//!
//! A batch that fails to build or run is not any one file's failure: each file then runs
//! alone and reports its own error.

use crate::file::{Kind, TestFile};
use crate::targets::{self, Target};
use crate::values::Outputs;
use nabla_ir::interp::Env;
use nabla_ir::{text, verify, DType, Graph, NodeId, Op};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The outputs of every file of one batch by file stem, or why the batch failed.
type Results = Result<HashMap<String, Outputs>, String>;

/// One batch, built by the first file that needs it.
type Cell = Arc<OnceLock<Results>>;

/// The outputs of the file at `path` from its folder's batch in `dtype`; `None` when the
/// file is not in the batch (it does not parse or bind) or the batch failed.
pub fn opencl(path: &Path, dtype: DType) -> Option<Outputs> {
    let dir = path.parent()?.to_path_buf();
    let stem = path.file_stem()?.to_string_lossy().to_string();
    let batch = cell(&dir, dtype);
    let results = batch.get_or_init(|| run_folder(&dir, dtype));
    results.as_ref().ok()?.get(&stem).cloned()
}

/// The batch of `dir` in `dtype`, shared by the tests of its files (which run on
/// several threads).
fn cell(dir: &Path, dtype: DType) -> Cell {
    static BATCHES: Mutex<Vec<((PathBuf, DType), Cell)>> = Mutex::new(Vec::new());
    let mut all = BATCHES.lock().unwrap_or_else(|e| e.into_inner());
    let key = (dir.to_path_buf(), dtype);
    if let Some((_, c)) = all.iter().find(|(k, _)| *k == key) {
        return c.clone();
    }
    let c = Cell::default();
    all.push((key, c.clone()));
    c
}

/// Builds and runs one program of every batchable file of `dir`.
fn run_folder(dir: &Path, dtype: DType) -> Results {
    let members = members(dir, dtype);
    let parts: Vec<(String, &Graph, &Env)> =
        members.iter().map(|(s, g, e)| (s.clone(), g, e)).collect();
    let (g, env) = merge(&parts);
    let outs = targets::opencl(&g, &env, dtype)?;
    Ok(members
        .iter()
        .map(|(stem, _, _)| (stem.clone(), split(&outs, stem)))
        .collect())
}

/// The `test run ... opencl` files of `dir` that run in `dtype` (see
/// `targets::opencl_dtype`) and whose graph parses,
/// binds and has no derivative operators, with their stems.
fn members(dir: &Path, dtype: DType) -> Vec<(String, Graph, Env)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ir"))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| member(p, dtype)).collect()
}

fn member(path: &Path, dtype: DType) -> Option<(String, Graph, Env)> {
    let f = TestFile::parse(&std::fs::read_to_string(path).ok()?).ok()?;
    let h = &f.header;
    if h.kind != Kind::Run || !h.targets.contains(&Target::OpenCl) {
        return None;
    }
    let precision = crate::subtest::precision(f.setting("precision")).ok()?;
    if targets::opencl_dtype(precision).ok()? != Some(dtype) {
        return None;
    }
    let g = text::parse(&f.input).ok()?;
    let env = f.bindings(&g).ok()?;
    if verify(&g).ok()?.has_derivatives() {
        return None;
    }
    Some((path.file_stem()?.to_string_lossy().to_string(), g, env))
}

/// One graph of derivative-free `parts`, each with its leaves and outputs renamed
/// `<prefix>/<name>` so that they stay apart (equal constants and ops on them are shared
/// by hash-consing, which changes no value), and the bindings renamed to match.
pub fn merge(parts: &[(String, &Graph, &Env)]) -> (Graph, Env) {
    let mut out = Graph::new();
    let mut env = Env::new();
    for (prefix, g, e) in parts {
        let mut ids: Vec<NodeId> = Vec::with_capacity(g.len());
        for id in g.ids() {
            let node = g.node(id);
            let args: Vec<NodeId> = node.args.iter().map(|a| ids[a.index()]).collect();
            let op = renamed(&node.op, prefix);
            ids.push(out.add(op, &args).expect("a verified graph's node"));
        }
        for (name, id) in g.outputs() {
            out.set_output(&format!("{prefix}/{name}"), ids[id.index()]);
        }
        env.extend(e.iter().map(|(n, t)| (format!("{prefix}/{n}"), t.clone())));
    }
    (out, env)
}

/// `op` with a leaf's name prefixed.
fn renamed(op: &Op, prefix: &str) -> Op {
    match op.clone() {
        Op::Input { name, dtype, shape } => Op::Input {
            name: format!("{prefix}/{name}"),
            dtype,
            shape,
        },
        Op::Param { name, dtype, shape } => Op::Param {
            name: format!("{prefix}/{name}"),
            dtype,
            shape,
        },
        op => op,
    }
}

/// The outputs named `<prefix>/...` of a merged run, without the prefix, in order.
pub fn split(outs: &Outputs, prefix: &str) -> Outputs {
    let p = format!("{prefix}/");
    outs.iter()
        .filter_map(|(n, v)| Some((n.strip_prefix(&p)?.to_string(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_ir::Tensor;

    /// Two graphs with the same leaf and output names and a shared constant: the merged
    /// graph keeps them apart and gives each its own values on the interpreter.
    #[test]
    fn merged_graphs_keep_their_values_apart() {
        let a = text::parse(
            "%0 = input \"x\" : f64[2]\n%1 = const 2.0 : f64[]\n%2 = broadcast %1 : f64[2]\n\
             %3 = mul %0, %2 : f64[2]\noutput \"y\" = %3\n",
        )
        .unwrap();
        let b = text::parse(
            "%0 = input \"x\" : f64[2]\n%1 = const 2.0 : f64[]\n%2 = broadcast %1 : f64[2]\n\
             %3 = add %0, %2 : f64[2]\noutput \"y\" = %3\noutput \"x\" = %0\n",
        )
        .unwrap();
        let env = |v: Vec<f64>| {
            Env::from([("x".to_string(), Tensor::new(nabla_ir::Shape::new(&[2]), v))])
        };
        let (ea, eb) = (env(vec![1.0, 2.0]), env(vec![10.0, 20.0]));
        let (g, e) = merge(&[("a".into(), &a, &ea), ("b".into(), &b, &eb)]);
        let outs = targets::interp(&g, &e, DType::F64).unwrap();
        assert_eq!(split(&outs, "a"), [("y".to_string(), vec![2.0, 4.0])]);
        let want_b = [
            ("y".to_string(), vec![12.0, 22.0]),
            ("x".to_string(), vec![10.0, 20.0]),
        ];
        assert_eq!(split(&outs, "b"), want_b);
        assert_eq!(g.len(), 6, "the constant and its broadcast are shared");
    }
}
