//! The `filters` query parameter (Docker's `filters.Args`): parsing of the current
//! `map[string][]string` form and the legacy `map[string]map[string]bool` form with Go's error
//! texts, the matching primitives, and the `since`/`until` timestamp parser.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Keys `GET /containers/json` accepts (Docker 20.10 `acceptedPsFilterTags`).
pub const LIST_FILTER_KEYS: &[&str] = &[
    "ancestor",
    "before",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
    "expose",
];

/// A filter or query value the daemon refuses; `Display` is Docker's message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Unknown key or bad value (400): `Invalid filter 'bogus'`, `Invalid filter 'status=x'`.
    #[error("Invalid filter '{0}'")]
    InvalidFilter(String),
    /// Bad `health` value (400).
    #[error("Unrecognised filter value for health: {0}")]
    InvalidHealth(String),
    /// The JSON did not decode (500), with Go's `encoding/json` text.
    #[error("{0}")]
    Json(String),
    /// A number did not parse (500), with Go's `strconv` text.
    #[error("{0}")]
    Number(String),
    /// `since` after `until` on `/events` (400).
    #[error("`since` time ({since}) cannot be after `until` time ({until})")]
    SinceAfterUntil { since: String, until: String },
}

impl FilterError {
    /// The HTTP status dockerd answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidFilter(_) | Self::InvalidHealth(_) | Self::SinceAfterUntil { .. } => 400,
            Self::Json(_) | Self::Number(_) => 500,
        }
    }
}

/// Parsed filters: key → set of values. Values in one key are ORed except for `label`
/// (all must match); different keys are ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterArgs {
    fields: BTreeMap<String, BTreeSet<String>>,
}

impl FilterArgs {
    /// Parses the `filters` query value; an empty string means no filters.
    pub fn parse(raw: &str) -> Result<Self, FilterError> {
        if raw.is_empty() {
            return Ok(Self::default());
        }
        let doc: Value = serde_json::from_str(raw).map_err(|e| go_syntax_error(raw, &e))?;
        let obj = match doc {
            Value::Null => return Ok(Self::default()),
            Value::Object(obj) => obj,
            other => {
                return Err(go_type_error(&other, "map[string]map[string]bool"));
            }
        };
        // Docker first decodes the map-of-bools form, then falls back to the slice form, and
        // reports the first form's error if both fail.
        let mut fields = BTreeMap::new();
        let mut map_form_error = None;
        for (key, value) in &obj {
            let values = match value {
                Value::Null => Some(BTreeSet::new()),
                Value::Object(inner) => match inner.values().find(|v| !v.is_boolean()) {
                    Some(bad) => {
                        map_form_error.get_or_insert_with(|| go_type_error(bad, "bool"));
                        None
                    }
                    None => Some(inner.keys().cloned().collect()),
                },
                other => {
                    map_form_error.get_or_insert_with(|| go_type_error(other, "map[string]bool"));
                    None
                }
            };
            if let Some(values) = values {
                fields.insert(key.clone(), values);
            }
        }
        let Some(map_form_error) = map_form_error else {
            return Ok(Self { fields });
        };
        let mut fields = BTreeMap::new();
        for (key, value) in &obj {
            let values = match value {
                Value::Null => BTreeSet::new(),
                Value::Array(items) => {
                    let strings: Option<BTreeSet<String>> = items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned))
                        .collect();
                    strings.ok_or_else(|| map_form_error.clone())?
                }
                _ => return Err(map_form_error),
            };
            fields.insert(key.clone(), values);
        }
        Ok(Self { fields })
    }

    /// Builds filters from pairs (for the Rust API and tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (k, v) in pairs {
            fields.entry(k.to_owned()).or_default().insert(v.to_owned());
        }
        Self { fields }
    }

    /// Fails with `Invalid filter 'key'` for the first key not in `accepted`.
    pub fn validate_keys(&self, accepted: &[&str]) -> Result<(), FilterError> {
        match self.fields.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(bad) => Err(FilterError::InvalidFilter(bad.clone())),
            None => Ok(()),
        }
    }

    /// The values given for `key` (empty when absent).
    pub fn values(&self, key: &str) -> impl Iterator<Item = &str> {
        self.fields
            .get(key)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Whether `key` has at least one value (a key with no values filters nothing).
    pub fn has(&self, key: &str) -> bool {
        self.fields.get(key).is_some_and(|v| !v.is_empty())
    }

    /// `ExactMatch`: true when `key` has no values or one equals `source`.
    pub fn exact_match(&self, key: &str, source: &str) -> bool {
        !self.has(key) || self.values(key).any(|v| v == source)
    }

    /// `FuzzyMatch`: true when `key` has no values or one is a prefix of `source`.
    pub fn fuzzy_match(&self, key: &str, source: &str) -> bool {
        !self.has(key) || self.values(key).any(|v| source.starts_with(v))
    }

    /// `Match`: true when `key` has no values, or one equals `source` or is a regular
    /// expression found in it. Invalid expressions match nothing (as in Docker).
    pub fn regex_match(&self, key: &str, source: &str) -> bool {
        !self.has(key)
            || self
                .values(key)
                .any(|v| v == source || regex::Regex::new(v).is_ok_and(|re| re.is_match(source)))
    }

    /// `MatchKVList`: every `k` / `k=v` value must be present in `sources`.
    pub fn match_kv_list(&self, key: &str, sources: &BTreeMap<String, String>) -> bool {
        if !self.has(key) {
            return true;
        }
        if sources.is_empty() {
            return false;
        }
        self.values(key).all(|value| match value.split_once('=') {
            Some((k, v)) => sources.get(k).is_some_and(|have| have == v),
            None => sources.contains_key(value),
        })
    }
}

