//! Type inference: the result type of an op from its operands' types.
//!
//! Used by [`crate::Graph::add`] on construction and by the verifier, so the rules live in
//! one place.

use crate::op::Op;
use crate::types::{DType, Shape, Type};
use smallvec::SmallVec;

/// Why an op cannot be applied to its operands.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// Wrong number of operands.
    #[error("`{op}` takes {expected} operand(s), found {found}")]
    Arity {
        /// Mnemonic of the op.
        op: &'static str,
        /// What the op takes.
        expected: String,
        /// What it got.
        found: usize,
    },
    /// Operands of different element types.
    #[error("`{op}` mixes element types {a} and {b}")]
    DType {
        /// Mnemonic.
        op: &'static str,
        /// First dtype.
        a: DType,
        /// Second dtype.
        b: DType,
    },
    /// Operand shapes that do not fit the op.
    #[error("`{op}`: {reason}")]
    Shape {
        /// Mnemonic.
        op: &'static str,
        /// What is wrong, with the shapes.
        reason: String,
    },
    /// An operand that must be a variable leaf is not.
    #[error("`{op}`: operand {index} must be an input, param or bound variable")]
    NotVariable {
        /// Mnemonic.
        op: &'static str,
        /// Operand position.
        index: usize,
    },
}

/// The argument view the rules need: each operand's type and whether it is a variable leaf.
pub struct Arg<'a> {
    /// The operand's type.
    pub ty: &'a Type,
    /// Whether the operand is an `input`, `param` or `bound` leaf.
    pub is_variable: bool,
}

/// The result type of `op` applied to `args`.
pub fn infer(op: &Op, args: &[Arg<'_>]) -> Result<Type, TypeError> {
    let name = op.mnemonic();
    match op {
        Op::Input { dtype, shape, .. }
        | Op::Param { dtype, shape, .. }
        | Op::Bound { dtype, shape, .. } => leaf(name, args, *dtype, shape.clone()),
        Op::Const { dtype, .. } => leaf(name, args, *dtype, Shape::scalar()),
        Op::Tensor { data, dtype, shape } => {
            if data.len() != shape.numel() {
                return Err(shape_err(
                    name,
                    format!("{} values for shape {shape}", data.len()),
                ));
            }
            leaf(name, args, *dtype, shape.clone())
        }
        Op::Unary(_) | Op::Powi(_) => {
            arity(name, args, 1)?;
            Ok(args[0].ty.clone())
        }
        Op::Binary(_) => binary(name, args),
        Op::Broadcast(to) => broadcast(name, args, to),
        Op::Reshape(to) => reshape(name, args, to),
        Op::Sum(axis) | Op::Mean(axis) => reduce(name, args, *axis),
        Op::MatMul { ta, tb } => matmul(name, args, *ta, *tb),
        Op::Slice { axis, start, len } => slice(name, args, *axis, *start, *len),
        Op::Concat(axis) => concat(name, args, *axis),
        Op::Diff { order, .. } => {
            arity(name, args, 2)?;
            if *order == 0 {
                return Err(shape_err(name, "order must be at least 1".into()));
            }
            variables(name, args, 1)?;
            same_dtype(name, args)?;
            Ok(args[0].ty.clone())
        }
        Op::Laplacian { .. } => {
            if args.len() < 2 {
                return Err(arity_err(name, "at least 2", args.len()));
            }
            variables(name, args, 1)?;
            same_dtype(name, args)?;
            Ok(args[0].ty.clone())
        }
        Op::Grad { .. } => grad(name, args),
        Op::Jacobian { .. } => jacobian(name, args),
        Op::At => at(name, args),
    }
}

fn arity_err(op: &'static str, expected: &str, found: usize) -> TypeError {
    TypeError::Arity {
        op,
        expected: expected.into(),
        found,
    }
}

fn shape_err(op: &'static str, reason: String) -> TypeError {
    TypeError::Shape { op, reason }
}

fn arity(op: &'static str, args: &[Arg<'_>], n: usize) -> Result<(), TypeError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(arity_err(op, &n.to_string(), args.len()))
    }
}

fn leaf(op: &'static str, args: &[Arg<'_>], dtype: DType, shape: Shape) -> Result<Type, TypeError> {
    arity(op, args, 0)?;
    Ok(Type::new(dtype, shape))
}

fn same_dtype(op: &'static str, args: &[Arg<'_>]) -> Result<DType, TypeError> {
    let d = args[0].ty.dtype;
    for a in &args[1..] {
        if a.ty.dtype != d {
            return Err(TypeError::DType {
                op,
                a: d,
                b: a.ty.dtype,
            });
        }
    }
    Ok(d)
}

/// Operands from `from` on must be variable leaves.
fn variables(op: &'static str, args: &[Arg<'_>], from: usize) -> Result<(), TypeError> {
    for (i, a) in args.iter().enumerate().skip(from) {
        if !a.is_variable {
            return Err(TypeError::NotVariable { op, index: i });
        }
    }
    Ok(())
}

fn binary(op: &'static str, args: &[Arg<'_>]) -> Result<Type, TypeError> {
    arity(op, args, 2)?;
    same_dtype(op, args)?;
    if args[0].ty.shape != args[1].ty.shape {
        return Err(shape_err(
            op,
            format!(
                "operand shapes differ: {} and {} (insert a broadcast)",
                args[0].ty.shape, args[1].ty.shape
            ),
        ));
    }
    Ok(args[0].ty.clone())
}

fn broadcast(op: &'static str, args: &[Arg<'_>], to: &Shape) -> Result<Type, TypeError> {
    arity(op, args, 1)?;
    if !args[0].ty.shape.broadcasts_to(to) {
        return Err(shape_err(
            op,
            format!("{} does not broadcast to {to}", args[0].ty.shape),
        ));
    }
    Ok(Type::new(args[0].ty.dtype, to.clone()))
}

