//! One namespace of a service's `smartstack.yaml`, loaded as PaaSTA's
//! `load_service_namespace_config` does (spec §1.4): only whitelisted keys are kept, `mode` is
//! validated and defaulted when loading, `routes` and `extra_advertise` are flattened to pairs.

use serde_json::{Map, Value};

use crate::soa::{ConfigError, ServiceConfig, type_name};

/// Keys copied from the namespace's entry; everything else there is ignored.
pub const NAMESPACE_KEY_WHITELIST: &[&str] = &[
    "healthcheck_mode",
    "healthcheck_uri",
    "healthcheck_port",
    "healthcheck_timeout_s",
    "updown_timeout_s",
    "proxy_port",
    "timeout_connect_ms",
    "timeout_server_ms",
    "timeout_client_ms",
    "retries",
    "mode",
    "discover",
    "advertise",
    "extra_healthcheck_headers",
];

/// Smartstack's proxy mode: the Marathon health check PaaSTA derives when the instance does
/// not set `healthcheck_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmartstackMode {
    /// `http`.
    Http,
    /// `tcp`.
    Tcp,
}

impl SmartstackMode {
    /// `http` / `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            SmartstackMode::Http => "http",
            SmartstackMode::Tcp => "tcp",
        }
    }
}

/// A `ServiceNamespaceConfig`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceNamespaceConfig {
    /// The whitelisted keys present in the file, as written.
    pub settings: Map<String, Value>,
    /// `mode`, defaulted: `http` when in smartstack, else none.
    pub mode: Option<SmartstackMode>,
    /// `routes` flattened to `(source, destination)` pairs, when the key is present.
    pub routes: Option<Vec<(String, String)>>,
    /// `extra_advertise` flattened to `(source, destination)` pairs, when the key is present.
    pub extra_advertise: Option<Vec<(String, String)>>,
}

impl ServiceNamespaceConfig {
    /// Loads `namespace` from the service's merged `smartstack` key. A missing namespace (or a
    /// service without smartstack.yaml) gives the empty config: not in smartstack, mode none.
    pub fn load(service: &ServiceConfig, namespace: &str) -> Result<Self, ConfigError> {
        let file = format!("{}/smartstack.yaml", service.name);
        let bad = |key: &str, message: String| ConfigError::BadValue {
            file: file.clone(),
            key: key.to_string(),
            message,
        };
        let smartstack = match service.general.get("smartstack") {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(m)) => m,
            Some(other) => {
                let found = type_name(other);
                return Err(bad(
                    "(top level)",
                    format!("must be a mapping, found {found}"),
                ));
            }
        };
        match smartstack.get(namespace) {
            None | Some(Value::Null) => Ok(Self::default()),
            Some(Value::Object(entry)) => Self::from_entry(entry)
                .map_err(|(key, message)| bad(&format!("{namespace}.{key}"), message)),
            Some(other) => {
                let found = type_name(other);
                Err(bad(namespace, format!("must be a mapping, found {found}")))
            }
        }
    }

    /// Builds the config from one namespace's mapping; errors are `(key, message)`.
    pub fn from_entry(entry: &Map<String, Value>) -> Result<Self, (String, String)> {
        let settings: Map<String, Value> = entry
            .iter()
            .filter(|(k, _)| NAMESPACE_KEY_WHITELIST.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = Self {
            settings,
            ..Self::default()
        };
        for key in ["discover", "healthcheck_uri"] {
            match out.settings.get(key) {
                None | Some(Value::Null | Value::String(_)) => {}
                Some(other) => {
                    let found = type_name(other);
                    return Err((key.into(), format!("must be a string, found {found}")));
                }
            }
        }
        out.mode = out.parse_mode()?;
        if let Some(routes) = entry.get("routes") {
            out.routes = Some(flatten_routes(routes).map_err(|m| ("routes".to_string(), m))?);
        }
        if let Some(extra) = entry.get("extra_advertise") {
            let pairs =
                flatten_extra_advertise(extra).map_err(|m| ("extra_advertise".into(), m))?;
            out.extra_advertise = Some(pairs);
        }
        Ok(out)
    }

    /// "In smartstack" ⇔ `proxy_port` is set and not null.
    pub fn is_in_smartstack(&self) -> bool {
        !matches!(self.settings.get("proxy_port"), None | Some(Value::Null))
    }

    /// `proxy_port`, when it is an integer.
    pub fn proxy_port(&self) -> Option<i64> {
        self.settings.get("proxy_port").and_then(Value::as_i64)
    }

    /// `discover`, default `region`: the Mesos slave attribute instances are spread over.
    pub fn discover(&self) -> &str {
        self.str_setting("discover").unwrap_or("region")
    }

    /// `healthcheck_uri`, default `/status`.
    pub fn healthcheck_uri(&self) -> &str {
        self.str_setting("healthcheck_uri").unwrap_or("/status")
    }

    fn str_setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(Value::as_str)
    }

    fn parse_mode(&self) -> Result<Option<SmartstackMode>, (String, String)> {
        match self.settings.get("mode") {
            None | Some(Value::Null) if self.is_in_smartstack() => Ok(Some(SmartstackMode::Http)),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s == "http" => Ok(Some(SmartstackMode::Http)),
            Some(Value::String(s)) if s == "tcp" => Ok(Some(SmartstackMode::Tcp)),
            Some(Value::String(s)) => Err(("mode".into(), format!("Unknown mode: {s}"))),
            Some(other) => Err(("mode".into(), format!("Unknown mode: {other}"))),
        }
    }
}

