//! A plain f64 runner of scheduled programs: the meaning of a [`Program`], used to test
//! the scheduler against the graph interpreter and to tell scheduling bugs from code
//! generation bugs in the backends. It honours the memory plan (temporaries share one
//! arena), so a wrong plan shows up as wrong values.
//!
//! Test support: compiled only for this crate's tests and with the `testing` feature.

use super::{BufKind, Expr, Kernel, MatMul, Program, Reduce, Step};
use nabla_ir::Shape;
use std::collections::HashMap;

/// Runs `p` in f64 with leaves bound by name; returns the outputs in order.
/// Panics on a missing leaf or a wrong length (test helper).
pub fn run(p: &Program, leaves: &HashMap<String, Vec<f64>>) -> Vec<Vec<f64>> {
    let mut mem = Memory::new(p, leaves);
    for s in &p.steps {
        match s {
            Step::Kernel(k) => kernel(&mut mem, k),
            Step::Reduce(r) => reduce(&mut mem, r),
            Step::MatMul(m) => matmul(&mut mem, m),
        }
    }
    p.outputs
        .iter()
        .map(|(_, b)| mem.own[b.index()].clone())
        .collect()
}

/// Buffers: temporaries live in the arena, everything else in its own vector.
struct Memory<'p> {
    p: &'p Program,
    own: Vec<Vec<f64>>,
    arena: Vec<f64>,
}

impl<'p> Memory<'p> {
    fn new(p: &'p Program, leaves: &HashMap<String, Vec<f64>>) -> Memory<'p> {
        let own = p
            .buffers
            .iter()
            .map(|b| match &b.kind {
                BufKind::Input(n) | BufKind::Param(n) => {
                    let v = leaves[n].clone();
                    assert_eq!(v.len(), b.len(), "length of `{n}`");
                    v
                }
                BufKind::Const(c) => c.to_vec(),
                BufKind::Output(_) => vec![f64::NAN; b.len()],
                BufKind::Temp { .. } => Vec::new(),
            })
            .collect();
        Memory {
            p,
            own,
            arena: vec![f64::NAN; p.arena_len],
        }
    }

    fn get(&self, b: super::BufId, i: usize) -> f64 {
        match self.p.buffers[b.index()].kind {
            BufKind::Temp { offset } => {
                assert!(i < self.p.buffers[b.index()].len());
                self.arena[offset + i]
            }
            _ => self.own[b.index()][i],
        }
    }

    fn set(&mut self, b: super::BufId, i: usize, v: f64) {
        match self.p.buffers[b.index()].kind {
            BufKind::Temp { offset } => {
                assert!(i < self.p.buffers[b.index()].len());
                self.arena[offset + i] = v;
            }
            _ => self.own[b.index()][i] = v,
        }
    }
}

/// Every index of `shape` in row-major order.
fn indices(shape: &Shape) -> impl Iterator<Item = Vec<usize>> + '_ {
    let dims = shape.dims();
    (0..shape.numel()).map(move |mut flat| {
        let mut idx = vec![0; dims.len()];
        for k in (0..dims.len()).rev() {
            idx[k] = flat % dims[k];
            flat /= dims[k];
        }
        idx
    })
}

fn kernel(mem: &mut Memory<'_>, k: &Kernel) {
    let mut vals = vec![0.0; k.body.len()];
    for idx in indices(&k.shape) {
        for (i, e) in k.body.iter().enumerate() {
            vals[i] = match e {
                Expr::Load { buf, map } => mem.get(*buf, map.at(&idx)),
                Expr::Const(c) => *c,
                Expr::Unary(u, a) => u.eval(vals[a.index()]),
                Expr::Powi(n, a) => vals[a.index()].powi(*n),
                Expr::Binary(b, x, y) => b.eval(vals[x.index()], vals[y.index()]),
            };
        }
        for s in &k.stores {
            mem.set(s.buf, s.map.at(&idx), vals[s.value.index()]);
        }
    }
}

fn reduce(mem: &mut Memory<'_>, r: &Reduce) {
    let n = r.shape.dims()[r.axis];
    let mut out = Shape::new(r.shape.dims());
    out.0.remove(r.axis);
    for (o, idx) in indices(&out).enumerate() {
        let mut acc = 0.0;
        let mut full = idx.clone();
        full.insert(r.axis, 0);
        for j in 0..n {
            full[r.axis] = j;
            acc += mem.get(r.src, r.map.at(&full));
        }
        mem.set(r.dst, o, if r.mean { acc / n as f64 } else { acc });
    }
}

fn matmul(mem: &mut Memory<'_>, m: &MatMul) {
    for i in 0..m.m {
        for j in 0..m.n {
            let mut acc = 0.0;
            for p in 0..m.k {
                let a = mem.get(m.a.buf, m.a.offset + i * m.a.rs + p * m.a.cs);
                let b = mem.get(m.b.buf, m.b.offset + p * m.b.rs + j * m.b.cs);
                acc += a * b;
            }
            let sum = if m.accumulate {
                mem.get(m.dst, i * m.n + j) + acc
            } else {
                acc
            };
            mem.set(m.dst, i * m.n + j, sum);
        }
    }
}
