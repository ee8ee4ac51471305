//! Shape identities: broadcasts, reductions, matrix products, slices and reshapes.
//!
//! Every rule preserves the type of the matched class (the instantiation checks it). The
//! direction is toward less work: elementwise functions move inside broadcasts (computed
//! on the small operand), negations move out of reductions and products, a sum of a
//! broadcast becomes a scaled broadcast.

use crate::simplify::analysis::EG;
use crate::simplify::lang::ENode;
use crate::simplify::rule::{add, splat, var, BuildFn, Cond, Rule};
use egg::{Id, Subst};
use nabla_ir::{BinOp, Op, Shape, UnOp};

/// Matrix-product flag spellings, for rules generated per flag combination.
pub const FLAGS: [&str; 4] = ["nn", "nt", "tn", "tt"];

/// Axes for which reduction rules are generated (ranks up to 3).
const AXES: [u8; 3] = [0, 1, 2];

/// Shape identities exact in floating point (up to rounding of repeated sums).
pub fn rules() -> Vec<Rule> {
    // broadcast(broadcast(a)) = broadcast(a)
    let mut r = vec![Rule::pat(
        "broadcast-broadcast",
        "(broadcast (broadcast ?a))",
        "(broadcast ?a)",
    )];
    for u in UnOp::ALL {
        let n = u.name();
        // f(broadcast(a)) = broadcast(f(a))
        r.push(Rule::pat(
            format!("{n}-broadcast"),
            format!("({n} (broadcast ?a))"),
            format!("(broadcast ({n} ?a))"),
        ));
    }
    for b in BinOp::ALL {
        let n = b.name();
        // broadcast(a) ∘ broadcast(b) = broadcast(a ∘ b) when a and b have one type
        r.push(
            Rule::pat(
                format!("{n}-broadcast"),
                format!("({n} (broadcast ?a) (broadcast ?b))"),
                format!("(broadcast ({n} ?a ?b))"),
            )
            .when(Cond::SameType("?a", "?b")),
        );
    }
    r.extend(slice_rules());
    for ax in AXES {
        // Σ_ax (−a) = −Σ_ax a
        r.push(Rule::pat(
            format!("sum{ax}-neg"),
            format!("(sum:{ax} (neg ?a))"),
            format!("(neg (sum:{ax} ?a))"),
        ));
        // Σ_ax broadcast(a) = n · broadcast(a) over the broadcast axis, or broadcast(Σ a)
        r.push(Rule::build(
            &format!("sum{ax}-broadcast"),
            &format!("(sum:{ax} (broadcast ?a))"),
            "n · broadcast(a) or broadcast(sum(a))",
            SUM_BROADCAST[ax as usize],
        ));
    }
    for f in FLAGS {
        // (−a) · b = −(a · b)
        r.push(Rule::pat(
            format!("matmul-{f}-neg-left"),
            format!("(matmul:{f} (neg ?a) ?b)"),
            format!("(neg (matmul:{f} ?a ?b))"),
        ));
        // a · (−b) = −(a · b)
        r.push(Rule::pat(
            format!("matmul-{f}-neg-right"),
            format!("(matmul:{f} ?a (neg ?b))"),
            format!("(neg (matmul:{f} ?a ?b))"),
        ));
    }
    r
}

