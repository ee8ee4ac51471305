//! Arithmetic, elementwise functions, reductions and shape operations on [`Var`].

use super::{Builder, DslError, Var};
use nabla_ir::{AddError, BinOp, Op, Shape, TypeError, UnOp};
use std::ops::{Add, Div, Mul, Neg, Sub};

impl<'g> Var<'g> {
    fn unary(self, u: UnOp) -> Var<'g> {
        self.b.add(Op::Unary(u), &[self.id], u.name())
    }

    /// `self` broadcast to `shape` (NumPy rules); no node when already of that shape.
    pub fn broadcast_to(self, shape: &Shape) -> Var<'g> {
        if self.shape() == *shape {
            return self;
        }
        self.b
            .add(Op::Broadcast(shape.clone()), &[self.id], "broadcast")
    }

    /// An elementwise binary op with NumPy broadcasting of both operands.
    pub fn binary(self, op: BinOp, rhs: Var<'g>) -> Var<'g> {
        if self.b.own(rhs, op.name()).is_none() {
            return self;
        }
        let (sa, sb) = (self.shape(), rhs.shape());
        let Some(s) = Shape::broadcast(&sa, &sb) else {
            self.b.fail(DslError::Build {
                what: op.name().into(),
                source: AddError::Type(TypeError::Shape {
                    op: op.name(),
                    reason: format!("shapes {sa} and {sb} do not broadcast"),
                }),
            });
            return self;
        };
        let (x, y) = (self.broadcast_to(&s), rhs.broadcast_to(&s));
        self.b.add(Op::Binary(op), &[x.id, y.id], op.name())
    }

    fn scalar(self, v: f64) -> Var<'g> {
        self.b.constant(v)
    }

    /// `self^n` for an integer `n` (exact for a negative base).
    pub fn powi(self, n: i32) -> Var<'g> {
        self.b.add(Op::Powi(n), &[self.id], "powi")
    }

    /// `self^e` (real power). A whole exponent (at most 1024 in size, given as a number or
    /// a constant) is [`Var::powi`]: the real power's derivatives go through `log self`,
    /// which is NaN at `self = 0` where `x^2` has derivatives 0 and 2, and for a negative
    /// base, where `x^2` has them too.
    pub fn pow(self, e: impl Into<Operand<'g>>) -> Var<'g> {
        let e = e.into().var(self);
        let Some(id) = self.b.own(e, "pow") else {
            return self;
        };
        let k = self.b.with_graph(|g| match g.op(id) {
            Op::Const { value, .. } => Some(value.get()),
            _ => None,
        });
        match k.and_then(crate::lang::scope::int_exponent) {
            Some(k) => self.powi(k),
            None => self.binary(BinOp::Pow, e),
        }
    }

    /// `atan2(self, x)`: the angle of the point `(x, self)` in `(-π, π]`, `self` playing y
    /// as in C. Smooth away from the cut `self = 0, x ≤ 0`.
    pub fn atan2(self, x: impl Into<Operand<'g>>) -> Var<'g> {
        let x = x.into().var(self);
        self.binary(BinOp::Atan2, x)
    }

    /// Sum over `axis` (the axis is removed).
    pub fn sum_axis(self, axis: u8) -> Var<'g> {
        self.b.add(Op::Sum(axis), &[self.id], "sum")
    }

    /// Mean over `axis` (the axis is removed).
    pub fn mean_axis(self, axis: u8) -> Var<'g> {
        self.b.add(Op::Mean(axis), &[self.id], "mean")
    }

    /// Sum of all elements (a scalar).
    pub fn sum(self) -> Var<'g> {
        (0..self.shape().rank()).fold(self, |v, _| v.sum_axis(0))
    }

    /// Mean of all elements (a scalar).
    pub fn mean(self) -> Var<'g> {
        (0..self.shape().rank()).fold(self, |v, _| v.mean_axis(0))
    }

    /// The same elements with another shape.
    pub fn reshape(self, shape: &Shape) -> Var<'g> {
        self.b
            .add(Op::Reshape(shape.clone()), &[self.id], "reshape")
    }

    /// `op(self) · op(rhs)` where `op` transposes when the flag is set.
    pub fn matmul(self, rhs: Var<'g>, ta: bool, tb: bool) -> Var<'g> {
        let Some(r) = self.b.own(rhs, "matmul") else {
            return self;
        };
        self.b.add(Op::MatMul { ta, tb }, &[self.id, r], "matmul")
    }

    /// Entries `start..start+len` of `axis`.
    pub fn slice(self, axis: u8, start: u32, len: u32) -> Var<'g> {
        let op = Op::Slice { axis, start, len };
        self.b.add(op, &[self.id], "slice")
    }

    /// Column `j` of a `[N, k]` value, as `[N, 1]`.
    pub fn col(self, j: usize) -> Var<'g> {
        self.slice(1, j as u32, 1)
    }
}

