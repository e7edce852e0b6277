//! What a user can look at: Marathon's API, Prometheus `/metrics`, deploy log files.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// An HTTP client (reqwest with rustls on ring), 10 s per request.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// `GET url` as JSON.
pub async fn get_json(url: &str) -> Result<Value, String> {
    let resp = http().get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e}: {body}"))
}

/// Marathon's apps with their tasks (`GET /v2/apps?embed=apps.tasks`).
pub async fn marathon_apps(marathon: &str) -> Result<Vec<Value>, String> {
    let v = get_json(&format!("{marathon}/v2/apps?embed=apps.tasks")).await?;
    Ok(v["apps"].as_array().cloned().unwrap_or_default())
}

/// Marathon's app ids, sorted.
pub async fn marathon_app_ids(marathon: &str) -> Result<Vec<String>, String> {
    let mut ids: Vec<String> = marathon_apps(marathon)
        .await?
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    Ok(ids)
}

/// Ids of the apps whose id starts with `/<service>.<instance>.`.
pub fn apps_of<'a>(ids: &'a [String], service: &str, instance: &str) -> Vec<&'a String> {
    let prefix = format!("/{service}.{instance}.");
    ids.iter().filter(|i| i.starts_with(&prefix)).collect()
}

/// One sample of `/metrics` on `port`: the value of the series whose line starts with
/// `series ` (e.g. `galley_leader_term`); `None` while it does not answer or lacks it.
pub async fn metric(port: u16, series: &str) -> Option<f64> {
    let text = http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

/// The deploy log's events in `path` (one JSON object per line); empty when missing.
pub fn deploy_log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad line {l:?}: {e}", path.display()))
        })
        .collect()
}

/// The messages of the deploy log in `path`.
pub fn deploy_log_messages(path: &Path) -> Vec<String> {
    deploy_log(path)
        .iter()
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect()
}

/// A stand-in for the Sensu client socket on a master (`sensu_host`/`sensu_port`): every JSON
/// event received, in order.
pub struct SensuListener {
    /// Its port.
    pub port: u16,
    events: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl SensuListener {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sensu listener");
        let port = listener.local_addr().expect("addr").port();
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = events.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut text = String::new();
                    let _ = s.read_to_string(&mut text).await;
                    let stream = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
                    let mut got = sink.lock().expect("sensu events");
                    got.extend(stream.filter_map(Result::ok));
                });
            }
        });
        Self { port, events }
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().expect("sensu events").clone()
    }

    /// The latest event of check `name`, if any.
    pub fn latest(&self, name: &str) -> Option<Value> {
        self.events().into_iter().rev().find(|e| e["name"] == name)
    }
}
