//! `galley-sim marathon`: serves the Marathon and Mesos master emulators until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::{MarathonSim, MarathonSimConfig, default_agents};
use crate::SimClock;
use crate::docker::{DockerHosts, DockerSim, MesosDockerConfig};

/// Arguments of `galley-sim marathon`.
#[derive(Debug, Clone, clap::Args)]
pub struct MarathonArgs {
    /// Marathon listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Mesos master listen address.
    #[arg(long, default_value = "127.0.0.1:5050")]
    pub mesos_listen: SocketAddr,
    /// Number of emulated Mesos agents (spread over two regions).
    #[arg(long, default_value_t = 4)]
    pub agents: usize,
    /// Run on the wall clock with a 200 ms lifecycle driver (`--realtime=false`: virtual time,
    /// advanced only through `POST /_sim/tick`).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub realtime: bool,
    /// Require HTTP basic auth, as `user:password`.
    #[arg(long)]
    pub credentials: Option<String>,
    /// Also serve synapse's haproxy stats for every slave here (`/{host}/;csv;norefresh`,
    /// backends grouped by the `region` attribute); see `galley_sim::haproxy`.
    #[arg(long)]
    pub haproxy_listen: Option<SocketAddr>,
    /// Also serve a Docker Engine API emulator per slave, at `DIR/<hostname>.sock`, in which
    /// the slave's tasks run as Mesos-shaped containers (`mesos-<container id>`, env and label
    /// `MESOS_TASK_ID`): what `galley-agent` on that slave sees. Needs `--realtime`.
    #[arg(long)]
    pub docker_dir: Option<PathBuf>,
}

/// Builds a runtime and serves until Ctrl-C.
pub fn run(args: MarathonArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(serve(args))
}

async fn serve(args: MarathonArgs) -> anyhow::Result<()> {
    let base = if args.realtime {
        MarathonSimConfig::real_time()
    } else {
        MarathonSimConfig::virtual_time()
    };
    let slaves = default_agents(args.agents);
    let hostnames: Vec<String> = slaves.iter().map(|a| a.hostname.clone()).collect();
    let mut config = base
        .agents(slaves)
        .marathon_addr(args.listen)
        .mesos_addr(args.mesos_listen);
    let hosts = args.docker_dir.as_ref().map(|_| {
        Arc::new(DockerHosts::new(
            SimClock::real(),
            MesosDockerConfig::mesos_1_4(),
        ))
    });
    if let Some(hosts) = &hosts {
        anyhow::ensure!(args.realtime, "--docker-dir needs --realtime");
        config = config.host_runtime(hosts.clone());
    }
    if let Some(creds) = &args.credentials {
        let (user, password) = creds
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--credentials must be user:password"))?;
        config = config.credentials(user, password);
    }
    let sim = MarathonSim::start(config).await?;
    println!("marathon: {}", sim.marathon_url());
    println!("mesos:    {}", sim.mesos_url());
    let mut docker = Vec::new();
    if let (Some(dir), Some(hosts)) = (&args.docker_dir, &hosts) {
        std::fs::create_dir_all(dir)?;
        for host in &hostnames {
            let socket = dir.join(format!("{host}.sock"));
            let handle = DockerSim::serve_engine(&socket, hosts.engine(host)).await?;
            println!("docker:   {host} {}", socket.display());
            docker.push(handle);
        }
    }
    let _haproxy = match args.haproxy_listen {
        Some(addr) => {
            let haproxy = crate::haproxy::HaproxySim::start(
                addr,
                Some(sim.cluster().clone()),
                Some("region"),
            )
            .await?;
            println!("haproxy:  {}", haproxy.url_format());
            Some(haproxy)
        }
        None => None,
    };
    wait_for_signal().await?;
    for d in docker {
        d.shutdown().await;
    }
    sim.shutdown().await;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
