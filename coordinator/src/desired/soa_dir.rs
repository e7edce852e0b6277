//! Reading a yelpsoa-configs tree from disk. Only this module touches the soa dir; it hands
//! raw file contents to `galley_common::soa`, which parses them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use galley_common::soa::{SERVICE_FILES, ServiceSource, is_instance_file};

use crate::fsutil::{MAX_CONFIG_FILE_BYTES, read_config_file};

/// A service directory that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SoaReadError {
    /// The soa dir itself cannot be listed.
    #[error("cannot list soa dir {path}")]
    ListDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A service directory does not exist.
    #[error("no service directory {path}")]
    NoSuchService {
        /// The directory.
        path: PathBuf,
    },
    /// The service name cannot be a directory of the soa dir.
    #[error("bad service name")]
    BadName(#[source] galley_common::names::NameError),
    /// The service directory is a symlink that leads out of the soa dir (PaaSTA followed it;
    /// Galley never reads or writes outside the soa dir).
    #[error("service directory {path} is a symlink to {target}, outside the soa dir")]
    OutsideSoaDir {
        /// The service directory.
        path: PathBuf,
        /// Where it leads.
        target: PathBuf,
    },
    /// A file exists but cannot be read (or is not UTF-8).
    #[error("cannot read {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Names of the service directories under `soa_dir`, sorted (hidden entries skipped).
pub fn list_services(soa_dir: &Path) -> Result<Vec<String>, SoaReadError> {
    let err = |source| SoaReadError::ListDir {
        path: soa_dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(soa_dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Follows symlinks, as os.path.isdir does; readdir's type saves a stat otherwise.
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => entry.path().is_dir(),
            Ok(t) => t.is_dir(),
            Err(_) => false,
        };
        if is_dir {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// One entry of a service directory as `stat` sees it: name, then size, mtime, ctime (seconds
/// and nanoseconds) and inode; `None` when it could not be stat'ed (so its later appearance is
/// a change).
pub type EntryStat = (String, Option<[i64; 6]>);

/// The `stat` of every entry of a service directory that configuration can come from (all but
/// dot files and deployments.json), sorted by name; `None` if the directory cannot be listed.
/// Equal listings mean the config need not be parsed again (the git watcher's fingerprint,
/// generate-deployments' stamps).
pub fn config_stats(dir: &Path) -> Option<Vec<EntryStat>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).ok()? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "deployments.json" {
            continue;
        }
        let stat = fs::metadata(entry.path()).ok().map(|m| {
            [
                m.size() as i64,
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
                m.ino() as i64,
            ]
        });
        out.push((name, stat));
    }
    out.sort();
    Some(out)
}

/// Reads the files of one service that configuration parsing needs.
pub fn read_service(soa_dir: &Path, service: &str) -> Result<ServiceSource, SoaReadError> {
    galley_common::names::check("service", service).map_err(SoaReadError::BadName)?;
    let dir = soa_dir.join(service);
    check_inside(soa_dir, &dir)?;
    let entries = fs::read_dir(&dir).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => SoaReadError::NoSuchService { path: dir.clone() },
        _ => SoaReadError::ListDir {
            path: dir.clone(),
            source,
        },
    })?;
    let mut source = ServiceSource {
        name: service.to_string(),
        ..Default::default()
    };
    for entry in entries {
        let entry = entry.map_err(|source| SoaReadError::ListDir {
            path: dir.clone(),
            source,
        })?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !(SERVICE_FILES.contains(&name.as_str()) || is_instance_file(&name).is_some()) {
            continue;
        }
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let text = read_config_file(&path, MAX_CONFIG_FILE_BYTES)
            .map_err(|source| SoaReadError::ReadFile { path, source })?;
        source.files.insert(name, text);
    }
    Ok(source)
}

/// Refuses a service directory that is a symlink leading out of `soa_dir` (a symlink to
/// another service directory of the same tree is fine).
fn check_inside(soa_dir: &Path, dir: &Path) -> Result<(), SoaReadError> {
    let is_link = fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(());
    }
    let target = fs::canonicalize(dir).map_err(|source| SoaReadError::ListDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let root = fs::canonicalize(soa_dir).map_err(|source| SoaReadError::ListDir {
        path: soa_dir.to_path_buf(),
        source,
    })?;
    if target.starts_with(&root) {
        Ok(())
    } else {
        Err(SoaReadError::OutsideSoaDir {
            path: dir.to_path_buf(),
            target,
        })
    }
}
