//! Reading the system config directory (PaaSTA's `/etc/paasta`): every `*.json` below it,
//! sorted by path and merged by `galley_common::system_config`.

use std::path::{Path, PathBuf};

use galley_common::marathon_app::SystemSettings;
use serde_json::{Map, Value};

/// The merged system config and the values the coordinator needs from it.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// `cluster`, if set.
    pub cluster: Option<String>,
    /// Registry, volumes, dockercfg.
    pub settings: SystemSettings,
    /// Everything, merged.
    pub raw: Map<String, Value>,
}

/// Reads `dir`; errors name the directory or file.
pub fn read_system_config(dir: &Path) -> Result<SystemConfig, String> {
    let mut files = Vec::new();
    collect(dir, &mut files)
        .map_err(|e| format!("cannot read system config dir {}: {e}", dir.display()))?;
    let mut texts = Vec::new();
    for path in files {
        // Unreadable files are skipped, as PaaSTA did (and so are FIFOs, devices and files
        // over the size limit).
        match crate::fsutil::read_config_file(&path, crate::fsutil::MAX_CONFIG_FILE_BYTES) {
            Ok(text) => texts.push((path.display().to_string(), text)),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "system config file skipped")
            }
        }
    }
    let raw = galley_common::system_config::merge_files(texts)
        .map_err(|e| crate::error_chain::ErrorChain(&e).to_string())?;
    let settings = SystemSettings::from_system_config(&raw, &dir.display().to_string())
        .map_err(|e| crate::error_chain::ErrorChain(&e).to_string())?;
    let cluster = raw
        .get("cluster")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(SystemConfig {
        cluster,
        settings,
        raw,
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}
