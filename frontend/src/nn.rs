//! Multi-layer perceptrons with reproducible initialisation.
//!
//! Layout: layer `l` has `W: [out, in]` (one row per output unit) and `b: [out]`, named
//! `{net}.{l}.W` and `{net}.{l}.b`. A layer computes `x · Wᵀ + b` for points `x: [N, in]`;
//! the activation follows every layer but the last.
//!
//! Initialisation: Glorot-normal weights (`σ = √(2 / (fan_in + fan_out))`) and zero biases.
//! The normal samples come from [`Rng`]: SplitMix64 seeded with the net's seed, turned into
//! normals by the Box–Muller transform (one normal per two uniforms, cosine branch). Layers
//! draw in order, each `W` row-major. This generator is specified here rather than taken
//! from a crate so that the same weights can be reproduced bit for bit by any other
//! program (the peer benchmarks regenerate them in Python) and never change with a
//! dependency's version.

use crate::dsl::{concat, Builder, Var};
use nabla_ir::{Shape, Tensor, UnOp};

/// An activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Act {
    /// `tanh`
    Tanh,
    /// `sin`
    Sin,
    /// `sigmoid`
    Sigmoid,
    /// `softplus`
    Softplus,
    /// `silu`
    Silu,
    /// `gelu` (tanh form)
    Gelu,
}

impl Act {
    /// Every activation.
    pub const ALL: [Act; 6] = [
        Act::Tanh,
        Act::Sin,
        Act::Sigmoid,
        Act::Softplus,
        Act::Silu,
        Act::Gelu,
    ];

    /// The elementwise op.
    pub fn unop(self) -> UnOp {
        match self {
            Act::Tanh => UnOp::Tanh,
            Act::Sin => UnOp::Sin,
            Act::Sigmoid => UnOp::Sigmoid,
            Act::Softplus => UnOp::Softplus,
            Act::Silu => UnOp::Silu,
            Act::Gelu => UnOp::Gelu,
        }
    }

    /// Name as written in problem files.
    pub fn name(self) -> &'static str {
        self.unop().name()
    }

    /// The activation named `s`.
    pub fn from_name(s: &str) -> Option<Act> {
        Act::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// SplitMix64 with Box–Muller normals: the documented generator of initial weights.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal: `√(-2 ln(1 - u₁)) · cos(2π u₂)`.
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform();
        let u2 = self.uniform();
        (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// The architecture of an MLP: all widths, input first, output last.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    /// `[in, hidden..., out]`.
    pub widths: Vec<usize>,
    /// Activation after every layer but the last.
    pub act: Act,
}

/// One layer's initial values.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// `[out, in]`.
    pub w: Tensor,
    /// `[out]`.
    pub b: Tensor,
}

impl Mlp {
    /// An MLP with these widths (`[in, hidden..., out]`) and activation.
    ///
    /// # Panics
    ///
    /// With fewer than two widths or a width of 0 (a layer of no units makes the net
    /// constant): the widths are the program's own, not input data.
    pub fn new(widths: &[usize], act: Act) -> Mlp {
        assert!(
            widths.len() >= 2,
            "an MLP needs input and output widths, got {widths:?}"
        );
        assert!(
            widths.iter().all(|&w| w > 0),
            "an MLP's widths must be positive, got {widths:?}"
        );
        Mlp {
            widths: widths.to_vec(),
            act,
        }
    }

    /// Number of layers (weight matrices).
    pub fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// Total number of trainable values.
    pub fn num_params(&self) -> usize {
        self.widths.windows(2).map(|w| w[1] * w[0] + w[1]).sum()
    }

    /// Glorot-normal weights and zero biases from `seed` (see the module docs).
    pub fn init(&self, seed: u64) -> Vec<Layer> {
        let mut rng = Rng::new(seed);
        self.widths
            .windows(2)
            .map(|w| {
                let (fan_in, fan_out) = (w[0], w[1]);
                let sigma = (2.0 / (fan_in + fan_out) as f64).sqrt();
                let data = (0..fan_in * fan_out)
                    .map(|_| sigma * rng.normal())
                    .collect();
                Layer {
                    w: Tensor::new(Shape::matrix(fan_out, fan_in), data),
                    b: Tensor::new(Shape::new(&[fan_out]), vec![0.0; fan_out]),
                }
            })
            .collect()
    }

    /// Declares the parameters `{name}.{l}.W`, `{name}.{l}.b` initialised from `seed`.
    pub fn params<'g>(&self, b: &'g Builder, name: &str, seed: u64) -> MlpParams<'g> {
        let layers = self
            .init(seed)
            .into_iter()
            .enumerate()
            .map(|(l, layer)| {
                let w = b.param(&format!("{name}.{l}.W"), layer.w);
                let bias = b.param(&format!("{name}.{l}.b"), layer.b);
                (w, bias)
            })
            .collect();
        MlpParams {
            layers,
            act: self.act,
        }
    }
}

/// An MLP's parameters in a graph; apply it to points with [`MlpParams::apply`].
#[derive(Clone)]
pub struct MlpParams<'g> {
    /// `(W, b)` per layer.
    pub layers: Vec<(Var<'g>, Var<'g>)>,
    /// The activation.
    pub act: Act,
}

impl<'g> MlpParams<'g> {
    /// The network at points `x: [N, in]`: `[N, out]`.
    pub fn apply(&self, x: Var<'g>) -> Var<'g> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (l, &(w, b)) in self.layers.iter().enumerate() {
            h = h.matmul(w, false, true) + b;
            if l < last {
                h = h.builder().add(
                    nabla_ir::Op::Unary(self.act.unop()),
                    &[h.id()],
                    "activation",
                );
            }
        }
        h
    }

    /// The network at the point whose coordinates are the columns `xs` (each `[N, 1]`).
    pub fn apply_to(&self, xs: &[Var<'g>]) -> Var<'g> {
        self.apply(concat(xs, 1))
    }

    /// Every parameter, layer by layer (`W` then `b`).
    pub fn vars(&self) -> Vec<Var<'g>> {
        self.layers.iter().flat_map(|&(w, b)| [w, b]).collect()
    }
}

impl<'g> crate::dsl::AsVars<'g> for MlpParams<'g> {
    fn as_vars(&self) -> Vec<Var<'g>> {
        self.vars()
    }
}
