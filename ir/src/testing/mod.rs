//! Test support shared by every crate's tests (feature `testing`): one seeded generator,
//! leaf and value helpers, a standard tanh MLP, and random well-typed graphs.
//!
//! - [`Rng`]: SplitMix64, the one generator of test values, so tests need no random crate
//!   and a failing case is reproduced by its seed.
//! - [`input`], [`param`], [`leaf`]: f64 leaves as tests write them.
//! - [`values`], [`leaf_env`]: deterministic values for leaves.
//! - [`mlp`]: the project's MLP convention (`x: [N, d]`, layer `l` is `act(x·Wᵀ + b)` with
//!   `W: [out, in]`, `b: [out]`, tanh hidden layers, a linear last layer).
//! - [`random_graph`] and [`random_env`]: random graphs that verify, and values for them.
//!
//! Another crate's tests use it through a dev-dependency with the feature on:
//! `nabla-ir = { workspace = true, features = ["testing"] }`.
//!
//! ```
//! use nabla_ir::testing::{random_env, random_graph, GenOptions, Rng};
//! use nabla_ir::{interp, verify, DType};
//!
//! let mut rng = Rng::new(7);
//! let g = random_graph(&mut rng, &GenOptions::default());
//! verify(&g).unwrap();
//! let env = random_env(&g, &mut rng);
//! let outs = interp::eval_outputs(&g, &env, DType::F64).unwrap();
//! assert_eq!(outs.len(), g.outputs().len());
//! ```

mod mlp;
mod random;

pub use mlp::{mlp, mlp_named, Mlp};
pub use random::{random_env, random_graph, GenOptions};

use crate::graph::{Graph, NodeId};
use crate::interp::Env;
use crate::op::{BinOp, Op, UnOp};
use crate::tensor::Tensor;
use crate::types::{DType, Shape};

/// A small deterministic generator (SplitMix64). The field is the state: `Rng(seed)` and
/// `Rng::new(seed)` start the same sequence.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator from its seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A uniform value in `[0, 1)`: the top 53 bits of [`Rng::next_u64`].
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform value in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniformly chosen element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    /// `n` values uniform in `[lo, hi)`.
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }

    /// A tensor of shape `dims` with values uniform in `[lo, hi)`.
    pub fn tensor(&mut self, dims: &[usize], lo: f64, hi: f64) -> Tensor {
        let shape = Shape::new(dims);
        let data = self.vec(shape.numel(), lo, hi);
        Tensor::new(shape, data)
    }
}

/// `n` values uniform in `[lo, hi)` from a generator seeded with `seed`: a fill that
/// differs per leaf when each leaf gets its own seed.
pub fn values(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    Rng::new(seed).vec(n, lo, hi)
}

/// An f64 `input` leaf of shape `dims`.
pub fn input(g: &mut Graph, name: &str, dims: &[usize]) -> NodeId {
    leaf(g, name, dims, false)
}

/// An f64 `param` leaf of shape `dims`.
pub fn param(g: &mut Graph, name: &str, dims: &[usize]) -> NodeId {
    leaf(g, name, dims, true)
}

/// An f64 `param` leaf when `param` is set, else an `input` leaf.
pub fn leaf(g: &mut Graph, name: &str, dims: &[usize], param: bool) -> NodeId {
    let (name, dtype, shape) = (name.to_string(), DType::F64, Shape::new(dims));
    let op = match param {
        true => Op::Param { name, dtype, shape },
        false => Op::Input { name, dtype, shape },
    };
    g.add_or_panic(op, &[])
}

/// `Σᵢ sin(xᵢ) + Σᵢ sin(xᵢ)·xᵢ` over `n` inputs `x0 … x{n-1}` of shape `[rows, 1]`, output
/// `total`: a long sum whose terms are used again after it, as a high-dimensional
/// right-hand side uses every coordinate in several sums (one fused kernel would keep
/// all `n` sines alive to its end).
pub fn sums_reusing_terms(n: usize, rows: usize) -> Graph {
    let mut g = Graph::new();
    let xs: Vec<_> = (0..n)
        .map(|i| input(&mut g, &format!("x{i}"), &[rows, 1]))
        .collect();
    let sines: Vec<_> = xs.iter().map(|&x| g.unary(UnOp::Sin, x)).collect();
    let mut total = sines[0];
    for &s in &sines[1..] {
        total = g.binary(BinOp::Add, total, s);
    }
    for (&s, &x) in sines.iter().zip(&xs) {
        let t = g.binary(BinOp::Mul, s, x);
        total = g.binary(BinOp::Add, total, t);
    }
    g.set_output("total", total);
    g
}

/// Values for every `input` and `param` leaf of `g`, in node order: `data(numel)` gives
/// each leaf's elements.
pub fn leaf_env(g: &Graph, mut data: impl FnMut(usize) -> Vec<f64>) -> Env {
    let mut env = Env::new();
    for id in g.ids() {
        if let Op::Input { name, shape, .. } | Op::Param { name, shape, .. } = g.op(id) {
            env.insert(
                name.clone(),
                Tensor::new(shape.clone(), data(shape.numel())),
            );
        }
    }
    env
}
