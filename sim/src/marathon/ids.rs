//! Identifiers and request plumbing: app path canonicalisation (§1.1), task ids (§1.4),
//! timestamps, and Jersey-style query parameters.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;

/// The id segment rule exactly as Marathon prints it in 422 bodies.
pub const ID_SEGMENT_PATTERN: &str = r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$";

static ID_SEGMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:(?:[a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*(?:[a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|\.|\.\.)$")
        .expect("constant regex")
});

static TASK_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+)[._]([^_.]+)$").expect("constant regex"));

/// Canonicalises an app path: makes it absolute, drops empty and `.` segments, resolves `..`.
/// `a/b`, `//a/b/` and `/a/./c/../b` all become `/a/b`.
pub fn canonical_path(raw: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

/// Whether one path segment satisfies Marathon's id rule.
pub fn valid_segment(segment: &str) -> bool {
    ID_SEGMENT.is_match(segment)
}

/// The `safePath` of an app id: segments joined with `_` (`/a/b` → `a_b`).
pub fn safe_path(app_id: &str) -> String {
    app_id.trim_start_matches('/').replace('/', "_")
}

/// Parses a legacy task id (`<safePath>.<uuid>`) into its app id.
pub fn app_id_of_task(task_id: &str) -> Option<String> {
    let caps = TASK_ID.captures(task_id)?;
    let safe = caps.get(1)?.as_str();
    Some(format!(
        "/{}",
        safe.split('_').collect::<Vec<_>>().join("/")
    ))
}

/// Marathon's timestamp format: ISO-8601 UTC with milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parsed query string; keeps repeated keys in order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (`a=1&b=x%20y`).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean parsed like Java's `Boolean.valueOf` (case-insensitive `true`; anything else is
    /// false); `default` when absent.
    pub fn bool(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => default,
        }
    }
}

/// Decodes `%XX` escapes and `+` (as a space).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 (with padding), used to check basic-auth credentials.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_canonicalised() {
        assert_eq!(canonical_path("a/b"), "/a/b");
        assert_eq!(canonical_path("//a/b/"), "/a/b");
        assert_eq!(canonical_path("/a/./c/../b"), "/a/b");
    }

    #[test]
    fn task_ids_parse_back_to_app_ids() {
        assert_eq!(app_id_of_task("a_b.c.1234").as_deref(), Some("/a/b.c"));
        assert_eq!(app_id_of_task("nodots"), None);
    }

    #[test]
    fn segments_follow_marathon_rule() {
        assert!(valid_segment("web-1.canary"));
        assert!(!valid_segment("Web"));
        assert!(!valid_segment("a_b"));
        assert!(!valid_segment("-a"));
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn booleans_ignore_case() {
        let q = Query::parse(Some("force=True&scale=FALSE&x=%2Fa+b"));
        assert!(q.bool("force", false));
        assert!(!q.bool("scale", true));
        assert_eq!(q.get("x"), Some("/a b"));
    }
}
