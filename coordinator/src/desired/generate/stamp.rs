//! Stamps: what one service's deployments.json was last generated from, so a later
//! `generate-deployments` run can skip the service before any per-service work when nothing it
//! depends on changed.
//!
//! A stamp records, by `stat` alone (name, size, mtime, ctime, inode):
//! - every entry of the service directory except dot files and deployments.json (the same
//!   rule as the git watcher's config fingerprint);
//! - for a repository on this machine (an absolute path or a `file://` URL), its `HEAD`,
//!   `packed-refs` and every file and directory under `refs/` — git updates a ref by renaming
//!   a new file into place, so a pushed tag changes them;
//! - the deployments.json it produced, so a file changed by anyone else is regenerated;
//! - the options that change the output (`--legacy-branches`) and the Galley version.
//!
//! The skip is sound: a service is skipped only if its inputs are what produced the current
//! file and that file is untouched since, and generation is deterministic. Fingerprints are
//! taken *before* the inputs are read, so a change racing a run is seen by the next run.
//! Repositories behind a network URL have no stamp for their refs (only listing them tells),
//! so their services are always listed. Stamps live under `<soa_dir>/.galley/generate/` (a
//! dot directory: never taken for a service, ignored by the soa-dir watcher); a missing,
//! unreadable or foreign stamp only means the service is generated.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::{Durability, write_atomic};
use crate::fsutil::read_small;
use crate::soa_dir;

/// Past this many entries under a repository's `refs/` its refs are not stamped (listing them
/// is as cheap as walking them).
const MAX_REF_ENTRIES: usize = 20_000;

/// The stamp format and the code that wrote it; any difference regenerates.
fn writer() -> String {
    format!("galley {} stamp 1", env!("CARGO_PKG_VERSION"))
}

/// One path's `stat` (as [`soa_dir::config_stats`] takes it), or its absence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStamp {
    name: String,
    /// `None`: the path did not exist (or could not be stat'ed).
    stat: Option<[i64; 6]>,
}

impl FileStamp {
    fn of(name: String, meta: Option<&fs::Metadata>) -> Self {
        // The same six numbers as `soa_dir::config_stats`.
        Self {
            name,
            stat: meta.map(|m| {
                [
                    m.size() as i64,
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                    m.ino() as i64,
                ]
            }),
        }
    }

    fn path(path: &Path) -> Self {
        Self::of(path.display().to_string(), fs::metadata(path).ok().as_ref())
    }
}

/// The inputs and output of one generation of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    writer: String,
    legacy_branches: bool,
    config: Vec<FileStamp>,
    /// The repository's location and refs; `None` when the service has no instances (its
    /// repository is never listed).
    repo: Option<RepoStamp>,
    output: FileStamp,
}

/// A local repository's refs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoStamp {
    url: String,
    refs: Vec<FileStamp>,
}

/// The inputs of a service as they are now, taken before they are read.
#[derive(Debug, Clone)]
pub struct Inputs {
    config: Vec<FileStamp>,
}

impl Inputs {
    /// Fingerprints `service`'s directory; `None` if it cannot be listed.
    pub fn take(soa_dir: &Path, service: &str) -> Option<Self> {
        config_entries(&soa_dir.join(service)).map(|config| Self { config })
    }

    /// The stamp of a generation from these inputs, the repository (`None`: no instances; else
    /// its url and the refs fingerprint taken before listing) and the file as it is now.
    pub fn stamp(
        self,
        soa_dir: &Path,
        service: &str,
        legacy_branches: bool,
        repo: Option<(String, Vec<FileStamp>)>,
    ) -> Stamp {
        Stamp {
            writer: writer(),
            legacy_branches,
            config: self.config,
            repo: repo.map(|(url, refs)| RepoStamp { url, refs }),
            output: FileStamp::path(&output_path(soa_dir, service)),
        }
    }
}

