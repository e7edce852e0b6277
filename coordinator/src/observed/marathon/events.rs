//! Marathon's event stream (`GET /v2/events`, `Accept: text/event-stream`): server-sent
//! events framed as `event: <type>\r\ndata: <json>\r\n\r\n` by Jetty's `EventSourceServlet`
//! (which Marathon 1.4's `HttpEventStreamServlet` extends), with a bare `\r\n` heartbeat every
//! 10 s, reduced to what the observed-state cache needs — which apps an event names. The parser
//! takes any of the SSE line ends and bytes split anywhere, even inside a UTF-8 character.
//!
//! The app ids come from the fields Marathon 1.4's events carry (`core/event/Events.scala`):
//! `appId` (`status_update_event`, `health_status_changed_event`, `failed_health_check_event`,
//! `app_terminated_event`, `unhealthy_task_kill_event`, ...), `runSpecId` (`instance_changed_event`,
//! `instance_health_changed_event`), `appDefinition.id` (`api_post_event`), and the apps a
//! deployment acts on: the `app` of every action of its plan's `steps` and of its
//! `currentStep` (`deployment_info`, `deployment_success`, `deployment_failed`,
//! `deployment_step_success`, `deployment_step_failure`). A plan's `original` and `target` are
//! Marathon's whole root groups (every app of the cluster, tens of megabytes at 50,000 apps):
//! they are skipped unread, since every app a deployment changes has an action in its steps.
//! Events naming no app (`event_stream_attached`, `subscribe_event`, `group_change_success`,
//! ...) change nothing the cache holds by themselves. A field of an unexpected type is
//! ignored, never the whole event.

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{IgnoredAny, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// One event, as the cache sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarathonEvent {
    /// `eventType`.
    pub event_type: String,
    /// The app ids it names (with their leading `/`), deduplicated.
    pub app_ids: Vec<String>,
}

/// The fields of an event payload that name apps (everything else is skipped unread).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Naming {
    app_id: Lenient<String>,
    run_spec_id: Lenient<String>,
    app_definition: Lenient<WithId>,
    plan: Lenient<Plan>,
    current_step: Lenient<Step>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WithId {
    id: Lenient<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Plan {
    steps: Lenient<Vec<Lenient<Step>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Step {
    actions: Lenient<Vec<Lenient<Action>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Action {
    app: Lenient<String>,
}

/// The JSON kind a [`Lenient`] field expects.
#[derive(PartialEq, Eq)]
enum Kind {
    Str,
    Map,
    Seq,
}

/// What a type reads from: the other kinds are skipped.
trait Shape {
    const KIND: Kind;
}

impl Shape for String {
    const KIND: Kind = Kind::Str;
}

impl<T> Shape for Vec<T> {
    const KIND: Kind = Kind::Seq;
}

impl Shape for Naming {
    const KIND: Kind = Kind::Map;
}

impl Shape for WithId {
    const KIND: Kind = Kind::Map;
}

impl Shape for Plan {
    const KIND: Kind = Kind::Map;
}

impl Shape for Step {
    const KIND: Kind = Kind::Map;
}

impl Shape for Action {
    const KIND: Kind = Kind::Map;
}

/// A field read when it has the expected kind, `None` (skipped without building anything)
/// when it has another: a hostile or odd field never fails the event.
#[derive(Debug)]
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Shape + Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor(std::marker::PhantomData))
    }
}

struct LenientVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Shape + Deserialize<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Lenient<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if T::KIND != Kind::Str {
            return Ok(Lenient(None));
        }
        T::deserialize(v.into_deserializer()).map(|t| Lenient(Some(t)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if T::KIND != Kind::Map {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Lenient(None));
        }
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Lenient(Some(t)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if T::KIND != Kind::Seq {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Lenient(None));
        }
        T::deserialize(SeqAccessDeserializer::new(seq)).map(|t| Lenient(Some(t)))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }
}

