//! JSON shape comparison for the contract test: keys and JSON types, not values.

use serde_json::Value;

/// The JSON type of a value.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A documented difference between a published example and what the 1.4.13 Scala writers
/// produce (the Scala code wins): the path (`/app/ports`, `[]` for array elements) is not
/// compared.
pub struct Exception {
    /// Path below the compared root.
    pub path: &'static str,
    /// Why the example is not followed there.
    pub why: &'static str,
}

/// Asserts that every key of `example` is in `actual` with the same JSON type, recursively;
/// arrays compare their first elements when both have one. A `null` in the example stands
/// for an optional value and accepts any type.
pub fn assert_shape(example: &Value, actual: &Value, exceptions: &[Exception]) {
    let mut problems = Vec::new();
    compare(example, actual, "", exceptions, &mut problems);
    assert!(
        problems.is_empty(),
        "shape differs from the example:\n{}\nactual: {actual:#}",
        problems.join("\n")
    );
}

fn compare(
    example: &Value,
    actual: &Value,
    path: &str,
    exceptions: &[Exception],
    problems: &mut Vec<String>,
) {
    if let Some(e) = exceptions.iter().find(|e| e.path == path) {
        assert!(!e.why.is_empty(), "{path}: an exception needs its reason");
        return;
    }
    if example.is_null() {
        return;
    }
    if kind(example) != kind(actual) {
        problems.push(format!(
            "{path}: example has {}, emulator has {}",
            kind(example),
            kind(actual)
        ));
        return;
    }
    match (example, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let sub = format!("{path}/{key}");
                match a.get(key) {
                    Some(av) => compare(ev, av, &sub, exceptions, problems),
                    None if exceptions.iter().any(|x| x.path == sub) => {}
                    None => problems.push(format!("{sub}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(ev), Some(av)) = (e.first(), a.first()) {
                compare(ev, av, &format!("{path}[]"), exceptions, problems);
            }
        }
        _ => {}
    }
}

/// Asserts that an object has exactly the keys a Scala writer always writes, plus only
/// keys from `optional` (written when there is a value).
pub fn assert_keys(actual: &Value, always: &[&str], optional: &[&str], what: &str) {
    let obj = actual
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {actual}"));
    let missing: Vec<&&str> = always.iter().filter(|k| !obj.contains_key(**k)).collect();
    let extra: Vec<&String> = obj
        .keys()
        .filter(|k| !always.contains(&k.as_str()) && !optional.contains(&k.as_str()))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: missing {missing:?}, unexpected {extra:?} in {actual:#}"
    );
}

/// The example files copied from Marathon's docs (see `marathon-1.4.13/README.md`).
pub fn example(name: &str) -> Value {
    let path = format!(
        "{}/tests/integration/marathon/marathon-1.4.13/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `data:` payloads of `event:` blocks of an SSE text, by event type.
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    // Jetty frames with CRLF; the 1.4.13 example file with LF.
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                }
                if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).ok();
                }
            }
            Some((event?, data?))
        })
        .collect()
}
