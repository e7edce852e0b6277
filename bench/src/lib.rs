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
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

/// A `/proc/self/status` line's value in KiB (`VmRSS`, `VmHWM`), 0 when unknown.
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
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
    status_kib("VmRSS")
}

/// Peak resident memory, KiB.
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM")
}

/// A commit (on no branch) holding one file `README` with `content`.
pub fn commit(repo: &Repository, sig: &Signature<'_>, content: &str) -> Result<Oid, git2::Error> {
    let blob = repo.blob(content.as_bytes())?;
    let mut tb = repo.treebuilder(None)?;
    tb.insert("README", blob, 0o100644)?;
    let tree = repo.find_tree(tb.write()?)?;
    repo.commit(None, sig, sig, content, &tree, &[])
}
