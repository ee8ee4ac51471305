//! `test parse`: the graph printed back by the text format, or the parse error.
//!
//! The printed form is canonical, so a file whose expectation is its own input checks
//! that printing and parsing lose nothing.

use crate::file::TestFile;
use nabla_ir::text;

/// The printed graph, or `error: line:col: message`.
pub fn output(file: &TestFile) -> Vec<String> {
    let out = match text::parse(&file.input) {
        Ok(g) => text::print(&g),
        Err(e) => format!("error: {e}"),
    };
    out.lines().map(String::from).collect()
}
