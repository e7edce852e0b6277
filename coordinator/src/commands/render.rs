//! `render-app SERVICE.INSTANCE`: the app definition PaaSTA's setup_marathon_job would POST.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use galley_common::constraints::SlaveAttributes;
use galley_common::deployments::Deployments;
use galley_common::soa::ServiceConfig;
use galley_coordinator::desired::{DesiredContext, InstanceIssue, desired_instance};
use galley_coordinator::mesos::{MesosApi, MesosClient};
use galley_coordinator::soa_dir;
use galley_coordinator::system_dir::read_system_config;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// `service.instance`.
    service_instance: String,
    /// The yelpsoa-configs directory.
    #[arg(long, short = 'd', default_value = "/nail/etc/services")]
    soa_dir: PathBuf,
    /// Cluster (default: `cluster` of the system config).
    #[arg(long, short = 'c')]
    cluster: Option<String>,
    /// System config directory (PaaSTA's /etc/paasta).
    #[arg(long, default_value = "/etc/paasta")]
    system_config_dir: PathBuf,
    /// Mesos master to read slave attributes from (for GROUP_BY constraints).
    #[arg(long, conflicts_with = "mesos_slaves_file")]
    mesos_url: Option<String>,
    /// JSON file with slave attributes instead: Mesos' /master/slaves body, or a list of
    /// attribute maps.
    #[arg(long)]
    mesos_slaves_file: Option<PathBuf>,
}

/// Prints the wire JSON.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (service, instance) = args
        .service_instance
        .split_once('.')
        .context("expected SERVICE.INSTANCE, e.g. web.main")?;
    let system = read_system_config(&args.system_config_dir).map_err(anyhow::Error::msg)?;
    let cluster = args
        .cluster
        .or(system.cluster)
        .context("no --cluster and no `cluster` in the system config")?;
    let slaves = match (&args.mesos_url, &args.mesos_slaves_file) {
        (Some(url), _) => MesosClient::new(url, Duration::from_secs(10))
            .state()
            .await?
            .slaves
            .into_iter()
            .map(|s| s.attributes)
            .collect(),
        (None, Some(file)) => read_slaves_file(file)?,
        (None, None) => anyhow::bail!(
            "give --mesos-url or --mesos-slaves-file (slave attributes decide GROUP_BY)"
        ),
    };
    let source = soa_dir::read_service(&args.soa_dir, service)?;
    let config = ServiceConfig::parse(&source)?;
    let path = args.soa_dir.join(service).join("deployments.json");
    let deployments = match std::fs::read_to_string(&path) {
        Ok(text) => {
            Some(Deployments::parse(&text).with_context(|| format!("reading {}", path.display()))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let ctx = DesiredContext {
        cluster,
        system: system.settings,
        slaves,
    };
    match desired_instance(&config, instance, deployments.as_ref(), &ctx) {
        Ok(d) => {
            println!("{}", serde_json::to_string_pretty(&d.app.to_value())?);
            Ok(ExitCode::SUCCESS)
        }
        Err(InstanceIssue::NoDeployments) => anyhow::bail!(
            "no deployments.json for service {service} in {}",
            args.soa_dir.display()
        ),
        Err(InstanceIssue::NotDeployed(msg) | InstanceIssue::Invalid(msg)) => {
            anyhow::bail!("{msg}")
        }
    }
}

fn read_slaves_file(path: &PathBuf) -> anyhow::Result<Vec<SlaveAttributes>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let list = match value.get("slaves") {
        Some(slaves) => slaves
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|s| s["attributes"].clone())
            .collect(),
        None => value.as_array().cloned().with_context(|| {
            format!(
                "{}: expected a list or {{\"slaves\": [...]}}",
                path.display()
            )
        })?,
    };
    Ok(list
        .into_iter()
        .map(|attrs| {
            attrs
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect())
}
