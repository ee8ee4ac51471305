//! The `nabla` command line: one module per subcommand.

use clap::{Parser, Subcommand};
use nabla::cmd;

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
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Train(a) => cmd::train::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::DumpIr(a) => cmd::dump_ir::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