fn reshape(op: &'static str, args: &[Arg<'_>], to: &Shape) -> Result<Type, TypeError> {
    arity(op, args, 1)?;
    if args[0].ty.shape.numel() != to.numel() {
        return Err(shape_err(
            op,
            format!("cannot reshape {} to {to}: sizes differ", args[0].ty.shape),
        ));
    }
    Ok(Type::new(args[0].ty.dtype, to.clone()))
}

fn reduce(op: &'static str, args: &[Arg<'_>], axis: u8) -> Result<Type, TypeError> {
    arity(op, args, 1)?;
    let s = &args[0].ty.shape;
    let axis = axis as usize;
    if axis >= s.rank() {
        return Err(shape_err(op, format!("axis {axis} out of range for {s}")));
    }
    let mut dims: SmallVec<[usize; 3]> = s.0.clone();
    dims.remove(axis);
    Ok(Type::new(args[0].ty.dtype, Shape(dims)))
}

fn matmul(op: &'static str, args: &[Arg<'_>], ta: bool, tb: bool) -> Result<Type, TypeError> {
    arity(op, args, 2)?;
    let dtype = same_dtype(op, args)?;
    let (a, b) = (&args[0].ty.shape, &args[1].ty.shape);
    if a.rank() != 2 || b.rank() != 2 {
        return Err(shape_err(
            op,
            format!("operands must be matrices, found {a} and {b}"),
        ));
    }
    let (m, ka) = if ta {
        (a.0[1], a.0[0])
    } else {
        (a.0[0], a.0[1])
    };
    let (kb, n) = if tb {
        (b.0[1], b.0[0])
    } else {
        (b.0[0], b.0[1])
    };
    if ka != kb {
        return Err(shape_err(
            op,
            format!("inner extents differ: {a}{} · {b}{}", t(ta), t(tb)),
        ));
    }
    Ok(Type::new(dtype, Shape::matrix(m, n)))
}

fn t(flag: bool) -> &'static str {
    if flag {
        "ᵀ"
    } else {
        ""
    }
}

fn slice(
    op: &'static str,
    args: &[Arg<'_>],
    axis: u8,
    start: u32,
    len: u32,
) -> Result<Type, TypeError> {
    arity(op, args, 1)?;
    let s = &args[0].ty.shape;
    let axis = axis as usize;
    if axis >= s.rank() {
        return Err(shape_err(op, format!("axis {axis} out of range for {s}")));
    }
    if len == 0 || (start as usize + len as usize) > s.0[axis] {
        return Err(shape_err(
            op,
            format!(
                "range {start}..{} out of bounds for axis {axis} of {s}",
                u64::from(start) + u64::from(len)
            ),
        ));
    }
    let mut dims = s.0.clone();
    dims[axis] = len as usize;
    Ok(Type::new(args[0].ty.dtype, Shape(dims)))
}

fn concat(op: &'static str, args: &[Arg<'_>], axis: u8) -> Result<Type, TypeError> {
    if args.is_empty() {
        return Err(arity_err(op, "at least 1", 0));
    }
    let dtype = same_dtype(op, args)?;
    let first = &args[0].ty.shape;
    let axis = axis as usize;
    if axis >= first.rank() {
        return Err(shape_err(
            op,
            format!("axis {axis} out of range for {first}"),
        ));
    }
    let mut total = 0;
    for a in args {
        let s = &a.ty.shape;
        let same_rest =
            s.rank() == first.rank() && (0..s.rank()).all(|i| i == axis || s.0[i] == first.0[i]);
        if !same_rest {
            return Err(shape_err(
                op,
                format!("{s} does not match {first} outside axis {axis}"),
            ));
        }
        total += s.0[axis];
    }
    let mut dims = first.0.clone();
    dims[axis] = total;
    Ok(Type::new(dtype, Shape(dims)))
}

fn grad(op: &'static str, args: &[Arg<'_>]) -> Result<Type, TypeError> {
    arity(op, args, 2)?;
    variables(op, args, 1)?;
    same_dtype(op, args)?;
    if args[0].ty.shape.rank() != 0 {
        return Err(shape_err(
            op,
            format!("the loss must be a scalar, found {}", args[0].ty.shape),
        ));
    }
    Ok(args[1].ty.clone())
}

fn jacobian(op: &'static str, args: &[Arg<'_>]) -> Result<Type, TypeError> {
    arity(op, args, 2)?;
    variables(op, args, 1)?;
    same_dtype(op, args)?;
    let f = &args[0].ty.shape;
    if f.rank() != 2 || f.dims()[1] != 1 {
        return Err(shape_err(
            op,
            format!("the function must have one value per point, [N, 1]; found {f}"),
        ));
    }
    let numel = args[1].ty.shape.numel();
    Ok(Type {
        dtype: args[0].ty.dtype,
        shape: Shape::matrix(f.dims()[0], numel),
    })
}

fn at(op: &'static str, args: &[Arg<'_>]) -> Result<Type, TypeError> {
    if args.len() < 3 || args.len().is_multiple_of(2) {
        return Err(arity_err(op, "1 + 2k (k ≥ 1)", args.len()));
    }
    same_dtype(op, args)?;
    for (k, pair) in args[1..].chunks(2).enumerate() {
        if !pair[0].is_variable {
            return Err(TypeError::NotVariable {
                op,
                index: 1 + 2 * k,
            });
        }
        if pair[0].ty.shape != pair[1].ty.shape {
            return Err(shape_err(
                op,
                format!(
                    "replacement has shape {}, the variable {}",
                    pair[1].ty.shape, pair[0].ty.shape
                ),
            ));
        }
    }
    Ok(args[0].ty.clone())
}
