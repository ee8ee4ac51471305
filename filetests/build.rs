//! Generates one `#[test]` per file test: `tests/filetests/<folder>/<stem>.ir` at the
//! repository root becomes `<folder>::<stem>` in `$OUT_DIR/filetests.rs`, which
//! `tests/filetests.rs` includes. A failing file is then one failing test with its own
//! name, and `cargo test -p nabla-filetests --test filetests run::` runs one folder.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let root = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("../tests/filetests");
    // A directory makes cargo rerun this script when anything under it changes, so new
    // files get their tests without touching the crate.
    println!("cargo::rerun-if-changed={}", root.display());
    let mut out = String::new();
    for dir in sorted(&root).into_iter().filter(|d| d.is_dir()) {
        let files: Vec<PathBuf> = sorted(&dir)
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "ir"))
            .collect();
        let folder = dir.file_name().unwrap().to_string_lossy().to_string();
        writeln!(out, "mod {} {{", ident(&folder)).unwrap();
        for f in files {
            let stem = f.file_stem().unwrap().to_string_lossy().to_string();
            let rel = format!("{folder}/{stem}.ir");
            writeln!(
                out,
                "    #[test]\n    fn {}() {{ crate::check({rel:?}); }}",
                ident(&stem)
            )
            .unwrap();
        }
        writeln!(out, "}}").unwrap();
    }
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("filetests.rs");
    fs::write(dest, out).unwrap();
}

/// The entries of a directory, sorted.
fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// A Rust identifier for a file or folder name: other characters become `_`, and a
/// leading digit or a keyword gets a `_` prefix.
fn ident(name: &str) -> String {
    const KEYWORDS: [&str; 12] = [
        "as", "fn", "for", "if", "impl", "in", "loop", "match", "mod", "move", "type", "use",
    ];
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    match s.starts_with(|c: char| c.is_ascii_digit()) || KEYWORDS.contains(&s.as_str()) {
        true => format!("_{s}"),
        false => s,
    }
}
