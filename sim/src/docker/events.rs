//! Engine events (`GET /events`): the record, its JSON line, and Docker's event filter.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::filters::FilterArgs;
use super::model::Container;

/// How many past events the daemon keeps for `since` queries (Docker's `eventsLimit`).
pub const EVENTS_HISTORY: usize = 256;

/// One container event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `create`, `start`, `kill`, `die`, `stop`, `destroy`.
    pub action: String,
    /// Full container id.
    pub id: String,
    /// Image as given at create time (`from`, `Actor.Attributes.image`).
    pub image: String,
    /// Container labels plus `image`, `name` (no slash), and `signal` / `exitCode`.
    pub attributes: BTreeMap<String, String>,
    pub time: DateTime<Utc>,
}

impl Event {
    /// A container event of `action`, with the container's labels, image and name attributes.
    pub fn for_container(c: &Container, action: &str, time: DateTime<Utc>) -> Self {
        let mut attributes = c.labels.clone();
        attributes.insert("image".to_owned(), c.image.clone());
        attributes.insert("name".to_owned(), c.name.clone());
        Self {
            action: action.to_owned(),
            id: c.id.clone(),
            image: c.image.clone(),
            attributes,
            time,
        }
    }

    /// Adds one attribute (`signal`, `exitCode`).
    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.attributes.insert(key.to_owned(), value.to_string());
        self
    }

    /// Nanoseconds since the epoch (`timeNano`).
    pub fn time_nano(&self) -> i64 {
        self.time.timestamp_nanos_opt().unwrap_or(i64::MAX)
    }

    /// The JSON object dockerd writes, fields in its order (status/id/from are the legacy
    /// duplicates of Action/Actor.ID/image).
    pub fn to_json(&self) -> Value {
        json!({
            "status": self.action,
            "id": self.id,
            "from": self.image,
            "Type": "container",
            "Action": self.action,
            "Actor": { "ID": self.id, "Attributes": self.attributes },
            "scope": "local",
            "time": self.time.timestamp(),
            "timeNano": self.time_nano(),
        })
    }

    /// Whether the event passes Docker's `/events` filter. Keys naming other object types
    /// (`network`, `volume`, …) exclude container events unless they match the actor, as in
    /// Docker; unknown keys are ignored (Docker 20.10 does not validate them).
    pub fn matches(&self, f: &FilterArgs) -> bool {
        let name = self
            .attributes
            .get("name")
            .map(String::as_str)
            .unwrap_or("");
        let by_actor = |key: &str| f.fuzzy_match(key, &self.id) || f.fuzzy_match(key, name);
        let event_ok = if ["health_status", "exec_create", "exec_start"]
            .iter()
            .any(|k| f.values("event").any(|v| v == *k))
        {
            f.fuzzy_match("event", &self.action)
        } else {
            f.exact_match("event", &self.action)
        };
        event_ok
            && f.exact_match("type", "container")
            && f.exact_match("scope", "local")
            && [
                "container",
                "daemon",
                "plugin",
                "volume",
                "network",
                "node",
                "service",
            ]
            .into_iter()
            .chain(["secret", "config"])
            .all(by_actor)
            && self.matches_image(f)
            && f.match_kv_list("label", &self.attributes)
    }

    fn matches_image(&self, f: &FilterArgs) -> bool {
        if !f.has("image") {
            return true;
        }
        let strip_tag = |s: &str| -> String {
            match s.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => repo.to_owned(),
                _ => s.to_owned(),
            }
        };
        [
            self.id.clone(),
            self.image.clone(),
            strip_tag(&self.id),
            strip_tag(&self.image),
        ]
        .iter()
        .any(|candidate| f.values("image").any(|v| v == candidate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str) -> Event {
        Event {
            action: action.to_owned(),
            id: "abcdef".to_owned(),
            image: "busybox:1".to_owned(),
            attributes: [
                ("name".to_owned(), "mesos-1".to_owned()),
                ("image".to_owned(), "busybox:1".to_owned()),
                ("MESOS_TASK_ID".to_owned(), "t".to_owned()),
            ]
            .into(),
            time: DateTime::from_timestamp(10, 5).unwrap_or_default(),
        }
    }

    #[test]
    fn filters_by_type_event_container_label_and_image() {
        let e = event("die");
        assert!(e.matches(&FilterArgs::default()));
        assert!(e.matches(&FilterArgs::from_pairs([
            ("type", "container"),
            ("event", "die")
        ])));
        assert!(!e.matches(&FilterArgs::from_pairs([("event", "stop")])));
        assert!(e.matches(&FilterArgs::from_pairs([("container", "mesos-1")])));
        assert!(e.matches(&FilterArgs::from_pairs([("container", "abc")])));
        assert!(!e.matches(&FilterArgs::from_pairs([("container", "other")])));
        assert!(!e.matches(&FilterArgs::from_pairs([("type", "image")])));
        assert!(!e.matches(&FilterArgs::from_pairs([("network", "none")])));
        assert!(e.matches(&FilterArgs::from_pairs([("label", "MESOS_TASK_ID=t")])));
        assert!(e.matches(&FilterArgs::from_pairs([("image", "busybox")])));
        assert!(e.matches(&FilterArgs::from_pairs([("bogus", "x")])));
    }

    #[test]
    fn json_has_docker_field_order() {
        let text = event("kill").with("signal", 15).to_json().to_string();
        assert!(text.starts_with(
            r#"{"status":"kill","id":"abcdef","from":"busybox:1","Type":"container""#
        ));
        assert!(text.contains(r#""Attributes":{"MESOS_TASK_ID":"t","image":"busybox:1","name":"mesos-1","signal":"15"}"#));
        assert!(text.ends_with(r#""scope":"local","time":10,"timeNano":10000000005}"#));
    }
}