/// Parses an integer query value as Go's `strconv.Atoi` (with its error text).
pub fn parse_atoi(raw: &str) -> Result<i64, FilterError> {
    raw.parse::<i64>()
        .map_err(|_| FilterError::Number(format!("strconv.Atoi: parsing {raw:?}: invalid syntax")))
}

/// Parses an `/events` `since`/`until` value: unix seconds with an optional fraction
/// (`1465000000.5`), or an RFC3339 date. Durations relative to now are not supported.
pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, FilterError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.to_utc());
    }
    let (secs, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let bad = |part: &str| {
        FilterError::Number(format!(
            "strconv.ParseInt: parsing {part:?}: invalid syntax"
        ))
    };
    let secs: i64 = secs.parse().map_err(|_| bad(secs))?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        digits.parse().map_err(|_| bad(frac))?
    };
    DateTime::from_timestamp(secs, nanos).ok_or_else(|| bad(raw))
}

/// Go's `json: cannot unmarshal <kind> into Go value of type <ty>`.
fn go_type_error(value: &Value, ty: &str) -> FilterError {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    FilterError::Json(format!(
        "json: cannot unmarshal {kind} into Go value of type {ty}"
    ))
}

/// An approximation of Go's JSON syntax errors: exact for truncated input and for a bad first
/// character, otherwise names the offending character.
fn go_syntax_error(raw: &str, err: &serde_json::Error) -> FilterError {
    if err.is_eof() {
        return FilterError::Json("unexpected end of JSON input".to_owned());
    }
    let first = raw.trim_start().chars().next().unwrap_or(' ');
    if !matches!(first, '{' | '[' | '"' | '-' | '0'..='9' | 't' | 'f' | 'n') {
        return FilterError::Json(format!(
            "invalid character '{first}' looking for beginning of value"
        ));
    }
    let offending = raw
        .lines()
        .nth(err.line().saturating_sub(1))
        .and_then(|l| l.chars().nth(err.column().saturating_sub(1)))
        .unwrap_or(first);
    FilterError::Json(format!(
        "invalid character '{offending}' looking for beginning of value"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_to_the_same_args() {
        let new = FilterArgs::parse(r#"{"label":["a=b","c"],"status":["running"]}"#).unwrap();
        let legacy =
            FilterArgs::parse(r#"{"label":{"a=b":true,"c":true},"status":{"running":true}}"#)
                .unwrap();
        assert_eq!(new, legacy);
        assert!(new.has("label"));
        assert_eq!(FilterArgs::parse("").unwrap(), FilterArgs::default());
    }

    #[test]
    fn errors_carry_go_texts() {
        let e = FilterArgs::parse(r#"{"label":"abc"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go value of type map[string]bool"
        );
        assert_eq!(e.http_status(), 500);
        let e = FilterArgs::parse(r#"{"label":{"a":"b"}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go value of type bool"
        );
        let e = FilterArgs::parse("[1]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal array into Go value of type map[string]map[string]bool"
        );
        let e = FilterArgs::parse("{").unwrap_err();
        assert_eq!(e.to_string(), "unexpected end of JSON input");
        let e = FilterArgs::parse(r#"{"bogus":["x"]}"#)
            .unwrap()
            .validate_keys(LIST_FILTER_KEYS);
        assert_eq!(e.unwrap_err().to_string(), "Invalid filter 'bogus'");
    }

    #[test]
    fn labels_are_anded_and_names_are_regexes() {
        let f = FilterArgs::from_pairs([("label", "a=b"), ("label", "c"), ("name", "^/mesos-")]);
        let labels: BTreeMap<String, String> =
            [("a".into(), "b".into()), ("c".into(), "x".into())].into();
        assert!(f.match_kv_list("label", &labels));
        let only_a: BTreeMap<String, String> = [("a".into(), "b".into())].into();
        assert!(!f.match_kv_list("label", &only_a));
        assert!(f.regex_match("name", "/mesos-1234"));
        assert!(!f.regex_match("name", "/x-mesos-1234"));
        assert!(!FilterArgs::from_pairs([("name", "[")]).regex_match("name", "/["));
    }

    #[test]
    fn timestamps_parse_seconds_fractions_and_dates() {
        assert_eq!(
            parse_timestamp("10.5").unwrap().timestamp_nanos_opt(),
            Some(10_500_000_000)
        );
        assert_eq!(
            parse_timestamp("2016-06-01T00:00:00Z").unwrap().timestamp(),
            1_464_739_200
        );
        assert_eq!(
            parse_timestamp("abc").unwrap_err().to_string(),
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
    }
}
