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
use crate::simplify::analysis::EG;
use crate::simplify::rule::{add, splat, var, Rule};
use egg::{Id, Subst};
use nabla_ir::{BinOp, Op};

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
    // c·a + c·b = c·(a + b) where c is every factor the two products share, found by
    // flattening each product (up to MAX_FACTORS factors); needs no associativity rules
    r.push(
        Rule::build(
            "add-common-factor",
            "(add ?a ?b)",
            "shared factors · (rest of a + rest of b)",
            |eg, class, s| common_factor(eg, class, s, BinOp::Add),
        )
        .witness("(add (mul ?c (mul ?a ?d)) (mul (mul ?d ?b) ?c))"),
    );
    // c·a − c·b = c·(a − b) likewise
    r.push(
        Rule::build(
            "sub-common-factor",
            "(sub ?a ?b)",
            "shared factors · (rest of a − rest of b)",
            |eg, class, s| common_factor(eg, class, s, BinOp::Sub),
        )
        .witness("(sub (mul ?c (mul ?a ?d)) (mul (mul ?d ?b) ?c))"),
    );
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

/// Products are flattened to at most this many factors.
const MAX_FACTORS: usize = 8;

/// The factors of class `c`: its first `mul` node's operands' factors, recursively, to
/// `depth` levels (e-graphs are cyclic: the class of `a` may hold `a · 1`).
fn factors(eg: &EG, c: Id, out: &mut Vec<Id>, depth: usize) {
    let c = eg.find(c);
    let product = eg[c].nodes.iter().find(|n| n.op == Op::Binary(BinOp::Mul));
    match product {
        Some(n) if depth > 0 && out.len() + 2 <= MAX_FACTORS => {
            let (a, b) = (n.args[0], n.args[1]);
            factors(eg, a, out, depth - 1);
            factors(eg, b, out, depth - 1);
        }
        _ => out.push(c),
    }
}

/// Removes from `a` and `b` the factors they share; returns the shared ones.
fn split_common(a: &mut Vec<Id>, b: &mut Vec<Id>) -> Vec<Id> {
    let mut common = Vec::new();
    let mut i = 0;
    while i < a.len() {
        match b.iter().position(|&x| x == a[i]) {
            Some(j) => {
                common.push(a.remove(i));
                b.remove(j);
            }
            None => i += 1,
        }
    }
    common
}

/// The product of `fs` (1 when empty) with the type of class `like`.
fn product(eg: &mut EG, fs: &[Id], like: Id) -> Option<Id> {
    let Some((&first, rest)) = fs.split_first() else {
        let ty = eg[like].data.ty.clone();
        return Some(splat(eg, 1.0, &ty));
    };
    rest.iter()
        .try_fold(first, |acc, &f| add(eg, Op::Binary(BinOp::Mul), &[acc, f]))
}

/// `c·a' ∘ c·b'` → `c·(a' ∘ b')` for the shared factors `c` of `?a` and `?b`.
fn common_factor(eg: &mut EG, class: Id, s: &Subst, op: BinOp) -> Option<Id> {
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    factors(eg, s[var("?a")], &mut fa, MAX_FACTORS);
    factors(eg, s[var("?b")], &mut fb, MAX_FACTORS);
    if fa.len() < 2 && fb.len() < 2 {
        return None;
    }
    let common = split_common(&mut fa, &mut fb);
    if common.is_empty() {
        return None;
    }
    let c = product(eg, &common, class)?;
    let a = product(eg, &fa, class)?;
    let b = product(eg, &fb, class)?;
    let inner = add(eg, Op::Binary(op), &[a, b])?;
    add(eg, Op::Binary(BinOp::Mul), &[c, inner])
}
