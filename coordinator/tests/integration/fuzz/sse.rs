//! The SSE parser of Marathon's event stream (`marathon::events::SseParser`): arbitrary bytes
//! and event-stream-shaped text, split into chunks at random points (inside lines, CRLFs and
//! UTF-8 characters). However a stream is split, the parser completes the same events, or
//! fails the same way; and every completed event reduces to app ids without panicking.

use galley_coordinator::marathon::events::{SseParser, event};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::support::{bytes, fuzz, soup};

const SSE_TOKENS: &[&str] = &[
    "event: ",
    "data: ",
    "data:",
    "id: 1",
    "retry: 5",
    ": keep-alive",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    "status_update_event",
    "deployment_info",
    "{\"appId\": \"/web\"}",
    "{\"runSpecId\": 7}",
    "{\"plan\": {\"original\": {\"apps\": [{\"id\": \"a\"}, 1]}, \"target\": {\"apps\": {}}}}",
    "{\"appDefinition\": {\"id\": \"\"}}",
    "{",
    "}",
    "[",
    "\"",
    "é",
    "\u{feff}",
    "\u{0}",
    " ",
];

/// Text shaped like Marathon's event stream.
pub fn stream_text() -> impl Strategy<Value = String> {
    soup(SSE_TOKENS, 120)
}

/// Feeds `stream` in chunks cut at `cuts`: the events, or `Err` at the first framing error.
fn parse(stream: &[u8], cuts: &[usize]) -> Result<Vec<(String, String)>, String> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    at.sort_unstable();
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    let mut start = 0;
    for end in at.into_iter().chain(std::iter::once(stream.len())) {
        events.extend(
            parser
                .feed(&stream[start..end])
                .map_err(|e| e.to_string())?,
        );
        start = end;
    }
    Ok(events)
}

fn check(stream: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let whole = parse(stream, &[]);
    let split = parse(stream, cuts);
    prop_assert_eq!(&whole, &split, "the split changed the outcome");
    if let Err(msg) = &whole {
        prop_assert!(msg.contains("event") || msg.contains("UTF-8"), "{msg:?}");
    }
    for (kind, data) in whole.unwrap_or_default() {
        let ev = event(kind, &data);
        prop_assert!(
            ev.app_ids
                .iter()
                .all(|id| id.starts_with('/') && id.len() > 1)
        );
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_split_anywhere_parse_alike() {
    let cuts = proptest::collection::vec(any::<usize>(), 0..16);
    fuzz("sse-bytes", 3000, (bytes(1024), cuts), |(stream, cuts)| {
        check(&stream, &cuts)
    });
}

#[test]
fn event_streams_split_anywhere_parse_alike() {
    let cuts = proptest::collection::vec(any::<usize>(), 0..32);
    fuzz(
        "sse-stream",
        3000,
        (stream_text(), cuts),
        |(stream, cuts)| check(stream.as_bytes(), &cuts),
    );
}
