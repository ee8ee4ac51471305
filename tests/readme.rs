//! The README and the pages under `docs/` against the repository they describe:
//!
//! - every relative link resolves to a file or folder of the repository (and every `#anchor`
//!   to a heading of the page it names), and no link or path in inline code points outside
//!   the repository;
//! - the README's set-up commands come first and name files that exist;
//! - every `nabla` code block is a problem file that loads without errors, and one that
//!   states the problem of an example file says what that file says;
//! - every `rust` code block of the README is a verbatim excerpt of the example file its
//!   first line names;
//! - the `--help` texts in `docs/cli.md` are the built binary's;
//! - the error output quoted in `docs/language.md` is that of a `tests/lang_errors` snapshot;
//! - the README's dependency table lists exactly the crates the `Cargo.toml` files name.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// README.md and every page under docs/, as (path relative to the root, text).
fn pages() -> Vec<(String, String)> {
    let mut out = vec![("README.md".to_string(), read("README.md"))];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    for p in docs {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let rel = format!("docs/{name}");
        out.push((rel.clone(), read(&rel)));
    }
    out
}

/// A fenced code block: its info string, its lines, and the line number of its fence.
struct Block {
    info: String,
    lines: Vec<String>,
    line: usize,
}

/// The fenced code blocks of a page, and its text outside them (other lines blanked, so
/// that line numbers stay right).
fn split(text: &str) -> (Vec<Block>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            None if fence => {
                let info = line.trim_start().trim_start_matches('`').trim().to_string();
                open = Some(Block {
                    info,
                    lines: Vec::new(),
                    line: i + 1,
                });
                prose.push(String::new());
            }
            None => prose.push(line.to_string()),
            Some(b) if fence => {
                blocks.push(b);
                prose.push(String::new());
            }
            Some(mut b) => {
                b.lines.push(line.to_string());
                open = Some(b);
                prose.push(String::new());
            }
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    (blocks, prose)
}

/// The targets of the Markdown links `[text](target)` in a line.
fn links(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                out.push(after[..j].trim().to_string());
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// The inline code spans of a line.
fn code_spans(line: &str) -> Vec<String> {
    line.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// The GitHub anchor of a heading: lower case, punctuation dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(page: &str) -> Vec<String> {
    let (_, prose) = split(page);
    prose
        .iter()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| anchor(h.trim_start_matches('#')))
        .collect()
}

