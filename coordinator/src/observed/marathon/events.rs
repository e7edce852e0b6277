//! Marathon's event stream (`GET /v2/events`, `Accept: text/event-stream`): server-sent
//! events framed as `event: <type>\r\ndata: <json>\r\n\r\n` by Jetty's `EventSourceServlet`
//! (which Marathon 1.4's `HttpEventStreamServlet` extends), with a bare `\r\n` heartbeat every
//! 10 s, reduced to what the observed-state cache needs — which apps an event names. The parser
//! takes any of the SSE line ends and bytes split anywhere, even inside a UTF-8 character.
//!
//! The app ids come from the fields Marathon 1.4's events carry (`core/event/Events.scala`):
//! `appId` (`status_update_event`, `health_status_changed_event`, `failed_health_check_event`,
//! `app_terminated_event`, `unhealthy_task_kill_event`, ...), `runSpecId` (`instance_changed_event`,
//! `instance_health_changed_event`), `appDefinition.id` (`api_post_event`), and the apps of a
//! deployment's original and target plans (`deployment_info`, `deployment_success`,
//! `deployment_failed`, `deployment_step_success`, `deployment_step_failure`). Events naming no
//! app (`event_stream_attached`, `subscribe_event`, `group_change_success`, ...) change nothing
//! the cache holds by themselves.

use serde_json::Value;

/// One event, as the cache sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarathonEvent {
    /// `eventType`.
    pub event_type: String,
    /// The app ids it names (with their leading `/`), deduplicated.
    pub app_ids: Vec<String>,
}

/// The apps `event_type` with payload `data` names.
pub fn app_ids(data: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |v: Option<&Value>| {
        if let Some(id) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
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
    add(data.pointer("/appDefinition/id"));
    for side in ["original", "target"] {
        if let Some(apps) = data
            .pointer(&format!("/plan/{side}/apps"))
            .and_then(Value::as_array)
        {
            for app in apps {
                add(app.get("id"));
            }
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
    let app_ids = serde_json::from_str::<Value>(data)
        .map(|v| app_ids(&v))
        .unwrap_or_default();
    MarathonEvent {
        event_type,
        app_ids,
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
        let cases = [
            (json!({"appId": "/a", "taskId": "a.1"}), vec!["/a"]),
            (json!({"runSpecId": "/b", "instanceId": "b.1"}), vec!["/b"]),
            (json!({"appDefinition": {"id": "c"}}), vec!["/c"]),
            (
                json!({"plan": {"original": {"apps": [{"id": "/d"}]}, "target": {"apps": [{"id": "/d"}, {"id": "/e"}]}}}),
                vec!["/d", "/e"],
            ),
            (json!({"groupId": "/", "version": "x"}), vec![]),
            (json!({"remoteAddress": "1.2.3.4"}), vec![]),
        ];
        for (data, want) in cases {
            assert_eq!(app_ids(&data), want, "{data}");
        }
        assert!(event("x".into(), "not json").app_ids.is_empty());
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
