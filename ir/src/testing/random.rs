//! Random well-typed graphs and their input values.
//!
//! [`random_graph`] grows a graph through [`Graph::add`] only, so every graph it returns
//! verifies. Each step picks an op and operands whose types fit: elementwise ops (with
//! explicit broadcasts where shapes differ), `powi`, `broadcast`, `reshape`, `sum`/`mean`,
//! `matmul` with all four flag combinations, `slice`, `concat`, scalar and tensor
//! constants, and optionally the derivative operators with fresh levels and every method.
//! All randomness comes from one [`Rng`] seed, so a failing case is reproduced by its seed.

use crate::graph::{Graph, NodeId};
use crate::interp::Env;
use crate::op::{BinOp, Method, Num, Op, UnOp};
use crate::types::{DType, Shape};

use super::Rng;

/// What [`random_graph`] may build.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Number of construction steps (each adds one op, plus any broadcasts or guards).
    pub steps: usize,
    /// Include `diff`, `laplacian`, `grad`, `at` and `bound` (such graphs cannot be
    /// interpreted before `passes::ad`).
    pub derivatives: bool,
    /// Constants include ±0, ±inf, NaNs with payloads, subnormals and ±f64::MAX, and
    /// `powi` exponents include `i32::MIN`/`i32::MAX`.
    pub special_values: bool,
    /// Operands of `log`, `sqrt`, `recip`, `tan`, `exp`, `square`, `powi`, `div` and `pow`
    /// are first mapped into their domain (`1 + a²` or `tanh a`), so that values bound by
    /// [`random_env`] give finite results in all but very deep products.
    pub domain_safe: bool,
    /// The batch extent `N` of inputs (`[N, k]`).
    pub batch: usize,
    /// The element type; `None` picks one per graph.
    pub dtype: Option<DType>,
}

impl Default for GenOptions {
    /// Interpretable graphs with finite values: no derivative operators, no special
    /// constants, guarded domains, `N = 3`, f64.
    fn default() -> GenOptions {
        GenOptions {
            steps: 24,
            derivatives: false,
            special_values: false,
            domain_safe: true,
            batch: 3,
            dtype: Some(DType::F64),
        }
    }
}

impl GenOptions {
    /// Everything the text format must carry: derivative operators, special values,
    /// unguarded domains, both dtypes.
    pub fn everything() -> GenOptions {
        GenOptions {
            steps: 32,
            derivatives: true,
            special_values: true,
            domain_safe: false,
            batch: 3,
            dtype: None,
        }
    }
}

/// A random graph that verifies, with one to three outputs.
pub fn random_graph(rng: &mut Rng, opts: &GenOptions) -> Graph {
    let dtype = opts
        .dtype
        .unwrap_or_else(|| rng.pick(&[DType::F32, DType::F64]));
    let mut b = Builder {
        g: Graph::new(),
        rng,
        opts,
        dtype,
        names: 0,
    };
    b.seed_leaves();
    for _ in 0..opts.steps {
        b.step();
    }
    b.outputs();
    b.g
}

/// Values for every `input` and `param` leaf of `g`, uniform in `[-2, 2)`.
pub fn random_env(g: &Graph, rng: &mut Rng) -> Env {
    super::leaf_env(g, |n| rng.vec(n, -2.0, 2.0))
}

/// Values a special constant may take.
const SPECIAL: [f64; 16] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    1e-300,
    -1e-300,
    5e-324,
    f64::MIN_POSITIVE,
    1e300,
    f64::MAX,
    f64::MIN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    -1.0 / 3.0,
];

/// NaNs with a sign or payload that differ from [`f64::NAN`].
const ODD_NANS: [u64; 2] = [0xfff8_0000_0000_0000, 0x7ff0_0000_0000_0001];

/// The state of one generation.
struct Builder<'a> {
    g: Graph,
    rng: &'a mut Rng,
    opts: &'a GenOptions,
    dtype: DType,
    /// Counter for fresh leaf names.
    names: usize,
}