/// Joins values along `axis` (e.g. coordinates `[N,1]` into points `[N,d]` on axis 1).
///
/// # Panics
///
/// When `parts` is empty: there is nothing to join, and no builder to record the error.
pub fn concat<'g>(parts: &[Var<'g>], axis: u8) -> Var<'g> {
    let first = *parts.first().expect("concat of no values");
    let Some(ids) = first.b.own_all(parts, "concat") else {
        return first;
    };
    if ids.len() == 1 {
        return first;
    }
    first.b.add(Op::Concat(axis), &ids, "concat")
}

/// A right-hand side that is a value or a number.
pub enum Operand<'g> {
    /// A traced value.
    Var(Var<'g>),
    /// A constant.
    Num(f64),
}

impl<'g> Operand<'g> {
    fn var(self, like: Var<'g>) -> Var<'g> {
        match self {
            Operand::Var(v) => v,
            Operand::Num(x) => like.scalar(x),
        }
    }
}

impl<'g> From<Var<'g>> for Operand<'g> {
    fn from(v: Var<'g>) -> Self {
        Operand::Var(v)
    }
}

impl From<f64> for Operand<'_> {
    fn from(v: f64) -> Self {
        Operand::Num(v)
    }
}

macro_rules! binop {
    ($Trait:ident, $method:ident, $op:expr) => {
        impl<'g> $Trait<Var<'g>> for Var<'g> {
            type Output = Var<'g>;
            fn $method(self, rhs: Var<'g>) -> Var<'g> {
                self.binary($op, rhs)
            }
        }
        impl<'g> $Trait<f64> for Var<'g> {
            type Output = Var<'g>;
            fn $method(self, rhs: f64) -> Var<'g> {
                let c = self.scalar(rhs);
                self.binary($op, c)
            }
        }
        impl<'g> $Trait<Var<'g>> for f64 {
            type Output = Var<'g>;
            fn $method(self, rhs: Var<'g>) -> Var<'g> {
                rhs.scalar(self).binary($op, rhs)
            }
        }
    };
}

binop!(Add, add, BinOp::Add);
binop!(Sub, sub, BinOp::Sub);
binop!(Mul, mul, BinOp::Mul);
binop!(Div, div, BinOp::Div);

impl<'g> Neg for Var<'g> {
    type Output = Var<'g>;
    fn neg(self) -> Var<'g> {
        self.unary(UnOp::Neg)
    }
}

macro_rules! elementwise {
    ($($name:ident => $u:expr, $doc:literal;)*) => {
        impl<'g> Var<'g> {
            $(
                #[doc = $doc]
                pub fn $name(self) -> Var<'g> {
                    self.unary($u)
                }
            )*
        }
        $(
            #[doc = $doc]
            pub fn $name(x: Var<'_>) -> Var<'_> {
                x.$name()
            }
        )*
    };
}

elementwise! {
    exp => UnOp::Exp, "`e^x`, elementwise.";
    log => UnOp::Log, "Natural logarithm, elementwise.";
    sin => UnOp::Sin, "`sin x`, elementwise.";
    cos => UnOp::Cos, "`cos x`, elementwise.";
    tan => UnOp::Tan, "`tan x`, elementwise.";
    tanh => UnOp::Tanh, "`tanh x`, elementwise.";
    sigmoid => UnOp::Sigmoid, "`1 / (1 + e^-x)`, elementwise.";
    softplus => UnOp::Softplus, "`log(1 + e^x)`, elementwise.";
    silu => UnOp::Silu, "`x · sigmoid(x)`, elementwise.";
    gelu => UnOp::Gelu, "GELU (tanh form), elementwise.";
    sqrt => UnOp::Sqrt, "`√x`, elementwise.";
    abs => UnOp::Abs, "`|x|`, elementwise.";
    square => UnOp::Square, "`x²`, elementwise.";
    recip => UnOp::Recip, "`1 / x`, elementwise.";
    sign => UnOp::Sign, "`sign x`, elementwise.";
}

/// Mean of all elements (a scalar).
pub fn mean(x: Var<'_>) -> Var<'_> {
    x.mean()
}

/// Sum of all elements (a scalar).
pub fn sum(x: Var<'_>) -> Var<'_> {
    x.sum()
}

impl Builder {
    /// `π` as a constant.
    pub fn pi(&self) -> Var<'_> {
        self.constant(std::f64::consts::PI)
    }
}
