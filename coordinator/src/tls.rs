//! The process-wide rustls crypto provider (ring, the only one in the build). Installed once
//! before any TLS-capable client or server is built.

/// Installs ring as rustls' default provider; a no-op if one is already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
