//! `/v2/events`: Marathon's SSE event stream (§1.7) over a bounded broadcast channel; slow
//! consumers lose events, as with Jetty's EventSource.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use super::ids::ts;

/// Capacity of the event channel per subscriber.
const EVENT_BUFFER: usize = 4096;

/// One published event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// `eventType`.
    pub event_type: String,
    /// One-line JSON payload.
    pub data: String,
}

/// Fan-out of events to every attached stream.
#[derive(Debug)]
pub struct EventBus {
    tx: broadcast::Sender<SseEvent>,
}

impl EventBus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(EVENT_BUFFER);
        Self { tx }
    }

    /// Sends an event to every subscriber (dropped when nobody listens).
    pub fn publish(&self, event_type: &str, payload: &Value) {
        let _ = self.tx.send(SseEvent {
            event_type: event_type.to_string(),
            data: payload.to_string(),
        });
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<SseEvent> {
        self.tx.subscribe()
    }
}

fn frame(event_type: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event_type}\ndata: {data}\n\n"))
}

/// The streaming response: `event_stream_attached` first, then every event whose type passes
/// the `event_type` filter (empty filter: all).
pub fn sse_response(
    rx: broadcast::Receiver<SseEvent>,
    filter: Vec<String>,
    remote: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Response {
    let attached = json!({ "remoteAddress": remote, "eventType": "event_stream_attached", "timestamp": ts(now) });
    let wants = move |t: &str| filter.is_empty() || filter.iter().any(|f| f == t);
    let first = wants("event_stream_attached")
        .then(|| frame("event_stream_attached", &attached.to_string()));
    let events = BroadcastStream::new(rx).filter_map(move |ev| {
        let out = match ev {
            Ok(ev) if wants(&ev.event_type) => {
                Some(Ok::<_, Infallible>(frame(&ev.event_type, &ev.data)))
            }
            _ => None,
        };
        async move { out }
    });
    let stream = futures::stream::iter(first.map(Ok)).chain(events);
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream;charset=UTF-8"),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    resp
}
