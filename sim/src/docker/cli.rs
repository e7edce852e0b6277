//! `galley-sim docker --socket PATH`: serves one emulated engine until Ctrl-C.

use std::path::PathBuf;

use super::engine::DockerEngine;
use super::server::DockerSim;
use super::spec::ContainerSpec;
use crate::SimClock;

/// Arguments of `galley-sim docker`.
#[derive(Debug, clap::Args)]
pub struct DockerArgs {
    /// Unix socket to serve the Docker Engine API (1.41) on.
    #[arg(long)]
    pub socket: PathBuf,
    /// Start with N running Mesos-shaped containers (`mesos-<uuid>`, env and label
    /// MESOS_TASK_ID), for demos.
    #[arg(long, default_value_t = 0)]
    pub demo_containers: usize,
    /// Image of the demo containers.
    #[arg(long, default_value = "galley-test/busybox:1")]
    pub demo_image: String,
}

/// Runs the emulator on a real-time clock until Ctrl-C (builds its own tokio runtime).
pub fn run(args: DockerArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: DockerArgs) -> anyhow::Result<()> {
    let engine = DockerEngine::new(SimClock::real());
    for _ in 0..args.demo_containers {
        let container_id = uuid::Uuid::new_v4().to_string();
        let task_id = format!("demo.main.{}", uuid::Uuid::new_v4());
        let spec = ContainerSpec::new(&format!("mesos-{container_id}"), &args.demo_image)
            .cmd(["/bin/sleep", "3600"])
            .env("MESOS_TASK_ID", &task_id)
            .label("MESOS_TASK_ID", &task_id);
        engine.sim_inject(spec)?;
    }
    let handle = DockerSim::serve_engine(&args.socket, engine).await?;
    eprintln!(
        "galley-sim docker: serving on {}",
        handle.socket_path().display()
    );
    crate::marathon::cli::wait_for_signal().await?;
    handle.shutdown().await;
    Ok(())
}
