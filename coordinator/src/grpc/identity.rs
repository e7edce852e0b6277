//! Who is calling: a plain-fn interceptor puts a [`CallerIdentity`] into every request's
//! extensions, and write RPCs read it with [`caller`].
//!
//! Until mTLS lands (issue 8) the identity is the peer address (or `anonymous`); switching to
//! the client certificate's subject changes only [`identity_interceptor`].

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

/// The identity the interceptor recorded (`anonymous` when none).
pub fn caller<T>(req: &Request<T>) -> String {
    req.extensions()
        .get::<CallerIdentity>()
        .map(|c| c.0.clone())
        .unwrap_or_else(|| "anonymous".to_owned())
}
