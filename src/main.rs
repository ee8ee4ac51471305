//! The `nabla` command line: one module per subcommand.

mod cmd;

use clap::error::ErrorKind;
use clap::{Arg, CommandFactory, FromArgMatches, Parser, Subcommand};

/// nabla: exact nested derivatives for physics-informed neural networks.
#[derive(Parser)]
#[command(name = "nabla", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a problem's networks and params.
    Train(cmd::train::Args),
    /// Evaluate residuals, loss and gradient at given params and points.
    Eval(cmd::eval::Args),
    /// Print the IR at each stage of the pipeline.
    DumpIr(cmd::dump_ir::Args),
    /// Compare derivative methods for speed and accuracy.
    Bench(cmd::bench::Args),
    /// Compare training runs: errors against wall time, from their history.csv.
    Compare(cmd::compare::Args),
}

impl Command {
    /// The subcommand's name and its flag combinations that cannot work, if any.
    fn check(&self) -> (&'static str, Result<(), String>) {
        match self {
            Command::Train(a) => ("train", a.check()),
            Command::DumpIr(a) => ("dump-ir", a.check()),
            Command::Eval(a) => ("eval", a.check()),
            Command::Bench(_) => ("bench", Ok(())),
            Command::Compare(_) => ("compare", Ok(())),
        }
    }
}

fn main() {
    let cli = Cli::from_arg_matches(&parser().get_matches()).unwrap_or_else(|e| e.exit());
    if let (name, Err(msg)) = cli.command.check() {
        usage_error(name, msg);
    }
    let r = match cli.command {
        Command::Train(a) => cmd::train::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::DumpIr(a) => cmd::dump_ir::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Compare(a) => cmd::compare::run(a),
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// The parser. Every option that takes a value accepts one that looks like a negative
/// number, so that `--lr -1` or `--steps -5` reaches the flag's own check, which says what
/// the flag accepts, instead of being taken for an unknown flag `-1`.
fn parser() -> clap::Command {
    Cli::command().mut_subcommands(|sub| sub.mut_args(negative_values))
}

fn negative_values(a: Arg) -> Arg {
    if a.is_positional() || !a.get_action().takes_values() {
        return a;
    }
    a.allow_negative_numbers(true)
}

/// Exits with a usage error of subcommand `name` (status 2, as for any flag clap refuses).
fn usage_error(name: &str, msg: String) -> ! {
    let mut cmd = parser();
    cmd.build();
    let sub = cmd.find_subcommand_mut(name).map(|s| s.clone());
    sub.unwrap_or(cmd)
        .error(ErrorKind::ArgumentConflict, msg)
        .exit()
}
