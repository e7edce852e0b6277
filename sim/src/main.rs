//! `galley-sim`: serves the emulators on real sockets.
//!
//! Subcommands (each emulator adds its own arm here):
//! - `galley-sim marathon --listen ADDR` — Marathon v2 + Mesos master state.
//! - `galley-sim docker --socket PATH` — Docker Engine API 1.41.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Galley's emulators of Marathon, the Mesos master and Docker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
