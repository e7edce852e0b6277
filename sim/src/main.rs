//! `galley-sim`: serves the emulators on real sockets.
//!
//! Subcommands (each emulator adds its own arm here):
//! - `galley-sim marathon --listen ADDR` — Marathon v2 + Mesos master state.
//! - `galley-sim docker --socket PATH` — Docker Engine API 1.41.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Galley's emulators of Marathon, the Mesos master and Docker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Docker Engine API emulator on a unix socket.
    Docker(galley_sim::docker::cli::DockerArgs),
    /// Serve the Marathon v2 emulator and the Mesos master state endpoints.
    Marathon(galley_sim::marathon::cli::MarathonArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Docker(args) => galley_sim::docker::cli::run(args),
        Command::Marathon(args) => galley_sim::marathon::cli::run(args),
    }
}
