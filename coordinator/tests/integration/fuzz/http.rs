//! A tiny HTTP/1.1 server on loopback that answers every request with the raw bytes it was
//! given (status line, headers, body: valid or not), then closes: what a broken, hostile or
//! merely surprising Marathon or Mesos looks like to the real clients.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The running server; dropping it stops accepting.
pub struct FixedServer {
    /// `http://127.0.0.1:port`.
    pub url: String,
    response: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FixedServer {
    /// Starts on a free loopback port (within a tokio runtime).
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let response = Arc::new(Mutex::new(Vec::new()));
        let answer = response.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let raw = answer.lock().expect("lock").clone();
                tokio::spawn(serve_one(stream, raw));
            }
        });
        Self {
            url: format!("http://{addr}"),
            response,
            task,
        }
    }

    /// What every following request is answered with.
    pub fn respond(&self, raw: Vec<u8>) {
        *self.response.lock().expect("lock") = raw;
    }
}

impl Drop for FixedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head and `Content-Length` body), writes `raw`, closes.
async fn serve_one(mut stream: TcpStream, raw: Vec<u8>) {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .is_err()
    {
        return;
    }
    let _ = stream.write_all(&raw).await;
    let _ = stream.shutdown().await;
}

/// How a response's body is framed.
#[derive(Debug, Clone, Copy)]
pub enum Framing {
    /// `Content-Length` of the body.
    Exact,
    /// A `Content-Length` larger than the body sent (the peer closes early).
    Short(usize),
    /// A `Content-Length` smaller than the body sent.
    Long(usize),
    /// `Transfer-Encoding: chunked`, one chunk, maybe with a lying size.
    Chunked(bool),
    /// No length: the body ends when the connection closes.
    Close,
}

/// A response's parts.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code (any three digits, informational and unknown ones included).
    pub status: u16,
    /// How the body is framed.
    pub framing: Framing,
    /// `Content-Type`, if any.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The bytes on the wire.
    pub fn raw(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", self.status);
        if let Some(ct) = self.content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        let n = self.body.len();
        let mut body = self.body.clone();
        match self.framing {
            Framing::Exact => head.push_str(&format!("Content-Length: {n}\r\n")),
            Framing::Short(extra) => head.push_str(&format!("Content-Length: {}\r\n", n + extra)),
            Framing::Long(less) => {
                head.push_str(&format!("Content-Length: {}\r\n", n.saturating_sub(less)))
            }
            Framing::Chunked(lie) => {
                head.push_str("Transfer-Encoding: chunked\r\n");
                let size = if lie { n + 7 } else { n };
                body = [
                    format!("{size:x}\r\n").into_bytes(),
                    body,
                    b"\r\n0\r\n\r\n".to_vec(),
                ]
                .concat();
            }
            Framing::Close => {}
        }
        head.push_str("\r\n");
        [head.into_bytes(), body].concat()
    }
}

/// Responses with `body`: mostly well framed 200s, sometimes anything.
pub fn response(body: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Response> {
    let status = prop_oneof![
        6 => Just(200u16),
        3 => proptest::sample::select(vec![201, 204, 301, 307, 400, 401, 404, 409, 422, 500, 503]),
        1 => 100u16..1000,
    ];
    let framing = prop_oneof![
        6 => Just(Framing::Exact),
        1 => (1usize..1000).prop_map(Framing::Short),
        1 => (1usize..64).prop_map(Framing::Long),
        1 => any::<bool>().prop_map(Framing::Chunked),
        1 => Just(Framing::Close),
    ];
    let ct = proptest::sample::select(vec![
        Some("application/json"),
        Some("text/event-stream"),
        Some("text/html"),
        None,
    ]);
    (status, framing, ct, body).prop_map(|(status, framing, content_type, body)| Response {
        status,
        framing,
        content_type,
        body,
    })
}

/// A multi-threaded runtime for one fuzz target.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
