//! Arithmetic identities.
//!
//! [`rules`] hold under IEEE semantics (they may change the sign of a zero, never a
//! value); [`real_only`] hold over the reals but not under NaN/Inf or overflow.

use crate::simplify::rule::{Cond, Rule};

/// Arithmetic identities exact under IEEE semantics.
pub fn rules() -> Vec<Rule> {
    vec![
        // a + b = b + a
        Rule::pat("add-comm", "(add ?a ?b)", "(add ?b ?a)"),
        // a · b = b · a
        Rule::pat("mul-comm", "(mul ?a ?b)", "(mul ?b ?a)"),
        // a + 0 = a
        Rule::pat("add-zero", "(add ?a ?z)", "?a").when(Cond::Splat("?z", 0.0)),
        // a − 0 = a
        Rule::pat("sub-zero", "(sub ?a ?z)", "?a").when(Cond::Splat("?z", 0.0)),
        // 0 − a = −a
        Rule::pat("zero-sub", "(sub ?z ?a)", "(neg ?a)").when(Cond::Splat("?z", 0.0)),
        // a · 1 = a
        Rule::pat("mul-one", "(mul ?a ?o)", "?a").when(Cond::Splat("?o", 1.0)),
        // a · (−1) = −a
        Rule::pat("mul-minus-one", "(mul ?a ?o)", "(neg ?a)").when(Cond::Splat("?o", -1.0)),
        // a / 1 = a
        Rule::pat("div-one", "(div ?a ?o)", "?a").when(Cond::Splat("?o", 1.0)),
        // −(−a) = a
        Rule::pat("neg-neg", "(neg (neg ?a))", "?a"),
        // a + (−b) = a − b
        Rule::pat("add-neg", "(add ?a (neg ?b))", "(sub ?a ?b)"),
        // a − (−b) = a + b
        Rule::pat("sub-neg", "(sub ?a (neg ?b))", "(add ?a ?b)"),
        // −(a − b) = b − a
        Rule::pat("neg-sub", "(neg (sub ?a ?b))", "(sub ?b ?a)"),
        // (−a) · b = −(a · b)
        Rule::pat("mul-neg", "(mul (neg ?a) ?b)", "(neg (mul ?a ?b))"),
        // (−a) / b = −(a / b)
        Rule::pat("div-neg", "(div (neg ?a) ?b)", "(neg (div ?a ?b))"),
        // (−a) + (−b) = −(a + b)
        Rule::pat("neg-add", "(add (neg ?a) (neg ?b))", "(neg (add ?a ?b))"),
        // a · a = a²
        Rule::pat("mul-self", "(mul ?a ?a)", "(square ?a)"),
        // (−a)² = a²
        Rule::pat("square-neg", "(square (neg ?a))", "(square ?a)"),
        // a^2 = a²
        Rule::pat("powi-two", "(powi:2 ?a)", "(square ?a)"),
        // a^1 = a
        Rule::pat("powi-one", "(powi:1 ?a)", "?a"),
        // a + a = 2 · a
        Rule::pat("add-self", "(add ?a ?a)", "(mul 2 ?a)"),
        // −(a · k) = a · (−k) for a constant k: the negation folds into the constant
        Rule::pat("neg-mul-const", "(neg (mul ?a ?k))", "(mul ?a (neg ?k))")
            .when(Cond::NonzeroSplat("?k")),
    ]
}

