//! The reference interpreter: the meaning of the IR.
//!
//! Plain f64, node by node in id order, no optimisation. Every pass, backend and derivative
//! method is tested against it. With [`DType::F32`] every intermediate is rounded to f32,
//! which models (not reproduces bit for bit) a single-precision run.

use crate::graph::{Graph, NodeId};
use crate::op::{Op, UnOp};
use crate::tensor::Tensor;
use crate::types::{DType, Shape};
use std::collections::HashMap;

/// Values bound to `input` and `param` leaves, by name.
pub type Env = HashMap<String, Tensor>;

/// Why evaluation failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InterpError {
    /// A leaf with no value in the environment.
    #[error("no value given for {kind} `{name}` ({node})")]
    Missing {
        /// `input` or `param`.
        kind: &'static str,
        /// The leaf's name.
        name: String,
        /// The leaf.
        node: NodeId,
    },
    /// A value of the wrong shape.
    #[error("`{name}` ({node}) expects shape {expected}, found {found}")]
    WrongShape {
        /// The leaf's name.
        name: String,
        /// The leaf.
        node: NodeId,
        /// The leaf's shape.
        expected: Shape,
        /// The given shape.
        found: Shape,
    },
    /// A root that is not a node of the graph.
    #[error("{node} is not a node of this graph ({len} nodes)")]
    UnknownRoot {
        /// The root asked for.
        node: NodeId,
        /// Number of nodes in the graph.
        len: usize,
    },
    /// A derivative operator or bound variable: expand with `passes::ad` first.
    #[error("{node} is `{op}`, which must be expanded by the AD pass before evaluation")]
    Unexpanded {
        /// The node.
        node: NodeId,
        /// Its mnemonic.
        op: &'static str,
    },
}

/// Evaluates `roots` with leaves bound from `env`, in f64 (or rounding to f32).
///
/// The graph must verify (every graph built by [`Graph::add`] or [`crate::text::parse`]
/// does); leaves missing from `env` or bound to a tensor of another shape are errors.
pub fn eval(
    g: &Graph,
    roots: &[NodeId],
    env: &Env,
    prec: DType,
) -> Result<Vec<Tensor>, InterpError> {
    if let Some(&node) = roots.iter().find(|r| r.index() >= g.len()) {
        return Err(InterpError::UnknownRoot { node, len: g.len() });
    }
    let live = g.live(roots);
    let mut vals: Vec<Option<Tensor>> = vec![None; g.len()];
    for id in g.ids().filter(|i| live[i.index()]) {
        let mut t = eval_node(g, id, &vals, env)?;
        if prec == DType::F32 {
            t.round_f32();
        }
        vals[id.index()] = Some(t);
    }
    Ok(roots
        .iter()
        .map(|r| vals[r.index()].clone().expect("root evaluated"))
        .collect())
}

/// Evaluates every named output, in order.
pub fn eval_outputs(
    g: &Graph,
    env: &Env,
    prec: DType,
) -> Result<Vec<(String, Tensor)>, InterpError> {
    let roots: Vec<NodeId> = g.outputs().iter().map(|o| o.1).collect();
    let vals = eval(g, &roots, env, prec)?;
    Ok(g.outputs().iter().map(|o| o.0.clone()).zip(vals).collect())
}

fn eval_node(
    g: &Graph,
    id: NodeId,
    vals: &[Option<Tensor>],
    env: &Env,
) -> Result<Tensor, InterpError> {
    let n = g.node(id);
    let arg = |i: usize| vals[n.args[i].index()].as_ref().expect("operand evaluated");
    let shape = n.ty.shape.clone();
    Ok(match &n.op {
        Op::Input { name, .. } => leaf(id, "input", name, &shape, env)?,
        Op::Param { name, .. } => leaf(id, "param", name, &shape, env)?,
        Op::Const { value, .. } => Tensor::scalar(value.get()),
        Op::Tensor { data, .. } => Tensor::new(shape, data.iter().map(|v| v.get()).collect()),
        Op::Unary(u) => map(arg(0), |x| u.eval(x)),
        Op::Powi(k) => map(arg(0), |x| x.powi(*k)),
        Op::Binary(b) => zip(arg(0), arg(1), |x, y| b.eval(x, y)),
        Op::Broadcast(to) => broadcast(arg(0), to),
        Op::Reshape(to) => Tensor::new(to.clone(), arg(0).data.clone()),
        Op::Sum(axis) => reduce(arg(0), *axis as usize, false),
        Op::Mean(axis) => reduce(arg(0), *axis as usize, true),
        Op::MatMul { ta, tb } => matmul(arg(0), arg(1), *ta, *tb),
        Op::Slice { axis, start, len } => {
            slice(arg(0), *axis as usize, *start as usize, *len as usize)
        }
        Op::Concat(axis) => {
            let parts: Vec<&Tensor> = (0..n.args.len()).map(arg).collect();
            concat(&parts, *axis as usize, shape)
        }
        Op::Bound { .. }
        | Op::Diff { .. }
        | Op::Laplacian { .. }
        | Op::Grad { .. }
        | Op::Jacobian { .. }
        | Op::At => {
            return Err(InterpError::Unexpanded {
                node: id,
                op: n.op.mnemonic(),
            })
        }
    })
}

