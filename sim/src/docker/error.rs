//! Engine errors (each `Display` is dockerd's exact `message` text) and 304 outcomes.

use super::filters::FilterError;

/// An error the engine answers with; `Display` is dockerd's exact `message` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("No such container: {given}")]
    NoSuchContainer { given: String },
    #[error("multiple IDs found with provided prefix: {given}")]
    AmbiguousPrefix { given: String },
    #[error("Cannot kill container: {given}: {reason}")]
    Kill { given: String, reason: KillFailure },
    #[error("Invalid signal: {raw}")]
    InvalidSignal { raw: String },
    #[error(
        "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
    )]
    RemoveRunning { id: String },
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameConflict { name: String, id: String },
    #[error("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName { name: String },
    #[error("Conflict, cannot remove the default link name of the container")]
    DefaultLink,
    #[error("no such container {given}")]
    FilterReference { given: String },
    #[error(transparent)]
    Filter(#[from] FilterError),
}

/// Why `kill` failed, as the second part of `Cannot kill container: <id>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KillFailure {
    #[error("No such container: {given}")]
    NoSuchContainer { given: String },
    #[error("multiple IDs found with provided prefix: {given}")]
    AmbiguousPrefix { given: String },
    #[error("Container {id} is not running")]
    NotRunning { id: String },
    #[error("The linux daemon does not support signal {signal}")]
    UnsupportedSignal { signal: i64 },
}

impl EngineError {
    /// The HTTP status dockerd 20.10 answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NoSuchContainer { .. } | Self::FilterReference { .. } => 404,
            Self::AmbiguousPrefix { .. } | Self::DefaultLink => 500,
            Self::Kill { reason, .. } => match reason {
                KillFailure::NoSuchContainer { .. } => 404,
                KillFailure::NotRunning { .. } => 409,
                KillFailure::AmbiguousPrefix { .. } | KillFailure::UnsupportedSignal { .. } => 500,
            },
            Self::InvalidSignal { .. } | Self::InvalidName { .. } => 400,
            Self::RemoveRunning { .. } | Self::NameConflict { .. } => 409,
            Self::Filter(e) => e.http_status(),
        }
    }
}

/// The result of an operation that dockerd may answer with 304 Not Modified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 204.
    Done,
    /// 304: already in the requested state (stop of a stopped container, start of a running one).
    NotModified,
}
