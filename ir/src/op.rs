//! The closed set of operations.
//!
//! Every consumer of the IR (verifier, printer, parser, interpreter, AD rules, simplifier,
//! emitters) matches on [`Op`] exhaustively, so adding an operation is a compile error in
//! every place that must handle it.

use crate::types::{DType, Shape};
use std::fmt;
use std::sync::Arc;

/// An `f64` compared and hashed by its bits, so that constants can live in hash-consed
/// nodes. `0.0` and `-0.0` are different constants; every NaN payload is its own constant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Num(pub u64);

impl Num {
    /// Wraps a value.
    pub fn new(v: f64) -> Num {
        Num(v.to_bits())
    }
    /// The value.
    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl fmt::Debug for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.get())
    }
}

/// The tag of one derivative-operator instance. Every `diff`, `laplacian`, `grad` and
/// bound variable gets a fresh level from its graph; values created when that operator is
/// expanded belong to it. Two levels are never combined as one, which is what keeps nested
/// derivatives free of perturbation confusion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Level(pub u32);

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

/// How a derivative operator is to be expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// The compiler's choice (cost model).
    Auto,
    /// Nested forward mode (one JVP per derivative order).
    Forward,
    /// Univariate Taylor mode (jets), one jet per direction.
    Taylor,
    /// Collapsed Taylor mode (the Forward Laplacian): top coefficients summed over
    /// directions while propagating.
    Collapsed,
    /// Reverse mode over the point-separable graph (first order), forward over it beyond.
    Reverse,
    /// Central finite differences; `None` picks `eps^(1/(2+order))` of the dtype.
    FiniteDiff(Option<Num>),
}

impl Method {
    /// The exact methods, in the order `nabla bench` reports them.
    pub const EXACT: [Method; 5] = [
        Method::Auto,
        Method::Forward,
        Method::Taylor,
        Method::Collapsed,
        Method::Reverse,
    ];

    /// Name as printed (`auto`, `forward`, `taylor`, `collapsed`, `reverse`, `fd`, `fd=H`).
    pub fn name(self) -> String {
        match self {
            Method::Auto => "auto".into(),
            Method::Forward => "forward".into(),
            Method::Taylor => "taylor".into(),
            Method::Collapsed => "collapsed".into(),
            Method::Reverse => "reverse".into(),
            Method::FiniteDiff(None) => "fd".into(),
            Method::FiniteDiff(Some(h)) => format!("fd={:?}", h.get()),
        }
    }

    /// Parses what [`Method::name`] prints.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "auto" => Method::Auto,
            "forward" => Method::Forward,
            "taylor" => Method::Taylor,
            "collapsed" => Method::Collapsed,
            "reverse" => Method::Reverse,
            "fd" => Method::FiniteDiff(None),
            _ => {
                let h: f64 = s.strip_prefix("fd=")?.parse().ok()?;
                Method::FiniteDiff(Some(Num::new(h)))
            }
        })
    }
}

/// Elementwise functions of one operand. The result has the operand's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// natural logarithm
    Log,
    /// `sin x`
    Sin,
    /// `cos x`
    Cos,
    /// `tan x`
    Tan,
    /// `tanh x`
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `log(1 + e^x)`
    Softplus,
    /// `x · sigmoid(x)`
    Silu,
    /// `x · Φ(x)` in the tanh form: `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`
    Gelu,
    /// `√x`
    Sqrt,
    /// `|x|`
    Abs,
    /// `x²`
    Square,
    /// `1 / x`
    Recip,
    /// `sign x` (−1, 0 or 1; NaN stays NaN): the derivative of `abs`.
    Sign,
}

impl UnOp {
    /// Every unary op, for tests and tables.
    pub const ALL: [UnOp; 16] = [
        UnOp::Neg,
        UnOp::Exp,
        UnOp::Log,
        UnOp::Sin,
        UnOp::Cos,
        UnOp::Tan,
        UnOp::Tanh,
        UnOp::Sigmoid,
        UnOp::Softplus,
        UnOp::Silu,
        UnOp::Gelu,
        UnOp::Sqrt,
        UnOp::Abs,
        UnOp::Square,
        UnOp::Recip,
        UnOp::Sign,
    ];

