//! `status --server ADDR [--service S] [--instance I] [-v] [--json]`: one screen per
//! service, as `paasta status` showed it, read from a coordinator's operator API. Exit 0 when
//! every instance of the selection is OK, 2 when one is CRITICAL (its replication check), 1
//! on errors.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use galley_coordinator::operator::connect;
use galley_coordinator::operator::json::to_json;
use galley_coordinator::operator::screen::{self, Options};
use galley_proto::v1 as pb;

use super::client::TlsArgs;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The coordinator's gRPC address, `HOST:PORT`.
    #[arg(long)]
    server: String,
    /// Only this service.
    #[arg(long, short = 's')]
    service: Option<String>,
    /// Only this instance (with --service).
    #[arg(long, short = 'i', requires = "service")]
    instance: Option<String>,
    /// Every task, with its host, age and health.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Print the gRPC answer as JSON (ListInstances, or GetInstance with --instance).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tls: TlsArgs,
}

/// Exit code when an instance of the selection is CRITICAL.
const CRITICAL: u8 = 2;

/// Prints the screen (or JSON); the exit code says whether anything is critical.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tls = args.tls.tls();
    let mut client = connect(&args.server, tls.as_ref(), Duration::from_secs(20)).await?;
    let (instances, json) = match (&args.service, &args.instance) {
        (Some(service), Some(instance)) => {
            let one = client
                .get_instance(pb::GetInstanceRequest {
                    service: service.clone(),
                    instance: instance.clone(),
                })
                .await
                .context("GetInstance")?
                .into_inner();
            let json = args
                .json
                .then(|| to_json(&one, "galley.v1.InstanceStatus"))
                .transpose()?;
            (vec![one], json)
        }
        (service, _) => {
            let all = list_all(&mut client, service.clone().unwrap_or_default()).await?;
            let json = args
                .json
                .then(|| to_json(&all, "galley.v1.ListInstancesResponse"))
                .transpose()?;
            (all.instances, json)
        }
    };
    match json {
        Some(json) => println!("{}", serde_json::to_string_pretty(&json)?),
        None => {
            let status = client
                .get_status(pb::GetStatusRequest {})
                .await
                .context("GetStatus")?
                .into_inner();
            let options = Options {
                verbose: args.verbose,
                colour: std::io::stdout().is_terminal(),
                now: chrono::Utc::now(),
            };
            print!("{}", screen::render(&status, &instances, options));
        }
    }
    if instances.iter().any(screen::is_critical) {
        return Ok(ExitCode::from(CRITICAL));
    }
    Ok(ExitCode::SUCCESS)
}

/// Every page of `ListInstances` for `service` (empty: all), as one answer.
pub async fn list_all(
    client: &mut pb::coordinator_service_client::CoordinatorServiceClient<
        tonic::transport::Channel,
    >,
    service: String,
) -> anyhow::Result<pb::ListInstancesResponse> {
    let mut all = pb::ListInstancesResponse::default();
    let mut token = String::new();
    loop {
        let page = client
            .list_instances(pb::ListInstancesRequest {
                service: service.clone(),
                page_size: 0,
                page_token: token,
            })
            .await
            .context("ListInstances")?
            .into_inner();
        all.instances.extend(page.instances);
        all.generation = page.generation;
        all.frozen_reason = page.frozen_reason;
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        token = page.next_page_token;
    }
}
