//! `/v2/events`: Marathon's SSE event stream (§1.7) over a bounded broadcast channel; slow
//! consumers lose events, as with Jetty's EventSource.
//!
//! Framing is Jetty's `EventSourceServlet` (which Marathon 1.4.13's `HttpEventStreamServlet`
//! extends): `event: <type>\r\ndata: <json>\r\n\r\n`, a `\r\n` heartbeat every
//! [`HEARTBEAT`] (Jetty's default `heartBeatPeriod`), and only for requests that accept
//! `text/event-stream` (others get Jetty's 405).
//!
//! As in Marathon 1.4.13 (`HttpEventStreamActor`, `HttpEventStreamHandleActor`): a stream that
//! attaches publishes `event_stream_attached` to every stream (itself included) and one that
//! ends publishes `event_stream_detached`; losing leadership closes every open stream (a
//! standby rejects new ones, which the emulator's leadership gate answers with 503). The test
//! control [`EventBus::break_streams`] (`POST /_sim/events/break`) ends every open stream
//! without a leadership change, as a proxy or network fault would; [`EventBus::drop_next`]
//! (`POST /_sim/events/drop`) loses events silently, as Marathon does for a slow consumer.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::{BroadcastStream, WatchStream};

use super::ids::ts;

/// Capacity of the event channel per subscriber.
const EVENT_BUFFER: usize = 4096;

/// Jetty's default `heartBeatPeriod`.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

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
    /// Bumped to end every open stream.
    breaks: watch::Sender<u64>,
    /// Events to drop silently (as Marathon does for a slow consumer).
    dropping: std::sync::atomic::AtomicU64,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(EVENT_BUFFER);
        let (breaks, _) = watch::channel(0);
        Self {
            tx,
            breaks,
            dropping: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Sends an event to every subscriber (dropped when nobody listens, or while dropping).
    pub fn publish(&self, event_type: &str, payload: &Value) {
        use std::sync::atomic::Ordering;
        let drop_it = self
            .dropping
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if drop_it {
            return;
        }
        let _ = self.tx.send(SseEvent {
            event_type: event_type.to_string(),
            data: payload.to_string(),
        });
    }

    /// A new subscription: events from now on, and the signal that ends the stream.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            events: self.tx.subscribe(),
            ended: self.breaks.subscribe(),
            bus: self.tx.clone(),
        }
    }

    /// Ends every open stream (clients see the body end, as when Marathon closes the handles).
    pub fn break_streams(&self) {
        self.breaks.send_modify(|n| *n += 1);
    }

    /// Drops the next `n` events without a trace, as Marathon 1.4 does when a stream's
    /// consumer falls behind (`HttpEventStreamHandleActor` "Ignore event ... (slow consumer)").
    pub fn drop_next(&self, n: u64) {
        self.dropping.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.breaks.receiver_count()
    }
}

/// One attached stream's receivers.
#[derive(Debug)]
pub struct Subscription {
    events: broadcast::Receiver<SseEvent>,
    ended: watch::Receiver<u64>,
    bus: broadcast::Sender<SseEvent>,
}

fn frame(event_type: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event_type}\r\ndata: {data}\r\n\r\n"))
}

/// Publishes `event_stream_detached` when the stream's body is dropped (client gone or stream
/// ended).
struct Detach {
    bus: broadcast::Sender<SseEvent>,
    remote: String,
    clock: Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>,
}

impl Drop for Detach {
    fn drop(&mut self) {
        let payload = json!({
            "remoteAddress": self.remote,
            "eventType": "event_stream_detached",
            "timestamp": ts((self.clock)()),
        });
        let _ = self.bus.send(SseEvent {
            event_type: "event_stream_detached".into(),
            data: payload.to_string(),
        });
    }
}

/// The streaming response: every event whose type passes the `event_type` filter (empty
/// filter: all), starting with this stream's own `event_stream_attached`, until the client
/// goes or the bus breaks its streams.
pub fn sse_response(
    sub: Subscription,
    filter: Vec<String>,
    remote: String,
    clock: Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>,
) -> Response {
    let Subscription {
        events,
        mut ended,
        bus,
    } = sub;
    ended.mark_unchanged();
    let attached = json!({ "remoteAddress": remote, "eventType": "event_stream_attached", "timestamp": ts(clock()) });
    let _ = bus.send(SseEvent {
        event_type: "event_stream_attached".into(),
        data: attached.to_string(),
    });
    let detach = Detach { bus, remote, clock };
    let wants = move |t: &str| filter.is_empty() || filter.iter().any(|f| f == t);
    let events = BroadcastStream::new(events).filter_map(move |ev| {
        let _held = &detach;
        let out = match ev {
            Ok(ev) if wants(&ev.event_type) => {
                Some(Ok::<_, Infallible>(frame(&ev.event_type, &ev.data)))
            }
            _ => None,
        };
        async move { out }
    });
    let heartbeats = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
        tokio::time::Instant::now() + HEARTBEAT,
        HEARTBEAT,
    ))
    .map(|_| Ok::<_, Infallible>(Bytes::from_static(b"\r\n")));
    let mut ended = WatchStream::from_changes(ended);
    let stop = async move {
        let _ = ended.next().await;
    };
    let stream = futures::stream::select(events, heartbeats).take_until(stop);
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
