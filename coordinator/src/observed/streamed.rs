//! Large JSON bodies decoded while they arrive: the body's chunks go through a channel to a
//! blocking task that parses them with `serde_json`'s reader. The whole body is never in
//! memory (`bytes()` held it twice while it joined the chunks: about 100 MB for Marathon's
//! list of 50,000 apps, 40 MB for the Mesos state of 50,000 tasks), and a body larger than a
//! bound is refused instead of read. Used by Marathon's app list and Mesos' state.

use std::io::Read;

use bytes::{Buf, Bytes};
use serde::de::{DeserializeOwned, DeserializeSeed};
use tokio::sync::mpsc;

/// Chunks in flight between the body and the decoder.
const IN_FLIGHT: usize = 8;

/// Why a streamed body was not decoded (each client wraps it in its own error with the URL).
#[derive(Debug)]
pub(crate) enum StreamedError {
    /// The body broke off (the cause even when what arrived also fails to parse).
    Request(reqwest::Error),
    /// More than the limit arrived.
    TooLarge,
    /// The body is not a `T`.
    Decode(serde_json::Error),
}

/// Decodes a success response's body as one `T` (nothing but whitespace after it).
pub(crate) async fn decode<T>(resp: reqwest::Response, limit: u64) -> Result<T, StreamedError>
where
    T: DeserializeOwned + Send + 'static,
{
    decode_seed(resp, limit, std::marker::PhantomData::<T>).await
}

/// [`decode`] with a seed (state the decoding needs, e.g. what to compare against).
pub(crate) async fn decode_seed<S, V>(
    mut resp: reqwest::Response,
    limit: u64,
    seed: S,
) -> Result<V, StreamedError>
where
    S: for<'de> DeserializeSeed<'de, Value = V> + Send + 'static,
    V: Send + 'static,
{
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
        let value = seed.deserialize(&mut de)?;
        de.end()?;
        Ok::<_, serde_json::Error>(value)
    });
    let mut received = 0u64;
    let mut failure = None;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(source) => {
                failure = Some(StreamedError::Request(source));
                break;
            }
        };
        received += chunk.len() as u64;
        if received > limit {
            failure = Some(StreamedError::TooLarge);
            break;
        }
        if tx.send(chunk).await.is_err() {
            break; // the decoder stopped: its error is the answer
        }
    }
    drop(tx);
    let decoded = decoder.await.expect("decoding a body does not panic");
    if let Some(failure) = failure {
        return Err(failure); // a cut body also fails to decode: the cause is the answer
    }
    decoded.map_err(StreamedError::Decode)
}

/// At most `limit` bytes of a body (the rest is not read): error bodies are only shown.
pub(crate) async fn prefix(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk[..chunk.len().min(limit - out.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    out
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
    use super::*;

    fn response(body: &'static str) -> reqwest::Response {
        http::Response::new(body).into()
    }

    #[tokio::test]
    async fn an_error_body_is_read_only_up_to_its_limit() {
        assert_eq!(prefix(response("0123456789"), 4).await, b"0123");
        assert_eq!(prefix(response("01"), 4).await, b"01");
        assert_eq!(prefix(response(""), 4).await, b"");
    }

    #[tokio::test]
    async fn a_body_is_one_value_and_bounded() {
        let v: Vec<u32> = decode(response("[1, 2, 3] \n"), 1 << 20)
            .await
            .expect("decodes");
        assert_eq!(v, [1, 2, 3]);
        let err = decode::<Vec<u32>>(response("[1, 2] [3]"), 1 << 20)
            .await
            .expect_err("trailing value");
        assert!(matches!(err, StreamedError::Decode(_)), "{err:?}");
        let err = decode::<Vec<u32>>(response("[1, 2, 3]"), 4)
            .await
            .expect_err("over the limit");
        assert!(matches!(err, StreamedError::TooLarge), "{err:?}");
    }
}
