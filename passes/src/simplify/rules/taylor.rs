//! Collapsing rules: pull a sum over directions back through linear operations.
//!
//! The standard Taylor-mode Laplacian propagates one order-2 jet per direction and sums the
//! top coefficients at the end: `Σᵢ uᵢ₂`. Each `uᵢ₂` is a linear function of the previous
//! layer's top coefficient plus a term in the first-order coefficients:
//! `zᵢ₂ = yᵢ₂ · Wᵀ` through a layer, `yᵢ₂ = φ'(z)·zᵢ₂ + ½φ''(z)·zᵢ₁²` through an
//! activation. Pulling the sum back through these linear occurrences —
//! `Σᵢ matmul(aᵢ, W) = matmul(Σᵢ aᵢ, W)`, `Σᵢ φ'(z)·aᵢ = φ'(z)·Σᵢ aᵢ` — turns the `D`
//! top-coefficient chains into one, which is the Forward Laplacian (collapsed Taylor mode).
//!
//! The rules here are distributive laws and the medial law of addition, so they are true
//! over the reals only and run only when the `real_only` set is enabled. The scalar-factor
//! laws (`mul-factor`, ...) live in [`super::arith`], the broadcast laws in
//! [`super::tensor`]; this module adds the regrouping and the linear maps.

use super::tensor::FLAGS;
use crate::simplify::rule::Rule;

/// The collapsing rules (all true over the reals only).
pub fn rules() -> Vec<Rule> {
    let mut r = vec![
        // (a + b) + (c + d) = (a + c) + (b + d): regroups per-direction terms by kind
        Rule::pat(
            "add-interchange",
            "(add (add ?a ?b) (add ?c ?d))",
            "(add (add ?a ?c) (add ?b ?d))",
        ),
        // (a − b) + (c − d) = (a + c) − (b + d): the same for terms with negative parts
        Rule::pat(
            "add-sub-interchange",
            "(add (sub ?a ?b) (sub ?c ?d))",
            "(sub (add ?a ?c) (add ?b ?d))",
        ),
    ];
    for f in FLAGS {
        // a·c + b·c = (a + b)·c for matrix products
        r.push(Rule::pat(
            format!("matmul-{f}-add-left"),
            format!("(add (matmul:{f} ?a ?c) (matmul:{f} ?b ?c))"),
            format!("(matmul:{f} (add ?a ?b) ?c)"),
        ));
        // a·b + a·c = a·(b + c) for matrix products
        r.push(Rule::pat(
            format!("matmul-{f}-add-right"),
            format!("(add (matmul:{f} ?a ?b) (matmul:{f} ?a ?c))"),
            format!("(matmul:{f} ?a (add ?b ?c))"),
        ));
    }
    for ax in 0..3 {
        // Σ a + Σ b = Σ (a + b)
        r.push(Rule::pat(
            format!("sum{ax}-add"),
            format!("(add (sum:{ax} ?a) (sum:{ax} ?b))"),
            format!("(sum:{ax} (add ?a ?b))"),
        ));
    }
    r
}
