//! Reading an App JSON body the way Marathon 1.4 does: type errors are 400 "Invalid JSON" with
//! Play-style codes, then defaults are applied (§1.3), then validation failures are 422.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::ids::{ID_SEGMENT_PATTERN, canonical_path, valid_segment};

/// JSON kinds a field can require, with Play's error code for a mismatch.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Num,
    Int,
    Bool,
    Arr,
    Obj,
}

impl Kind {
    fn matches(self, v: &Value) -> bool {
        match self {
            Kind::Str => v.is_string(),
            Kind::Num => v.is_number(),
            Kind::Int => v.is_i64() || v.is_u64(),
            Kind::Bool => v.is_boolean(),
            Kind::Arr => v.is_array(),
            Kind::Obj => v.is_object(),
        }
    }

    fn code(self, v: &Value) -> &'static str {
        match self {
            Kind::Str => "error.expected.jsstring",
            Kind::Num => "error.expected.jsnumber",
            Kind::Int if v.is_number() => "error.expected.int",
            Kind::Int => "error.expected.jsnumber",
            Kind::Bool => "error.expected.jsboolean",
            Kind::Arr => "error.expected.jsarray",
            Kind::Obj => "error.expected.jsobject",
        }
    }
}

/// Collects 400 (shape) and 422 (validation) errors while building the normalised app.
#[derive(Default)]
struct Reader {
    shape: Vec<(String, String)>,
    invalid: Vec<(String, String)>,
}

impl Reader {
    /// The field if present, non-null and of the right kind; records a 400 otherwise.
    fn field<'a>(
        &mut self,
        m: &'a Map<String, Value>,
        key: &str,
        kind: Kind,
        path: &str,
    ) -> Option<&'a Value> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(v) if kind.matches(v) => Some(v),
            Some(v) => {
                self.shape
                    .push((format!("{path}/{key}"), kind.code(v).to_string()));
                None
            }
        }
    }

    fn or(
        &mut self,
        m: &Map<String, Value>,
        key: &str,
        kind: Kind,
        path: &str,
        default: Value,
    ) -> Value {
        self.field(m, key, kind, path).cloned().unwrap_or(default)
    }

    fn strings(&mut self, m: &Map<String, Value>, key: &str, path: &str) -> Vec<Value> {
        let Some(arr) = self
            .field(m, key, Kind::Arr, path)
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        for (i, v) in arr.iter().enumerate() {
            if !v.is_string() {
                self.shape.push((
                    format!("{path}/{key}({i})"),
                    "error.expected.jsstring".into(),
                ));
            }
        }
        arr.clone()
    }

    fn string_map(&mut self, m: &Map<String, Value>, key: &str, allow_secret: bool) -> Value {
        let Some(obj) = self.field(m, key, Kind::Obj, "").and_then(Value::as_object) else {
            return json!({});
        };
        for (k, v) in obj {
            let secret = allow_secret && v.get("secret").is_some_and(Value::is_string);
            if !v.is_string() && !secret {
                self.shape
                    .push((format!("/{key}/{k}"), "error.expected.jsstring".into()));
            }
        }
        Value::Object(obj.clone())
    }

    fn non_negative(&mut self, out: &Map<String, Value>, key: &str) {
        if let Some(n) = out.get(key).and_then(Value::as_f64)
            && n < 0.0
        {
            self.invalid.push((
                format!("/{key}"),
                format!("got {}, expected 0 or more", out[key]),
            ));
        }
    }
}

