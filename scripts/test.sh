#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls it).
# Formatting, lints, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
