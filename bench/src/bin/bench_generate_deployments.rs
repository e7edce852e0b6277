//! Benchmark of `generate-deployments` (not a test): builds N services, each a local bare git
//! repository with ~20 refs and 3 clusters × 2 instances, then times a cold run (no
//! deployments.json yet) and a warm run (nothing changed). Prints services/second and the peak
//! RSS of the generating process.
//!
//! `cargo run --release -p galley-bench --bin bench-generate-deployments -- [--services N] [--jobs J]`
//!
//! Fixtures are kept under `target/bench-fixtures/` and reused across runs of the same size.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use galley_coordinator::atomic::Durability;
use galley_coordinator::generate::{GenerateOptions, generate_all};
use galley_coordinator::git::Git2Source;
use git2::{Oid, Repository, Signature};

const CLUSTERS: [&str; 3] = ["norcal-prod", "nova-prod", "pnw-devc"];
const INSTANCES: [&str; 2] = ["main", "canary"];

/// Arguments.
#[derive(clap::Parser)]
struct Args {
    /// Services in the fixture (3 clusters × 2 instances each).
    #[arg(long, default_value_t = 2000)]
    services: usize,
    /// Repositories listed at once (default: cores × 4).
    #[arg(long)]
    jobs: Option<usize>,
    /// Child mode: one generation run over this soa dir (peak RSS is the run's own).
    #[arg(long, hide = true)]
    measure: Option<PathBuf>,
    /// Child mode: run without stamps.
    #[arg(long, hide = true)]
    no_stamps: bool,
}

fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let services = args.services;
    let jobs = match args.jobs {
        Some(j) => j,
        None => std::thread::available_parallelism()?.get() * 4,
    };
    if let Some(soa) = args.measure {
        return measure(&soa, jobs, !args.no_stamps);
    }
    let root = galley_bench::fixtures_dir(&format!("generate-{services}"));
    let started = Instant::now();
    build_fixture(&root, services)?;
    println!(
        "fixture: {services} services under {} ({:.1} s)",
        root.display(),
        started.elapsed().as_secs_f64()
    );
    let soa = root.join("soa");
    for entry in std::fs::read_dir(&soa)? {
        let _ = std::fs::remove_file(entry?.path().join("deployments.json"));
    }
    let _ = std::fs::remove_dir_all(soa.join(".galley"));
    let runs = [
        ("cold", true, false),
        (
            "warm, stamps off (every service read and listed)",
            false,
            false,
        ),
        ("warm, nothing changed", true, false),
        ("warm, one repository pushed", true, true),
    ];
    for (label, stamps, push) in runs {
        if push {
            push_one_tag(&root.join("repos").join("service_00000.git"))?;
        }
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args([
            "--measure",
            soa.to_str().expect("utf8 path"),
            "--jobs",
            &jobs.to_string(),
        ]);
        if !stamps {
            cmd.arg("--no-stamps");
        }
        let out = cmd.output()?;
        anyhow::ensure!(
            out.status.success(),
            "measure run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{label}: {}", String::from_utf8_lossy(&out.stdout).trim());
    }
    Ok(())
}

/// Child mode: one generation run in a fresh process, so peak RSS is the run's own.
fn measure(soa: &Path, jobs: usize, stamps: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let opts = GenerateOptions {
        soa_dir: soa.to_path_buf(),
        services: vec![],
        jobs,
        legacy_branches: false,
        durability: Durability::NoFsync,
        stamps,
    };
    let git = Arc::new(Git2Source::new(Duration::from_secs(30)));
    let started = Instant::now();
    let report = runtime.block_on(generate_all(&opts, git))?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(report.failed() == 0, "{} services failed", report.failed());
    println!(
        "{} services in {:.3} s = {:.0} services/s; {} written, {} unchanged ({} skipped by stamp); jobs {jobs}; peak RSS {} MiB",
        report.services.len(),
        secs,
        report.services.len() as f64 / secs,
        report.written(),
        report.unchanged(),
        report.skipped(),
        galley_bench::peak_rss_kib() / 1024
    );
    Ok(())
}

/// A new deploy tag in `repo` (a push), so the next run regenerates that one service.
fn push_one_tag(repo: &Path) -> anyhow::Result<()> {
    let repo = Repository::open_bare(repo)?;
    let sig = Signature::now("bench", "bench@example.com")?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let sha = galley_bench::commit(&repo, &sig, &format!("pushed {nanos}"))?;
    repo.reference(
        "refs/tags/paasta-norcal-prod.main-20991231T000000-deploy",
        sha,
        true,
        "",
    )?;
    Ok(())
}

fn build_fixture(root: &Path, services: usize) -> anyhow::Result<()> {
    let done = root.join(".complete");
    if done.exists() {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(root);
    let sig = Signature::new(
        "bench",
        "bench@example.com",
        &git2::Time::new(1_480_000_000, 0),
    )?;
    for i in 0..services {
        let name = format!("service_{i:05}");
        let repo_path = root.join("repos").join(format!("{name}.git"));
        let repo = Repository::init_bare(&repo_path)?;
        let shas: Vec<Oid> = (0..3)
            .map(|k| galley_bench::commit(&repo, &sig, &format!("{name} {k}")))
            .collect::<Result<_, _>>()?;
        repo.reference("refs/heads/master", shas[2], true, "")?;
        // 3 clusters × 2 instances = 6 deploy groups, two deploy tags each (12), plus control
        // tags and unrelated tags: 20 refs.
        for (c, cluster) in CLUSTERS.iter().enumerate() {
            for (n, inst) in INSTANCES.iter().enumerate() {
                let group = format!("{cluster}.{inst}");
                repo.reference(
                    &format!("refs/tags/paasta-{group}-20161101T000000-deploy"),
                    shas[0],
                    true,
                    "",
                )?;
                repo.reference(
                    &format!("refs/tags/paasta-{group}-2016110{}T00000{n}-deploy", 2 + c),
                    shas[1 + n],
                    true,
                    "",
                )?;
            }
        }
        repo.reference(
            "refs/tags/paasta-norcal-prod.main-20161105T000000-stop",
            shas[1],
            true,
            "",
        )?;
        repo.reference(
            "refs/tags/paasta-nova-prod.canary-20161105T000000-start",
            shas[2],
            true,
            "",
        )?;
        for t in 0..5 {
            repo.reference(&format!("refs/tags/v1.{t}"), shas[t % 3], true, "")?;
        }
        let dir = root.join("soa").join(&name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("service.yaml"),
            format!("git_url: {}\ndescription: bench\n", repo_path.display()),
        )?;
        for cluster in CLUSTERS {
            let body = "main:\n  instances: 3\n  cpus: 0.5\ncanary:\n  instances: 1\n";
            std::fs::write(dir.join(format!("marathon-{cluster}.yaml")), body)?;
        }
    }
    std::fs::write(done, "")?;
    Ok(())
}
