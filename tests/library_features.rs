//! The library without the CLI: with `default-features = false`, `nabla` depends on none of
//! the command line's crates (clap, indicatif, ctrlc) nor on plotters, so a program that
//! only uses the Rust DSL compiles none of them. `scripts/test.sh` also checks that the
//! library builds that way (`cargo check -p nabla --no-default-features --lib`).

use std::process::Command;

/// The names of the crates in `nabla`'s normal dependency tree under `features`.
fn dependency_names(features: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "nabla",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(features)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    names.sort();
    names.dedup();
    names
}

const UI: [&str; 4] = ["clap", "indicatif", "plotters", "ctrlc"];

#[test]
fn the_library_alone_needs_no_ui_crates() {
    let names = dependency_names(&["--no-default-features"]);
    assert!(names.iter().any(|n| n == "cranelift-jit"), "{names:?}");
    for ui in UI {
        assert!(
            !names.iter().any(|n| n == ui),
            "`{ui}` without default features"
        );
    }
}

#[test]
fn the_default_build_has_the_cli() {
    let names = dependency_names(&[]);
    for ui in UI {
        assert!(
            names.iter().any(|n| n == ui),
            "`{ui}` missing from the default build"
        );
    }
}

#[test]
fn plots_alone_bring_plotters_but_not_the_cli() {
    let names = dependency_names(&["--no-default-features", "--features", "plots"]);
    assert!(names.iter().any(|n| n == "plotters"));
    assert!(!names.iter().any(|n| n == "clap"));
}
