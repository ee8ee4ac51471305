//! `nabla bench`.

/// Arguments of `nabla bench`.
#[derive(clap::Args)]
pub struct Args {
    /// The problem file.
    pub file: std::path::PathBuf,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`{}` is not implemented yet", args.file.display())
}
