//! `test verify-error`: what the verifier says of the graph exactly as written (parsed
//! without checks), and what the checked parser says of the same text.

use crate::file::TestFile;
use nabla_ir::{text, verify};

/// `verify: <error or ok>` and `parse: <error or ok>`.
pub fn output(file: &TestFile) -> Vec<String> {
    let verified = match text::parse_unchecked(&file.input) {
        Ok(g) => match verify(&g) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        },
        Err(e) => format!("syntax error {e}"),
    };
    let parsed = match text::parse(&file.input) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    vec![format!("verify: {verified}"), format!("parse: {parsed}")]
}
