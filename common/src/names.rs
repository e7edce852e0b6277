//! The one name check for everything a caller names — services, instances, clusters, deploy
//! groups, hosts in operator requests — wherever it comes from (CLI, operator API,
//! DeployService, webhook, soa-dir reads). Names become directory names, git ref names and
//! log fields, so a name is 1 to 253 bytes of letters, digits, `_`, `-` and `.`, and does
//! not start with `.` (so `.`, `..` and hidden directories are never names).

use std::fmt;

/// The longest name.
pub const MAX_NAME: usize = 253;

/// A refused name: which field, and (shortened, escaped) what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The field is empty.
    Empty {
        /// The field (`service`, `instance`, ...).
        field: &'static str,
    },
    /// The field is not a name.
    Invalid {
        /// The field.
        field: &'static str,
        /// At most 64 characters of the value, escaped for display.
        shown: String,
    },
}

impl NameError {
    /// The field it is about.
    pub fn field(&self) -> &'static str {
        match self {
            NameError::Empty { field } | NameError::Invalid { field, .. } => field,
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty { field } => write!(f, "field `{field}` is required"),
            NameError::Invalid { field, shown } => write!(
                f,
                "field `{field}`: {shown} is not a valid name (letters, digits, `_`, `-`, `.`; \
                 not starting with `.`; at most {MAX_NAME} bytes)"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks `value` as the name in `field`.
pub fn check(field: &'static str, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { field });
    }
    let ok = value.len() <= MAX_NAME
        && !value.starts_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(NameError::Invalid {
            field,
            shown: shown(value),
        })
    }
}

/// `value` for a message: at most 64 characters, escaped (`\n`, `\0`, quotes).
pub fn shown(value: &str) -> String {
    let short: String = value.chars().take(64).collect();
    let more = if value.chars().count() > 64 {
        format!("… ({} bytes)", value.len())
    } else {
        String::new()
    };
    format!("{short:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_in_paths_refs_and_logs() {
        for good in ["web", "api_v2", "norcal-prod.everything", "main", "a"] {
            assert_eq!(check("service", good), Ok(()), "{good}");
        }
        for bad in [
            "..",
            ".",
            ".hidden",
            "../outside",
            "/etc",
            "a/b",
            "a b",
            "a\nb",
            "a\0b",
            "ü",
        ] {
            let err = check("service", bad).unwrap_err();
            assert_eq!(err.field(), "service");
            assert!(err.to_string().contains("not a valid name"), "{err}");
        }
        assert_eq!(
            check("instance", ""),
            Err(NameError::Empty { field: "instance" })
        );
        let long = "x".repeat(10_000);
        let err = check("service", &long).unwrap_err().to_string();
        assert!(
            err.len() < 300,
            "the message stays short: {} bytes",
            err.len()
        );
        assert!(err.contains("10000 bytes"), "{err}");
    }
}
