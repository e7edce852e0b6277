//! The app as Marathon 1.4.13 embeds it in `/v2/queue` items: `Raml.toRaml(app)`
//! (`raml/AppConversion.scala`, `ContainerConversion`, `NetworkConversion`,
//! `HealthCheckConversion`) written by the RAML-generated Play writers (`project/
//! RamlTypeGenerator.scala`): fields in the RAML type's order, `None` left out, fields marked
//! `(pragma.omitEmpty)` left out when empty, and the deprecated `ports`/`uris` never written.
//! That is a trimmed app, unlike the `AppDefWrites` JSON of `/v2/apps`.

use serde_json::{Map, Value, json};

/// Copies `key` when present and not null.
fn put(out: &mut Map<String, Value>, from: &Value, key: &str) {
    if let Some(v) = from.get(key).filter(|v| !v.is_null()) {
        out.insert(key.into(), v.clone());
    }
}

/// Copies `key` when present and neither null nor empty (`omitEmpty` arrays and maps).
fn put_non_empty(out: &mut Map<String, Value>, from: &Value, key: &str) {
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if let Some(v) = from.get(key).filter(|v| !empty(v)) {
        out.insert(key.into(), v.clone());
    }
}

/// `DockerPortMapping`: containerPort, hostPort?, labels, name?, protocol, servicePort.
fn port_mapping(pm: &Value) -> Value {
    let mut out = Map::new();
    out.insert("containerPort".into(), pm["containerPort"].clone());
    put(&mut out, pm, "hostPort");
    out.insert(
        "labels".into(),
        pm.get("labels").cloned().unwrap_or_else(|| json!({})),
    );
    put(&mut out, pm, "name");
    out.insert("protocol".into(), pm["protocol"].clone());
    out.insert("servicePort".into(), pm["servicePort"].clone());
    Value::Object(out)
}

/// `Container`: type, docker?, volumes (a Docker container's `DockerContainer` has
/// forcePullImage, image, network?, parameters, portMappings, privileged).
fn container(c: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), c["type"].clone());
    if let Some(d) = c.get("docker").filter(|d| d.is_object()) {
        let mut docker = Map::new();
        put(&mut docker, d, "credential");
        docker.insert("forcePullImage".into(), d["forcePullImage"].clone());
        docker.insert("image".into(), d["image"].clone());
        put(&mut docker, d, "network");
        let list = |key: &str| {
            d.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        docker.insert("parameters".into(), Value::Array(list("parameters")));
        let mappings = list("portMappings").iter().map(port_mapping).collect();
        docker.insert("portMappings".into(), Value::Array(mappings));
        docker.insert("privileged".into(), d["privileged"].clone());
        out.insert("docker".into(), Value::Object(docker));
    }
    let volumes = c.get("volumes").cloned().unwrap_or_else(|| json!([]));
    out.insert("volumes".into(), volumes);
    Value::Object(out)
}

/// `PortDefinition`: port, labels (omitEmpty), name?, protocol.
fn port_definition(pd: &Value) -> Value {
    let mut out = Map::new();
    out.insert("port".into(), pd["port"].clone());
    put_non_empty(&mut out, pd, "labels");
    put(&mut out, pd, "name");
    out.insert("protocol".into(), pd["protocol"].clone());
    Value::Object(out)
}

/// `AppHealthCheck`: every field the check has, plus `delaySeconds` (always written).
fn health_check(hc: &Value) -> Value {
    let mut out = Map::new();
    for key in [
        "command",
        "gracePeriodSeconds",
        "ignoreHttp1xx",
        "intervalSeconds",
        "maxConsecutiveFailures",
        "path",
        "port",
        "portIndex",
        "protocol",
        "timeoutSeconds",
    ] {
        put(&mut out, hc, key);
    }
    let delay = hc.get("delaySeconds").cloned().unwrap_or_else(|| json!(15));
    out.insert("delaySeconds".into(), delay);
    Value::Object(out)
}

/// The trimmed app of a queue item, from a stored (`AppDefWrites`-shaped) definition.
pub fn queue_app(def: &Map<String, Value>) -> Value {
    let app = Value::Object(def.clone());
    let mut out = Map::new();
    let mapped = |key: &str, f: fn(&Value) -> Value| -> Option<Value> {
        let list = app.get(key)?.as_array().filter(|l| !l.is_empty())?;
        Some(Value::Array(list.iter().map(f).collect()))
    };
    out.insert("id".into(), app["id"].clone());
    put_non_empty(&mut out, &app, "acceptedResourceRoles");
    put_non_empty(&mut out, &app, "args");
    out.insert("backoffFactor".into(), app["backoffFactor"].clone());
    out.insert("backoffSeconds".into(), app["backoffSeconds"].clone());
    put(&mut out, &app, "cmd");
    put_non_empty(&mut out, &app, "constraints");
    if let Some(c) = app.get("container").filter(|c| c.is_object()) {
        out.insert("container".into(), container(c));
    }
    out.insert("cpus".into(), app["cpus"].clone());
    put_non_empty(&mut out, &app, "dependencies");
    out.insert("disk".into(), app["disk"].clone());
    put_non_empty(&mut out, &app, "env");
    out.insert("executor".into(), app["executor"].clone());
    put_non_empty(&mut out, &app, "fetch");
    if let Some(hcs) = mapped("healthChecks", health_check) {
        out.insert("healthChecks".into(), hcs);
    }
    out.insert("instances".into(), app["instances"].clone());
    let labels = app.get("labels").cloned().unwrap_or_else(|| json!({}));
    out.insert("labels".into(), labels);
    for key in ["maxLaunchDelaySeconds", "mem", "gpus"] {
        out.insert(key.into(), app[key].clone());
    }
    put(&mut out, &app, "ipAddress");
    if let Some(pds) = mapped("portDefinitions", port_definition) {
        out.insert("portDefinitions".into(), pds);
    }
    put_non_empty(&mut out, &app, "readinessChecks");
    put(&mut out, &app, "residency");
    let require_ports = app.get("requirePorts").cloned().unwrap_or(json!(false));
    out.insert("requirePorts".into(), require_ports);
    put_non_empty(&mut out, &app, "secrets");
    put_non_empty(&mut out, &app, "storeUrls");
    put(&mut out, &app, "taskKillGracePeriodSeconds");
    let strategy = &app["upgradeStrategy"];
    out.insert(
        "upgradeStrategy".into(),
        json!({
            "maximumOverCapacity": strategy["maximumOverCapacity"],
            "minimumHealthCapacity": strategy["minimumHealthCapacity"],
        }),
    );
    put(&mut out, &app, "user");
    for key in [
        "version",
        "versionInfo",
        "killSelection",
        "unreachableStrategy",
    ] {
        put(&mut out, &app, key);
    }
    Value::Object(out)
}
