//! A YAML loader that reads soa-configs the way PaaSTA did: PyYAML's `yaml.load`, i.e. YAML 1.1
//! scalar resolution (`yes`/`on` are booleans, `0755` is octal, `1:30` is sexagesimal, `1e3`
//! without a dot is a string), anchors, aliases and `<<` merge keys, last duplicate key wins.
//!
//! The result is a `serde_json::Value`, because every consumer (deep merge, the config hash)
//! works on JSON-shaped data. Mapping keys that are not strings are converted the way Python's
//! `json.dumps` converts dict keys (`1` → `"1"`, `True` → `"true"`, `None` → `"null"`).
//!
//! Hostile input is bounded (PyYAML had no bounds; these are Galley's): collections nest at
//! most [`MAX_DEPTH`] deep, and a document expands to at most [`MAX_NODES`] nodes and
//! [`MAX_SCALAR_BYTES`] bytes of scalar text, an alias counting as the size of what it repeats
//! — so a "billion laughs" alias bomb, or a long string repeated by aliases, is refused after a
//! bounded amount of work and memory instead of growing without limit.

use std::collections::HashMap;

/// The deepest nesting of sequences and mappings a document may have.
pub const MAX_DEPTH: usize = 64;

/// The most nodes (scalars, sequences, mappings; aliases at their expanded size) a document
/// may expand to.
pub const MAX_NODES: u64 = 500_000;

/// The most bytes of scalar text (keys included; aliases at the size of what they repeat) a
/// document may expand to.
pub const MAX_SCALAR_BYTES: u64 = 64 << 20;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};

/// A YAML document that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The text is not valid YAML.
    #[error("invalid YAML at line {line} column {col}: {info}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What the parser said.
        info: String,
    },
    /// Valid YAML that PaaSTA's loader would also have refused, or that JSON cannot hold.
    #[error("unsupported YAML at line {line}: {info}")]
    Unsupported {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        info: String,
    },
}

/// Loads one YAML document. An empty document (or a file of only comments) is `Value::Null`.
pub fn load(text: &str) -> Result<Value, YamlError> {
    let mut composer = Composer {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        line: 1,
        depth: 0,
        nodes: 0,
        bytes: 0,
    };
    composer.document()
}

struct Composer<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Anchor id → its value, the nodes and the scalar bytes it expands to.
    anchors: HashMap<usize, (Value, u64, u64)>,
    line: usize,
    /// Collections open around the current node.
    depth: usize,
    /// Nodes produced so far (aliases at their expanded size).
    nodes: u64,
    /// Scalar bytes produced so far (aliases at their expanded size).
    bytes: u64,
}

