//! One module per kind of file test, and the comparison with the expectation block that
//! they share.

mod ad;
mod parse;
mod run;
mod schedule;
mod simplify;
mod verify;

pub(crate) use run::precision;

use crate::diff::{merge, unified};
use crate::file::{Kind, TestFile};
use crate::values::{lines_close, run_line_mismatch};
use std::path::Path;

/// Tolerance for `run:` lines in kinds whose values come from the interpreter alone.
const DEFAULT_TOL: f64 = 1e-12;

/// One file under test.
pub struct Ctx<'a> {
    /// Where the file is (rewritten when blessing).
    pub path: &'a Path,
    /// The file, parsed.
    pub file: &'a TestFile,
    /// Whether to rewrite a differing expectation block instead of failing (`BLESS=1`).
    pub bless: bool,
}

/// Runs the file's kind.
pub fn check(cx: &Ctx) -> Result<(), String> {
    match cx.file.header.kind {
        Kind::Parse => cx.expect(&parse::output(cx.file), DEFAULT_TOL).map(drop),
        Kind::VerifyError => cx.expect(&verify::output(cx.file), DEFAULT_TOL).map(drop),
        Kind::Run => run::check(cx),
        Kind::Ad => ad::check(cx),
        Kind::Simplify => simplify::check(cx),
        Kind::Schedule => schedule::check(cx),
    }
}

impl Ctx<'_> {
    /// Compares `actual` with the expectation block (`run:` lines within `tol`, other
    /// lines exactly). On a mismatch, rewrites the block under bless (keeping expected
    /// lines that agree, see [`merge`]), and fails with a diff otherwise. Returns the
    /// expectation now in force.
    pub fn expect(&self, actual: &[String], tol: f64) -> Result<Vec<String>, String> {
        let expected = &self.file.expected;
        if same_lines(expected, actual, tol) {
            return Ok(expected.clone());
        }
        if self.bless {
            let merged = merge(expected, actual, |e, a| lines_close(e, a, tol));
            std::fs::write(self.path, self.file.blessed(&merged)).map_err(|e| e.to_string())?;
            return Ok(merged);
        }
        Err(mismatch("", expected, actual, tol) + "(run with BLESS=1 to accept the actual output)")
    }
}

/// Whether two line lists agree line by line (see [`lines_close`]).
pub fn same_lines(expected: &[String], actual: &[String], tol: f64) -> bool {
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(e, a)| lines_close(e, a, tol))
}

/// A readable account of how `actual` differs from `expected`: a unified diff (values
/// within `tol` count as equal), then the first differing value of each `run:` line.
pub fn mismatch(what: &str, expected: &[String], actual: &[String], tol: f64) -> String {
    let mut out = what.to_string();
    out += &unified(expected, actual, |e, a| lines_close(e, a, tol));
    for (e, a) in expected.iter().zip(actual) {
        if let Some(Some(why)) = run_line_mismatch(e, a, tol) {
            out += &format!("first difference: {why}\n");
        }
    }
    out
}

/// A graph's printed lines.
fn printed(g: &nabla_ir::Graph) -> Vec<String> {
    nabla_ir::text::print(g).lines().map(String::from).collect()
}
