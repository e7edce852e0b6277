//! `GET /events`: past events from `since`, then live ones, one JSON object per line, until
//! `until` passes on the engine's clock or the client goes away.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::engine::DockerEngine;
use super::error::EngineError;
use super::events::Event;
use super::filters::{FilterArgs, FilterError, parse_timestamp};
use super::http::Body;

/// How often a stream with `until` checks the clock when no event arrives.
const UNTIL_POLL: Duration = Duration::from_millis(50);

type Line = Result<Frame<Bytes>, Infallible>;

/// Answers `GET /events?since=&until=&filters=`.
pub fn events(
    engine: &DockerEngine,
    since: Option<&str>,
    until: Option<&str>,
    filters: Option<&str>,
) -> Result<Response<Body>, EngineError> {
    let filters = FilterArgs::parse(filters.unwrap_or(""))?;
    let since = since
        .filter(|s| !s.is_empty())
        .map(parse_timestamp)
        .transpose()?;
    let until = until
        .filter(|s| !s.is_empty())
        .map(parse_timestamp)
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        return Err(FilterError::SinceAfterUntil {
            since: docker_ts(s),
            until: docker_ts(u),
        }
        .into());
    }
    let (history, live) = engine.subscribe();
    let past: Vec<Event> = match since {
        Some(s) => history
            .into_iter()
            .filter(|e| e.time >= s && until.is_none_or(|u| e.time <= u) && e.matches(&filters))
            .collect(),
        None => Vec::new(),
    };
    let only_past = until.is_some_and(|u| u <= engine.clock().now());
    let (tx, rx) = mpsc::channel::<Line>(64);
    let task = EventsTask {
        engine: engine.clone(),
        filters,
        until,
        tx,
    };
    tokio::spawn(task.run(past, (!only_past).then_some(live)));
    let mut resp = Response::new(StreamBody::new(ReceiverStream::new(rx)).boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Feeds one client's event stream.
struct EventsTask {
    engine: DockerEngine,
    filters: FilterArgs,
    until: Option<DateTime<Utc>>,
    tx: mpsc::Sender<Line>,
}

/// What the stream loop does next.
enum Step {
    Send(Event),
    Skip,
    End,
}

impl EventsTask {
    async fn run(self, past: Vec<Event>, live: Option<broadcast::Receiver<Event>>) {
        for event in past {
            if !self.send(&event).await {
                return;
            }
        }
        let Some(mut live) = live else { return };
        loop {
            let step = tokio::select! {
                // Cancel-safe: broadcast::Receiver::recv loses nothing when dropped.
                received = live.recv() => match received {
                    Ok(event) if self.until.is_some_and(|u| event.time > u) => Step::End,
                    Ok(event) if event.matches(&self.filters) => Step::Send(event),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => Step::Skip,
                    Err(broadcast::error::RecvError::Closed) => Step::End,
                },
                // Cancel-safe: only observes the receiver side.
                () = self.tx.closed() => Step::End,
                // Cancel-safe: a timer.
                () = tokio::time::sleep(UNTIL_POLL), if self.until.is_some() => {
                    if self.until.is_some_and(|u| self.engine.clock().now() > u) {
                        Step::End
                    } else {
                        Step::Skip
                    }
                }
            };
            match step {
                Step::Send(event) => {
                    if !self.send(&event).await {
                        return;
                    }
                }
                Step::Skip => {}
                Step::End => return,
            }
        }
    }

    /// Writes one JSON line; false when the client is gone.
    async fn send(&self, event: &Event) -> bool {
        let mut line = event.to_json().to_string();
        line.push('\n');
        self.tx
            .send(Ok(Frame::data(Bytes::from(line))))
            .await
            .is_ok()
    }
}

/// A timestamp as Docker echoes it in errors: seconds, plus `.nanos` when nonzero.
fn docker_ts(t: DateTime<Utc>) -> String {
    match t.timestamp_subsec_nanos() {
        0 => t.timestamp().to_string(),
        n => format!("{}.{n:09}", t.timestamp()),
    }
}
