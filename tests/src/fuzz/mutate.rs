//! Mutations of real inputs: edits of a text (grammar tokens, bytes, deletions, repeats,
//! truncation) and of a JSON tree (types flipped, nodes removed, keys added, numbers pushed to
//! their edges), and flow YAML that PyYAML 1.1 reads back as the tree.

use proptest::prelude::*;
use serde_json::Value;

use super::{edge_number, json_value, nasty_string};

/// One edit of a text, at a position taken modulo its length.
#[derive(Debug, Clone)]
pub enum TextEdit {
    /// Insert a grammar token.
    Token(usize, &'static str),
    /// Insert a byte.
    Byte(usize, u8),
    /// Delete up to `n` bytes.
    Delete(usize, usize),
    /// Repeat up to `n` bytes in place.
    Repeat(usize, usize),
    /// Cut the text here.
    Truncate(usize),
}

/// Up to `max` edits of a text, with tokens from `tokens`.
pub fn text_edits(
    tokens: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Vec<TextEdit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), proptest::sample::select(tokens)).prop_map(|(p, t)| TextEdit::Token(p, t)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| TextEdit::Byte(p, b)),
        2 => (any::<usize>(), 1usize..64).prop_map(|(p, n)| TextEdit::Delete(p, n)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(p, n)| TextEdit::Repeat(p, n)),
        1 => any::<usize>().prop_map(TextEdit::Truncate),
    ];
    proptest::collection::vec(edit, 1..max)
}

/// `text` with `edits` applied, as lossy UTF-8 (invalid bytes, which `read_to_string` would
/// refuse, are the byte targets' business).
pub fn apply_edits(text: &str, edits: &[TextEdit]) -> String {
    let mut b = text.as_bytes().to_vec();
    for edit in edits {
        let at = |p: usize| p % (b.len() + 1);
        match *edit {
            TextEdit::Token(p, t) => {
                let i = at(p);
                b.splice(i..i, t.bytes());
            }
            TextEdit::Byte(p, x) => {
                let i = at(p);
                b.insert(i, x);
            }
            TextEdit::Delete(p, n) => {
                let i = at(p);
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            TextEdit::Repeat(p, n) => {
                let i = at(p);
                let end = (i + n).min(b.len());
                let piece = b[i..end].to_vec();
                b.splice(i..i, piece);
            }
            TextEdit::Truncate(p) => b.truncate(at(p)),
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// One edit of a JSON tree: at the node picked (modulo the node count, in pre-order).
#[derive(Debug, Clone)]
pub enum TreeEdit {
    /// Replace the node (flip its type, a huge number, a nasty string, ...).
    Replace(usize, Value),
    /// Remove the node from its parent.
    Remove(usize),
    /// Add a key to the mapping (or an item to the list) at or above the node.
    Add(usize, String, Value),
    /// Replace a number (picked among the numbers) by an edge case.
    Number(usize, Value),
}

/// Up to `max` tree edits.
pub fn tree_edits(max: usize) -> impl Strategy<Value = Vec<TreeEdit>> {
    let edit = prop_oneof![
        3 => (any::<usize>(), json_value()).prop_map(|(p, v)| TreeEdit::Replace(p, v)),
        2 => any::<usize>().prop_map(TreeEdit::Remove),
        2 => (any::<usize>(), nasty_string(), json_value()).prop_map(|(p, k, v)| TreeEdit::Add(p, k, v)),
        3 => (any::<usize>(), edge_number()).prop_map(|(p, v)| TreeEdit::Number(p, v)),
    ];
    proptest::collection::vec(edit, 1..max)
}

/// `value` with `edits` applied.
pub fn apply_tree_edits(mut value: Value, edits: &[TreeEdit]) -> Value {
    for edit in edits {
        let mut paths = Vec::new();
        pointers(&value, String::new(), &mut paths);
        let pick = |p: usize| paths[p % paths.len()].clone();
        match edit {
            TreeEdit::Replace(p, v) => {
                if let Some(node) = value.pointer_mut(&pick(*p)) {
                    *node = v.clone();
                }
            }
            TreeEdit::Remove(p) => {
                let path = pick(*p);
                if let Some((parent, last)) = path.rsplit_once('/')
                    && let Some(node) = value.pointer_mut(parent)
                {
                    let last = last.replace("~1", "/").replace("~0", "~");
                    match node {
                        Value::Object(m) => drop(m.remove(&last)),
                        Value::Array(a) => {
                            if let Ok(i) = last.parse::<usize>()
                                && i < a.len()
                            {
                                a.remove(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
            TreeEdit::Number(p, v) => {
                let numbers: Vec<&String> = paths
                    .iter()
                    .filter(|q| value.pointer(q).is_some_and(Value::is_number))
                    .collect();
                if let Some(q) = numbers.get(p % numbers.len().max(1)).map(|q| q.to_string())
                    && let Some(node) = value.pointer_mut(&q)
                {
                    *node = v.clone();
                }
            }
            TreeEdit::Add(p, k, v) => match value.pointer_mut(&pick(*p)) {
                Some(Value::Object(m)) => drop(m.insert(k.clone(), v.clone())),
                Some(Value::Array(a)) => a.push(v.clone()),
                _ => {}
            },
        }
    }
    value
}

fn pointers(value: &Value, here: String, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                pointers(
                    v,
                    format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                pointers(v, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

/// `value` as flow YAML that PyYAML 1.1 reads back as the same value (strings double-quoted,
/// floats with a dot and a signed exponent).
pub fn to_yaml(value: &Value) -> String {
    match value {
        Value::Number(n) => match (n.is_f64(), n.as_f64()) {
            (true, Some(f)) => {
                let s = format!("{f:e}");
                let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
                let mantissa = if mantissa.contains('.') {
                    mantissa.to_string()
                } else {
                    format!("{mantissa}.0")
                };
                let exp = if exp.starts_with('-') {
                    exp.to_string()
                } else {
                    format!("+{exp}")
                };
                format!("{mantissa}e{exp}")
            }
            _ => n.to_string(),
        },
        Value::Array(a) => format!("[{}]", a.iter().map(to_yaml).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), to_yaml(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}
