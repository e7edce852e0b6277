//! A list response decoded while it arrives: the body's chunks go through a channel to a
//! blocking task that parses them with `serde_json`'s reader, converting each app as it is
//! parsed ([`ObservedList`]). Neither the whole body (about 100 MB for 50,000 apps, held twice
//! while `bytes()` joined its chunks) nor the whole list of DTOs is ever in memory, and a body
//! larger than a bound is refused instead of read.

use std::io::Read;

use bytes::{Buf, Bytes};
use galley_common::observed::ObservedApp;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::MarathonError;
use super::dto::ObservedList;

/// The largest list body accepted: ten times that of 50,000 apps with a task each.
pub(super) const MAX_LIST_BYTES: u64 = 1 << 30;

/// Chunks in flight between the body and the decoder.
const IN_FLIGHT: usize = 8;

/// Decodes a success response's body as an app list.
pub(super) async fn decode_app_list(
    op: &'static str,
    url: String,
    mut resp: reqwest::Response,
    limit: u64,
) -> Result<Vec<ObservedApp>, MarathonError> {
    let (tx, rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
    let decoder = tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::with_capacity(
            1 << 16,
            ChunkReader {
                rx,
                chunk: Bytes::new(),
            },
        );
        let mut de = serde_json::Deserializer::from_reader(reader);
        let list = ObservedList::deserialize(&mut de)?;
        de.end()?;
        Ok::<_, serde_json::Error>(list.0)
    });
    let mut received = 0u64;
    let mut failure = None;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(source) => {
                failure = Some(MarathonError::Request {
                    op,
                    url: url.clone(),
                    source,
                });
                break;
            }
        };
        received += chunk.len() as u64;
        if received > limit {
            failure = Some(MarathonError::TooLarge {
                op,
                url: url.clone(),
                limit,
            });
            break;
        }
        if tx.send(chunk).await.is_err() {
            break; // the decoder stopped: its error is the answer
        }
    }
    drop(tx);
    let decoded = decoder.await.expect("decoding a list does not panic");
    if let Some(failure) = failure {
        return Err(failure); // a cut body also fails to decode: the cause is the answer
    }
    decoded.map_err(|source| MarathonError::Decode { op, url, source })
}

/// The body's chunks as a `Read` (end of input when the sender is dropped).
struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.chunk = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn response(body: &'static str) -> reqwest::Response {
        http::Response::new(body).into()
    }

    async fn decode(body: &'static str, limit: u64) -> Result<Vec<ObservedApp>, MarathonError> {
        decode_app_list(
            "list apps",
            "http://m/v2/apps".into(),
            response(body),
            limit,
        )
        .await
    }

    const TWO_APPS: &str = r#"{"apps": [
        {"id": "/web.main.gitaa.configbb", "instances": 2, "tasks": [
            {"id": "web.main.t1", "appId": "/web.main.gitaa.configbb", "host": "slave1"}],
         "unknownKey": {"nested": [1, 2]}},
        {"id": "/api.main.gitcc.configdd", "instances": 1}
    ], "extra": true}"#;

    #[tokio::test]
    async fn a_list_decodes_into_observed_apps_ignoring_unknown_keys() {
        let apps = decode(TWO_APPS, MAX_LIST_BYTES).await.expect("decodes");
        let ids: Vec<&str> = apps.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            ["/web.main.gitaa.configbb", "/api.main.gitcc.configdd"]
        );
        assert_eq!(apps[0].instances, 2);
        assert_eq!(apps[0].tasks.len(), 1);
        assert_eq!(apps[0].tasks[0].host, "slave1");
    }

    #[tokio::test]
    async fn bad_bodies_are_decode_errors_and_a_large_one_is_refused() {
        for bad in [
            r#"{"apps": [{"id": 5}]}"#,
            r#"{"apps": ["#,
            r#"{"apps": []} trailing"#,
            "",
        ] {
            let err = decode(bad, MAX_LIST_BYTES).await.expect_err(bad);
            assert!(
                matches!(err, MarathonError::Decode { .. }),
                "{bad}: {err:?}"
            );
        }
        let err = decode(TWO_APPS, 64).await.expect_err("over the limit");
        assert!(
            matches!(err, MarathonError::TooLarge { limit: 64, .. }),
            "{err:?}"
        );
    }

    /// A body cut short by the server is a transport error (the cause), not a parse error.
    #[tokio::test]
    async fn a_cut_body_is_a_request_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n";
            sock.write_all(head.as_bytes()).await.expect("head");
            sock.write_all(br#"{"apps": [{"id": "/web.main.gita.configb"#)
                .await
                .expect("part");
            // dropped: the connection closes 99,9xx bytes early
        });
        let url = format!("http://{addr}/v2/apps");
        let client = crate::observed::http::client(std::time::Duration::from_secs(5), 1);
        let resp = client.get(&url).send().await.expect("head arrives");
        let err = decode_app_list("list apps", url, resp, MAX_LIST_BYTES)
            .await
            .expect_err("cut");
        assert!(matches!(err, MarathonError::Request { .. }), "{err:?}");
    }
}
