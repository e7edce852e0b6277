//! `demo`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Keep the demo's files in this directory (default: a temporary directory, removed at exit).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Runs the demo.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let root = args.dir.unwrap_or_else(|| tmp.path().to_path_buf());
    galley_coordinator::demo::run(&root, &mut std::io::stdout()).await?;
    Ok(ExitCode::SUCCESS)
}
