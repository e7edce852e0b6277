//! `mark-for-deployment`, `rollback`, `start`, `stop`, `restart`: push the tags PaaSTA's CLI
//! pushed, for scripts. Prints the created ref on stdout; refusals exit 1 with the reason.
//! `mark-for-deployment --wait` and `rollback --wait` then follow the coordinators until the
//! deploy group runs the sha (see `wait.rs`); `--auto-rollback` marks the sha deployed before
//! when that fails. The previous sha always comes from git (the group's deploy tags).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use galley_common::refs::DesiredState;
use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::deploy_log::{DeployLog, DeployLogConfig};
use galley_coordinator::generate::read_service_plan;
use galley_coordinator::gitwatch::{
    PushCredentials, TagRequest, TagWriter, TagWriterSettings, tag_writer_settings,
};
use galley_coordinator::operator::screen::short;
use galley_coordinator::rollback::history::{current_sha, deploy_history, previous_sha};

use super::wait::{Outcome, Servers, Target, WaitArgs, connect_servers, wait};

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
    /// Give up on the repository after this many seconds (listing or push).
    #[arg(long, default_value_t = 30.0)]
    git_timeout: f64,
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
    /// With --wait: when the deploy does not converge, mark the sha deployed before (from
    /// git) and wait for that.
    #[arg(long, requires = "wait")]
    auto_rollback: bool,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    common: Common,
}

/// `rollback` arguments.
#[derive(clap::Args)]
pub struct RollbackArgs {
    /// Service.
    #[arg(long, short = 's')]
    service: String,
    /// Deploy group.
    #[arg(long, short = 'l')]
    deploy_group: String,
    /// The full sha to go back to (default: the sha deployed before the current one).
    #[arg(long)]
    to: Option<String>,
    #[command(flatten)]
    wait: WaitArgs,
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
    /// The old name of --git-timeout.
    #[arg(long, hide = true)]
    timeout: Option<f64>,
    #[command(flatten)]
    common: Common,
}

/// `mark-for-deployment [--wait [--auto-rollback]]`.
pub async fn mark(args: MarkArgs) -> anyhow::Result<ExitCode> {
    args.wait.check()?;
    let sha = args.commit.to_ascii_lowercase();
    let target = Target {
        service: args.service.clone(),
        deploy_group: args.deploy_group.clone(),
        sha: sha.clone(),
    };
    let before = if args.auto_rollback {
        let history = history(&args.common, &target).await?;
        current_sha(&history).map(str::to_owned)
    } else {
        None
    };
    let servers = servers_for(&args.common, &args.wait, &target).await?;
    push(&args.common, &target).await?;
    let Some(servers) = servers else {
        return Ok(ExitCode::SUCCESS);
    };
    let why = match wait(&args.wait, servers, &target).await? {
        Outcome::Converged => return converged(&target),
        Outcome::Failed(why) => why,
    };
    eprintln!("{why}");
    if !args.auto_rollback {
        return Ok(ExitCode::FAILURE);
    }
    let Some(previous) = before.filter(|p| *p != sha) else {
        eprintln!(
            "auto-rollback: nothing was deployed to {} before",
            target.deploy_group
        );
        return Ok(ExitCode::FAILURE);
    };
    let back = Target {
        sha: previous,
        ..target
    };
    eprintln!("auto-rollback: marking {} again", short(&back.sha));
    roll_to(&args.common, &args.wait, &back).await?;
    Ok(ExitCode::FAILURE)
}

/// `rollback [--to SHA] [--wait]`: marks the sha deployed before the current one (or `--to`).
pub async fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    args.wait.check()?;
    let mut target = Target {
        service: args.service,
        deploy_group: args.deploy_group,
        sha: args.to.clone().unwrap_or_default().to_ascii_lowercase(),
    };
    if args.to.is_none() {
        let history = history(&args.common, &target).await?;
        let current = current_sha(&history).ok_or_else(|| {
            anyhow::anyhow!("deploy group {} has no deploy tag", target.deploy_group)
        })?;
        target.sha = previous_sha(&history)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "deploy group {} has only ever run {}: nothing to roll back to",
                    target.deploy_group,
                    short(current)
                )
            })?
            .to_owned();
    }
    match roll_to(&args.common, &args.wait, &target).await? {
        true => Ok(ExitCode::SUCCESS),
        false => Ok(ExitCode::FAILURE),
    }
}

