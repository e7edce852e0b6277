//! Git access behind a small trait: listing a repository's refs without cloning (the
//! `git ls-remote` that PaaSTA did with dulwich). The production implementation is
//! [`Git2Source`]; tests use it too, against real repositories made with git2.

mod git2_source;
pub mod local;

use std::future::Future;
use std::time::Duration;

pub use git2_source::{Git2Source, list_refs_blocking, list_refs_libgit2};

/// One ref as a remote advertises it: `(name, 40-hex sha)`.
pub type RemoteRef = (String, String);

/// Lists the refs of a git repository by URL or path.
pub trait GitSource: Send + Sync + 'static {
    /// `git ls-remote <url>`: every advertised ref with its target, peeled entries (`^{}`)
    /// included. Never clones or fetches objects.
    fn list_refs(&self, url: &str)
    -> impl Future<Output = Result<Vec<RemoteRef>, GitError>> + Send;
}

/// Why a repository's refs could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// libgit2 refused or failed (unreachable host, no such repository, auth).
    #[error("unable to list remote refs of {url}")]
    ListRefs {
        /// The repository.
        url: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// The remote did not answer in time.
    #[error("listing remote refs of {url} timed out after {timeout:?}")]
    Timeout {
        /// The repository.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// The blocking task died.
    #[error("listing remote refs of {url} was aborted")]
    Aborted {
        /// The repository.
        url: String,
    },
}
