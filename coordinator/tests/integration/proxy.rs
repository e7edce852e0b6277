//! A TCP proxy whose link a test can pause or cut: what a partition or a dead host looks like
//! to the client behind it (agents → coordinator, coordinators → ZooKeeper).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How the proxy treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Bytes flow.
    Open,
    /// Connections stay open, bytes are held until the link opens again (a switch dropping
    /// packets: only heartbeats reveal it). Nothing is lost.
    Paused,
    /// Every connection is closed and new ones are refused (a dead host).
    Cut,
}

/// The running proxy; dropping it stops accepting.
pub struct Proxy {
    /// `127.0.0.1:port` to give the client.
    pub addr: SocketAddr,
    link: watch::Sender<Link>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forwards a new loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let (link, _) = watch::channel(Link::Open);
        let links = link.clone();
        let task = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                if *links.borrow() == Link::Cut {
                    continue;
                }
                let Ok(up) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (dr, dw) = down.into_split();
                let (ur, uw) = up.into_split();
                tokio::spawn(pipe(dr, uw, links.subscribe()));
                tokio::spawn(pipe(ur, dw, links.subscribe()));
            }
        });
        Self { addr, link, task }
    }

    /// Changes the link.
    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let now = *link.borrow_and_update();
        match now {
            Link::Cut => return,
            Link::Paused => {
                if link.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Link::Open => {}
        }
        tokio::select! {
            n = from.read(&mut buf) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    // A pause that came while reading holds these bytes too.
                    while matches!(*link.borrow_and_update(), Link::Paused) {
                        if link.changed().await.is_err() {
                            return;
                        }
                    }
                    if *link.borrow() == Link::Cut || to.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            },
            _ = link.changed() => {}
        }
    }
}
