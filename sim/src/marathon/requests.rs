//! The request log: every `/v2` request to Marathon and every request to the Mesos master, with
//! who made it (the basic-auth user), when it was answered (wall clock, never the simulated
//! clock, so clock jumps do not move it) and how (`status`, 0 when the connection was dropped).
//! Whole-system tests (`tests/src/chaos/`) tell coordinators apart by giving each its own user.
//! Off until `PUT /_sim/requests` `{"record": true}` (so benchmarks pay nothing for it); served at
//! `GET /_sim/requests` (cleared by `DELETE`); bounded, oldest dropped first.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Upper bound on recorded requests.
const CAP: usize = 200_000;

/// One answered (or dropped) request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// When it was answered (wall clock).
    #[serde(serialize_with = "ser_ts")]
    pub at: DateTime<Utc>,
    /// `marathon` or `mesos`.
    pub target: &'static str,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The basic-auth user, when the request carried one.
    pub user: Option<String>,
    /// The answer's status; 0 when the connection was dropped.
    pub status: u16,
    /// Whether an injected fault decided the answer (status, drop or delay).
    pub fault: bool,
    /// `Location` of the answer (a created app: `/v2/apps/<id>`).
    pub location: Option<String>,
    /// Task ids named by `POST /v2/tasks/delete`; the app id of `POST /v2/apps`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

fn ser_ts<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// Shared, bounded log of requests.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    inner: Arc<Mutex<VecDeque<RequestRecord>>>,
    on: Arc<AtomicBool>,
}

impl RequestLog {
    /// Whether requests are being recorded.
    pub fn recording(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Starts or stops recording.
    pub fn record(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// Appends one record.
    pub fn push(&self, r: RequestRecord) {
        let mut q = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(r);
        if q.len() > CAP {
            q.pop_front();
        }
    }

    /// Every record, oldest first.
    pub fn all(&self) -> Vec<RequestRecord> {
        let q = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        q.iter().cloned().collect()
    }

    /// Forgets every record.
    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The user of a `Basic` authorization header value.
pub fn basic_user(header: Option<&str>) -> Option<String> {
    let (scheme, cred) = header?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = decode_base64(cred.trim())?;
    let text = String::from_utf8(raw).ok()?;
    Some(
        text.split_once(':')
            .map_or(text.as_str(), |(u, _)| u)
            .to_owned(),
    )
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len().saturating_sub(1);
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_user_of_a_basic_header() {
        // "c2:secret"
        assert_eq!(
            super::basic_user(Some("Basic YzI6c2VjcmV0")).as_deref(),
            Some("c2")
        );
        assert_eq!(super::basic_user(Some("Bearer x")), None);
        assert_eq!(super::basic_user(None), None);
    }
}
