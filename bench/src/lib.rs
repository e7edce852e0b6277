//! What the benchmark binaries share: process figures from `/proc/self` (CPU, RSS, peak RSS),
//! the fixtures directory under `target/`, and the git fixture a service repository is built
//! from. Benchmarks print figures; they are never timed tests.

use std::path::PathBuf;

use git2::{Oid, Repository, Signature};

/// `target/bench-fixtures/<name>` of the workspace: fixtures are kept and reused across runs.
pub fn fixtures_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-fixtures")
        .join(name)
}

/// User + system CPU of this process so far, in seconds (`/proc/self/stat` fields 14 and 15,
/// in clock ticks of 100 Hz).
pub fn cpu_seconds() -> f64 {
    proc_cpu_seconds("self")
}

/// User + system CPU of process `pid` (`self` for this one) so far, in seconds.
pub fn proc_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/<pid>/status` line's value in KiB (`VmRSS`, `VmHWM`), 0 when unknown.
pub fn proc_status_kib(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .strip_prefix(':')?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Resident memory now, KiB.
pub fn rss_kib() -> u64 {
    proc_status_kib("self", "VmRSS")
}

/// Peak resident memory, KiB.
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("self", "VmHWM")
}

/// Writes a soa-configs tree of `services` services (`svc00000`, ...) with `per_service`
/// instances each (`i0`, ...; one task of 0.1 CPU and 128 MB), all deployed at `sha` in
/// cluster `cluster` (`service.yaml`, `marathon-<cluster>.yaml`, `deployments.json`).
pub fn write_soa_tree(
    soa: &std::path::Path,
    cluster: &str,
    services: usize,
    per_service: usize,
    sha: &str,
) -> std::io::Result<()> {
    use galley_common::deployments::{Deployments, V1Entry, V2Control, V2Deployment};
    use galley_common::refs::DesiredState;
    for s in 0..services {
        let name = format!("svc{s:05}");
        let dir = soa.join(&name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("service.yaml"), "description: bench\n")?;
        let mut yaml = String::new();
        let mut d = Deployments::default();
        for i in 0..per_service {
            let inst = format!("i{i}");
            yaml.push_str(&instance_yaml(&inst, 1));
            let image = format!("services-{name}:paasta-{sha}");
            d.v1.insert(
                format!("{name}:paasta-{cluster}.{inst}"),
                V1Entry {
                    docker_image: image.clone(),
                    desired_state: DesiredState::Start,
                    force_bounce: None,
                },
            );
            d.v2.deployments.insert(
                format!("{cluster}.{inst}"),
                V2Deployment {
                    docker_image: image,
                    git_sha: sha.into(),
                },
            );
            d.v2.controls.insert(
                format!("{name}:{cluster}.{inst}"),
                V2Control {
                    desired_state: DesiredState::Start,
                    force_bounce: None,
                },
            );
        }
        std::fs::write(dir.join(format!("marathon-{cluster}.yaml")), yaml)?;
        std::fs::write(dir.join("deployments.json"), d.to_json_text())?;
    }
    Ok(())
}

/// One instance's block of `marathon-<cluster>.yaml` in [`write_soa_tree`]'s shape.
pub fn instance_yaml(instance: &str, instances: u32) -> String {
    format!("{instance}:\n  instances: {instances}\n  cpus: 0.1\n  mem: 128\n")
}

/// A commit (on no branch) holding one file `README` with `content`.
pub fn commit(repo: &Repository, sig: &Signature<'_>, content: &str) -> Result<Oid, git2::Error> {
    let blob = repo.blob(content.as_bytes())?;
    let mut tb = repo.treebuilder(None)?;
    tb.insert("README", blob, 0o100644)?;
    let tree = repo.find_tree(tb.write()?)?;
    repo.commit(None, sig, sig, content, &tree, &[])
}