/// Marks `target` (unless the group runs it already), then waits when asked; whether it
/// converged (or was not waited for).
async fn roll_to(common: &Common, w: &WaitArgs, target: &Target) -> anyhow::Result<bool> {
    let servers = servers_for(common, w, target).await?;
    let history = history(common, target).await?;
    if current_sha(&history) == Some(target.sha.as_str()) {
        println!(
            "deploy group {} is marked for {} already",
            target.deploy_group,
            short(&target.sha)
        );
    } else {
        push(common, target).await?;
    }
    let Some(servers) = servers else {
        return Ok(true);
    };
    match wait(w, servers, target).await? {
        Outcome::Converged => {
            converged(target)?;
            Ok(true)
        }
        Outcome::Failed(why) => {
            eprintln!("{why}");
            Ok(false)
        }
    }
}

fn converged(target: &Target) -> anyhow::Result<ExitCode> {
    println!(
        "deploy group {} of {} runs {} everywhere, every task happy",
        target.deploy_group,
        target.service,
        short(&target.sha)
    );
    Ok(ExitCode::SUCCESS)
}

/// With `--wait`: the servers to wait on, checked to cover every cluster `target`'s deploy
/// group runs on (before anything is pushed).
async fn servers_for(
    common: &Common,
    w: &WaitArgs,
    target: &Target,
) -> anyhow::Result<Option<Servers>> {
    if !w.wait {
        return Ok(None);
    }
    let (settings, _) = settings(common)?;
    let plan = read_service_plan(&settings.soa_dir, &target.service).await?;
    let clusters: BTreeSet<String> = plan
        .instances
        .iter()
        .filter(|i| i.deploy_group == target.deploy_group)
        .filter_map(|i| i.control_branch.rsplit_once('.').map(|(c, _)| c.to_owned()))
        .collect();
    Ok(Some(connect_servers(w, &clusters).await?))
}

/// The deploy tags of `target`'s group, oldest first.
async fn history(
    common: &Common,
    target: &Target,
) -> anyhow::Result<Vec<galley_coordinator::rollback::history::DeployTag>> {
    let (settings, _) = settings(common)?;
    Ok(deploy_history(
        &settings.soa_dir,
        &target.service,
        &target.deploy_group,
        settings.timeout,
    )
    .await?)
}

async fn push(common: &Common, target: &Target) -> anyhow::Result<()> {
    let request = TagRequest::MarkForDeployment {
        service: target.service.clone(),
        deploy_group: target.deploy_group.clone(),
        sha: target.sha.clone(),
    };
    write(common, request).await.map(|_| ())
}

/// `start`, `stop`, `restart` (= start with a new timestamp).
pub async fn set_state(mut args: StateArgs, state: DesiredState) -> anyhow::Result<ExitCode> {
    if let Some(t) = args.timeout {
        args.common.git_timeout = t;
    }
    let request = TagRequest::SetState {
        service: args.service,
        cluster: args.cluster,
        instance: args.instance,
        state,
    };
    write(&args.common, request).await
}

/// The tag writer's settings and the deploy log format of `common`.
fn settings(common: &Common) -> anyhow::Result<(TagWriterSettings, Option<String>)> {
    let timeout = Duration::from_secs_f64(common.git_timeout.max(0.001));
    Ok(match &common.config {
        Some(path) => {
            let config = CoordinatorConfig::from_file(path)?;
            let mut settings = tag_writer_settings(&config)?;
            settings.timeout = timeout;
            let log = config.deploy_log.map(|p| p.display().to_string());
            (settings, common.deploy_log.clone().or(log))
        }
        None => (
            TagWriterSettings {
                soa_dir: common.soa_dir.clone(),
                timeout,
                credentials: PushCredentials {
                    ssh_user: "git".into(),
                    ..PushCredentials::default()
                },
                mirror_dir: std::env::temp_dir().join("galley-git"),
            },
            common.deploy_log.clone(),
        ),
    })
}

async fn write(common: &Common, request: TagRequest) -> anyhow::Result<ExitCode> {
    let (settings, log_format) = settings(common)?;
    let deploy_log = log_format.map(|f| {
        Arc::new(DeployLog::new(DeployLogConfig {
            path_format: Some(f),
            recent_capacity: 16,
            broadcast_capacity: 16,
        }))
    });
    let who = common.requested_by.clone().unwrap_or_else(requester);
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