impl<T> Lenient<T> {
    fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

/// The app ids a payload names (see the module docs), with their leading `/`, deduplicated in
/// the order found. A payload that is not a JSON object names none.
pub fn app_ids(data: &str) -> Vec<String> {
    // Read as a field would be: a payload that is not an object names nothing.
    let Ok(Lenient(Some(naming))) = serde_json::from_str::<Lenient<Naming>>(data) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let mut add = |id: Option<&String>| {
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            let id = if id.starts_with('/') {
                id.clone()
            } else {
                format!("/{id}")
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
    };
    add(naming.app_id.get());
    add(naming.run_spec_id.get());
    add(naming.app_definition.get().and_then(|a| a.id.get()));
    let steps = naming.plan.get().and_then(|p| p.steps.get());
    let current = naming.current_step.get();
    for step in steps
        .into_iter()
        .flatten()
        .filter_map(Lenient::get)
        .chain(current)
    {
        for action in step
            .actions
            .get()
            .into_iter()
            .flatten()
            .filter_map(Lenient::get)
        {
            add(action.app.get());
        }
    }
    out
}

/// Incremental SSE parser: feed it bytes as they arrive, get complete events out.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    event_type: Option<String>,
    data: String,
}

/// The longest event Galley accepts (a deployment event of a big group can be large; anything
/// beyond this is a broken or hostile stream).
pub const MAX_EVENT_BYTES: usize = 16 << 20;

/// The stream broke its framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// An event grew past [`MAX_EVENT_BYTES`].
    #[error("an event is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    /// The bytes are not UTF-8.
    #[error("the event stream is not UTF-8")]
    NotUtf8,
    /// Nothing arrived, not even Jetty's heartbeat, for this long: the connection is dead.
    #[error("nothing on the event stream for {seconds} s (Marathon sends a heartbeat every 10 s)")]
    Silent {
        /// The idle limit.
        seconds: u64,
    },
}

impl SseParser {
    /// Feeds `chunk`; returns the events it completed (`(type, data)`; an event without an
    /// `event:` line is `message`, as the SSE spec says).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<(String, String)>, SseError> {
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() + self.data.len() > MAX_EVENT_BYTES {
            return Err(SseError::TooLarge);
        }
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(at) = self.buffer[start..].iter().position(|b| *b == b'\n') {
            let end = start + at;
            let raw = &self.buffer[start..end];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = std::str::from_utf8(raw).map_err(|_| SseError::NotUtf8)?;
            start = end + 1;
            if line.is_empty() {
                if !self.data.is_empty() || self.event_type.is_some() {
                    let kind = self.event_type.take().unwrap_or_else(|| "message".into());
                    out.push((kind, std::mem::take(&mut self.data)));
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // a comment (keep-alive)
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event_type = Some(value.to_owned()),
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                _ => {}
            }
        }
        self.buffer.drain(..start);
        Ok(out)
    }
}

