//! Normalisation of the nested parts of an App: container, port definitions, health checks.

use serde_json::{Map, Value, json};

type Errors = Vec<(String, String)>;

/// Fills a DOCKER/MESOS container with Marathon's defaults.
pub fn container(c: &Map<String, Value>, shape: &mut Errors, invalid: &mut Errors) -> Value {
    let kind = c.get("type").and_then(Value::as_str).unwrap_or("DOCKER");
    if !matches!(kind, "DOCKER" | "MESOS") {
        shape.push((
            "/container/type".into(),
            "error.expected.validenumvalue".into(),
        ));
    }
    let mut out = Map::new();
    out.insert("type".into(), json!(kind));
    out.insert(
        "volumes".into(),
        c.get("volumes")
            .filter(|v| v.is_array())
            .cloned()
            .unwrap_or(json!([])),
    );
    match c.get("docker") {
        Some(Value::Object(d)) => {
            out.insert("docker".into(), docker(d, kind, shape, invalid));
        }
        Some(Value::Null) | None if kind == "DOCKER" => {
            invalid.push(("/container/docker".into(), "must not be empty".into()));
        }
        Some(Value::Null) | None => {}
        Some(_) => shape.push(("/container/docker".into(), "error.expected.jsobject".into())),
    }
    for (k, v) in c {
        if !out.contains_key(k) && k != "docker" {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn docker(d: &Map<String, Value>, kind: &str, shape: &mut Errors, invalid: &mut Errors) -> Value {
    let mut out = Map::new();
    match d.get("image") {
        Some(Value::String(s)) if !s.is_empty() => {
            out.insert("image".into(), json!(s));
        }
        Some(Value::String(_)) | None | Some(Value::Null) => {
            invalid.push(("/container/docker/image".into(), "must not be empty".into()));
        }
        Some(_) => shape.push((
            "/container/docker/image".into(),
            "error.expected.jsstring".into(),
        )),
    }
    if let Some(net) = d.get("network").filter(|v| !v.is_null()) {
        if !matches!(net.as_str(), Some("HOST" | "BRIDGE" | "USER" | "NONE")) {
            shape.push((
                "/container/docker/network".into(),
                "error.expected.validenumvalue".into(),
            ));
        }
        out.insert("network".into(), net.clone());
    }
    let mappings = d
        .get("portMappings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mappings: Vec<Value> = mappings
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let Some(m) = m.as_object() else {
                shape.push((
                    format!("/container/docker/portMappings({i})"),
                    "error.expected.jsobject".into(),
                ));
                return Value::Null;
            };
            let mut pm = Map::new();
            for (key, default) in [
                ("containerPort", json!(0)),
                ("hostPort", json!(0)),
                ("servicePort", json!(0)),
            ] {
                let v = m
                    .get(key)
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or(default);
                if !(v.is_u64() && v.as_u64().is_some_and(|p| p <= 65535)) {
                    invalid.push((
                        format!("/container/docker/portMappings({i})/{key}"),
                        "got invalid port".into(),
                    ));
                }
                pm.insert(key.into(), v);
            }
            pm.insert(
                "protocol".into(),
                m.get("protocol").cloned().unwrap_or(json!("tcp")),
            );
            if let Some(name) = m.get("name") {
                pm.insert("name".into(), name.clone());
            }
            pm.insert(
                "labels".into(),
                m.get("labels").cloned().unwrap_or(json!({})),
            );
            Value::Object(pm)
        })
        .collect();
    out.insert("portMappings".into(), Value::Array(mappings));
    out.insert(
        "privileged".into(),
        d.get("privileged").cloned().unwrap_or(json!(false)),
    );
    let params = d.get("parameters").cloned().unwrap_or(json!([]));
    if !params
        .as_array()
        .is_some_and(|a| a.iter().all(|p| p.get("key").is_some_and(Value::is_string)))
    {
        shape.push((
            "/container/docker/parameters".into(),
            "error.expected.jsarray".into(),
        ));
    }
    out.insert("parameters".into(), params);
    out.insert(
        "forcePullImage".into(),
        d.get("forcePullImage").cloned().unwrap_or(json!(false)),
    );
    if kind == "DOCKER" && d.get("credential").is_some_and(|c| !c.is_null()) {
        invalid.push((
            "/container/docker/credential".into(),
            "must be empty".into(),
        ));
    }
    Value::Object(out)
}

/// The app's `portDefinitions` (`AppDefinitionReads`): the given ones, else converted from
/// legacy `ports`, else one random port, whatever the network: a BRIDGE app keeps them too
/// (its service ports then come from its port mappings, see `ports.rs`).
pub fn port_definitions(input: &Map<String, Value>, shape: &mut Errors) -> Value {
    let norm = |port: Value, d: Option<&Map<String, Value>>| {
        let mut pd = Map::new();
        pd.insert("port".into(), port);
        pd.insert(
            "protocol".into(),
            d.and_then(|d| d.get("protocol"))
                .cloned()
                .unwrap_or(json!("tcp")),
        );
        if let Some(name) = d.and_then(|d| d.get("name")) {
            pd.insert("name".into(), name.clone());
        }
        pd.insert(
            "labels".into(),
            d.and_then(|d| d.get("labels"))
                .cloned()
                .unwrap_or(json!({})),
        );
        Value::Object(pd)
    };
    if let Some(defs) = input.get("portDefinitions").filter(|v| !v.is_null()) {
        let Some(defs) = defs.as_array() else {
            shape.push(("/portDefinitions".into(), "error.expected.jsarray".into()));
            return json!([]);
        };
        return defs
            .iter()
            .enumerate()
            .map(|(i, d)| match d.as_object() {
                Some(o) => norm(o.get("port").cloned().unwrap_or(json!(0)), Some(o)),
                None => {
                    shape.push((
                        format!("/portDefinitions({i})"),
                        "error.expected.jsobject".into(),
                    ));
                    Value::Null
                }
            })
            .collect();
    }
    if let Some(ports) = input.get("ports").filter(|v| !v.is_null()) {
        let Some(ports) = ports.as_array().filter(|a| a.iter().all(Value::is_u64)) else {
            shape.push(("/ports".into(), "error.expected.jsarray".into()));
            return json!([]);
        };
        return ports.iter().map(|p| norm(p.clone(), None)).collect();
    }
    json!([{ "port": 0, "protocol": "tcp", "name": "default", "labels": {} }])
}

/// Normalises `healthChecks` and checks port indices and the one-Mesos-check rule.
pub fn health_checks(out: &Map<String, Value>, shape: &mut Errors, invalid: &mut Errors) -> Value {
    // `AppDefinition.hostPorts`: the port mappings when there are any, else the definitions.
    let port_count = match out["container"]["docker"]["portMappings"]
        .as_array()
        .map_or(0, Vec::len)
    {
        0 => out
            .get("portDefinitions")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        n => n,
    };
    let mut mesos_checks = 0;
    let mut result = Vec::new();
    for (i, hc) in out["healthChecks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let path = format!("/healthChecks({i})");
        let Some(hc) = hc.as_object() else {
            shape.push((path, "error.expected.jsobject".into()));
            continue;
        };
        let protocol = hc
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("HTTP")
            .to_string();
        const PROTOCOLS: [&str; 7] = [
            "HTTP",
            "HTTPS",
            "TCP",
            "COMMAND",
            "MESOS_HTTP",
            "MESOS_HTTPS",
            "MESOS_TCP",
        ];
        if !PROTOCOLS.contains(&protocol.as_str()) {
            shape.push((
                format!("{path}/protocol"),
                "error.expected.validenumvalue".into(),
            ));
        }
        if protocol.starts_with("MESOS_") || protocol == "COMMAND" {
            mesos_checks += 1;
        }
        let mut n = Map::new();
        for (key, default) in [
            ("gracePeriodSeconds", 300),
            ("intervalSeconds", 60),
            ("timeoutSeconds", 20),
            ("maxConsecutiveFailures", 3),
        ] {
            let v = hc.get(key).cloned().unwrap_or(json!(default));
            if !v.is_u64() {
                shape.push((format!("{path}/{key}"), "error.expected.jsnumber".into()));
            }
            n.insert(key.into(), v);
        }
        if protocol == "COMMAND" {
            match hc.get("command") {
                Some(c) if c.get("value").is_some_and(Value::is_string) => {
                    n.insert("command".into(), c.clone());
                }
                _ => invalid.push((format!("{path}/command"), "must not be empty".into())),
            }
        } else if let Some(port) = hc.get("port") {
            n.insert("port".into(), port.clone());
        } else {
            let index = hc
                .get("portIndex")
                .cloned()
                .or((port_count > 0).then(|| json!(0)));
            match index.as_ref().and_then(Value::as_u64) {
                Some(ix) if (ix as usize) < port_count => {}
                _ => invalid.push((
                    path.clone(),
                    "Health check port indices must address an element of the ports array or container port mappings."
                        .into(),
                )),
            }
            if let Some(index) = index {
                n.insert("portIndex".into(), index);
            }
        }
        if matches!(
            protocol.as_str(),
            "HTTP" | "HTTPS" | "MESOS_HTTP" | "MESOS_HTTPS"
        ) {
            n.insert("path".into(), hc.get("path").cloned().unwrap_or(json!("/")));
        }
        n.insert("protocol".into(), json!(protocol));
        if matches!(protocol.as_str(), "HTTP" | "HTTPS") {
            n.insert(
                "ignoreHttp1xx".into(),
                hc.get("ignoreHttp1xx").cloned().unwrap_or(json!(false)),
            );
        }
        if protocol.starts_with("MESOS_") {
            n.insert(
                "delaySeconds".into(),
                hc.get("delaySeconds").cloned().unwrap_or(json!(15)),
            );
        }
        result.push(Value::Object(n));
    }
    if mesos_checks > 1 {
        invalid.push((
            "/".into(),
            "AppDefinition can contain at most one Mesos health check.".into(),
        ));
    }
    Value::Array(result)
}

/// `readinessChecks` with `ReadinessCheckFormat`'s defaults (name `readinessCheck`, HTTP,
/// path `/`, port name `http-api`, 30 s interval, 10 s timeout, ready on 200, no last
/// response kept), in its key order.
pub fn readiness_checks(given: &Value) -> Value {
    let checks = given.as_array().cloned().unwrap_or_default();
    let defaults = [
        ("name", json!("readinessCheck")),
        ("protocol", json!("HTTP")),
        ("path", json!("/")),
        ("portName", json!("http-api")),
        ("intervalSeconds", json!(30)),
        ("timeoutSeconds", json!(10)),
        ("httpStatusCodesForReady", json!([200])),
        ("preserveLastResponse", json!(false)),
    ];
    let normalised = checks
        .iter()
        .map(|c| {
            let mut out = Map::new();
            for (key, default) in &defaults {
                let v = c.get(*key).filter(|v| !v.is_null()).cloned();
                out.insert((*key).into(), v.unwrap_or_else(|| default.clone()));
            }
            Value::Object(out)
        })
        .collect();
    Value::Array(normalised)
}
