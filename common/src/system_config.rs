//! The system (host) configuration: every `*.json` under `/etc/paasta/` (or another directory),
//! sorted by path and merged, top-level keys last-wins (PaaSTA v0.19; spec §1.5).

use serde_json::{Map, Value};

/// A system-config file that is not a JSON object.
#[derive(Debug, thiserror::Error)]
pub enum SystemConfigError {
    /// Not JSON, or not an object.
    #[error("{path}: not a JSON object")]
    NotAnObject {
        /// The file.
        path: String,
        /// Parser error, if it was not JSON at all.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// A required key is missing from the merged configuration.
    #[error("key `{key}` is not set in any *.json file of {dir}")]
    Missing {
        /// The directory.
        dir: String,
        /// The key.
        key: String,
    },
}

/// Merges `(path, contents)` pairs in path order, later files' top-level keys winning.
pub fn merge_files(
    mut files: Vec<(String, String)>,
) -> Result<Map<String, Value>, SystemConfigError> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut merged = Map::new();
    for (path, text) in files {
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => merged.extend(m),
            Ok(_) => return Err(SystemConfigError::NotAnObject { path, source: None }),
            Err(e) => {
                return Err(SystemConfigError::NotAnObject {
                    path,
                    source: Some(e),
                });
            }
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn later_files_override_earlier_ones() {
        // §8 item 40.
        let merged = merge_files(vec![
            (
                "/etc/paasta/b.json".into(),
                r#"{"foo": "overriding value"}"#.into(),
            ),
            (
                "/etc/paasta/a.json".into(),
                r#"{"foo": "this value will be overriden", "fake": "fake_data"}"#.into(),
            ),
        ])
        .expect("merges");
        assert_eq!(
            Value::Object(merged),
            json!({"foo": "overriding value", "fake": "fake_data"})
        );
        assert!(merge_files(vec![("x.json".into(), "[1]".into())]).is_err());
    }
}
