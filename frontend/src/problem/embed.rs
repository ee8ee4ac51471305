//! Input embeddings: how a net's arguments become its first layer's features.
//!
//! - **Periodic** (`mlp(..., periodic = [v])`): an argument `v` with interval `[a, b]` enters
//!   as the two features `cos θ`, `sin θ` with `θ = 2π(v − a)/(b − a)`, so the network is
//!   exactly periodic in `v` with period `b − a` — no residual has to ask for it.
//! - **Random Fourier features** (`mlp(..., fourier = M, sigma = S)`, Tancik et al. 2020,
//!   Wang et al. 2021): after any periodic embedding the `d` features `z` become
//!   `[cos(2π B z), sin(2π B z)]` (2M features, all cosines first) with `B` an `M × d`
//!   matrix of `N(0, S²)` entries drawn from the net's seed and fixed during training. A
//!   plain MLP learns low frequencies first and very high ones hardly at all (spectral bias);
//!   the embedding hands it frequencies of scale `S` from the start.
//!
//! Both are ordinary traced arithmetic (a constant matrix product, `cos`, `sin`), so they
//! appear in `dump-ir` and are differentiated like everything else.

use super::NetDecl;
use crate::dsl::{concat, Var};
use crate::nn::Rng;
use nabla_ir::{Shape, Tensor};
use std::f64::consts::PI;

/// How a net's arguments become features (no embedding by default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embedding {
    /// Arguments made exactly periodic, in argument order.
    pub periodic: Vec<Periodic>,
    /// Random Fourier features of the (periodic-embedded) arguments.
    pub fourier: Option<Fourier>,
}

/// One periodic argument: position among the net's arguments and its interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Periodic {
    /// Position of the argument in the net's argument list.
    pub arg: usize,
    /// The interval's lower end `a`.
    pub lo: f64,
    /// The interval's upper end `b` (the period is `b − a`).
    pub hi: f64,
}

/// Random Fourier features.
#[derive(Clone, Debug, PartialEq)]
pub struct Fourier {
    /// Number of frequencies `M` (2M features).
    pub m: usize,
    /// Standard deviation `S` of `B`'s entries.
    pub sigma: f64,
    /// `B` (`[M, d]`) when given (read from `params.json`); `None`: drawn from the seed.
    pub b: Option<Tensor>,
}

/// Seeds `B`'s stream apart from the weights' stream of the same net seed.
const FOURIER_STREAM: u64 = 0xF000_0000_0F0F_F0F0;

impl Embedding {
    /// Features after the periodic embedding of `args` arguments (before Fourier).
    pub fn periodic_width(&self, args: usize) -> usize {
        args + self.periodic.len()
    }

    /// The first layer's input width for `args` arguments.
    pub fn width(&self, args: usize) -> usize {
        match &self.fourier {
            Some(f) => 2 * f.m,
            None => self.periodic_width(args),
        }
    }
}

impl NetDecl {
    /// `B` of the net's Fourier features (`[M, d]`): the one given, or drawn from the
    /// net's seed (`N(0, S²)` entries, row-major, from the SplitMix64/Box–Muller generator
    /// of [`crate::nn`] seeded with `seed ^ 0xF000_0000_0F0F_F0F0`). `None` without
    /// Fourier features.
    pub fn fourier_matrix(&self) -> Option<Tensor> {
        let f = self.embed.fourier.as_ref()?;
        if let Some(b) = &f.b {
            return Some(b.clone());
        }
        let d = self.embed.periodic_width(self.args.len());
        let mut rng = Rng::new(self.seed ^ FOURIER_STREAM);
        let data = (0..f.m * d).map(|_| f.sigma * rng.normal()).collect();
        Some(Tensor::new(Shape::matrix(f.m, d), data))
    }
}

/// The first layer's input (`[N, width]`) for the net at `args` (each `[N, 1]`).
pub(super) fn features<'g>(net: &NetDecl, args: &[Var<'g>]) -> Var<'g> {
    let mut cols = Vec::with_capacity(net.embed.periodic_width(args.len()));
    for (i, &v) in args.iter().enumerate() {
        match net.embed.periodic.iter().find(|p| p.arg == i) {
            Some(p) => {
                // θ = 2π(v − a)/(b − a): one period of cos and sin over [a, b].
                let theta = (v - p.lo) * (2.0 * PI / (p.hi - p.lo));
                cols.push(theta.cos());
                cols.push(theta.sin());
            }
            None => cols.push(v),
        }
    }
    let z = concat(&cols, 1);
    let Some(b) = net.fourier_matrix() else {
        return z;
    };
    // 2π B z for every point at once: z [N, d] times (2πB)ᵀ [d, M].
    let two_pi_b = Tensor::new(
        b.shape.clone(),
        b.data.iter().map(|x| 2.0 * PI * x).collect(),
    );
    let p = z.matmul(z.builder().tensor(&two_pi_b), false, true);
    concat(&[p.cos(), p.sin()], 1)
}
