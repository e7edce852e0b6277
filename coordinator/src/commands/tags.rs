//! `mark-for-deployment`, `start`, `stop`, `restart`: push the tags PaaSTA's CLI pushed, for
//! scripts. Prints the created ref on stdout; refusals exit 1 with the reason.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use galley_common::refs::DesiredState;
use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::deploy_log::{DeployLog, DeployLogConfig};
use galley_coordinator::gitwatch::{
    PushCredentials, TagRequest, TagWriter, TagWriterSettings, tag_writer_settings,
};

/// Where the service configs, credentials and deploy log are.
#[derive(clap::Args)]
pub struct Common {
    /// The coordinator config (soa_dir, deploy_log, git credentials); overrides --soa-dir.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The yelpsoa-configs directory.
    #[arg(long, short = 'd', default_value = "/nail/etc/services")]
    soa_dir: PathBuf,
    /// Deploy log path format (`{service}`, `{cluster}`, ... substituted); default: the
    /// config's deploy_log, else none.
    #[arg(long)]
    deploy_log: Option<String>,
    /// Give up on the repository after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Who asks, `user@host` (default: $USER@<hostname>).
    #[arg(long)]
    requested_by: Option<String>,
}

/// `mark-for-deployment` arguments.
#[derive(clap::Args)]
pub struct MarkArgs {
    /// Service.
    #[arg(long, short = 's')]
    service: String,
    /// Deploy group (an instance's deploy_group).
    #[arg(long, short = 'l')]
    deploy_group: String,
    /// Full 40-hex commit id.
    #[arg(long, short = 'c')]
    commit: String,
    #[command(flatten)]
    common: Common,
}

/// `start` / `stop` / `restart` arguments.
#[derive(clap::Args)]
pub struct StateArgs {
    /// Service.
    #[arg(long, short = 's')]
    service: String,
    /// Cluster.
    #[arg(long, short = 'c')]
    cluster: String,
    /// Instance.
    #[arg(long, short = 'i')]
    instance: String,
    #[command(flatten)]
    common: Common,
}

/// `mark-for-deployment`.
pub async fn mark(args: MarkArgs) -> anyhow::Result<ExitCode> {
    let request = TagRequest::MarkForDeployment {
        service: args.service,
        deploy_group: args.deploy_group,
        sha: args.commit,
    };
    write(args.common, request).await
}

/// `start`, `stop`, `restart` (= start with a new timestamp).
pub async fn set_state(args: StateArgs, state: DesiredState) -> anyhow::Result<ExitCode> {
    let request = TagRequest::SetState {
        service: args.service,
        cluster: args.cluster,
        instance: args.instance,
        state,
    };
    write(args.common, request).await
}

async fn write(common: Common, request: TagRequest) -> anyhow::Result<ExitCode> {
    let (settings, log_format) = match &common.config {
        Some(path) => {
            let config = CoordinatorConfig::from_file(path)?;
            let mut settings = tag_writer_settings(&config)?;
            settings.timeout = Duration::from_secs_f64(common.timeout.max(0.001));
            let log = config.deploy_log.map(|p| p.display().to_string());
            (settings, common.deploy_log.clone().or(log))
        }
        None => (
            TagWriterSettings {
                soa_dir: common.soa_dir.clone(),
                timeout: Duration::from_secs_f64(common.timeout.max(0.001)),
                credentials: PushCredentials {
                    ssh_user: "git".into(),
                    ..PushCredentials::default()
                },
                mirror_dir: std::env::temp_dir().join("galley-git"),
            },
            common.deploy_log.clone(),
        ),
    };
    let deploy_log = log_format.map(|f| {
        Arc::new(DeployLog::new(DeployLogConfig {
            path_format: Some(f),
            recent_capacity: 16,
            broadcast_capacity: 16,
        }))
    });
    let who = common.requested_by.unwrap_or_else(requester);
    let writer = TagWriter::new(settings, deploy_log, None);
    let written = writer.write(&request, &who).await?;
    println!(
        "{} -> {} ({})",
        written.ref_name, written.sha, written.git_url
    );
    Ok(ExitCode::SUCCESS)
}

/// `$USER@<hostname>`, as PaaSTA's `get_username()@socket.getfqdn()`.
fn requester() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}
