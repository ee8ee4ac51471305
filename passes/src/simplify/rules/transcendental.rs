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
        // eᵃ · eᵇ = e^(a + b)
        Rule::pat("exp-mul", "(mul (exp ?a) (exp ?b))", "(exp (add ?a ?b))"),
        // Not here: e^(log a) = a, log a + log b = log(a·b) and (√a)² = a, which hold only
        // on the left-hand side's domain (a > 0, a ≥ 0) and turn its NaN into a number
        // elsewhere: a residual `exp(log(x))` at x = −0.5 trained on −0.5 instead of
        // being reported as undefined there. Derivatives never produce them.
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
