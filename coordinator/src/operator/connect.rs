//! Dialing a coordinator's gRPC port: `HOST:PORT` (or a URL), plaintext without TLS files,
//! mutual TLS with them. The server name checked is the address's host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use galley_proto::v1::coordinator_service_client::CoordinatorServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The client side of mutual TLS: the CA that signed the coordinator's certificate, and this
/// operator's certificate and key (grpcurl's `-cacert`, `-cert`, `-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// CA bundle (PEM).
    pub ca: PathBuf,
    /// Client certificate (PEM); `None`: no client certificate.
    pub cert: Option<PathBuf>,
    /// Its key (PEM).
    pub key: Option<PathBuf>,
}

/// Why a coordinator could not be dialed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is not `HOST:PORT` or a URL.
    #[error("server address {addr:?} is not HOST:PORT")]
    Address {
        /// As given.
        addr: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A TLS file could not be read.
    #[error("cannot read {path}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--cert` without `--key` or the other way round.
    #[error("--cert and --key go together")]
    HalfIdentity,
    /// The TLS settings were refused.
    #[error("TLS settings for {addr}")]
    Tls {
        /// The server.
        addr: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The connection failed (refused, handshake, timeout).
    #[error("cannot connect to {addr}")]
    Connect {
        /// The server.
        addr: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
}

/// The URL of `addr` (`HOST:PORT` gets `http://` or, with TLS, `https://`).
pub fn url(addr: &str, tls: bool) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else if tls {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    }
}

/// Dials `addr` (5 s to connect, `timeout` per call); mutual TLS when `tls` is given.
pub async fn connect(
    addr: &str,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> Result<CoordinatorServiceClient<Channel>, ConnectError> {
    let url = url(addr, tls.is_some());
    let mut endpoint = Endpoint::from_shared(url).map_err(|source| ConnectError::Address {
        addr: addr.to_owned(),
        source,
    })?;
    endpoint = endpoint
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls_config(tls)?)
            .map_err(|source| ConnectError::Tls {
                addr: addr.to_owned(),
                source,
            })?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| ConnectError::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    Ok(CoordinatorServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

fn tls_config(tls: &ClientTls) -> Result<ClientTlsConfig, ConnectError> {
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&tls.ca)?));
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        (None, None) => {}
        _ => return Err(ConnectError::HalfIdentity),
    }
    Ok(config)
}

fn read(path: &Path) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|source| ConnectError::TlsFile {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn addresses_become_urls_with_the_scheme_tls_implies() {
        assert_eq!(url("localhost:50051", false), "http://localhost:50051");
        assert_eq!(url("master1:7070", true), "https://master1:7070");
        assert_eq!(url("https://master1:7070", false), "https://master1:7070");
    }
}