/// Shape identities true over the reals only (scaling and linearity change rounding and
/// overflow).
pub fn real_only() -> Vec<Rule> {
    let mut r = Vec::new();
    for f in FLAGS {
        // 0 · b = 0 (not when b holds ±∞ or NaN)
        r.push(
            Rule::pat(
                format!("matmul-{f}-zero-left"),
                format!("(matmul:{f} ?z ?b)"),
                "0",
            )
            .when(Cond::Splat("?z", 0.0)),
        );
        // a · 0 = 0
        r.push(
            Rule::pat(
                format!("matmul-{f}-zero-right"),
                format!("(matmul:{f} ?a ?z)"),
                "0",
            )
            .when(Cond::Splat("?z", 0.0)),
        );
        // (a · k) · b = (a · b) · k for a scalar k
        r.push(
            Rule::pat(
                format!("matmul-{f}-scale-left"),
                format!("(matmul:{f} (mul ?a (broadcast ?k)) ?b)"),
                format!("(mul (matmul:{f} ?a ?b) (broadcast ?k))"),
            )
            .when(Cond::Scalar("?k")),
        );
        // a · (b · k) = (a · b) · k for a scalar k
        r.push(
            Rule::pat(
                format!("matmul-{f}-scale-right"),
                format!("(matmul:{f} ?a (mul ?b (broadcast ?k)))"),
                format!("(mul (matmul:{f} ?a ?b) (broadcast ?k))"),
            )
            .when(Cond::Scalar("?k")),
        );
    }
    for f in FLAGS {
        // a · b with inner extent 1 and a broadcast scalar operand c: the outer product
        // is c times b's one row on every row (c times a's one column on every column).
        // The input tangents of a net are such products (ones times a column of the first
        // weight): as broadcasts they need neither a product nor memory per point, and
        // what is computed from them alone (t₁² + t₂²) is computed once.
        r.push(
            Rule::build(
                &format!("matmul-{f}-outer-left"),
                &format!("(matmul:{f} (broadcast ?c) ?b)"),
                "broadcast(c) · broadcast(row of b)",
                outer::<true>,
            )
            .when(Cond::Scalar("?c")),
        );
        r.push(
            Rule::build(
                &format!("matmul-{f}-outer-right"),
                &format!("(matmul:{f} ?b (broadcast ?c))"),
                "broadcast(column of b) · broadcast(c)",
                outer::<false>,
            )
            .when(Cond::Scalar("?c")),
        );
    }
    for ax in AXES {
        // Σ (a · k) = (Σ a) · k for a scalar k
        r.push(
            Rule::pat(
                format!("sum{ax}-scale"),
                format!("(sum:{ax} (mul ?a (broadcast ?k)))"),
                format!("(mul (sum:{ax} ?a) (broadcast ?k))"),
            )
            .when(Cond::Scalar("?k")),
        );
    }
    r
}

/// Slices move inward through elementwise ops (computing only the part that is used: the
/// derivative of one output of a multi-output net is a slice of the whole last layer's
/// tangent), and cancel against concatenations, other slices and reshapes.
fn slice_rules() -> Vec<Rule> {
    let mut r = Vec::new();
    for u in UnOp::ALL {
        let n = u.name();
        // slice(f(a)) = f(slice(a))
        r.push(Rule::build(
            &format!("slice-{n}"),
            &format!("(slice ({n} ?a))"),
            "f(slice(a))",
            slice_unary,
        ));
    }
    for b in BinOp::ALL {
        let n = b.name();
        // slice(a ∘ b) = slice(a) ∘ slice(b)
        r.push(Rule::build(
            &format!("slice-{n}"),
            &format!("(slice ({n} ?a ?b))"),
            "slice(a) ∘ slice(b)",
            slice_binary,
        ));
    }
    r.extend([
        // slice(concat(a, b)) = the part of a or of b it lies in
        Rule::build(
            "slice-concat",
            "(slice (concat ?a ?b))",
            "slice of one part",
            slice_concat,
        ),
        // slice(slice(a)) = one slice of a, along one axis
        Rule::build("slice-slice", "(slice (slice ?a))", "slice(a)", slice_slice),
        // reshape(reshape(a)) = reshape(a), or a itself
        Rule::build(
            "reshape-reshape",
            "(reshape (reshape ?a))",
            "reshape(a)",
            reshape_reshape,
        ),
    ]);
    r
}

/// The attributes of a slice in `class` whose operand class holds a node `inner` accepts,
/// and that operand class.
fn slice_over(eg: &EG, class: Id, inner: impl Fn(&ENode) -> bool) -> Option<(Op, Id)> {
    eg[class].nodes.iter().find_map(|n| match n.op {
        Op::Slice { .. } if eg[n.args[0]].nodes.iter().any(&inner) => {
            Some((n.op.clone(), eg.find(n.args[0])))
        }
        _ => None,
    })
}

/// `slice(f(a))` → `f(slice(a))`, for the unary node over `a` that the slice's operand
/// class holds (any of them: they are equal).
fn slice_unary(eg: &mut EG, class: Id, s: &Subst) -> Option<Id> {
    let a = eg.find(s[var("?a")]);
    let is_f_of_a = |n: &ENode| matches!(n.op, Op::Unary(_)) && eg.find(n.args[0]) == a;
    let (sl, x) = slice_over(eg, class, is_f_of_a)?;
    let f = eg[x].nodes.iter().find(|n| is_f_of_a(n))?.op.clone();
    let part = add(eg, sl, &[a])?;
    add(eg, f, &[part])
}

