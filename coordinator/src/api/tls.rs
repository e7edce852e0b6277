//! TLS for the coordinator's gRPC port: mutual TLS with certificates reloaded from files,
//! and the peer identity (the certificate's DNS SANs) that authorization reads.
//!
//! - [`ServerTls`] builds a rustls server config that *requires* a client certificate signed
//!   by the configured CA, and rebuilds it when the files change ([`ServerTls::reload_if_changed`],
//!   polled by [`ServerTls::spawn_reloader`]); a broken new file keeps the old config and is
//!   logged, never a restart.
//! - [`incoming`] accepts TCP connections and completes handshakes concurrently (a slow or
//!   hostile client cannot hold the accept loop), yielding `tokio_rustls` streams that tonic
//!   serves with their certificates in each request's extensions.
//! - [`peer_names`] reads the DNS SANs of the verified client certificate.

mod files;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::Stream;
use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

pub use files::{TlsError, TlsFiles};

/// Installs ring as rustls' default provider; a no-op if one is already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The server side of mutual TLS, reloadable.
#[derive(Clone)]
pub struct ServerTls {
    files: TlsFiles,
    current: Arc<RwLock<(Arc<ServerConfig>, files::Stamp)>>,
}

impl ServerTls {
    /// Loads `files`; fails (naming the file) if any is missing or invalid.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        install_crypto_provider();
        let stamp = files.stamp();
        let config = files.server_config()?;
        Ok(Self {
            files,
            current: Arc::new(RwLock::new((config, stamp))),
        })
    }

    /// The config new connections use.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Rebuilds the config if a file's modification time or size changed. `Ok(true)`: new
    /// config in use; `Err`: the old one stays.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let stamp = self.files.stamp();
        if self.current.read().unwrap_or_else(|p| p.into_inner()).1 == stamp {
            return Ok(false);
        }
        self.reload_with(stamp).map(|()| true)
    }

    /// Rebuilds the config from the files now.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.reload_with(self.files.stamp())
    }

    fn reload_with(&self, stamp: files::Stamp) -> Result<(), TlsError> {
        let config = self.files.server_config()?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (config, stamp);
        tracing::info!(cert = %self.files.cert.display(), "TLS certificates reloaded");
        Ok(())
    }

    /// Checks the files every `every` and reloads on change, until the returned task is dropped
    /// or aborted.
    pub fn spawn_reloader(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.reload_every(every).await })
    }

    /// Checks the files every `every` and reloads on change, forever (select it against a
    /// shutdown signal).
    pub async fn reload_every(&self, every: Duration) {
        let mut failing = false;
        loop {
            tokio::time::sleep(every).await;
            match self.reload_if_changed() {
                Ok(_) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!(error = %crate::error_chain::ErrorChain(&e), "TLS reload failed: keeping the previous certificates");
                }
                Err(_) => {}
            }
        }
    }
}

/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepted connections with completed handshakes, for `serve_with_incoming`.
pub fn incoming(
    listener: TcpListener,
    tls: ServerTls,
) -> impl Stream<Item = Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            // Ends as soon as the server drops the stream (shutdown), not at the next accept.
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = tx.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
            let conn_tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = conn_tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => tracing::warn!(%peer, error = %e, "TLS handshake refused"),
                    Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                }
            });
            if tx.is_closed() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// The DNS SANs of a verified end-entity certificate (empty if it cannot be parsed).
pub fn peer_names(cert: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(c) => c.valid_dns_names().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}