impl Builder<'_> {
    /// One or two inputs, a param and a constant, so that every op has operands.
    fn seed_leaves(&mut self) {
        for _ in 0..1 + self.rng.below(2) {
            let k = 1 + self.rng.below(2);
            self.input(Shape::matrix(self.opts.batch, k));
        }
        let s = self.small_shape();
        self.param(s);
        self.constant();
    }

    fn step(&mut self) {
        let kinds = if self.opts.derivatives { 15 } else { 11 };
        match self.rng.below(kinds) {
            0 => self.leaf(),
            1 | 2 => self.unary(),
            3 => self.powi(),
            4 | 5 => self.binary(),
            6 => self.broadcast(),
            7 => self.reshape(),
            8 => self.reduce(),
            9 => self.matmul(),
            10 => self.slice_or_concat(),
            _ => self.derivative(),
        };
    }

    /// Names one to three nodes, preferring late ones, as outputs.
    fn outputs(&mut self) {
        for i in 0..1 + self.rng.below(3) {
            let id = self.node();
            let name = self.fresh_name("y");
            self.g.set_output(&format!("{name}.{i}"), id);
        }
    }

    fn add(&mut self, op: Op, args: &[NodeId]) -> Option<NodeId> {
        self.g.add(op, args).ok()
    }

    /// A node, half the time one of the five latest (so graphs grow deep).
    fn node(&mut self) -> NodeId {
        let n = self.g.len();
        if self.rng.chance(0.5) {
            NodeId((n - 1 - self.rng.below(n.min(5))) as u32)
        } else {
            NodeId(self.rng.below(n) as u32)
        }
    }

    /// A node with a shape of rank at least 1.
    fn tensor_node(&mut self) -> Option<NodeId> {
        for _ in 0..8 {
            let id = self.node();
            if self.g.shape(id).rank() > 0 {
                return Some(id);
            }
        }
        None
    }

    /// The nodes whose shape satisfies `keep`.
    fn nodes_where(&self, keep: impl Fn(&Shape) -> bool) -> Vec<NodeId> {
        self.g.ids().filter(|&i| keep(self.g.shape(i))).collect()
    }

    fn small_shape(&mut self) -> Shape {
        let dims: Vec<usize> = (0..self.rng.below(3))
            .map(|_| 1 + self.rng.below(3))
            .collect();
        Shape::new(&dims)
    }

    /// A name no leaf has yet; with special values, sometimes with characters the text
    /// format must quote or escape.
    fn fresh_name(&mut self, prefix: &str) -> String {
        self.names += 1;
        let odd = ["a;b", "q\"", "s\\", "π", "new\nline", "", " "];
        match self.opts.special_values && self.rng.chance(0.2) {
            true => format!("{}{}", self.rng.pick(&odd), self.names),
            false => format!("{prefix}{}", self.names),
        }
    }

    fn leaf(&mut self) -> Option<NodeId> {
        match self.rng.below(4) {
            0 => {
                let k = 1 + self.rng.below(3);
                self.input(Shape::matrix(self.opts.batch, k))
            }
            1 => {
                let s = self.small_shape();
                self.param(s)
            }
            2 => self.constant(),
            _ => self.tensor(),
        }
    }

    fn input(&mut self, shape: Shape) -> Option<NodeId> {
        let name = self.fresh_name("x");
        let dtype = self.dtype;
        self.add(Op::Input { name, dtype, shape }, &[])
    }

    fn param(&mut self, shape: Shape) -> Option<NodeId> {
        let name = self.fresh_name("p");
        let dtype = self.dtype;
        self.add(Op::Param { name, dtype, shape }, &[])
    }

    fn value(&mut self) -> f64 {
        if !self.opts.special_values || self.rng.chance(0.6) {
            return self.rng.uniform(-3.0, 3.0);
        }
        if self.rng.chance(0.1) {
            return f64::from_bits(self.rng.pick(&ODD_NANS));
        }
        self.rng.pick(&SPECIAL)
    }

    fn constant(&mut self) -> Option<NodeId> {
        let value = Num::new(self.value());
        let dtype = self.dtype;
        self.add(Op::Const { value, dtype }, &[])
    }

    fn tensor(&mut self) -> Option<NodeId> {
        let shape = self.small_shape();
        let data = (0..shape.numel()).map(|_| Num::new(self.value())).collect();
        let dtype = self.dtype;
        self.add(Op::Tensor { data, dtype, shape }, &[])
    }

    /// `a` mapped into the domain of `u` when the options ask for it.
    fn guard(&mut self, u: UnOp, a: NodeId) -> Option<NodeId> {
        if !self.opts.domain_safe {
            return Some(a);
        }
        match u {
            UnOp::Log | UnOp::Sqrt | UnOp::Recip => self.positive(a),
            UnOp::Tan | UnOp::Exp | UnOp::Square => self.add(Op::Unary(UnOp::Tanh), &[a]),
            _ => Some(a),
        }
    }

    /// `1 + a²`, at least 1.
    fn positive(&mut self, a: NodeId) -> Option<NodeId> {
        let sq = self.add(Op::Unary(UnOp::Square), &[a])?;
        let one = self.add(
            Op::Const {
                value: Num::new(1.0),
                dtype: self.dtype,
            },
            &[],
        )?;
        let shape = self.g.shape(a).clone();
        let one = self.broadcast_to(one, &shape)?;
        self.add(Op::Binary(BinOp::Add), &[sq, one])
    }

    fn broadcast_to(&mut self, a: NodeId, shape: &Shape) -> Option<NodeId> {
        if self.g.shape(a) == shape {
            return Some(a);
        }
        self.add(Op::Broadcast(shape.clone()), &[a])
    }

    fn unary(&mut self) -> Option<NodeId> {
        let u = self.rng.pick(&UnOp::ALL);
        let a = self.node();
        let a = self.guard(u, a)?;
        self.add(Op::Unary(u), &[a])
    }

    fn powi(&mut self) -> Option<NodeId> {
        let n = if self.opts.special_values && self.rng.chance(0.1) {
            self.rng.pick(&[i32::MIN, i32::MAX, 0])
        } else {
            self.rng.below(7) as i32 - 3
        };
        let a = self.node();
        let a = self.guard(UnOp::Tanh, a)?;
        let a = if self.opts.domain_safe && n < 0 {
            self.positive(a)?
        } else {
            a
        };
        self.add(Op::Powi(n), &[a])
    }

    fn binary(&mut self) -> Option<NodeId> {
        let op = self.rng.pick(&BinOp::ALL);
        let (a, b) = (self.node(), self.node());
        let s = Shape::broadcast(self.g.shape(a), self.g.shape(b))?;
        let mut a = self.broadcast_to(a, &s)?;
        let mut b = self.broadcast_to(b, &s)?;
        if self.opts.domain_safe {
            match op {
                // a positive x keeps atan2 off its cut (a = 0, b ≤ 0)
                BinOp::Div | BinOp::Atan2 => b = self.positive(b)?,
                BinOp::Pow => {
                    a = self.positive(a)?;
                    b = self.add(Op::Unary(UnOp::Tanh), &[b])?;
                }
                BinOp::Add | BinOp::Sub | BinOp::Mul => {}
            }
        }
        self.add(Op::Binary(op), &[a, b])
    }

    /// A broadcast that stretches unit axes and may prepend one.
    fn broadcast(&mut self) -> Option<NodeId> {
        let a = self.node();
        let mut dims: Vec<usize> = self.g.shape(a).dims().to_vec();
        for d in dims.iter_mut().filter(|d| **d == 1) {
            *d = 1 + self.rng.below(3);
        }
        if dims.len() < 3 && self.rng.chance(0.5) {
            dims.insert(0, 1 + self.rng.below(3));
        }
        self.add(Op::Broadcast(Shape::new(&dims)), &[a])
    }

    /// A reshape to `[n]`, `[]`, `[1, n]`, `[n, 1]` or `[d, n/d]`.
    fn reshape(&mut self) -> Option<NodeId> {
        let a = self.node();
        let n = self.g.shape(a).numel();
        let d = 1 + self.rng.below(n.max(1));
        let to = match self.rng.below(4) {
            0 if n == 1 => Shape::scalar(),
            0 | 1 => Shape::new(&[n]),
            2 => Shape::matrix(1, n),
            _ if n.is_multiple_of(d) => Shape::matrix(d, n / d),
            _ => Shape::matrix(n, 1),
        };
        self.add(Op::Reshape(to), &[a])
    }

    fn reduce(&mut self) -> Option<NodeId> {
        let a = self.tensor_node()?;
        let axis = self.rng.below(self.g.shape(a).rank()) as u8;
        let op = if self.rng.chance(0.5) {
            Op::Sum(axis)
        } else {
            Op::Mean(axis)
        };
        self.add(op, &[a])
    }

    /// `op(a) · op(b)`: `b` is an existing matrix of fitting extent or a fresh param.
    fn matmul(&mut self) -> Option<NodeId> {
        let (ta, tb) = (self.rng.chance(0.5), self.rng.chance(0.5));
        let mats = self.nodes_where(|s| s.rank() == 2);
        if mats.is_empty() {
            return None;
        }
        let a = self.rng.pick(mats.as_slice());
        let k = self.g.shape(a).dims()[usize::from(!ta)];
        let b_axis = usize::from(tb);
        let fits = self.nodes_where(|s| s.rank() == 2 && s.dims()[b_axis] == k);
        let b = match self.rng.chance(0.5) && !fits.is_empty() {
            true => self.rng.pick(fits.as_slice()),
            false => {
                let other = 1 + self.rng.below(3);
                let dims = if tb { [other, k] } else { [k, other] };
                self.param(Shape::new(&dims))?
            }
        };
        self.add(Op::MatMul { ta, tb }, &[a, b])
    }

    fn slice_or_concat(&mut self) -> Option<NodeId> {
        let a = self.tensor_node()?;
        let shape = self.g.shape(a).clone();
        let axis = self.rng.below(shape.rank());
        if self.rng.chance(0.5) {
            let extent = shape.dims()[axis];
            let start = self.rng.below(extent);
            let len = 1 + self.rng.below(extent - start);
            let op = Op::Slice {
                axis: axis as u8,
                start: start as u32,
                len: len as u32,
            };
            return self.add(op, &[a]);
        }
        let same_rest = |s: &Shape| {
            s.rank() == shape.rank()
                && (0..s.rank()).all(|i| i == axis || s.dims()[i] == shape.dims()[i])
        };
        let parts = self.nodes_where(same_rest);
        let mut args = vec![a];
        for _ in 0..self.rng.below(3) {
            args.push(self.rng.pick(parts.as_slice()));
        }
        self.add(Op::Concat(axis as u8), &args)
    }

    fn method(&mut self) -> Method {
        match self.rng.below(8) {
            0 => Method::Auto,
            1 => Method::Forward,
            2 => Method::Taylor,
            3 => Method::Collapsed,
            4 => Method::Reverse,
            5 => Method::FiniteDiff(None),
            6 => Method::FiniteDiff(Some(Num::new(1e-4))),
            _ => Method::FiniteDiff(Some(Num::new(self.rng.uniform(1e-8, 1e-2)))),
        }
    }

    /// A variable leaf (input, param or bound), sometimes a fresh bound one.
    fn variable(&mut self) -> Option<NodeId> {
        let vars: Vec<NodeId> = self
            .g
            .ids()
            .filter(|&i| self.g.op(i).is_variable())
            .collect();
        if vars.is_empty() || self.rng.chance(0.2) {
            let level = self.g.fresh_level();
            let shape = self.small_shape();
            let dtype = self.dtype;
            return self.add(
                Op::Bound {
                    level,
                    index: 0,
                    dtype,
                    shape,
                },
                &[],
            );
        }
        Some(self.rng.pick(vars.as_slice()))
    }

    fn derivative(&mut self) -> Option<NodeId> {
        let f = self.node();
        let v = self.variable()?;
        match self.rng.below(4) {
            0 => {
                let (level, method) = (self.g.fresh_level(), self.method());
                let order = 1 + self.rng.below(4) as u8;
                self.add(
                    Op::Diff {
                        level,
                        order,
                        method,
                    },
                    &[f, v],
                )
            }
            1 => self.laplacian(f, v),
            2 => self.grad(f, v),
            _ => self.at(f, v),
        }
    }

    fn laplacian(&mut self, f: NodeId, v: NodeId) -> Option<NodeId> {
        let mut args = vec![f, v];
        for _ in 0..self.rng.below(3) {
            args.push(self.variable()?);
        }
        let (level, method) = (self.g.fresh_level(), self.method());
        self.add(Op::Laplacian { level, method }, &args)
    }

    /// `grad[loss, p]` with `loss` summed down to a scalar.
    fn grad(&mut self, f: NodeId, p: NodeId) -> Option<NodeId> {
        let mut loss = f;
        while self.g.shape(loss).rank() > 0 {
            loss = self.add(Op::Sum(0), &[loss])?;
        }
        let level = self.g.fresh_level();
        self.add(Op::Grad { level }, &[loss, p])
    }

    /// `at[f, v, a]` with `a` any node of `v`'s shape.
    fn at(&mut self, f: NodeId, v: NodeId) -> Option<NodeId> {
        let shape = self.g.shape(v).clone();
        let candidates = self.nodes_where(|s| *s == shape);
        let a = self.rng.pick(candidates.as_slice());
        self.add(Op::At, &[f, v, a])
    }
}