    /// Name in the text format.
    pub fn name(self) -> &'static str {
        match self {
            UnOp::Neg => "neg",
            UnOp::Exp => "exp",
            UnOp::Log => "log",
            UnOp::Sin => "sin",
            UnOp::Cos => "cos",
            UnOp::Tan => "tan",
            UnOp::Tanh => "tanh",
            UnOp::Sigmoid => "sigmoid",
            UnOp::Softplus => "softplus",
            UnOp::Silu => "silu",
            UnOp::Gelu => "gelu",
            UnOp::Sqrt => "sqrt",
            UnOp::Abs => "abs",
            UnOp::Square => "square",
            UnOp::Recip => "recip",
            UnOp::Sign => "sign",
        }
    }

    /// The op named `s`, if any.
    pub fn from_name(s: &str) -> Option<UnOp> {
        UnOp::ALL.into_iter().find(|u| u.name() == s)
    }

    /// Applies the function to one value in f64: the reference semantics.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            UnOp::Neg => -x,
            UnOp::Exp => x.exp(),
            UnOp::Log => x.ln(),
            UnOp::Sin => x.sin(),
            UnOp::Cos => x.cos(),
            UnOp::Tan => x.tan(),
            UnOp::Tanh => x.tanh(),
            UnOp::Sigmoid => sigmoid(x),
            UnOp::Softplus => softplus(x),
            UnOp::Silu => x * sigmoid(x),
            UnOp::Gelu => gelu(x),
            UnOp::Sqrt => x.sqrt(),
            UnOp::Abs => x.abs(),
            UnOp::Square => x * x,
            UnOp::Recip => 1.0 / x,
            UnOp::Sign => sign(x),
        }
    }
}

/// `1 / (1 + e^-x)`, written to avoid overflow for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^x)` = `max(x, 0) + log1p(e^-|x|)`, stable for large |x|.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `√(2/π)`, the constant of the tanh form of GELU.
pub const GELU_C: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh form of GELU.
pub const GELU_A: f64 = 0.044_715;

/// GELU in its tanh form (the form JAX and PyTorch use with `approximate=True`).
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + (GELU_C * (x + GELU_A * x * x * x)).tanh())
}

/// `sign x`: −1, 0 or 1; NaN for NaN.
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

/// Elementwise functions of two operands of the same type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a · b`
    Mul,
    /// `a / b`
    Div,
    /// `a^b` as IEEE `pow`: for a negative base, exact when `b` is an integer, NaN otherwise
    Pow,
    /// `atan2(a, b)`: the angle of the point `(b, a)` in `(-π, π]` (`a` plays y, `b` x, as in
    /// C). Smooth away from the cut `a = 0, b ≤ 0`; polar coordinates and corner-singular
    /// solutions such as `r^(2/3) sin(2θ/3)` need it.
    Atan2,
}

impl BinOp {
    /// Every binary op.
    pub const ALL: [BinOp; 6] = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Pow,
        BinOp::Atan2,
    ];

    /// Name in the text format.
    pub fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::Div => "div",
            BinOp::Pow => "pow",
            BinOp::Atan2 => "atan2",
        }
    }

    /// The op named `s`, if any.
    pub fn from_name(s: &str) -> Option<BinOp> {
        BinOp::ALL.into_iter().find(|b| b.name() == s)
    }

    /// Applies the function in f64: the reference semantics.
    pub fn eval(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => a.powf(b),
            BinOp::Atan2 => a.atan2(b),
        }
    }
}

/// Dense tensor data of a constant, row-major, hashed by bits.
pub type Data = Arc<[Num]>;

