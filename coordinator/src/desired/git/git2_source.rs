//! [`GitSource`] over libgit2: a detached remote, `connect`, `list` — no clone, no object
//! transfer. Each call runs on tokio's blocking pool under a timeout.

use std::sync::Once;
use std::time::Duration;

use git2::{Cred, Direction, Remote, RemoteCallbacks};

use super::{GitError, GitSource, RemoteRef};

/// libgit2-backed ref listing with a per-repository timeout.
#[derive(Debug, Clone)]
pub struct Git2Source {
    timeout: Duration,
}

impl Git2Source {
    /// A source whose every listing gives up after `timeout`. The timeout is also handed to
    /// libgit2 as its socket timeout, so a hung remote frees its thread too.
    pub fn new(timeout: Duration) -> Self {
        set_libgit2_timeouts(timeout);
        Self { timeout }
    }

    /// The per-repository timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl GitSource for Git2Source {
    async fn list_refs(&self, url: &str) -> Result<Vec<RemoteRef>, GitError> {
        let owned = url.to_string();
        let task = tokio::task::spawn_blocking(move || list_refs_blocking(&owned));
        match tokio::time::timeout(self.timeout, task).await {
            Err(_) => Err(GitError::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
            }),
            Ok(Err(_join)) => Err(GitError::Aborted {
                url: url.to_string(),
            }),
            Ok(Ok(result)) => result.map_err(|source| GitError::ListRefs {
                url: url.to_string(),
                source,
            }),
        }
    }
}

/// The blocking half: the local fast path where it applies, else libgit2's transport.
pub fn list_refs_blocking(url: &str) -> Result<Vec<RemoteRef>, git2::Error> {
    if let Some(refs) =
        super::local::local_git_dir(url).and_then(|dir| super::local::list_refs(&dir))
    {
        return Ok(refs);
    }
    list_refs_libgit2(url)
}

/// `git ls-remote` through libgit2's transports (local, ssh, git://).
pub fn list_refs_libgit2(url: &str) -> Result<Vec<RemoteRef>, git2::Error> {
    let mut remote = Remote::create_detached(url)?;
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(|_url, username, allowed| {
        if allowed.contains(git2::CredentialType::SSH_KEY) {
            Cred::ssh_key_from_agent(username.unwrap_or("git"))
        } else {
            Cred::default()
        }
    });
    let connection = remote.connect_auth(Direction::Fetch, Some(callbacks), None)?;
    let refs = connection
        .list()?
        .iter()
        .map(|head| (head.name().to_string(), head.oid().to_string()))
        .collect();
    Ok(refs)
}

/// Sets libgit2's global connect and read timeouts once per process.
#[allow(unsafe_code)]
fn set_libgit2_timeouts(timeout: Duration) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ms = i32::try_from(timeout.as_millis())
            .unwrap_or(i32::MAX)
            .max(1);
        // SAFETY: these only store an int in libgit2's global settings. They run once, before any
        // listing this process starts (the constructor runs before `list_refs`), so no libgit2
        // network operation reads the values concurrently.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms);
            let _ = git2::opts::set_server_timeout_in_milliseconds(ms);
        }
    });
}
