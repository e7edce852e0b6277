//! `galley-agent`: runs on every Mesos slave. Not yet implemented beyond `--version`/`--help`
//! (see issue "Agents on every slave"); it exits non-zero when asked to run.

use clap::Parser;

/// Galley agent (NOT YET IMPLEMENTED: this build only answers --help and --version).
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Args {}

fn main() -> anyhow::Result<()> {
    let _args = Args::parse();
    anyhow::bail!("galley-agent is not implemented in this build; see README")
}
