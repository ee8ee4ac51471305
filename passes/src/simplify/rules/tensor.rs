//! Shape identities: broadcasts, reductions and matrix products.
//!
//! Every rule preserves the type of the matched class (the instantiation checks it). The
//! direction is toward less work: elementwise functions move inside broadcasts (computed
//! on the small operand), negations move out of reductions and products, a sum of a
//! broadcast becomes a scaled broadcast.

use crate::simplify::analysis::EG;
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
