//! Marathon's label selector for `GET /v2/apps?label=` (§1.2): comma-separated terms, all of
//! which must hold: `key`, `key==v`, `key!=v`, `key in (a, b)`, `key notin (a, b)`.

use std::collections::BTreeMap;

/// One selector term.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Exists(String),
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector(Vec<Term>);

/// Splits on `sep` outside parentheses, honouring backslash escapes; unescapes the parts.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            c if c == sep && depth == 0 => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

fn set(values: &str) -> Option<Vec<String>> {
    let inner = values.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_string()).collect())
}

impl Selector {
    /// Parses a selector; `None` when a term is malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let mut terms = Vec::new();
        for term in split_top(s, ',').into_iter().filter(|t| !t.is_empty()) {
            let t = if let Some((k, v)) = term.split_once("==") {
                Term::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("!=") {
                Term::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once(" notin ") {
                Term::NotIn(k.trim().into(), set(v)?)
            } else if let Some((k, v)) = term.split_once(" in ") {
                Term::In(k.trim().into(), set(v)?)
            } else if term
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                Term::Exists(term)
            } else {
                return None;
            };
            terms.push(t);
        }
        Some(Self(terms))
    }

    /// Whether an app's labels satisfy every term.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|t| match t {
            Term::Exists(k) => labels.contains_key(k),
            Term::Eq(k, v) => labels.get(k) == Some(v),
            Term::Ne(k, v) => labels.get(k) != Some(v),
            Term::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Term::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_terms_combine_with_and() {
        let sel = Selector::parse("env==prod, tier!=frontend, dc in (us, eu)").expect("valid");
        let labels: BTreeMap<String, String> = [("env", "prod"), ("tier", "backend"), ("dc", "eu")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(sel.matches(&labels));
        let mut other = labels.clone();
        other.insert("dc".into(), "ap".into());
        assert!(!sel.matches(&other));
        assert!(Selector::parse("env").expect("valid").matches(&labels));
        assert!(
            Selector::parse("dc notin (ap)")
                .expect("valid")
                .matches(&labels)
        );
    }
}
