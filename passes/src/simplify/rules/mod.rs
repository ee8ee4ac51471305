//! The rule tables, one module per topic.

pub mod arith;
pub mod taylor;
pub mod tensor;
pub mod transcendental;

use super::rule::Rule;

/// Every rule exact under IEEE semantics.
pub fn exact() -> Vec<Rule> {
    let mut r = arith::rules();
    r.extend(transcendental::rules());
    r.extend(tensor::rules());
    r
}

/// The named set `real_only`: identities true over the reals but not under NaN/Inf or
/// overflow, including the collapsing rules.
pub fn real_only() -> Vec<Rule> {
    let mut r = arith::real_only();
    r.extend(transcendental::real_only());
    r.extend(tensor::real_only());
    r.extend(taylor::rules());
    r
}

/// Every rule, exact ones first.
pub fn all() -> Vec<Rule> {
    let mut r = exact();
    r.extend(real_only());
    r
}
