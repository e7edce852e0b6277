//! Who is calling: write RPCs read it with [`caller`] from the [`super::authz::Peer`] the
//! authorization layer puts into every request: over mutual TLS the client certificate's
//! first DNS SAN; in plaintext the peer address (or `anonymous`).

use tonic::Request;

/// The caller as the authorization layer recorded it (`anonymous` when none).
pub fn caller<T>(req: &Request<T>) -> String {
    req.extensions()
        .get::<super::authz::Peer>()
        .map(|peer| peer.display.clone())
        .unwrap_or_else(|| "anonymous".to_owned())
}