impl<'a> Composer<'a> {
    fn next(&mut self) -> Result<Event<'a>, YamlError> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => {
                self.line = span.start.line();
                Ok(event)
            }
            Some(Err(e)) => Err(YamlError::Syntax {
                line: e.marker().line(),
                col: e.marker().col() + 1,
                info: e.info().to_string(),
            }),
            None => Ok(Event::StreamEnd),
        }
    }

    fn unsupported(&self, info: impl Into<String>) -> YamlError {
        YamlError::Unsupported {
            line: self.line,
            info: info.into(),
        }
    }

    fn document(&mut self) -> Result<Value, YamlError> {
        let mut value = Value::Null;
        let mut documents = 0;
        loop {
            match self.next()? {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(value),
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(self.unsupported(
                            "expected a single document in the stream, but found another document",
                        ));
                    }
                    let first = self.next()?;
                    value = match first {
                        Event::DocumentEnd => Value::Null,
                        other => self.node(other)?,
                    };
                }
                other => {
                    let v = self.node(other)?;
                    value = v;
                }
            }
        }
    }

    /// Counts `n` more nodes against [`MAX_NODES`] and `bytes` more scalar bytes against
    /// [`MAX_SCALAR_BYTES`].
    fn count(&mut self, n: u64, bytes: u64) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(self.unsupported(format!(
                "the document expands to more than {MAX_NODES} nodes (aliases count at the \
                 size of what they repeat)"
            )));
        }
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > MAX_SCALAR_BYTES {
            return Err(self.unsupported(format!(
                "the document expands to more than {MAX_SCALAR_BYTES} bytes of scalars \
                 (aliases count at the size of what they repeat)"
            )));
        }
        Ok(())
    }

    /// Enters a collection, refusing nesting deeper than [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), YamlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.unsupported(format!("collections nested more than {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>) -> Result<Value, YamlError> {
        let start = (self.nodes, self.bytes);
        match event {
            Event::Alias(id) => {
                let (nodes, bytes) = self
                    .anchors
                    .get(&id)
                    .map(|(_, n, b)| (*n, *b))
                    .ok_or_else(|| self.unsupported("found undefined alias"))?;
                // Counted before the copy, so a refused alias costs no memory.
                self.count(nodes, bytes)?;
                Ok(self.anchors[&id].0.clone())
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, text.len() as u64)?;
                let v = self.scalar(&text, style, tag.as_deref())?;
                self.remember(anchor, &v, start);
                Ok(v)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "seq")?;
                self.count(1, 0)?;
                self.enter()?;
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Event::SequenceEnd => break,
                        e => items.push(self.node(e)?),
                    }
                }
                self.depth -= 1;
                let v = Value::Array(items);
                self.remember(anchor, &v, start);
                Ok(v)
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "map")?;
                self.count(1, 0)?;
                self.enter()?;
                let v = Value::Object(self.mapping()?);
                self.depth -= 1;
                self.remember(anchor, &v, start);
                Ok(v)
            }
            other => Err(self.unsupported(format!("unexpected event {other:?}"))),
        }
    }

    /// Keeps an anchored value with the nodes and scalar bytes it took since `start`.
    fn remember(&mut self, anchor: usize, value: &Value, start: (u64, u64)) {
        if anchor > 0 {
            let nodes = self.nodes.saturating_sub(start.0).max(1);
            let bytes = self.bytes.saturating_sub(start.1);
            self.anchors.insert(anchor, (value.clone(), nodes, bytes));
        }
    }

    /// Reads mapping entries until `MappingEnd`, applying `<<` merge keys as PyYAML's
    /// `flatten_mapping` does: merged entries come first, so explicit keys override them, and in
    /// a merge list earlier mappings win over later ones.
    fn mapping(&mut self) -> Result<Map<String, Value>, YamlError> {
        let mut merged: Vec<Map<String, Value>> = Vec::new();
        let mut explicit: Vec<(String, Value)> = Vec::new();
        loop {
            let key_event = self.next()?;
            if matches!(key_event, Event::MappingEnd) {
                break;
            }
            let is_merge =
                matches!(&key_event, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
            let key = self.node(key_event)?;
            let value_event = self.next()?;
            let value = self.node(value_event)?;
            if is_merge {
                merged.push(self.merge_source(value)?);
            } else {
                explicit.push((self.key_string(key)?, value));
            }
        }
        let mut out = Map::new();
        for source in merged {
            for (k, v) in source {
                out.insert(k, v);
            }
        }
        for (k, v) in explicit {
            out.insert(k, v);
        }
        Ok(out)
    }

    fn merge_source(&self, value: Value) -> Result<Map<String, Value>, YamlError> {
        match value {
            Value::Object(m) => Ok(m),
            Value::Array(items) => {
                let mut out = Map::new();
                for item in items.into_iter().rev() {
                    match item {
                        Value::Object(m) => out.extend(m),
                        _ => {
                            return Err(self.unsupported(
                                "expected a mapping for merging, but found a non-mapping in the list",
                            ));
                        }
                    }
                }
                Ok(out)
            }
            _ => Err(self.unsupported("expected a mapping or list of mappings for merging")),
        }
    }

    /// Converts a mapping key to a string as Python's `json.dumps` would.
    fn key_string(&self, key: Value) -> Result<String, YamlError> {
        match key {
            Value::String(s) => Ok(s),
            Value::Null => Ok("null".to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Array(_) | Value::Object(_) => {
                Err(self.unsupported("a mapping key must be a scalar"))
            }
        }
    }

    fn check_collection_tag(&self, tag: Option<&Tag>, expected: &str) -> Result<(), YamlError> {
        match tag.map(core_tag_suffix) {
            None => Ok(()),
            Some(Some(s)) if s == expected => Ok(()),
            Some(_) => Err(self.unsupported(format!("unsupported tag on a collection: {tag:?}"))),
        }
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
    ) -> Result<Value, YamlError> {
        if let Some(tag) = tag {
            return match core_tag_suffix(tag).as_deref() {
                Some("str") => Ok(Value::String(text.to_string())),
                Some("int") => resolve_int(text)
                    .ok_or_else(|| self.unsupported(format!("invalid !!int {text:?}"))),
                Some("float") => self.float_value(text),
                Some("bool") => resolve_bool(text)
                    .ok_or_else(|| self.unsupported(format!("invalid !!bool {text:?}"))),
                Some("null") => Ok(Value::Null),
                _ => Err(self.unsupported(format!("unsupported tag {}{}", tag.handle, tag.suffix))),
            };
        }
        if style != ScalarStyle::Plain {
            return Ok(Value::String(text.to_string()));
        }
        if is_null(text) {
            return Ok(Value::Null);
        }
        if let Some(b) = resolve_bool(text) {
            return Ok(b);
        }
        if let Some(i) = resolve_int(text) {
            return Ok(i);
        }
        if is_float(text) {
            return self.float_value(text);
        }
        Ok(Value::String(text.to_string()))
    }

    fn float_value(&self, text: &str) -> Result<Value, YamlError> {
        let f =
            parse_float(text).ok_or_else(|| self.unsupported(format!("invalid float {text:?}")))?;
        Number::from_f64(f).map(Value::Number).ok_or_else(|| {
            self.unsupported(format!("{text:?} (inf/nan) cannot be represented in JSON"))
        })
    }
}

/// `!!int`, `tag:yaml.org,2002:int` → `int`.
fn core_tag_suffix(tag: &Tag) -> Option<String> {
    if tag.handle == "!!" {
        return Some(tag.suffix.clone());
    }
    let full = format!("{}{}", tag.handle, tag.suffix);
    full.strip_prefix("tag:yaml.org,2002:").map(str::to_string)
}

fn is_null(t: &str) -> bool {
    matches!(t, "" | "~" | "null" | "Null" | "NULL")
}

fn resolve_bool(t: &str) -> Option<Value> {
    match t {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Some(Value::Bool(true))
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Some(Value::Bool(false))
        }
        _ => None,
    }
}

