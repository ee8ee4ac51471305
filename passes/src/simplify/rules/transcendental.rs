//! Identities of the transcendental and other elementwise functions.
//!
//! [`rules`] hold under IEEE semantics for the interpreter's functions (odd and even
//! symmetry); [`real_only`] hold over the reals on the domain of the left-hand side but
//! not under NaN/Inf or overflow.

use crate::simplify::rule::Rule;

/// Symmetries exact in floating point.
pub fn rules() -> Vec<Rule> {
    vec![
        // tanh(−a) = −tanh(a)
        Rule::pat("tanh-neg", "(tanh (neg ?a))", "(neg (tanh ?a))"),
        // sin(−a) = −sin(a)
        Rule::pat("sin-neg", "(sin (neg ?a))", "(neg (sin ?a))"),
        // tan(−a) = −tan(a)
        Rule::pat("tan-neg", "(tan (neg ?a))", "(neg (tan ?a))"),
        // cos(−a) = cos(a)
        Rule::pat("cos-neg", "(cos (neg ?a))", "(cos ?a)"),
        // |−a| = |a|
        Rule::pat("abs-neg", "(abs (neg ?a))", "(abs ?a)"),
        // ||a|| = |a|
        Rule::pat("abs-abs", "(abs (abs ?a))", "(abs ?a)"),
        // |a|² = a²
        Rule::pat("square-abs", "(square (abs ?a))", "(square ?a)"),
        // |a| · sign(a) = a
        Rule::pat("abs-mul-sign", "(mul (abs ?a) (sign ?a))", "?a"),
        // sign(−a) = −sign(a)
        Rule::pat("sign-neg", "(sign (neg ?a))", "(neg (sign ?a))"),
    ]
}

/// Identities true over the reals only.
pub fn real_only() -> Vec<Rule> {
    vec![
        // log(eᵃ) = a (eᵃ overflows for large a)
        Rule::pat("log-exp", "(log (exp ?a))", "?a"),
        // e^(log a) = a for a > 0, the domain of the left-hand side
        Rule::pat("exp-log", "(exp (log ?a))", "?a"),
        // eᵃ · eᵇ = e^(a + b)
        Rule::pat("exp-mul", "(mul (exp ?a) (exp ?b))", "(exp (add ?a ?b))"),
        // log a + log b = log(a · b) for a, b > 0
        Rule::pat("log-add", "(add (log ?a) (log ?b))", "(log (mul ?a ?b))"),
        // (√a)² = a for a ≥ 0
        Rule::pat("square-sqrt", "(square (sqrt ?a))", "?a"),
        // √(a²) = |a| (a² may overflow)
        Rule::pat("sqrt-square", "(sqrt (square ?a))", "(abs ?a)"),
        // sin²a + cos²a = 1
        Rule::pat(
            "sin-cos-square",
            "(add (square (sin ?a)) (square (cos ?a)))",
            "1",
        ),
        // sin a / cos a = tan a
        Rule::pat("sin-div-cos", "(div (sin ?a) (cos ?a))", "(tan ?a)"),
    ]
}