/// `slice(a ∘ b)` → `slice(a) ∘ slice(b)`, for the binary node over `a, b` that the slice's
/// operand class holds.
fn slice_binary(eg: &mut EG, class: Id, s: &Subst) -> Option<Id> {
    let (a, b) = (eg.find(s[var("?a")]), eg.find(s[var("?b")]));
    let is_ab = |n: &ENode| {
        matches!(n.op, Op::Binary(_)) && eg.find(n.args[0]) == a && eg.find(n.args[1]) == b
    };
    let (sl, x) = slice_over(eg, class, is_ab)?;
    let op = eg[x].nodes.iter().find(|n| is_ab(n))?.op.clone();
    let (pa, pb) = (add(eg, sl.clone(), &[a])?, add(eg, sl, &[b])?);
    add(eg, op, &[pa, pb])
}

/// `slice(concat(a, b))` → the slice of `a` or of `b` (or the part itself) when the slice
/// lies within one part along the concatenated axis.
fn slice_concat(eg: &mut EG, class: Id, s: &Subst) -> Option<Id> {
    let (a, b) = (eg.find(s[var("?a")]), eg.find(s[var("?b")]));
    let is_cat = |n: &ENode| {
        matches!(n.op, Op::Concat(_))
            && n.args.len() == 2
            && eg.find(n.args[0]) == a
            && eg.find(n.args[1]) == b
    };
    let (sl, x) = slice_over(eg, class, is_cat)?;
    let Op::Slice { axis, start, len } = sl else {
        return None;
    };
    let cat = eg[x].nodes.iter().find(|n| is_cat(n))?.op.clone();
    if cat != Op::Concat(axis) {
        return None;
    }
    let na = eg[a].data.ty.shape.dims()[axis as usize] as u32;
    let (part, from) = if start + len <= na {
        (a, start)
    } else if start >= na {
        (b, start - na)
    } else {
        return None;
    };
    let whole = eg[part].data.ty.shape.dims()[axis as usize] as u32;
    if from == 0 && len == whole {
        return Some(part);
    }
    let op = Op::Slice {
        axis,
        start: from,
        len,
    };
    add(eg, op, &[part])
}

/// `slice(slice(a))` along one axis → one slice of `a`.
fn slice_slice(eg: &mut EG, class: Id, s: &Subst) -> Option<Id> {
    let a = eg.find(s[var("?a")]);
    let is_slice_of_a = |n: &ENode| matches!(n.op, Op::Slice { .. }) && eg.find(n.args[0]) == a;
    let (outer, x) = slice_over(eg, class, is_slice_of_a)?;
    let inner = eg[x].nodes.iter().find(|n| is_slice_of_a(n))?.op.clone();
    match (outer, inner) {
        (
            Op::Slice { axis, start, len },
            Op::Slice {
                axis: ax2,
                start: s2,
                ..
            },
        ) if axis == ax2 => add(
            eg,
            Op::Slice {
                axis,
                start: s2 + start,
                len,
            },
            &[a],
        ),
        _ => None,
    }
}

/// `reshape(reshape(a))` → `reshape(a)` to the outer shape, or `a` when that is its own.
fn reshape_reshape(eg: &mut EG, class: Id, s: &Subst) -> Option<Id> {
    let a = eg.find(s[var("?a")]);
    let want = eg[class].data.ty.shape.clone();
    if eg[a].data.ty.shape == want {
        return Some(a);
    }
    add(eg, Op::Reshape(want), &[a])
}

