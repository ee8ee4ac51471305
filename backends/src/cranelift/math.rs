//! Host functions that generated kernels call for the ops Cranelift has no instruction
//! for: `exp`, `log`, `sin`, `cos`, `tan`, `tanh`, `sigmoid`, `softplus`, `silu`, `gelu`
//! `pow` and `atan2`, in f32 and f64.
//!
//! The f64 versions are exactly the interpreter's formulas ([`UnOp::eval`],
//! [`BinOp::eval`]), so f64 kernels without FMA contraction reproduce the interpreter bit
//! for bit. The f32 versions call the platform's single-precision functions (within a
//! few ulp) and the same stable formulas in f32.
//!
//! Vector code calls them once per lane. `tanh`, the activation of every benchmark
//! network, is emitted inline instead (see `vmath`) unless `inline_tanh` is off.

use nabla_ir::{BinOp, UnOp};

/// A host function: its symbol name and address.
pub struct HostFn {
    /// Symbol the JIT module resolves.
    pub name: &'static str,
    /// The function's address.
    pub ptr: *const u8,
}

macro_rules! unary_fns {
    ($t:ty, $sigmoid:ident, $softplus:ident, $gelu:ident, $c:expr, $a:expr) => {
        fn $sigmoid(x: $t) -> $t {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
        fn $softplus(x: $t) -> $t {
            x.max(0.0) + (-x.abs()).exp().ln_1p()
        }
        fn $gelu(x: $t) -> $t {
            0.5 * x * (1.0 + ($c * (x + $a * x * x * x)).tanh())
        }
    };
}

unary_fns!(
    f32,
    sigmoid32,
    softplus32,
    gelu32,
    nabla_ir::GELU_C as f32,
    nabla_ir::GELU_A as f32
);

macro_rules! host {
    ($name:ident, $t:ty, |$x:ident| $body:expr) => {
        extern "C" fn $name($x: $t) -> $t {
            $body
        }
    };
}

host!(exp32, f32, |x| x.exp());
host!(log32, f32, |x| x.ln());
host!(sin32, f32, |x| x.sin());
host!(cos32, f32, |x| x.cos());
host!(tan32, f32, |x| x.tan());
host!(tanh32, f32, |x| x.tanh());
host!(sigm32, f32, |x| sigmoid32(x));
host!(softp32, f32, |x| softplus32(x));
host!(silu32, f32, |x| x * sigmoid32(x));
host!(gelu_32, f32, |x| gelu32(x));
host!(exp64, f64, |x| UnOp::Exp.eval(x));
host!(log64, f64, |x| UnOp::Log.eval(x));
host!(sin64, f64, |x| UnOp::Sin.eval(x));
host!(cos64, f64, |x| UnOp::Cos.eval(x));
host!(tan64, f64, |x| UnOp::Tan.eval(x));
host!(tanh64, f64, |x| UnOp::Tanh.eval(x));
host!(sigm64, f64, |x| UnOp::Sigmoid.eval(x));
host!(softp64, f64, |x| UnOp::Softplus.eval(x));
host!(silu64, f64, |x| UnOp::Silu.eval(x));
host!(gelu64, f64, |x| UnOp::Gelu.eval(x));

extern "C" fn pow32(a: f32, b: f32) -> f32 {
    a.powf(b)
}

extern "C" fn pow64(a: f64, b: f64) -> f64 {
    BinOp::Pow.eval(a, b)
}

extern "C" fn atan2_32(a: f32, b: f32) -> f32 {
    a.atan2(b)
}

extern "C" fn atan2_64(a: f64, b: f64) -> f64 {
    BinOp::Atan2.eval(a, b)
}

/// The host function computing `u` in the given precision, or `None` when the op is
/// emitted inline (neg, abs, sqrt, square, recip, sign).
pub fn unary(u: UnOp, f64: bool) -> Option<HostFn> {
    let (n32, p32, n64, p64): (_, extern "C" fn(f32) -> f32, _, extern "C" fn(f64) -> f64) = match u
    {
        UnOp::Exp => ("nabla_exp_f32", exp32, "nabla_exp_f64", exp64),
        UnOp::Log => ("nabla_log_f32", log32, "nabla_log_f64", log64),
        UnOp::Sin => ("nabla_sin_f32", sin32, "nabla_sin_f64", sin64),
        UnOp::Cos => ("nabla_cos_f32", cos32, "nabla_cos_f64", cos64),
        UnOp::Tan => ("nabla_tan_f32", tan32, "nabla_tan_f64", tan64),
        UnOp::Tanh => ("nabla_tanh_f32", tanh32, "nabla_tanh_f64", tanh64),
        UnOp::Sigmoid => ("nabla_sigmoid_f32", sigm32, "nabla_sigmoid_f64", sigm64),
        UnOp::Softplus => ("nabla_softplus_f32", softp32, "nabla_softplus_f64", softp64),
        UnOp::Silu => ("nabla_silu_f32", silu32, "nabla_silu_f64", silu64),
        UnOp::Gelu => ("nabla_gelu_f32", gelu_32, "nabla_gelu_f64", gelu64),
        UnOp::Neg | UnOp::Sqrt | UnOp::Abs | UnOp::Square | UnOp::Recip | UnOp::Sign => {
            return None
        }
    };
    Some(if f64 {
        HostFn {
            name: n64,
            ptr: p64 as *const u8,
        }
    } else {
        HostFn {
            name: n32,
            ptr: p32 as *const u8,
        }
    })
}

/// The host function computing `b` in the given precision, or `None` when the op is an
/// instruction (add, sub, mul, div).
pub fn binary(b: BinOp, f64: bool) -> Option<HostFn> {
    type F32 = extern "C" fn(f32, f32) -> f32;
    type F64 = extern "C" fn(f64, f64) -> f64;
    let (n32, p32, n64, p64): (_, F32, _, F64) = match b {
        BinOp::Pow => ("nabla_pow_f32", pow32, "nabla_pow_f64", pow64),
        BinOp::Atan2 => ("nabla_atan2_f32", atan2_32, "nabla_atan2_f64", atan2_64),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => return None,
    };
    Some(if f64 {
        HostFn {
            name: n64,
            ptr: p64 as *const u8,
        }
    } else {
        HostFn {
            name: n32,
            ptr: p32 as *const u8,
        }
    })
}

/// Every host function, for registering with the JIT module.
pub fn all() -> Vec<HostFn> {
    [false, true]
        .into_iter()
        .flat_map(|d| {
            let un = UnOp::ALL.into_iter().filter_map(move |u| unary(u, d));
            un.chain(BinOp::ALL.into_iter().filter_map(move |b| binary(b, d)))
        })
        .collect()
}
