//! The CLI's subcommands, one module each.

pub mod bench;
pub mod common;
pub mod compare;
pub mod distributed;
pub mod dump_ir;
pub mod eval;
pub mod flags;
pub mod train;