/// `base/rel` with `.` and `..` resolved lexically; `None` when it leaves the root.
fn resolve(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = base
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for c in Path::new(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// Why a path named in the documentation points outside the repository, if it does.
fn outside(path: &str) -> Option<&'static str> {
    let p = path.trim_start_matches("./");
    let first = p.split('/').next().unwrap_or("");
    if p.starts_with('/') || p.starts_with('~') {
        return Some("an absolute path");
    }
    if first == "shared" || first == "spec" || p.contains("/spec/") {
        return Some("the design notes, which are not part of the repository");
    }
    None
}

#[test]
fn relative_links_resolve_inside_the_repository() {
    let mut bad = Vec::new();
    for (page, text) in pages() {
        let dir = Path::new(&page).parent().unwrap_or(Path::new(""));
        let (_, prose) = split(&text);
        for (i, line) in prose.iter().enumerate() {
            for target in links(line) {
                let at = format!("{page}:{}: ({target})", i + 1);
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, frag) = match target.split_once('#') {
                    Some((p, f)) => (p, Some(f)),
                    None => (target.as_str(), None),
                };
                if let Some(why) = outside(path) {
                    bad.push(format!("{at} points to {why}"));
                    continue;
                }
                let file = if path.is_empty() {
                    Some(PathBuf::from(&page))
                } else {
                    resolve(dir, path)
                };
                let Some(file) = file else {
                    bad.push(format!("{at} leaves the repository"));
                    continue;
                };
                if !root().join(&file).exists() {
                    bad.push(format!("{at}: no such file in the repository"));
                    continue;
                }
                if let Some(frag) = frag {
                    let target_text = read(&file.to_string_lossy());
                    if !anchors(&target_text).iter().any(|a| a == frag) {
                        bad.push(format!("{at}: no heading with anchor #{frag}"));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "bad links:\n{}", bad.join("\n"));
}

/// Inline code that looks like a path of the repository (`dir/file.ext`, `dir/`).
fn looks_like_path(s: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_.-/*~".contains(c);
    s.contains('/') && s.chars().all(ok_char) && s.chars().any(|c| c.is_ascii_alphanumeric())
}

#[test]
fn paths_in_inline_code_exist_in_the_repository() {
    let mut bad = Vec::new();
    for (page, text) in pages() {
        let (_, prose) = split(&text);
        for (i, line) in prose.iter().enumerate() {
            for span in code_spans(line) {
                if !looks_like_path(&span) {
                    continue;
                }
                let at = format!("{page}:{}: `{span}`", i + 1);
                if let Some(why) = outside(&span) {
                    bad.push(format!("{at} points to {why}"));
                    continue;
                }
                let first = span.split('/').next().unwrap_or("");
                // Only paths under a top-level folder of the repository are checked
                // (not `target/...`, which a build creates, nor paths inside an output
                // folder such as `--out DIR`).
                let tracked = root().join(first).is_dir() && first != "target";
                if tracked && !span.contains('*') && !root().join(&span).exists() {
                    bad.push(format!("{at}: no such file in the repository"));
                }
            }
        }
    }
    assert!(bad.is_empty(), "bad paths:\n{}", bad.join("\n"));
}

#[test]
fn setup_commands_come_first() {
    let readme = read("README.md");
    let (blocks, _) = split(&readme);
    let first = &blocks[0];
    assert_eq!(
        first.info, "sh",
        "the README starts with the set-up commands"
    );
    let text = first.lines.join("\n");
    assert!(
        text.contains("cargo run --release -- train examples/poisson2d.nabla"),
        "{text}"
    );
    assert!(text.contains("bash scripts/test.sh"), "{text}");
    assert!(root().join("examples/poisson2d.nabla").is_file());
    assert!(root().join("scripts/test.sh").is_file());
}

/// The statements of a problem file: lines without comments, trimmed, blank ones dropped.
fn statements(src: &str) -> Vec<String> {
    src.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn problem_blocks_load_and_match_their_examples() {
    let mut seen = 0;
    for (page, text) in pages() {
        let (blocks, _) = split(&text);
        for b in blocks.iter().filter(|b| b.info == "nabla") {
            seen += 1;
            let src = b.lines.join("\n") + "\n";
            let name = format!("{page}:{}", b.line);
            if let Err(d) = nabla::frontend::lang::load(&name, &src) {
                panic!("the problem in {name} does not load:\n{d}");
            }
            let stmts = statements(&src);
            let Some(problem) = stmts.iter().find_map(|s| s.strip_prefix("problem ")) else {
                continue;
            };
            let example = format!("examples/{}.nabla", problem.trim());
            if root().join(&example).is_file() {
                assert_eq!(
                    stmts,
                    statements(&read(&example)),
                    "{name} states problem `{problem}` differently from {example}"
                );
            }
        }
    }
    assert!(
        seen >= 2,
        "the README and docs/language.md show problem files"
    );
}

#[test]
fn rust_blocks_are_excerpts_of_their_examples() {
    let readme = read("README.md");
    let (blocks, _) = split(&readme);
    let rust: Vec<&Block> = blocks.iter().filter(|b| b.info == "rust").collect();
    assert!(!rust.is_empty(), "the README shows the Rust DSL");
    for b in rust {
        let at = format!("README.md:{}", b.line);
        let first = b.lines.first().map(|l| l.trim()).unwrap_or("");
        let file = first
            .strip_prefix("// ")
            .filter(|f| f.starts_with("examples/") && f.ends_with(".rs"))
            .unwrap_or_else(|| panic!("{at}: the block must start with `// examples/NAME.rs`"));
        let example: Vec<String> = read(file).lines().map(|l| l.trim().to_string()).collect();
        // `// ...` lines mark omissions: each part between them is a contiguous excerpt,
        // and the parts come in the file's order.
        let mut from = 0;
        let mut part: Vec<String> = Vec::new();
        let mut parts = Vec::new();
        for line in &b.lines[1..] {
            if line.trim().starts_with("// ...") {
                parts.push(std::mem::take(&mut part));
            } else {
                part.push(line.trim().to_string());
            }
        }
        parts.push(part);
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let found = (from..=example.len().saturating_sub(part.len()))
                .find(|&i| example[i..i + part.len()] == part[..]);
            match found {
                Some(i) => from = i + part.len(),
                None => panic!(
                    "{at}: these lines are not in {file} (in this order):\n{}",
                    part.join("\n")
                ),
            }
        }
    }
}

/// Lines with trailing spaces removed, and without trailing blank lines.
fn normalise(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

#[test]
fn cli_help_texts_are_the_binarys() {
    let page = read("docs/cli.md");
    let (blocks, _) = split(&page);
    let mut seen = BTreeSet::new();
    for b in &blocks {
        let Some(cmd) = b.lines.first().and_then(|l| l.strip_prefix("$ nabla ")) else {
            continue;
        };
        let args: Vec<&str> = cmd.split_whitespace().collect();
        assert_eq!(args.last(), Some(&"--help"), "docs/cli.md:{}", b.line);
        let out = Command::new(env!("CARGO_BIN_EXE_nabla"))
            .args(&args)
            .output()
            .expect("the nabla binary runs");
        assert!(out.status.success(), "nabla {cmd}");
        let actual = normalise(&String::from_utf8_lossy(&out.stdout));
        let shown = normalise(&b.lines[1..].join("\n"));
        assert_eq!(
            shown, actual,
            "docs/cli.md:{}: `nabla {cmd}` prints something else; paste its output",
            b.line
        );
        seen.insert(args[..args.len() - 1].join(" "));
    }
    for sub in ["", "train", "eval", "dump-ir", "bench"] {
        assert!(seen.contains(sub), "docs/cli.md shows `nabla {sub} --help`");
    }
}

#[test]
fn quoted_diagnostics_are_snapshots() {
    let page = read("docs/language.md");
    let (blocks, _) = split(&page);
    let snapshots: Vec<Vec<String>> = std::fs::read_dir(root().join("tests/lang_errors"))
        .expect("tests/lang_errors exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "stderr"))
        .map(|p| normalise(&std::fs::read_to_string(p).expect("readable")))
        .collect();
    let quoted: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.lines.first().is_some_and(|l| l.starts_with("error: ")))
        .collect();
    assert!(!quoted.is_empty(), "docs/language.md quotes a diagnostic");
    for b in quoted {
        let shown = normalise(&b.lines.join("\n"));
        assert!(
            snapshots.contains(&shown),
            "docs/language.md:{}: not the output of any tests/lang_errors file",
            b.line
        );
    }
}

/// The crates a manifest names in its dependency sections (`[workspace.dependencies]`
/// when `workspace`, otherwise `[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]`, and those of a target: `[target.'cfg(…)'.dependencies]` or
/// `[target.<triple>.dependencies]`).
fn manifest_deps(text: &str, workspace: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut on = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let kinds = ["dependencies]", "dev-dependencies]", "build-dependencies]"];
            on = if workspace {
                line == "[workspace.dependencies]"
            } else if let Some(rest) = line.strip_prefix("[target.") {
                kinds.iter().any(|k| rest.ends_with(&format!(".{k}")))
            } else {
                kinds.iter().any(|k| line == format!("[{k}"))
            };
            continue;
        }
        if !on || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split(['=', '.']).next().unwrap_or("").trim();
        if !key.is_empty() && !key.starts_with("nabla") {
            out.insert(key.to_string());
        }
    }
    out
}

#[test]
fn every_dependency_is_explained() {
    let manifests = [
        "Cargo.toml",
        "ir/Cargo.toml",
        "passes/Cargo.toml",
        "backends/Cargo.toml",
        "frontend/Cargo.toml",
    ];
    let used: BTreeSet<String> = manifests
        .iter()
        .flat_map(|m| manifest_deps(&read(m), false))
        .collect();
    let declared = manifest_deps(&read("Cargo.toml"), true);
    let readme = read("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Dependencies"))
        .expect("a Dependencies section");
    let rows = section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| crate"));
    let listed: BTreeSet<String> = rows
        .flat_map(|r| code_spans(r.split('|').nth(1).unwrap_or("")))
        .collect();
    let missing: Vec<&String> = used.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "README's dependency table lacks {missing:?}"
    );
    let extra: Vec<&String> = listed.difference(&used).collect();
    assert!(
        extra.is_empty(),
        "README's dependency table lists {extra:?}, which no crate depends on"
    );
    let spans: BTreeSet<String> = section.lines().flat_map(code_spans).collect();
    for d in declared.difference(&used) {
        assert!(
            spans.contains(d),
            "README should say that `{d}` is declared in [workspace.dependencies] but unused"
        );
    }
}
