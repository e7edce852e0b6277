//! Test harness: a started emulator plus a small HTTP helper.

use std::time::Duration;

use galley_sim::marathon::{HistoryKind, MarathonSim, MarathonSimConfig};
use reqwest::Method;
use serde_json::{Value, json};

/// An HTTP answer, decoded.
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running emulator and a client.
pub struct Harness {
    pub sim: MarathonSim,
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(MarathonSimConfig::virtual_time()).await
    }

    pub async fn with(config: MarathonSimConfig) -> Self {
        // reqwest is built without a default crypto provider; plain HTTP still needs one set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = MarathonSim::start(config).await.expect("emulator starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Self { sim, http }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let base = if path.starts_with("/master") || path == "/state" {
            self.sim.mesos_url()
        } else {
            self.sim.marathon_url()
        };
        let mut req = self.http.request(method, format!("{base}{path}"));
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates an app and asserts 201.
    pub async fn create(&self, app: Value) -> Resp {
        let r = self.post("/v2/apps", app).await;
        assert_eq!(r.status, 201, "create failed: {}", r.text);
        r
    }

    /// Ticks `secs` seconds of virtual time.
    pub fn tick(&self, secs: u64) {
        self.sim.tick(Duration::from_secs(secs));
    }

    /// Ticks one second at a time until no deployment runs (at most `max` seconds).
    pub fn settle(&self, max: u64) {
        for _ in 0..max {
            if self.sim.deployment_count() == 0 {
                return;
            }
            self.tick(1);
        }
        assert_eq!(
            self.sim.deployment_count(),
            0,
            "deployments did not finish in {max}s"
        );
    }

    /// (launches, kill requests) recorded for an app since the history was cleared.
    pub fn launches_and_kills(&self, app: &str) -> (usize, usize) {
        let h = self.sim.history();
        let launches = h
            .iter()
            .filter(
                |e| matches!(&e.kind, HistoryKind::TaskLaunched { app_id, .. } if app_id == app),
            )
            .count();
        let kills = h
            .iter()
            .filter(
                |e| matches!(&e.kind, HistoryKind::KillRequested { app_id, .. } if app_id == app),
            )
            .count();
        (launches, kills)
    }
}

/// A command app.
pub fn cmd_app(id: &str, instances: u32) -> Value {
    json!({ "id": id, "cmd": "sleep 1000", "instances": instances, "cpus": 0.1, "mem": 64 })
}

/// A PaaSTA-shaped docker app with an HTTP health check (interval 10 s, grace 60 s).
pub fn docker_app(id: &str, instances: u32) -> Value {
    json!({
        "id": id,
        "instances": instances,
        "cpus": 0.25,
        "mem": 256,
        "disk": 100,
        "env": { "PAASTA_SERVICE": "svc" },
        "labels": { "paasta_service": "svc" },
        "backoffSeconds": 1,
        "backoffFactor": 2,
        "maxLaunchDelaySeconds": 300,
        "constraints": [["pool", "LIKE", "default"]],
        "container": {
            "type": "DOCKER",
            "docker": {
                "image": "registry.example/svc:abc",
                "network": "BRIDGE",
                "portMappings": [{ "containerPort": 8888, "hostPort": 0, "protocol": "tcp" }],
                "parameters": [{ "key": "memory-swap", "value": "256m" }],
                "forcePullImage": false
            },
            "volumes": []
        },
        "healthChecks": [{
            "protocol": "HTTP", "path": "/status", "portIndex": 0,
            "gracePeriodSeconds": 60, "intervalSeconds": 10, "timeoutSeconds": 10, "maxConsecutiveFailures": 6
        }],
        "uris": ["file:///root/.dockercfg"]
    })
}
