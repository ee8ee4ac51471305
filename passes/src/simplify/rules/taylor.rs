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
//!
//! The same law across the terms of one sum, `add-matmul-common`, merges a weight's
//! gradient terms whose adjoints differ by a constant factor (`δᵀ·a + (k·δ)ᵀ·b =
//! δᵀ·(a + k·b)`): it flattens the sum (to 8 or 9 terms), looks through up to 3 scalar
//! factors of each term, and factors the first operand two or more products share.

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
    // Σᵢ op(x)·op(yᵢ)·kᵢ + rest = op(x)·op(Σᵢ kᵢ·yᵢ) + rest for the products of a flattened
    // sum that share an operand (and likewise for a shared right operand), `kᵢ` scalars:
    // the terms of a weight's gradient whose adjoints are one up to a constant factor
    r.push(
        Rule::build(
            "add-matmul-common",
            "(add ?a ?b)",
            "op(x)·op(Σ kᵢ·yᵢ) + rest",
            matmul_common,
        )
        .witness("(add (matmul:tn ?x ?y) (mul (matmul:tn ?x ?z) (broadcast ?k)))"),
    );
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
/// `depth` levels.
fn factors(eg: &EG, c: Id, out: &mut Vec<Id>, depth: usize) {
    flatten(eg, c, (BinOp::Mul, MAX_FACTORS), out, depth)
}

/// The operands of class `c` under `op`: its first `op` node's operands', recursively,
/// to `depth` levels, at most `most` in all (e-graphs are cyclic: the class of `a` may
/// hold `a · 1` or `a + 0`).
fn flatten(eg: &EG, c: Id, (op, most): (BinOp, usize), out: &mut Vec<Id>, depth: usize) {
    let c = eg.find(c);
    let node = eg[c].nodes.iter().find(|n| n.op == Op::Binary(op));
    match node {
        Some(n) if depth > 0 && out.len() + 2 <= most => {
            let (a, b) = (n.args[0], n.args[1]);
            flatten(eg, a, (op, most), out, depth - 1);
            flatten(eg, b, (op, most), out, depth - 1);
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

/// Sums are flattened to at most this many terms.
const MAX_TERMS: usize = 8;

/// The terms of class `c`: its first `add` node's operands' terms, recursively, to
/// `depth` levels.
fn terms(eg: &EG, c: Id, out: &mut Vec<Id>, depth: usize) {
    flatten(eg, c, (BinOp::Add, MAX_TERMS), out, depth)
}

/// A term `op(x)·op(y)·k₁·k₂…` of a sum: the product's op, its operands and its scalar
/// factors.
#[derive(Clone)]
struct Scaled<'a> {
    op: &'a Op,
    x: Id,
    y: Id,
    k: Vec<Id>,
}

/// Scalar factors peeled off a term, at most.
const MAX_SCALES: usize = 3;

/// Every way class `c` is a matrix product times up to [`MAX_SCALES`] broadcast scalars
/// (the scalars `k` peeled so far): the class of `op(a·k)·op(b)` also holds
/// `(op(a)·op(b))·k`, and either may share an operand with another term.
fn scaled_views<'a>(eg: &'a EG, c: Id, k: &[Id], out: &mut Vec<Scaled<'a>>) {
    for n in &eg[eg.find(c)].nodes {
        match n.op {
            Op::MatMul { .. } => out.push(Scaled {
                op: &n.op,
                x: eg.find(n.args[0]),
                y: eg.find(n.args[1]),
                k: k.to_vec(),
            }),
            Op::Binary(BinOp::Mul) if k.len() < MAX_SCALES => {
                if let Some(scalar) = broadcast_scalar(eg, n.args[1]) {
                    let mut k = k.to_vec();
                    k.push(scalar);
                    scaled_views(eg, n.args[0], &k, out);
                }
            }
            _ => {}
        }
    }
}

/// The scalar class that class `b` broadcasts, if it is such a broadcast.
fn broadcast_scalar(eg: &EG, b: Id) -> Option<Id> {
    eg[b].nodes.iter().find_map(|n| {
        let scalar = matches!(n.op, Op::Broadcast(_)) && eg[n.args[0]].data.ty.shape.rank() == 0;
        scalar.then(|| eg.find(n.args[0]))
    })
}

/// `Σ op(x)·op(yᵢ)·kᵢ + rest` → `op(x)·op(Σ kᵢ·yᵢ) + rest` (or with the right operand
/// shared) for the first operand that products in two or more terms of the flattened sum
/// share.
fn matmul_common(eg: &mut EG, _class: Id, s: &Subst) -> Option<Id> {
    let mut ts = Vec::new();
    terms(eg, s[var("?a")], &mut ts, MAX_TERMS);
    terms(eg, s[var("?b")], &mut ts, MAX_TERMS);
    let views: Vec<Vec<Scaled<'_>>> = (ts.iter())
        .map(|&t| {
            let mut v = Vec::new();
            scaled_views(eg, t, &[], &mut v);
            v
        })
        .collect();
    let (picked, left) = shared_group(&views)?;
    let op = picked[0].1.op.clone();
    let shared = if left { picked[0].1.x } else { picked[0].1.y };
    let others: Vec<(Id, Vec<Id>)> = (picked.iter())
        .map(|(_, v)| (if left { v.y } else { v.x }, v.k.clone()))
        .collect();
    let grouped: Vec<usize> = picked.iter().map(|p| p.0).collect();
    let rest: Vec<Id> = (0..ts.len())
        .filter(|i| !grouped.contains(i))
        .map(|i| ts[i])
        .collect();
    let mut sum = None;
    for (o, ks) in others {
        let mut term = o;
        for k in ks {
            let to = eg[o].data.ty.shape.clone();
            let kb = add(eg, Op::Broadcast(to), &[k])?;
            term = add(eg, Op::Binary(BinOp::Mul), &[term, kb])?;
        }
        sum = Some(match sum {
            Some(acc) => add(eg, Op::Binary(BinOp::Add), &[acc, term])?,
            None => term,
        });
    }
    let args = if left { [shared, sum?] } else { [sum?, shared] };
    let mut out = add(eg, op, &args)?;
    for r in rest {
        out = add(eg, Op::Binary(BinOp::Add), &[out, r])?;
    }
    Some(out)
}

/// One view per term, for the first operand (left ones first) that products of one op in
/// two or more terms share: `(term index, view)`, and `true` when the operand is the left.
fn shared_group<'v, 'a>(
    views: &'v [Vec<Scaled<'a>>],
) -> Option<(Vec<(usize, &'v Scaled<'a>)>, bool)> {
    for left in [true, false] {
        let key = |v: &Scaled<'a>| (v.op, if left { v.x } else { v.y });
        for (i, vs) in views.iter().enumerate() {
            for vi in vs {
                let picked: Vec<(usize, &Scaled<'a>)> = (i..views.len())
                    .filter_map(|j| {
                        let vj = views[j].iter().find(|vj| key(vj) == key(vi))?;
                        Some((j, vj))
                    })
                    .collect();
                if picked.len() >= 2 {
                    return Some((picked, left));
                }
            }
        }
    }
    None
}
