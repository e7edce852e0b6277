//! `GET /v2/info` as Marathon 1.4.13 answers it (`api/v2/InfoResource.scala`): build info,
//! leadership, framework id, every `marathon_config` and `zookeeper_config` key with the
//! default of its flag (`MarathonConf`, `ZookeeperConf`), `event_subscriber` and `http_config`.

use serde_json::{Value, json};

use super::state::Cluster;

impl Cluster {
    /// `marathon_config`: the flags InfoResource lists, plus `mesos_leader_ui_url`.
    fn marathon_config_json(&self) -> Value {
        let hostname = self
            .marathon_address
            .rsplit_once(':')
            .map_or("127.0.0.1", |(h, _)| h);
        json!({
            "access_control_allow_origin": null,
            "checkpoint": true,
            "decline_offer_duration": 120_000,
            "default_network_name": null,
            "env_vars_prefix": null,
            "executor": "//cmd",
            "failover_timeout": 604_800,
            "features": [],
            "framework_name": "marathon",
            "ha": true,
            "hostname": hostname,
            "launch_token": 100,
            "launch_token_refresh_interval": 30_000,
            "leader_proxy_connection_timeout_ms": 5000,
            "leader_proxy_read_timeout_ms": 10_000,
            "local_port_max": super::ports::LOCAL_PORT_MAX,
            "local_port_min": super::ports::LOCAL_PORT_MIN,
            "master": self.mesos_address,
            "max_instances_per_offer": 5,
            "mesos_heartbeat_failure_threshold": 5,
            "mesos_heartbeat_interval": 15_000,
            "mesos_leader_ui_url": format!("http://{}/", self.mesos_address),
            "mesos_role": self.mesos_role,
            "mesos_user": "root",
            "min_revive_offers_interval": 5000,
            "offer_matching_timeout": 1000,
            "on_elected_prepare_timeout": 180_000,
            "reconciliation_initial_delay": 15_000,
            "reconciliation_interval": 600_000,
            "revive_offers_for_new_apps": true,
            "revive_offers_repetitions": 3,
            "scale_apps_initial_delay": 15_000,
            "scale_apps_interval": 300_000,
            "store_cache": true,
            "task_launch_confirm_timeout": 300_000,
            "task_launch_timeout": self.timing.task_launch_timeout.as_millis() as u64,
            "task_lost_expunge_initial_delay": 300_000,
            "task_lost_expunge_interval": 30_000,
            "task_reservation_timeout": 20_000,
            "webui_url": null,
        })
    }

    /// `/v2/info`.
    pub fn info_json(&self) -> Value {
        let (leader, elected) = if self.marathon_leader {
            (json!(self.marathon_address), true)
        } else {
            (Value::Null, false)
        };
        let port = self
            .marathon_address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(8080);
        json!({
            "name": "marathon", "version": "1.4.13", "buildref": "emulated",
            "elected": elected, "leader": leader, "frameworkId": self.framework_id,
            "marathon_config": self.marathon_config_json(),
            "zookeeper_config": {
                "zk": "zk://localhost:2181/marathon",
                "zk_compression": true,
                "zk_compression_threshold": 65_536,
                "zk_connection_timeout": 10_000,
                "zk_max_node_size": 1_024_000,
                "zk_max_versions": 50,
                "zk_session_timeout": 10_000,
                "zk_timeout": 10_000,
            },
            "event_subscriber": null,
            "http_config": { "http_port": port, "https_port": 8443 },
        })
    }
}
