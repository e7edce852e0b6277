//! The one HTTP client builder of the observed-state clients (Marathon, Mesos, hacheck,
//! haproxy): rustls on ring, a whole-request timeout, and a connect timeout no longer than it.

use std::time::Duration;

/// A client whose requests time out after `timeout` (also the connect timeout), following at
/// most `redirects` redirects (Mesos followers redirect to the leading master).
pub fn client(timeout: Duration, redirects: usize) -> reqwest::Client {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(redirects))
        .build()
        .expect("reqwest client with a crypto provider installed")
}

/// A client for long-lived streams (Marathon's events): a connect timeout but no request
/// timeout, and TCP keep-alives so a dead peer is noticed.
pub fn streaming_client(connect_timeout: Duration) -> reqwest::Client {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .tcp_keepalive(Duration::from_secs(30))
        .build()
        .expect("reqwest client with a crypto provider installed")
}