/// Arithmetic identities true over the reals only.
pub fn real_only() -> Vec<Rule> {
    vec![
        // a · 0 = 0 (not for a = ±∞ or NaN)
        Rule::pat("mul-zero", "(mul ?a ?z)", "?z").when(Cond::Splat("?z", 0.0)),
        // 0 / a = 0 (not for a = 0 or NaN): a structurally zero tangent over a
        // derivative infinite at the point (Taylor mode's √a at a = 0), as `mul-zero` folds
        // it where the derivative multiplies
        Rule::pat("zero-div", "(div ?z ?a)", "?z").when(Cond::Splat("?z", 0.0)),
        // a − a = 0 (not for ±∞, NaN)
        Rule::pat("sub-self", "(sub ?a ?a)", "0"),
        // a / a = 1 (where a ≠ 0 and finite)
        Rule::pat("div-self", "(div ?a ?a)", "1"),
        // (a + b) − b = a (not when b is ±∞)
        Rule::pat("add-sub-cancel", "(sub (add ?a ?b) ?b)", "?a"),
        // (a − b) + b = a
        Rule::pat("sub-add-cancel", "(add (sub ?a ?b) ?b)", "?a"),
        // a · (1/b) = a / b (1/b may overflow)
        Rule::pat("mul-recip", "(mul ?a (recip ?b))", "(div ?a ?b)"),
        // 1/(1/a) = a (1/a may overflow)
        Rule::pat("recip-recip", "(recip (recip ?a))", "?a"),
        // a·b + a·c = a·(b + c) (distributivity, factoring direction)
        Rule::pat(
            "mul-factor",
            "(add (mul ?a ?b) (mul ?a ?c))",
            "(mul ?a (add ?b ?c))",
        ),
        // b·a + c·a = (b + c)·a
        Rule::pat(
            "mul-factor-right",
            "(add (mul ?b ?a) (mul ?c ?a))",
            "(mul (add ?b ?c) ?a)",
        ),
        // a·b − a·c = a·(b − c)
        Rule::pat(
            "mul-factor-sub",
            "(sub (mul ?a ?b) (mul ?a ?c))",
            "(mul ?a (sub ?b ?c))",
        ),
        // b·a − c·a = (b − c)·a
        Rule::pat(
            "mul-factor-sub-right",
            "(sub (mul ?b ?a) (mul ?c ?a))",
            "(mul (sub ?b ?c) ?a)",
        ),
        // a/c + b/c = (a + b)/c
        Rule::pat(
            "div-factor",
            "(add (div ?a ?c) (div ?b ?c))",
            "(div (add ?a ?b) ?c)",
        ),
        // k · (l · a) = (k · l) · a for constants k, l (reassociation that folds them;
        // not where k · l overflows or underflows, which k · (l · a) need not)
        Rule::pat(
            "mul-const-assoc",
            "(mul ?k (mul ?l ?a))",
            "(mul (mul ?k ?l) ?a)",
        )
        .when(Cond::NonzeroSplat("?k"))
        .when(Cond::NonzeroSplat("?l"))
        .when(Cond::NormalProduct("?k", "?l")),
        // (a · b) · c = a · (b · c) (reassociation; with `mul-comm` it reorders products so
        // that factors shared across terms, like φ''(z) in every direction, come together)
        Rule::pat("mul-assoc", "(mul (mul ?a ?b) ?c)", "(mul ?a (mul ?b ?c))"),
        // (a · k) · b = (a · b) · k for a scalar k: scalar factors move out of products
        // toward the root, so that two chains that differ only by a scalar factor (the
        // adjoints of `u_t` and of `c·u_xx` back through the same layers) become one
        Rule::pat(
            "mul-scale-out",
            "(mul (mul ?a (broadcast ?k)) ?b)",
            "(mul (mul ?a ?b) (broadcast ?k))",
        )
        .when(Cond::Scalar("?k"))
        .when(Cond::NotOne("?k"))
        .when(Cond::NotSplat("?b")),
        // b · (a · k) = (b · a) · k for a scalar k (the same, scaled factor on the right)
        Rule::pat(
            "mul-scale-out-right",
            "(mul ?b (mul ?a (broadcast ?k)))",
            "(mul (mul ?b ?a) (broadcast ?k))",
        )
        .when(Cond::Scalar("?k"))
        .when(Cond::NotOne("?k"))
        .when(Cond::NotSplat("?b")),
        // (a + k) + l = a + (k + l) for constants k, l (reassociation that folds them)
        Rule::pat(
            "add-const-assoc",
            "(add (add ?a ?k) ?l)",
            "(add ?a (add ?k ?l))",
        )
        .when(Cond::NonzeroSplat("?k"))
        .when(Cond::NonzeroSplat("?l"))
        .when(Cond::FiniteSum("?k", "?l")),
    ]
}
