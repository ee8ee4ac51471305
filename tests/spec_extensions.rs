//! The examples of the problem-language specification's extensions (December 2026) parse,
//! sample and train: `frontend/tests/lang_examples/spec_*.nabla` hold the specification's
//! snippets completed to files and one file with every other construct of that page.

use nabla::frontend::lang;
use nabla::frontend::problem::Problem;
use nabla::{OptimizerKind, Training};

fn load(name: &str) -> Problem {
    let path = format!(
        "{}/frontend/tests/lang_examples/{name}.nabla",
        env!("CARGO_MANIFEST_DIR")
    );
    let src = std::fs::read_to_string(&path).unwrap();
    lang::load(&path, &src)
        .unwrap_or_else(|d| panic!("{}", d.render()))
        .problem
}

/// Trains `steps` steps; returns the first and last loss and the final errors.
fn train(p: &Problem, opt: OptimizerKind, steps: usize) -> (f64, f64, Vec<(String, f64)>) {
    let t = Training::new(opt).steps(steps);
    let run = nabla::train(p, &t).unwrap();
    let h = &run.result.history;
    (h[0].loss, h[h.len() - 1].loss, run.rel_l2)
}

/// The hard-constraint snippet: `u` is an output with an exact solution, and it trains.
#[test]
fn the_constrained_snippet_trains_to_its_exact_solution() {
    let p = load("spec_constrained");
    let (first, last, errors) = train(&p, OptimizerKind::AdamLbfgs, 300);
    assert!(last < 1e-4 * first, "{first} -> {last}");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "u");
    assert!(errors[0].1 < 1e-2, "{errors:?}");
}

/// Every shape, CSG operator, normals, embeddings and a space-time domain: the file
/// samples every set and the loss falls.
#[test]
fn every_construct_of_the_extensions_trains() {
    let p = load("spec_domains");
    assert_eq!(p.domains.len(), 3);
    let (first, last, errors) = train(&p, OptimizerKind::Adam, 150);
    assert!(last.is_finite() && last < 0.5 * first, "{first} -> {last}");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].1.is_finite());
}