/// One operation. Operands live in the node ([`crate::Node::args`]), in the order given
/// under each variant.
///
/// `Ord` is the derived order (variant, then attributes, then nothing else: operands are not
/// part of an `Op`); the simplifier's e-nodes use it to order nodes of one kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    // ---- leaves (no operands) ----
    /// Collocation-point coordinates or other per-point data, bound by name at run time.
    Input {
        /// Name the runtime binds.
        name: String,
        /// Element type.
        dtype: DType,
        /// Shape, batch axis first.
        shape: Shape,
    },
    /// A trainable parameter, bound by name at run time; `grad` differentiates w.r.t. it.
    Param {
        /// Name the runtime binds (`u.0.W`, `mu`, ...).
        name: String,
        /// Element type.
        dtype: DType,
        /// Shape.
        shape: Shape,
    },
    /// Variable `index` of the closure traced at `level`: a placeholder that is
    /// substituted away (by `at`) before evaluation.
    ///
    /// A closure of several arguments binds one variable per argument, all of the same
    /// level, type and shape; `index` (the argument's position) is what keeps them
    /// distinct under hash-consing — without it `f(x, y)` would be traced as `f(t, t)`.
    Bound {
        /// The level that owns this variable.
        level: Level,
        /// The argument's position among the level's bound variables.
        index: u32,
        /// Element type.
        dtype: DType,
        /// Shape.
        shape: Shape,
    },
    /// A scalar constant (shape `[]`).
    Const {
        /// The value.
        value: Num,
        /// Element type.
        dtype: DType,
    },
    /// A dense constant tensor.
    Tensor {
        /// Row-major values.
        data: Data,
        /// Element type.
        dtype: DType,
        /// Shape (`data.len() == shape.numel()`).
        shape: Shape,
    },

    // ---- elementwise ----
    /// `[a]`: an elementwise function.
    Unary(UnOp),
    /// `[a]`: `a^n` for an integer `n` (exact for negative `a`).
    Powi(i32),
    /// `[a, b]`: an elementwise function of two operands of identical type.
    Binary(BinOp),

    // ---- shape ----
    /// `[a]`: `a` broadcast to `shape` (NumPy rules).
    Broadcast(Shape),
    /// `[a]`: the same elements with another shape of equal size.
    Reshape(Shape),
    /// `[a]`: sum over `axis`, which is removed.
    Sum(u8),
    /// `[a]`: mean over `axis`, which is removed.
    Mean(u8),
    /// `[a, b]`: the matrix product `op(a) · op(b)` of rank-2 operands, where `op`
    /// transposes when the flag is set. An MLP layer is `x · Wᵀ` (`tb`); its reverse rules
    /// are `dy · W` and `dyᵀ · x` (`ta`).
    MatMul {
        /// Transpose `a`.
        ta: bool,
        /// Transpose `b`.
        tb: bool,
    },
    /// `[a]`: `len` entries of `axis` starting at `start` (column select: axis 1, len 1).
    Slice {
        /// The axis sliced.
        axis: u8,
        /// First index taken.
        start: u32,
        /// Number of indices taken.
        len: u32,
    },
    /// `[a, b, ...]`: operands joined along `axis` (all other extents equal).
    Concat(u8),

    // ---- derivative operators (expanded by `passes::ad`) ----
    /// `[f, v]`: the `order`-th derivative of `f` along leaf `v` with an all-ones seed:
    /// pointwise `∂ⁿf/∂vⁿ` for per-point `f`. Shape of `f`.
    Diff {
        /// The tag of this operator instance.
        level: Level,
        /// Derivative order, at least 1.
        order: u8,
        /// How to expand it.
        method: Method,
    },
    /// `[f, v1, ..., vD]`: `Σᵢ ∂²f/∂vᵢ²`. Shape of `f`.
    Laplacian {
        /// The tag of this operator instance.
        level: Level,
        /// How to expand it.
        method: Method,
    },
    /// `[loss, p]`: the gradient of the scalar `loss` w.r.t. leaf `p`. Shape of `p`.
    Grad {
        /// The tag of this operator instance; `grad`s of one loss share a level so one
        /// reverse sweep serves them all.
        level: Level,
    },
    /// `[f, p]`: the per-point Jacobian of `f` (batch axis first, one value per point:
    /// `[N, 1]`) w.r.t. the leaf `p`. Shape `[N, numel(p)]`: row `n` is `∂f[n]/∂p`
    /// flattened row-major, so it has the layout of `grad` of any loss w.r.t. `p`.
    Jacobian {
        /// The tag of this operator instance; `jacobian`s of one `f` share a level so one
        /// per-point reverse sweep serves them all.
        level: Level,
    },
    /// `[f, v1, a1, ..., vk, ak]`: `f` with leaves `vᵢ` replaced by `aᵢ` simultaneously,
    /// after `f`'s own derivative operators are expanded. Shape of `f`.
    At,
}

impl Op {
    /// Whether the op is a derivative operator or substitution that `passes::ad` expands.
    pub fn is_derivative(&self) -> bool {
        matches!(
            self,
            Op::Diff { .. } | Op::Laplacian { .. } | Op::Grad { .. } | Op::Jacobian { .. } | Op::At
        )
    }

    /// Whether the op has no operands.
    pub fn is_leaf(&self) -> bool {
        matches!(
            self,
            Op::Input { .. }
                | Op::Param { .. }
                | Op::Bound { .. }
                | Op::Const { .. }
                | Op::Tensor { .. }
        )
    }

    /// Whether the op is a variable leaf (`input`, `param`, `bound`) that derivative
    /// operators may name and `at` may replace.
    pub fn is_variable(&self) -> bool {
        matches!(self, Op::Input { .. } | Op::Param { .. } | Op::Bound { .. })
    }

    /// The level of a derivative operator or bound variable.
    pub fn level(&self) -> Option<Level> {
        match self {
            Op::Diff { level, .. }
            | Op::Laplacian { level, .. }
            | Op::Grad { level }
            | Op::Jacobian { level }
            | Op::Bound { level, .. } => Some(*level),
            _ => None,
        }
    }

    /// The mnemonic printed in the text format (without attributes).
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Param { .. } => "param",
            Op::Bound { .. } => "bound",
            Op::Const { .. } => "const",
            Op::Tensor { .. } => "tensor",
            Op::Unary(u) => u.name(),
            Op::Powi(_) => "powi",
            Op::Binary(b) => b.name(),
            Op::Broadcast(_) => "broadcast",
            Op::Reshape(_) => "reshape",
            Op::Sum(_) => "sum",
            Op::Mean(_) => "mean",
            Op::MatMul { .. } => "matmul",
            Op::Slice { .. } => "slice",
            Op::Concat(_) => "concat",
            Op::Diff { .. } => "diff",
            Op::Laplacian { .. } => "laplacian",
            Op::Grad { .. } => "grad",
            Op::Jacobian { .. } => "jacobian",
            Op::At => "at",
        }
    }
}
