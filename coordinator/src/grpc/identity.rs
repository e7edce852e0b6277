//! Who is calling: a plain-fn interceptor puts a [`CallerIdentity`] into every request's
//! extensions, and write RPCs read it with [`caller`].
//!
//! Over mutual TLS the identity is the client certificate's first DNS SAN (the
//! [`super::authz::Peer`] the authorization layer recorded); in plaintext it is the peer
//! address (or `anonymous`).

use tonic::{Request, Status};

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity(pub String);

/// Inserts the caller's identity (today: its peer address) into the request's extensions.
pub fn identity_interceptor(mut req: Request<()>) -> Result<Request<()>, Status> {
    let who = req
        .remote_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "anonymous".to_owned());
    req.extensions_mut().insert(CallerIdentity(who));
    Ok(req)
}

/// The caller: the certificate name the authorization layer recorded, else the identity the
/// interceptor recorded (`anonymous` when none).
pub fn caller<T>(req: &Request<T>) -> String {
    if let Some(peer) = req.extensions().get::<super::authz::Peer>() {
        return peer.display.clone();
    }
    req.extensions()
        .get::<CallerIdentity>()
        .map(|c| c.0.clone())
        .unwrap_or_else(|| "anonymous".to_owned())
}