/// Reads an app body into Marathon's canonical App JSON (keys in Marathon's order, defaults
/// applied, `version` left null for the caller). `id` is the raw id (from the body or path).
pub fn normalize_app(
    input: &Map<String, Value>,
    raw_id: &str,
) -> Result<Map<String, Value>, ApiError> {
    let mut r = Reader::default();
    let id = canonical_path(raw_id);
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("cmd".into(), r.or(input, "cmd", Kind::Str, "", Value::Null));
    let args = r.strings(input, "args", "");
    out.insert(
        "args".into(),
        if args.is_empty() {
            Value::Null
        } else {
            Value::Array(args.clone())
        },
    );
    out.insert(
        "user".into(),
        r.or(input, "user", Kind::Str, "", Value::Null),
    );
    out.insert("env".into(), r.string_map(input, "env", true));
    out.insert(
        "instances".into(),
        r.or(input, "instances", Kind::Int, "", json!(1)),
    );
    out.insert(
        "cpus".into(),
        r.or(input, "cpus", Kind::Num, "", json!(1.0)),
    );
    out.insert(
        "mem".into(),
        r.or(input, "mem", Kind::Num, "", json!(128.0)),
    );
    out.insert("disk".into(), r.or(input, "disk", Kind::Num, "", json!(0)));
    out.insert("gpus".into(), r.or(input, "gpus", Kind::Int, "", json!(0)));
    out.insert(
        "executor".into(),
        r.or(input, "executor", Kind::Str, "", json!("")),
    );
    out.insert("constraints".into(), read_constraints(&mut r, input)?);
    let (uris, fetch) = read_fetch(&mut r, input);
    out.insert("uris".into(), uris);
    out.insert("fetch".into(), fetch);
    out.insert(
        "storeUrls".into(),
        Value::Array(r.strings(input, "storeUrls", "")),
    );
    out.insert(
        "backoffSeconds".into(),
        r.or(input, "backoffSeconds", Kind::Num, "", json!(1)),
    );
    out.insert(
        "backoffFactor".into(),
        r.or(input, "backoffFactor", Kind::Num, "", json!(1.15)),
    );
    out.insert(
        "maxLaunchDelaySeconds".into(),
        r.or(input, "maxLaunchDelaySeconds", Kind::Num, "", json!(3600)),
    );
    let container = match r
        .field(input, "container", Kind::Obj, "")
        .and_then(Value::as_object)
    {
        Some(c) => super::validate_parts::container(c, &mut r.shape, &mut r.invalid),
        None => Value::Null,
    };
    out.insert("container".into(), container);
    let hcs = r.or(input, "healthChecks", Kind::Arr, "", json!([]));
    out.insert("healthChecks".into(), hcs);
    out.insert(
        "readinessChecks".into(),
        super::validate_parts::readiness_checks(&r.or(
            input,
            "readinessChecks",
            Kind::Arr,
            "",
            json!([]),
        )),
    );
    out.insert(
        "dependencies".into(),
        Value::Array(r.strings(input, "dependencies", "")),
    );
    let mut upgrade = json!({ "minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0 });
    if let Some(given) = r
        .field(input, "upgradeStrategy", Kind::Obj, "")
        .and_then(Value::as_object)
    {
        for key in ["minimumHealthCapacity", "maximumOverCapacity"] {
            if let Some(v) = r.field(given, key, Kind::Num, "/upgradeStrategy") {
                upgrade[key] = v.clone();
            }
        }
    }
    out.insert("upgradeStrategy".into(), upgrade);
    out.insert("labels".into(), r.string_map(input, "labels", false));
    let ip_address = r.or(input, "ipAddress", Kind::Obj, "", Value::Null);
    out.insert("ipAddress".into(), ip_address.clone());
    out.insert("version".into(), Value::Null);
    out.insert(
        "residency".into(),
        r.or(input, "residency", Kind::Obj, "", Value::Null),
    );
    out.insert(
        "secrets".into(),
        r.or(input, "secrets", Kind::Obj, "", json!({})),
    );
    out.insert(
        "taskKillGracePeriodSeconds".into(),
        r.or(
            input,
            "taskKillGracePeriodSeconds",
            Kind::Num,
            "",
            Value::Null,
        ),
    );
    let unreachable = json!({ "inactiveAfterSeconds": 0, "expungeAfterSeconds": 0 });
    out.insert(
        "unreachableStrategy".into(),
        input
            .get("unreachableStrategy")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(unreachable),
    );
    out.insert(
        "killSelection".into(),
        r.or(
            input,
            "killSelection",
            Kind::Str,
            "",
            json!("YOUNGEST_FIRST"),
        ),
    );
    let roles = r.strings(input, "acceptedResourceRoles", "");
    if !roles.is_empty() {
        out.insert("acceptedResourceRoles".into(), Value::Array(roles));
    }
    let port_defs = super::validate_parts::port_definitions(input, &mut r.shape);
    let require_ports = r.or(input, "requirePorts", Kind::Bool, "", json!(false));
    if ip_address.is_null() {
        out.insert("ports".into(), json!([]));
        out.insert("portDefinitions".into(), port_defs);
        out.insert("requirePorts".into(), require_ports);
    }
    let hcs = super::validate_parts::health_checks(&out, &mut r.shape, &mut r.invalid);
    out.insert("healthChecks".into(), hcs);
    if !r.shape.is_empty() {
        return Err(ApiError::invalid_json(r.shape));
    }
    validate(&mut r, &out, &id);
    if !r.invalid.is_empty() {
        return Err(ApiError::invalid_object(r.invalid));
    }
    Ok(out)
}

fn read_constraints(r: &mut Reader, input: &Map<String, Value>) -> Result<Value, ApiError> {
    const OPS: [&str; 6] = ["UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER"];
    let Some(arr) = r
        .field(input, "constraints", Kind::Arr, "")
        .and_then(Value::as_array)
    else {
        return Ok(json!([]));
    };
    for (i, c) in arr.iter().enumerate() {
        let path = format!("/constraints({i})");
        let parts: Option<Vec<&str>> = c
            .as_array()
            .and_then(|a| a.iter().map(Value::as_str).collect());
        let Some(parts) = parts.filter(|p| (2..=3).contains(&p.len())) else {
            r.shape.push((
                path,
                "Each constraint must have either 2 or 3 fields".into(),
            ));
            continue;
        };
        if !OPS.contains(&parts[1]) {
            return Err(ApiError::message(
                http::StatusCode::BAD_REQUEST,
                format!(
                    "Constraint operator must be one of the following: [{}]",
                    OPS.join(", ")
                ),
            ));
        }
        let value = parts.get(2).copied();
        let problem = match (parts[1], value) {
            ("UNIQUE", Some(_)) => Some("Value specified but not used"),
            ("LIKE" | "UNLIKE", None) => Some("A regular expression value must be provided"),
            ("LIKE" | "UNLIKE", Some(v)) if regex::Regex::new(v).is_err() => {
                Some("is not a valid regular expression")
            }
            ("GROUP_BY", Some(v)) if !v.is_empty() && v.parse::<u32>().is_err() => {
                Some("Value was specified but is not a number")
            }
            ("MAX_PER", v) if v.and_then(|v| v.parse::<u32>().ok()).is_none() => {
                Some("Value was not a number")
            }
            _ => None,
        };
        if let Some(p) = problem {
            r.invalid.push((path, p.to_string()));
        }
    }
    Ok(Value::Array(arr.clone()))
}

fn read_fetch(r: &mut Reader, input: &Map<String, Value>) -> (Value, Value) {
    if let Some(fetch) = r
        .field(input, "fetch", Kind::Arr, "")
        .and_then(Value::as_array)
    {
        let uris: Vec<Value> = fetch.iter().filter_map(|f| f.get("uri").cloned()).collect();
        return (Value::Array(uris), Value::Array(fetch.clone()));
    }
    let uris = r.strings(input, "uris", "");
    let fetch = uris
        .iter()
        .filter_map(Value::as_str)
        .map(|u| {
            let archive = [
                ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip",
            ]
            .iter()
            .any(|s| u.ends_with(s));
            json!({ "uri": u, "extract": archive, "executable": false, "cache": false })
        })
        .collect();
    (Value::Array(uris), Value::Array(fetch))
}

fn validate(r: &mut Reader, out: &Map<String, Value>, id: &str) {
    if id == "/" {
        r.invalid.push((
            "/id".into(),
            "Path must contain at least one path element".into(),
        ));
    } else if !id.trim_start_matches('/').split('/').all(valid_segment) {
        r.invalid.push((
            "/id".into(),
            format!("must fully match regular expression '{ID_SEGMENT_PATTERN}'"),
        ));
    }
    let has_cmd = !out["cmd"].is_null();
    let has_args = !out["args"].is_null();
    if (has_cmd && has_args) || (!has_cmd && !has_args && out["container"].is_null()) {
        r.invalid.push((
            "/".into(),
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
                .into(),
        ));
    }
    for key in ["instances", "cpus", "mem", "disk", "gpus"] {
        r.non_negative(out, key);
    }
    for key in ["minimumHealthCapacity", "maximumOverCapacity"] {
        let v = &out["upgradeStrategy"][key];
        if v.as_f64().is_some_and(|x| !(0.0..=1.0).contains(&x)) {
            r.invalid.push((
                format!("/upgradeStrategy/{key}"),
                format!("got {v}, expected between 0.0 and 1.0"),
            ));
        }
    }
    let executor = out["executor"].as_str().unwrap_or("");
    let executor_ok = executor.is_empty()
        || executor == "//cmd"
        || executor
            .trim_start_matches('/')
            .split('/')
            .all(|s| !s.is_empty());
    if !executor_ok {
        r.invalid.push((
            "/executor".into(),
            "must fully match regular expression '^(//cmd)|(/?[^/]+(/[^/]+)*)|$'".into(),
        ));
    }
    if !matches!(
        out["killSelection"].as_str(),
        Some("YOUNGEST_FIRST" | "OLDEST_FIRST")
    ) {
        r.invalid.push((
            "/killSelection".into(),
            "must be one of YOUNGEST_FIRST, OLDEST_FIRST".into(),
        ));
    }
}
