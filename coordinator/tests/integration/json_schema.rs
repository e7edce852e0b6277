//! A minimal JSON Schema validator for the draft-04 subset Marathon 1.4.13's
//! `schema/AppDefinition.json` uses (`type`, `enum`, numeric and length bounds, `pattern`,
//! `format: date-time`, array `items`/`additionalItems`/`minItems`/`uniqueItems`, object
//! `required`/`properties`/`patternProperties`/`additionalProperties`, `allOf`/`anyOf`/
//! `oneOf`/`not` and local `$ref`s). Written for the test so that no JSON-schema crate is
//! built; [`Validator::unsupported_keywords`] proves the schema needs nothing else.

use regex::Regex;
use serde_json::{Map, Value};

/// Keywords the validator checks, plus the annotations it may ignore.
const SUPPORTED: &[&str] = &[
    "$schema",
    "$ref",
    "definitions",
    "description",
    "default",
    "type",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "required",
    "properties",
    "patternProperties",
    "additionalProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

/// A schema and the root it resolves `$ref`s against.
pub struct Validator<'a> {
    root: &'a Value,
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|x| x.fract() == 0.0),
        _ => false,
    }
}

impl<'a> Validator<'a> {
    /// A validator for `root`.
    pub fn new(root: &'a Value) -> Self {
        Self { root }
    }

    /// Schema keywords under `root` this validator does not know.
    pub fn unsupported_keywords(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_keywords(self.root, &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// Every violation of `value`, as `path: problem`.
    pub fn validate(&self, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(self.root, value, "", &mut errors);
        errors
    }

    fn resolve(&self, reference: &str) -> &'a Value {
        let pointer = reference.trim_start_matches('#');
        self.root.pointer(pointer).unwrap_or(&Value::Null)
    }

    fn check(&self, schema: &'a Value, v: &Value, path: &str, errors: &mut Vec<String>) {
        let Some(s) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                errors.push(format!("{path}: not allowed"));
            }
            return;
        };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            return self.check(self.resolve(r), v, path, errors);
        }
        if let Some(t) = s.get("type") {
            let names: Vec<&str> = match t {
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                other => other.as_str().into_iter().collect(),
            };
            if !names.iter().any(|n| type_matches(n, v)) {
                errors.push(format!("{path}: expected {names:?}, got {v}"));
                return;
            }
        }
        if let Some(options) = s.get("enum").and_then(Value::as_array)
            && !options.contains(v)
        {
            errors.push(format!("{path}: {v} not in {options:?}"));
        }
        for problem in check_scalar(s, v) {
            errors.push(format!("{path}: {problem}"));
        }
        self.check_array(s, v, path, errors);
        self.check_object(s, v, path, errors);
        self.check_combinators(s, v, path, errors);
    }

    fn check_array(
        &self,
        s: &'a Map<String, Value>,
        v: &Value,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let Some(items) = v.as_array() else { return };
        let bound = |k: &str| s.get(k).and_then(Value::as_u64).map(|n| n as usize);
        if bound("minItems").is_some_and(|m| items.len() < m)
            || bound("maxItems").is_some_and(|m| items.len() > m)
        {
            errors.push(format!("{path}: {} items out of bounds", items.len()));
        }
        if s.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, a) in items.iter().enumerate() {
                if items[..i].contains(a) {
                    errors.push(format!("{path}: duplicate item {a}"));
                }
            }
        }
        match s.get("items") {
            Some(Value::Array(tuple)) => {
                for (i, item) in items.iter().enumerate() {
                    let sub = format!("{path}/{i}");
                    match tuple.get(i) {
                        Some(schema) => self.check(schema, item, &sub, errors),
                        None => {
                            if let Some(extra) = s.get("additionalItems") {
                                self.check(extra, item, &sub, errors);
                            }
                        }
                    }
                }
            }
            Some(schema) => {
                for (i, item) in items.iter().enumerate() {
                    self.check(schema, item, &format!("{path}/{i}"), errors);
                }
            }
            None => {}
        }
    }

    fn check_object(
        &self,
        s: &'a Map<String, Value>,
        v: &Value,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let Some(obj) = v.as_object() else { return };
        for key in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = key.as_str()
                && !obj.contains_key(k)
            {
                errors.push(format!("{path}: missing {k}"));
            }
        }
        let properties = s.get("properties").and_then(Value::as_object);
        let patterns = s.get("patternProperties").and_then(Value::as_object);
        for (key, value) in obj {
            let sub = format!("{path}/{key}");
            let mut matched = false;
            if let Some(schema) = properties.and_then(|p| p.get(key)) {
                matched = true;
                self.check(schema, value, &sub, errors);
            }
            for (pattern, schema) in patterns.into_iter().flatten() {
                if Regex::new(pattern).is_ok_and(|re| re.is_match(key)) {
                    matched = true;
                    self.check(schema, value, &sub, errors);
                }
            }
            if !matched && let Some(extra) = s.get("additionalProperties") {
                self.check(extra, value, &sub, errors);
            }
        }
    }

    fn check_combinators(
        &self,
        s: &'a Map<String, Value>,
        v: &Value,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let passes = |schema: &'a Value| {
            let mut errs = Vec::new();
            self.check(schema, v, path, &mut errs);
            errs.is_empty()
        };
        let list = |k: &str| {
            s.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        for schema in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.check(schema, v, path, errors);
        }
        if s.contains_key("anyOf") && !s["anyOf"].as_array().into_iter().flatten().any(passes) {
            errors.push(format!("{path}: matches none of anyOf"));
        }
        if s.contains_key("oneOf") {
            let n = s["oneOf"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|x| passes(x))
                .count();
            if n != 1 {
                errors.push(format!(
                    "{path}: matches {n} of oneOf ({})",
                    list("oneOf").len()
                ));
            }
        }
        if let Some(not) = s.get("not")
            && passes(not)
        {
            errors.push(format!("{path}: matches `not`"));
        }
    }
}