/// A product with inner extent 1 whose left (`LEFT`) or right operand is a broadcast
/// scalar `c`: `c` times the other operand `b`'s one row (column), broadcast. `0 + c·bⱼ`
/// is `c·bⱼ` up to the sign of a zero, hence a real-only rule.
fn outer<const LEFT: bool>(eg: &mut EG, class: Id, s: &Subst) -> Option<Id> {
    let (b, c) = (eg.find(s[var("?b")]), eg.find(s[var("?c")]));
    let is_bcast_of_c = |x: Id| {
        eg[x]
            .nodes
            .iter()
            .any(|n| matches!(n.op, Op::Broadcast(_)) && eg.find(n.args[0]) == c)
    };
    // the product node over (broadcast c, b) (or (b, broadcast c)) and its constant side
    let (ta, tb, side) = eg[class].nodes.iter().find_map(|n| {
        let (x, y) = (eg.find(n.args.first().copied()?), eg.find(*n.args.get(1)?));
        match n.op {
            Op::MatMul { ta, tb } if LEFT && y == b && is_bcast_of_c(x) => Some((ta, tb, x)),
            Op::MatMul { ta, tb } if !LEFT && x == b && is_bcast_of_c(y) => Some((ta, tb, y)),
            _ => None,
        }
    })?;
    let sd = eg[side].data.ty.shape.dims();
    let inner = match (LEFT, ta, tb) {
        (true, false, _) | (false, _, true) => sd[1],
        _ => sd[0],
    };
    if inner != 1 {
        return None;
    }
    let want = eg[class].data.ty.clone();
    let (n, m) = (want.shape.dims()[0], want.shape.dims()[1]);
    let line = match LEFT {
        true => add(eg, Op::Reshape(Shape::new(&[m])), &[b])?,
        false => add(eg, Op::Reshape(Shape::matrix(n, 1)), &[b])?,
    };
    let t = broadcast_to(eg, line, &want.shape)?;
    let scale = add(eg, Op::Broadcast(want.shape.clone()), &[c])?;
    match LEFT {
        true => add(eg, Op::Binary(BinOp::Mul), &[scale, t]),
        false => add(eg, Op::Binary(BinOp::Mul), &[t, scale]),
    }
}

/// One builder per reduced axis.
const SUM_BROADCAST: [BuildFn; 3] = [sum_broadcast::<0>, sum_broadcast::<1>, sum_broadcast::<2>];

/// `Σ_AX broadcast_S(a)`: `n · broadcast(a)` when `AX` is an axis that `a` lacks or has
/// extent 1 on (`n = S[AX]`), otherwise `broadcast(Σ a)` over `a`'s own axis.
fn sum_broadcast<const AX: usize>(eg: &mut EG, class: Id, s: &Subst) -> Option<Id> {
    let a = eg.find(s[var("?a")]);
    let big = broadcast_shape(eg, class, AX, a)?;
    let small = eg[a].data.ty.shape.clone();
    let want = eg[class].data.ty.clone();
    let off = big.rank() - small.rank();
    let n = big.dims()[AX] as f64;
    if AX < off {
        let t = broadcast_to(eg, a, &want.shape)?;
        let k = splat(eg, n, &want);
        return add(eg, Op::Binary(BinOp::Mul), &[t, k]);
    }
    let own = AX - off;
    if small.dims()[own] == 1 {
        let mut dims = small.0.clone();
        dims.remove(own);
        let r = add(eg, Op::Reshape(Shape(dims)), &[a])?;
        let t = broadcast_to(eg, r, &want.shape)?;
        let k = splat(eg, n, &want);
        return add(eg, Op::Binary(BinOp::Mul), &[t, k]);
    }
    let r = add(eg, Op::Sum(own as u8), &[a])?;
    broadcast_to(eg, r, &want.shape)
}

/// The shape of the operand of a `sum:AX` node of `class` that is a broadcast of `a`.
fn broadcast_shape(eg: &EG, class: Id, ax: usize, a: Id) -> Option<Shape> {
    let is_bcast_of_a = |x: Id| {
        eg[x]
            .nodes
            .iter()
            .any(|n| matches!(n.op, Op::Broadcast(_)) && eg.find(n.args[0]) == a)
    };
    eg[class].nodes.iter().find_map(|n| match n.op {
        Op::Sum(k) if k as usize == ax && is_bcast_of_a(n.args[0]) => {
            Some(eg[n.args[0]].data.ty.shape.clone())
        }
        _ => None,
    })
}

/// `a` broadcast to `shape` (itself when it already has that shape).
fn broadcast_to(eg: &mut EG, a: Id, shape: &Shape) -> Option<Id> {
    if eg[a].data.ty.shape == *shape {
        return Some(a);
    }
    add(eg, Op::Broadcast(shape.clone()), &[a])
}