fn leaf(
    node: NodeId,
    kind: &'static str,
    name: &str,
    shape: &Shape,
    env: &Env,
) -> Result<Tensor, InterpError> {
    let t = env.get(name).ok_or_else(|| InterpError::Missing {
        kind,
        name: name.into(),
        node,
    })?;
    if t.shape != *shape || t.data.len() != shape.numel() {
        return Err(InterpError::WrongShape {
            name: name.into(),
            node,
            expected: shape.clone(),
            found: t.shape.clone(),
        });
    }
    Ok(t.clone())
}

fn map(a: &Tensor, f: impl Fn(f64) -> f64) -> Tensor {
    Tensor::new(a.shape.clone(), a.data.iter().map(|&x| f(x)).collect())
}

fn zip(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
    let data = a.data.iter().zip(&b.data).map(|(&x, &y)| f(x, y)).collect();
    Tensor::new(a.shape.clone(), data)
}

/// NumPy broadcast: output index `i` reads the input at `i` with broadcast axes set to 0.
fn broadcast(a: &Tensor, to: &Shape) -> Tensor {
    let off = to.rank() - a.shape.rank();
    let in_strides = a.shape.strides();
    let out_strides = to.strides();
    let data = (0..to.numel())
        .map(|flat| {
            let mut src = 0;
            for (k, &d) in a.shape.dims().iter().enumerate() {
                let idx = (flat / out_strides[k + off]) % to.dims()[k + off];
                if d != 1 {
                    src += idx * in_strides[k];
                }
            }
            a.data[src]
        })
        .collect();
    Tensor::new(to.clone(), data)
}

/// Sum (or mean) over `axis`, removing it. Summation runs in index order from `+0.0`.
fn reduce(a: &Tensor, axis: usize, mean: bool) -> Tensor {
    let dims = a.shape.dims();
    let outer: usize = dims[..axis].iter().product();
    let n = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    let mut out = vec![0.0; outer * inner];
    for o in 0..outer {
        for k in 0..n {
            for i in 0..inner {
                out[o * inner + i] += a.data[(o * n + k) * inner + i];
            }
        }
    }
    if mean {
        out.iter_mut().for_each(|v| *v /= n as f64);
    }
    let mut shape = a.shape.clone();
    shape.0.remove(axis);
    Tensor::new(shape, out)
}

/// `op(a) · op(b)`; each entry accumulates from `+0.0` in index order, like `reduce` (so
/// an empty inner extent gives `+0.0`, as a C or JIT loop `acc = 0; acc += ...` does).
fn matmul(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Tensor {
    let (ar, ac) = (a.shape.dims()[0], a.shape.dims()[1]);
    let (br, bc) = (b.shape.dims()[0], b.shape.dims()[1]);
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let n = if tb { br } else { bc };
    let at = |i: usize, p: usize| {
        if ta {
            a.data[p * ac + i]
        } else {
            a.data[i * ac + p]
        }
    };
    let bt = |p: usize, j: usize| {
        if tb {
            b.data[j * bc + p]
        } else {
            b.data[p * bc + j]
        }
    };
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).fold(0.0, |acc, p| acc + at(i, p) * bt(p, j));
        }
    }
    Tensor::new(Shape::matrix(m, n), out)
}

fn slice(a: &Tensor, axis: usize, start: usize, len: usize) -> Tensor {
    let dims = a.shape.dims();
    let outer: usize = dims[..axis].iter().product();
    let n = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    let mut out = Vec::with_capacity(outer * len * inner);
    for o in 0..outer {
        let base = (o * n + start) * inner;
        out.extend_from_slice(&a.data[base..base + len * inner]);
    }
    let mut shape = a.shape.clone();
    shape.0[axis] = len;
    Tensor::new(shape, out)
}

fn concat(parts: &[&Tensor], axis: usize, shape: Shape) -> Tensor {
    let dims = shape.dims();
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product();
    let mut out = Vec::with_capacity(shape.numel());
    for o in 0..outer {
        for p in parts {
            let w = p.shape.dims()[axis] * inner;
            out.extend_from_slice(&p.data[o * w..(o + 1) * w]);
        }
    }
    Tensor::new(shape, out)
}

/// Whether a unary op's value at `x` is defined (used by tests to pick inputs).
pub fn in_domain(u: UnOp, x: f64) -> bool {
    match u {
        UnOp::Log | UnOp::Sqrt => x > 0.0,
        UnOp::Recip => x != 0.0,
        UnOp::Tan => x.cos().abs() > 1e-3,
        _ => true,
    }
}
