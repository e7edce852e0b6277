//! `check-config --config FILE`: validates a coordinator config without starting anything.
//! Used by operators, by the systemd unit (`ExecStartPre`, `ExecReload`) and by packaging CI.
//!
//! Errors (exit 1): the file is unreadable, not YAML, has unknown keys or bad values; a
//! secret file it names (`marathon.credentials_file`, `git.webhook_secret_file`) is unreadable
//! or malformed; a listen address does not parse; a `tls` file is missing or invalid (the
//! certificate, key and CA are loaded as `serve` would). Warnings (exit 0): `soa_dir` or
//! `system_config_dir` does not exist yet, as on a master that puppet has not finished; no
//! `tls` section (`serve` then refuses to start without `--insecure`); no `election` section
//! (this coordinator would lead alone); a `reaper` setting that is valid but risky (a minimum
//! age under 10 minutes, a single sighting); a `rollback` default that rolls back after less
//! than a minute.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use galley_coordinator::config::CoordinatorConfig;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The coordinator config file.
    #[arg(long, default_value = "/etc/galley/coordinator.yaml")]
    config: PathBuf,
}

/// Prints `config OK: <path>` (exit 0) or returns the error, which names the file.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = CoordinatorConfig::from_file(&args.config)?;
    config.marathon_credentials()?;
    config.mesos_credentials()?;
    if let Some(git) = &config.git
        && let Some(secret) = &git.webhook_secret_file
    {
        std::fs::read(secret).with_context(|| {
            format!(
                "config file {}: cannot read git.webhook_secret_file {}",
                args.config.display(),
                secret.display()
            )
        })?;
    }
    let listens = [
        ("listen", Some(&config.listen)),
        ("metrics_listen", config.metrics_listen.as_ref()),
        (
            "git.webhook_listen",
            config.git.as_ref().and_then(|g| g.webhook_listen.as_ref()),
        ),
    ];
    for (key, addr) in listens.into_iter().filter_map(|(k, a)| a.map(|a| (k, a))) {
        addr.to_socket_addrs().with_context(|| {
            format!(
                "config file {}: {key} `{addr}` is not a listen address",
                args.config.display()
            )
        })?;
    }
    for (key, dir) in [
        ("soa_dir", &config.soa_dir),
        ("system_config_dir", &config.system_config_dir),
    ] {
        warn_if_missing(key, dir);
    }
    match &config.tls {
        Some(t) => {
            galley_coordinator::tls::ServerTls::load(t.files())
                .with_context(|| format!("config file {}: tls", args.config.display()))?;
        }
        None => eprintln!(
            "warning: no `tls` section: serve refuses plaintext unless run with --insecure"
        ),
    }
    if config.election.is_none() {
        eprintln!(
            "warning: no `election` section: this coordinator leads alone; run one per cluster"
        );
    }
    for w in config
        .reaper
        .warnings()
        .into_iter()
        .chain(config.rollback.warnings())
    {
        eprintln!("warning: {w}");
    }
    println!("config OK: {}", args.config.display());
    Ok(ExitCode::SUCCESS)
}

fn warn_if_missing(key: &str, dir: &Path) {
    if !dir.is_dir() {
        eprintln!(
            "warning: {key} {} does not exist (yet); serve needs it",
            dir.display()
        );
    }
}