/// Number bounds, string length, `pattern` (unanchored, as JSON Schema's) and date-times.
fn check_scalar(s: &Map<String, Value>, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let bound = |k: &str| s.get(k).and_then(Value::as_f64);
    if let Some(x) = v.as_f64() {
        if bound("minimum").is_some_and(|m| x < m) {
            out.push(format!("{x} below the minimum"));
        }
        if bound("maximum").is_some_and(|m| x > m) {
            out.push(format!("{x} above the maximum"));
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as f64;
        if bound("minLength").is_some_and(|m| len < m)
            || bound("maxLength").is_some_and(|m| len > m)
        {
            out.push(format!("length of {text:?} out of bounds"));
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str)
            && !Regex::new(p).is_ok_and(|re| re.is_match(text))
        {
            out.push(format!("{text:?} does not match {p}"));
        }
        if s.get("format").and_then(Value::as_str) == Some("date-time")
            && chrono::DateTime::parse_from_rfc3339(text).is_err()
        {
            out.push(format!("{text:?} is no date-time"));
        }
    }
    out
}

/// Collects keywords of every schema below `schema` that [`SUPPORTED`] lacks.
fn collect_keywords(schema: &Value, out: &mut Vec<String>) {
    let Some(s) = schema.as_object() else { return };
    for (k, v) in s {
        if !SUPPORTED.contains(&k.as_str()) {
            out.push(k.clone());
        }
        match k.as_str() {
            "properties" | "patternProperties" | "definitions" => {
                for sub in v.as_object().into_iter().flat_map(|m| m.values()) {
                    collect_keywords(sub, out);
                }
            }
            "items" | "allOf" | "anyOf" | "oneOf" => match v {
                Value::Array(list) => list.iter().for_each(|x| collect_keywords(x, out)),
                other => collect_keywords(other, out),
            },
            "not" | "additionalItems" | "additionalProperties" => collect_keywords(v, out),
            _ => {}
        }
    }
}