/// The cache's view of one framed event: its type and the apps it names (unparsable JSON
/// names none).
pub fn event(event_type: String, data: &str) -> MarathonEvent {
    MarathonEvent {
        event_type,
        app_ids: app_ids(data),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn frames_split_anywhere_are_reassembled() {
        let stream = "event: event_stream_attached\ndata: {\"remoteAddress\":\"1.2.3.4\"}\n\n\
                      : keep-alive\n\
                      event: status_update_event\ndata: {\"appId\":\"/web.main.x\",\"taskStatus\":\"TASK_RUNNING\"}\n\n";
        let mut p = SseParser::default();
        let mut events = Vec::new();
        for chunk in stream.as_bytes().chunks(7) {
            events.extend(p.feed(chunk).unwrap());
        }
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].0, "event_stream_attached");
        assert_eq!(events[1].0, "status_update_event");
        assert_eq!(
            event(events[1].0.clone(), &events[1].1).app_ids,
            ["/web.main.x"]
        );
    }

    #[test]
    fn every_event_shape_names_its_apps() {
        let step = |apps: &[&str]| {
            let actions: Vec<_> = apps
                .iter()
                .map(|a| json!({"action": "RestartApplication", "app": a}))
                .collect();
            json!({ "actions": actions })
        };
        let cases = [
            (json!({"appId": "/a", "taskId": "a.1"}), vec!["/a"]),
            (json!({"runSpecId": "/b", "instanceId": "b.1"}), vec!["/b"]),
            (json!({"appDefinition": {"id": "c"}}), vec!["/c"]),
            (
                json!({"plan": {"steps": [step(&["/d"]), step(&["/e", "/d"])]}}),
                vec!["/d", "/e"],
            ),
            (
                json!({"plan": {"steps": []}, "currentStep": step(&["f"])}),
                vec!["/f"],
            ),
            (json!({"groupId": "/", "version": "x"}), vec![]),
            (json!({"remoteAddress": "1.2.3.4"}), vec![]),
            // Odd field types are skipped, not the event.
            (
                json!({"appId": 5, "runSpecId": ["x"], "appDefinition": "y",
                       "plan": {"steps": [7, {"actions": {"app": "/z"}}, step(&["/g"])]},
                       "currentStep": [{"actions": []}]}),
                vec!["/g"],
            ),
            (json!({"appId": {"id": "/h"}, "plan": null}), vec![]),
        ];
        for (data, want) in cases {
            assert_eq!(app_ids(&data.to_string()), want, "{data}");
        }
        assert!(event("x".into(), "not json").app_ids.is_empty());
        assert!(event("x".into(), "[1, 2]").app_ids.is_empty());
    }

    /// Marathon 1.4's deployment events carry the whole root group as the plan's `original`
    /// and `target`: only the apps the steps act on are named (else every deployment would
    /// have every app of the cluster fetched again).
    #[test]
    fn a_deployment_names_the_apps_its_steps_act_on_not_the_whole_root_group() {
        let app = |i: usize| {
            json!({"id": format!("/svc{i}.main.git1.config1"), "instances": 1,
                                     "env": {"K": "V"}, "labels": {}, "container": {"docker": {"image": "x"}}})
        };
        let root = json!({"id": "/", "apps": (0..2000).map(app).collect::<Vec<_>>(),
                          "groups": [], "pods": [], "dependencies": [], "version": "v"});
        let data = json!({
            "eventType": "deployment_info",
            "plan": {"id": "p1", "original": root, "target": root, "version": "v",
                     "steps": [{"actions": [{"action": "ScaleApplication", "app": "/svc7.main.git1.config1"}]}]},
            "currentStep": {"actions": [{"action": "ScaleApplication", "app": "/svc7.main.git1.config1"}]},
        });
        assert_eq!(
            event("deployment_info".into(), &data.to_string()).app_ids,
            ["/svc7.main.git1.config1"]
        );
    }

    /// The same rule over a parsed tree: the reference the streaming reader must match.
    fn reference(data: &serde_json::Value) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |v: Option<&serde_json::Value>| {
            if let Some(id) = v.and_then(|v| v.as_str()).filter(|s| !s.is_empty()) {
                let id = if id.starts_with('/') {
                    id.to_owned()
                } else {
                    format!("/{id}")
                };
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        };
        add(data.get("appId"));
        add(data.get("runSpecId"));
        add(data.get("appDefinition").and_then(|a| a.get("id")));
        let steps = data.pointer("/plan/steps").and_then(|s| s.as_array());
        let steps = steps.into_iter().flatten().chain(data.get("currentStep"));
        for step in steps {
            let actions = step.get("actions").and_then(|a| a.as_array());
            for action in actions.into_iter().flatten() {
                add(action.get("app"));
            }
        }
        out
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec![
            "appId",
            "runSpecId",
            "appDefinition",
            "id",
            "plan",
            "steps",
            "currentStep",
            "actions",
            "app",
            "original",
            "target",
            "x",
        ]);
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i32>().prop_map(serde_json::Value::from),
            prop::sample::select(vec!["", "a", "/b", "c\\u00e9", "/d.main"])
                .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(key.clone(), inner, 0..5).prop_map(|m| {
                    serde_json::Value::Object(
                        m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    )
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]
        #[test]
        fn the_streaming_reader_names_what_the_tree_rule_names(data in json_value()) {
            proptest::prop_assert_eq!(app_ids(&data.to_string()), reference(&data));
        }
    }

    #[test]
    fn jetty_framing_heartbeats_and_split_characters() {
        // Jetty writes CRLF line ends and a heartbeat of `\r` then `\n` (two flushes); an
        // app id with a multi-byte character may be split between chunks.
        let stream = "event: event_stream_attached\r\ndata: {\"remoteAddress\":\"1.2.3.4\"}\r\n\r\n\
                      \r\n\r\n\
                      event: app_terminated_event\r\ndata: {\"appId\":\"/caf\u{e9}\"}\r\n\r\n";
        for size in [1, 2, 3, 5, 64] {
            let mut p = SseParser::default();
            let mut events = Vec::new();
            for chunk in stream.as_bytes().chunks(size) {
                events.extend(p.feed(chunk).unwrap());
            }
            assert_eq!(events.len(), 2, "chunks of {size}: {events:?}");
            assert_eq!(events[1].0, "app_terminated_event");
            assert_eq!(
                event(events[1].0.clone(), &events[1].1).app_ids,
                ["/caf\u{e9}"]
            );
        }
    }

    #[test]
    fn oversized_or_binary_streams_are_errors() {
        let mut p = SseParser::default();
        assert_eq!(p.feed(&[0xff, 0xfe, b'\n']), Err(SseError::NotUtf8));
        let mut p = SseParser::default();
        let big = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert_eq!(p.feed(&big), Err(SseError::TooLarge));
    }
}
