//! `galley-sim marathon`: serves the Marathon and Mesos master emulators until Ctrl-C.

use std::net::SocketAddr;

use super::{MarathonSim, MarathonSimConfig, default_agents};

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
    let mut config = base
        .agents(default_agents(args.agents))
        .marathon_addr(args.listen)
        .mesos_addr(args.mesos_listen);
    if let Some(creds) = &args.credentials {
        let (user, password) = creds
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--credentials must be user:password"))?;
        config = config.credentials(user, password);
    }
    let sim = MarathonSim::start(config).await?;
    println!("marathon: {}", sim.marathon_url());
    println!("mesos:    {}", sim.mesos_url());
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
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
