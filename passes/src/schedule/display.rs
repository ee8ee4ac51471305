//! The printed form of a program (`nabla dump-ir --stage scheduled`): a two-layer MLP
//! with a mean-square loss prints as
//!
//! ```text
//! program f64: 9 buffers, 5 steps, arena 64 elements (512 bytes), 238 flops
//!   b0 = input x [7,2]
//!   b1 = param W1 [4,2]
//!   b2 = param b1 [4]
//!   b3 = param W2 [1,4]
//!   b4 = temp@0 [7,4] (%4)
//!   b5 = temp@32 [7,4] (%7)
//!   b6 = output u [7,1] (%8)
//!   b7 = temp@0 [7,1] (%9)
//!   b8 = output loss [1] (%10)
//!   s0 matmul 7x4x2: b4 = b0[0; 2,1] · b1[0; 1,2]
//!   s1 kernel [7,4]
//!     v0 = load b4[0; 4,1]
//!     v1 = load b2[0; 0,1]
//!     v2 = add v0 v1               ; %6
//!     v3 = tanh v2                 ; %7
//!     store b5[0; 4,1] = v3
//!   s2 matmul 7x1x4: b6 = b5[0; 4,1] · b3[0; 1,4]
//!   s3 kernel [7,1]
//!     v0 = load b6[0; 1,1]
//!     v1 = square v0               ; %9
//!     store b7[0; 1,1] = v1
//!   s4 mean axis 0 of b7[0; 1,1] [7,1] -> b8
//! ```
//!
//! An index map prints as `buf[offset; stride0,stride1,...]`; a matrix operand as
//! `buf[offset; row stride,column stride]` (so `b1[0; 1,2]` is `W1` transposed). A
//! product that adds to its result (a later term of a sum of products) prints `b9 += …`.
//! The `; %N` comments name the graph node each value computes.

use super::{Affine, BufKind, Buffer, Expr, Kernel, Matrix, Program, Step};
use std::fmt;

impl fmt::Display for Affine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self.strides.iter().map(|s| s.to_string()).collect();
        write!(f, "[{}; {}]", self.offset, s.join(","))
    }
}

impl fmt::Display for super::BufId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}", self.0)
    }
}

impl fmt::Display for super::Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl fmt::Display for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BufKind::Input(n) => write!(f, "input {n} {}", self.shape),
            BufKind::Param(n) => write!(f, "param {n} {}", self.shape),
            BufKind::Const(_) => write!(f, "const {} ({})", self.shape, self.node),
            BufKind::Temp { offset } => write!(f, "temp@{offset} {} ({})", self.shape, self.node),
            BufKind::Output(n) => write!(f, "output {n} {} ({})", self.shape, self.node),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Load { buf, map } => write!(f, "load {buf}{map}"),
            Expr::Const(c) => write!(f, "const {c:?}"),
            Expr::Unary(u, a) => write!(f, "{} {a}", u.name()),
            Expr::Powi(n, a) => write!(f, "powi<{n}> {a}"),
            Expr::Binary(b, x, y) => write!(f, "{} {x} {y}", b.name()),
        }
    }
}

fn kernel(f: &mut fmt::Formatter<'_>, k: &Kernel) -> fmt::Result {
    writeln!(f, "kernel {}", k.shape)?;
    for (i, (e, n)) in k.body.iter().zip(&k.nodes).enumerate() {
        let line = format!("    v{i} = {e}");
        match n {
            Some(n) => writeln!(f, "{line:<32} ; {n}")?,
            None => writeln!(f, "{line}")?,
        }
    }
    for s in &k.stores {
        writeln!(f, "    store {}{} = {}", s.buf, s.map, s.value)?;
    }
    Ok(())
}

fn matrix(m: &Matrix) -> String {
    format!("{}[{}; {},{}]", m.buf, m.offset, m.rs, m.cs)
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Kernel(k) => kernel(f, k),
            Step::Reduce(r) => {
                let what = if r.mean { "mean" } else { "sum" };
                writeln!(
                    f,
                    "{what} axis {} of {}{} {} -> {}",
                    r.axis, r.src, r.map, r.shape, r.dst
                )
            }
            Step::MatMul(m) => writeln!(
                f,
                "matmul {}x{}x{}: {} {} {} · {}",
                m.m,
                m.n,
                m.k,
                m.dst,
                if m.accumulate { "+=" } else { "=" },
                matrix(&m.a),
                matrix(&m.b)
            ),
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "program {}: {} buffers, {} steps, arena {} elements ({} bytes), {} flops",
            self.dtype,
            self.buffers.len(),
            self.steps.len(),
            self.arena_len,
            self.peak_bytes(),
            self.flops()
        )?;
        for (i, b) in self.buffers.iter().enumerate() {
            writeln!(f, "  b{i} = {b}")?;
        }
        for (i, s) in self.steps.iter().enumerate() {
            write!(f, "  s{i} {s}")?;
        }
        Ok(())
    }
}
