//! Two small PaaSTA helpers: `deep_merge_dictionaries` and Python's `str.format` as applied to
//! `deploy_group`.

use serde_json::{Map, Value};

/// Deep merge as PaaSTA's `deep_merge_dictionaries(overrides, defaults)`: nested mappings merge
/// recursively; any other value from `overrides` replaces the default.
pub fn deep_merge(
    overrides: &Map<String, Value>,
    defaults: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = defaults.clone();
    for (key, over) in overrides {
        let merged = match (out.get(key), over) {
            (Some(Value::Object(d)), Value::Object(o)) => Value::Object(deep_merge(o, d)),
            _ => over.clone(),
        };
        out.insert(key.clone(), merged);
    }
    out
}

/// Python `str.format(**vars)` for the subset config files use: `{name}`, `{name:s}`, and the
/// `{{`/`}}` escapes. Anything else (positional fields, unknown names, stray braces) is an error
/// whose message says what to fix, where Python would raise.
pub fn format_placeholders(template: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => {
                return Err(format!(
                    "single '}}' encountered in format string {template:?}"
                ));
            }
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => field.push(ch),
                        None => {
                            return Err(format!(
                                "single '{{' encountered in format string {template:?}"
                            ));
                        }
                    }
                }
                let name = field.strip_suffix(":s").unwrap_or(&field);
                let value = vars
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| *v)
                    .ok_or_else(|| {
                        let known: Vec<String> =
                            vars.iter().map(|(k, _)| format!("{{{k}}}")).collect();
                        format!(
                            "unknown placeholder {{{field}}} in {template:?}; only {} are allowed",
                            known.join(", ")
                        )
                    })?;
                out.push_str(value);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn nested_mappings_merge_and_scalars_replace() {
        let defaults = map(
            json!({"env": {"A": "1", "B": "2"}, "cpus": 1, "list": [1, 2], "monitoring": {"team": "x"}}),
        );
        let overrides = map(json!({"env": {"B": "3"}, "list": [3], "monitoring": "none"}));
        assert_eq!(
            Value::Object(deep_merge(&overrides, &defaults)),
            json!({"env": {"A": "1", "B": "3"}, "cpus": 1, "list": [3], "monitoring": "none"})
        );
    }

    #[test]
    fn format_fills_known_fields_and_escapes() {
        let vars = [
            ("cluster", "norcal"),
            ("instance", "main"),
            ("service", "web"),
        ];
        assert_eq!(
            format_placeholders("{cluster}.{instance}", &vars).as_deref(),
            Ok("norcal.main")
        );
        assert_eq!(
            format_placeholders("cluster_is_{cluster:s}", &vars).as_deref(),
            Ok("cluster_is_norcal")
        );
        assert_eq!(
            format_placeholders("{{literal}}", &vars).as_deref(),
            Ok("{literal}")
        );
        assert!(
            format_placeholders("{0}", &vars)
                .unwrap_err()
                .contains("unknown placeholder {0}")
        );
        assert!(format_placeholders("{region}", &vars).is_err());
        assert!(format_placeholders("a}b", &vars).is_err());
        assert!(format_placeholders("a{b", &vars).is_err());
    }
}