/// `[(route['source'], dest) for route in routes for dest in route['destinations']]`.
fn flatten_routes(routes: &Value) -> Result<Vec<(String, String)>, String> {
    let routes = routes.as_array().ok_or("must be a list of routes")?;
    let mut out = Vec::new();
    for route in routes {
        let source = route.get("source").and_then(Value::as_str);
        let dests = route.get("destinations").and_then(Value::as_array);
        let (Some(source), Some(dests)) = (source, dests) else {
            return Err("every route needs a string `source` and a list `destinations`".into());
        };
        for dest in dests {
            let dest = dest.as_str().ok_or("route destinations must be strings")?;
            out.push((source.to_string(), dest.to_string()));
        }
    }
    Ok(out)
}

/// `[(src, dst) for src in extra_advertise for dst in extra_advertise[src]]`.
fn flatten_extra_advertise(extra: &Value) -> Result<Vec<(String, String)>, String> {
    let extra = extra
        .as_object()
        .ok_or("must be a mapping of source → list")?;
    let mut out = Vec::new();
    for (src, dsts) in extra {
        let dsts = dsts.as_array().ok_or("every source must map to a list")?;
        for dst in dsts {
            let dst = dst.as_str().ok_or("destinations must be strings")?;
            out.push((src.clone(), dst.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(v: Value) -> Result<ServiceNamespaceConfig, (String, String)> {
        ServiceNamespaceConfig::from_entry(v.as_object().expect("object"))
    }

    #[test]
    fn proxy_port_decides_membership_and_the_mode_default() {
        let out = entry(json!({})).unwrap();
        assert!(!out.is_in_smartstack());
        assert_eq!(out.mode, None);
        assert_eq!(out.discover(), "region");
        assert_eq!(out.healthcheck_uri(), "/status");

        let inside = entry(json!({"proxy_port": 20001, "unknown_key": 1})).unwrap();
        assert!(inside.is_in_smartstack());
        assert_eq!(inside.mode, Some(SmartstackMode::Http));
        assert!(!inside.settings.contains_key("unknown_key"));

        let null_port = entry(json!({"proxy_port": null})).unwrap();
        assert!(!null_port.is_in_smartstack());

        let tcp = entry(json!({"mode": "tcp", "discover": "habitat"})).unwrap();
        assert_eq!(
            (tcp.mode, tcp.discover()),
            (Some(SmartstackMode::Tcp), "habitat")
        );
    }

    #[test]
    fn unknown_mode_is_rejected_when_loading() {
        let err = entry(json!({"proxy_port": 1, "mode": "https"})).unwrap_err();
        assert_eq!(err, ("mode".to_string(), "Unknown mode: https".to_string()));
        let err = entry(json!({"discover": ["region"]})).unwrap_err();
        assert_eq!(err.0, "discover");
    }

    #[test]
    fn routes_and_extra_advertise_are_flattened_to_pairs() {
        let out = entry(json!({
            "routes": [{"source": "a", "destinations": ["b", "c"]}],
            "extra_advertise": {"region:x": ["region:y", "region:z"]},
        }))
        .unwrap();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(out.routes, Some(vec![pair("a", "b"), pair("a", "c")]));
        assert_eq!(
            out.extra_advertise,
            Some(vec![
                pair("region:x", "region:y"),
                pair("region:x", "region:z")
            ])
        );
    }
}
