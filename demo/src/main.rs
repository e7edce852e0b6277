//! `galley-demo`: the embedded cluster, the real coordinator and a scripted few minutes of
//! life (`cargo run --release` from the workspace root).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use galley_demo::DemoOptions;

/// Arguments.
#[derive(Parser)]
#[command(
    version,
    about = "Galley's demo: an emulated Mesos/Marathon cluster with agents, driven by the real coordinator"
)]
pub struct Args {
    /// Keep the demo's files in this directory (default: a temporary directory, removed at exit).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// gRPC listen address of the coordinator (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: String,
    /// Prometheus `/metrics` listen address.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Run this long (e.g. `90s`, `5m`), print a summary and exit 0 (headless runs).
    #[arg(long = "for", value_parser = parse_duration)]
    run_for: Option<Duration>,
    /// Seconds between the script's steps (push, stop, orphan, enforce).
    #[arg(long, default_value_t = 10.0)]
    step_seconds: f64,
}

/// `90`, `90s`, `1500ms`, `5m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 5m or 1500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the demo until Ctrl-C / SIGTERM (or `--for`).
async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let root = args.dir.unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&root)?;
    if !(args.step_seconds > 0.0 && args.step_seconds.is_finite()) {
        anyhow::bail!("--step-seconds must be > 0");
    }
    let opts = DemoOptions {
        root,
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        run_for: args.run_for,
        step: Duration::from_secs_f64(args.step_seconds),
    };
    let mut out = std::io::stdout();
    galley_demo::run(
        &opts,
        &mut out,
        galley_coordinator::signal::wait_for_signal(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