/// Fingerprints the refs of the repository at `url`, before they are listed; `None` for a
/// repository that is not a local directory (or too large to walk).
pub fn refs_of(url: &str) -> Option<Vec<FileStamp>> {
    let git_dir = local_git_dir(url)?;
    let mut out = vec![
        FileStamp::path(&git_dir.join("HEAD")),
        FileStamp::path(&git_dir.join("packed-refs")),
    ];
    walk_refs(&git_dir.join("refs"), &mut out)?;
    Some(out)
}

/// Whether `service` can be skipped: its stamp matches the inputs, refs and output as they are
/// now. Any doubt (no stamp, an unreadable one, a network repository) is "no".
pub fn is_fresh(soa_dir: &Path, service: &str, legacy_branches: bool) -> bool {
    let Some(stamp) = read(soa_dir, service) else {
        return false;
    };
    if stamp.writer != writer() || stamp.legacy_branches != legacy_branches {
        return false;
    }
    if config_entries(&soa_dir.join(service)).as_ref() != Some(&stamp.config) {
        return false;
    }
    if let Some(repo) = &stamp.repo
        && refs_of(&repo.url).as_ref() != Some(&repo.refs)
    {
        return false;
    }
    FileStamp::path(&output_path(soa_dir, service)) == stamp.output
}

/// Writes `stamp` for `service` (atomically; a failure only costs a regeneration next time).
pub fn write(soa_dir: &Path, service: &str, stamp: &Stamp) -> std::io::Result<()> {
    let path = stamp_path(soa_dir, service);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec(stamp).map_err(std::io::Error::other)?;
    write_atomic(&path, &text, Durability::NoFsync)
}

/// Removes `service`'s stamp (after a failure: the next run must generate it).
pub fn remove(soa_dir: &Path, service: &str) {
    let _ = fs::remove_file(stamp_path(soa_dir, service));
}

/// `<soa_dir>/.galley/generate/<service>.json`.
pub fn stamp_path(soa_dir: &Path, service: &str) -> PathBuf {
    soa_dir
        .join(".galley")
        .join("generate")
        .join(format!("{service}.json"))
}

fn read(soa_dir: &Path, service: &str) -> Option<Stamp> {
    let text = read_small(&stamp_path(soa_dir, service)).ok()?;
    serde_json::from_str(&text).ok()
}

fn output_path(soa_dir: &Path, service: &str) -> PathBuf {
    soa_dir.join(service).join("deployments.json")
}

/// The service directory's entries as the git watcher's fingerprint sees them.
fn config_entries(dir: &Path) -> Option<Vec<FileStamp>> {
    let stats = soa_dir::config_stats(dir)?;
    Some(
        stats
            .into_iter()
            .map(|(name, stat)| FileStamp { name, stat })
            .collect(),
    )
}

/// The git directory of a repository on this machine: `url` is an absolute path or a
/// `file://` URL, of a bare repository or of a work tree with a `.git` directory.
fn local_git_dir(url: &str) -> Option<PathBuf> {
    let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
    if !path.is_absolute() {
        return None;
    }
    let dot_git = path.join(".git");
    if dot_git.is_dir() {
        Some(dot_git)
    } else if dot_git.exists() {
        None // a `gitdir:` link (worktree, submodule): not followed
    } else if path.join("refs").is_dir() {
        Some(path.to_path_buf())
    } else {
        None
    }
}

/// Every directory and file under `dir`, depth first in name order, without following
/// symlinks. `None` past [`MAX_REF_ENTRIES`] or when a directory cannot be read.
fn walk_refs(dir: &Path, out: &mut Vec<FileStamp>) -> Option<()> {
    let meta = fs::symlink_metadata(dir).ok()?;
    out.push(FileStamp::of(dir.display().to_string(), Some(&meta)));
    let mut entries: Vec<_> = fs::read_dir(dir)
        .ok()?
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if out.len() > MAX_REF_ENTRIES {
            return None;
        }
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).ok()?;
        if meta.is_dir() {
            walk_refs(&path, out)?;
        } else {
            out.push(FileStamp::of(path.display().to_string(), Some(&meta)));
        }
    }
    Some(())
}

#[cfg(test)]
mod tests;