/// PyYAML's int resolver and constructor: binary, octal (leading 0), decimal, hex, sexagesimal,
/// underscores ignored.
fn resolve_int(t: &str) -> Option<Value> {
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() {
        return None;
    }
    let magnitude: i128 = if let Some(bin) = body.strip_prefix("0b") {
        parse_radix(bin, 2)?
    } else if let Some(hex) = body.strip_prefix("0x") {
        parse_radix(hex, 16)?
    } else if body.contains(':') {
        sexagesimal_int(body)?
    } else if body == "0" {
        0
    } else if let Some(oct) = body.strip_prefix('0') {
        parse_radix(oct, 8)?
    } else if body.as_bytes()[0].is_ascii_digit() {
        parse_radix(body, 10)?
    } else {
        return None;
    };
    let v = if neg { -magnitude } else { magnitude };
    if let Ok(i) = i64::try_from(v) {
        Some(Value::Number(i.into()))
    } else {
        u64::try_from(v).ok().map(|u| Value::Number(u.into()))
    }
}

/// Digits of `radix` and underscores, at least one character (PyYAML allows `0_` etc.).
fn parse_radix(s: &str, radix: u32) -> Option<i128> {
    if s.is_empty() || !s.chars().all(|c| c == '_' || c.is_digit(radix)) {
        return None;
    }
    let digits: String = s.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return Some(0);
    }
    i128::from_str_radix(&digits, radix).ok()
}

/// `[1-9][0-9_]*(:[0-5]?[0-9])+`.
fn sexagesimal_int(s: &str) -> Option<i128> {
    let mut parts = s.split(':');
    let head = parts.next()?;
    if !head.starts_with(|c: char| ('1'..='9').contains(&c)) {
        return None;
    }
    let mut value = parse_radix(head, 10)?;
    let mut any = false;
    for p in parts {
        if !is_base60_digit(p) {
            return None;
        }
        // Past i128 (and so past any JSON integer): not an int, as a too-long decimal.
        value = value
            .checked_mul(60)?
            .checked_add(p.parse::<i128>().ok()?)?;
        any = true;
    }
    any.then_some(value)
}

fn is_base60_digit(p: &str) -> bool {
    let b = p.as_bytes();
    match b.len() {
        1 => b[0].is_ascii_digit(),
        2 => (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit(),
        _ => false,
    }
}

/// PyYAML's float resolver (YAML 1.1): a dot is required; an exponent needs a sign.
fn is_float(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    if matches!(t, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    if body.contains(':') {
        // [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
        let Some((int_part, frac)) = body.rsplit_once('.') else {
            return false;
        };
        if !frac.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return false;
        }
        let mut parts = int_part.split(':');
        let head = parts.next().unwrap_or("");
        let head_ok = head.starts_with(|c: char| c.is_ascii_digit())
            && head.chars().all(|c| c.is_ascii_digit() || c == '_');
        let rest: Vec<&str> = parts.collect();
        return head_ok && !rest.is_empty() && rest.iter().all(|p| is_base60_digit(p));
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(exp) = exponent {
        let Some(digits) = exp.strip_prefix(['-', '+']) else {
            return false;
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let Some((int_part, frac)) = mantissa.split_once('.') else {
        return false;
    };
    let frac_ok = frac.chars().all(|c| c.is_ascii_digit() || c == '_');
    if int_part.is_empty() {
        // \.[0-9_]+ — and only without a sign in PyYAML's regex.
        return !frac.is_empty() && frac_ok && body.len() == t.len();
    }
    int_part.starts_with(|c: char| c.is_ascii_digit())
        && int_part.chars().all(|c| c.is_ascii_digit() || c == '_')
        && frac_ok
}

fn parse_float(t: &str) -> Option<f64> {
    let cleaned: String = t.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let lower = body.to_ascii_lowercase();
    let magnitude = if lower == ".inf" {
        f64::INFINITY
    } else if lower == ".nan" {
        f64::NAN
    } else if body.contains(':') {
        let mut value = 0.0;
        for p in body.split(':') {
            value = value * 60.0 + p.parse::<f64>().ok()?;
        }
        value
    } else {
        body.parse::<f64>().ok()?
    };
    Some(if neg { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests;
