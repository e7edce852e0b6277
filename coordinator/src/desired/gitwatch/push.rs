//! The blocking git2 half of tag writing: make sure the commit is known, then push exactly one
//! new ref (`<sha>:refs/tags/...`, never forced) to the service's repository.
//!
//! A local repository (a path or `file://`) is checked and pushed from directly. A remote one is
//! first fetched into a bare mirror under `mirror_dir` (heads and tags only), which both proves
//! the commit exists there and gives libgit2 the objects a push needs. One ref per push: the
//! server applies it or refuses it, so there is never a half-written state.

use std::path::{Path, PathBuf};

use git2::{Cred, CredentialType, Oid, PushOptions, RemoteCallbacks, Repository};

use crate::git::local::local_git_dir;

/// How pushes and mirror fetches authenticate.
#[derive(Debug, Clone, Default)]
pub struct PushCredentials {
    /// SSH private key file (else the ssh agent).
    pub ssh_key: Option<PathBuf>,
    /// SSH user name when the URL names none.
    pub ssh_user: String,
    /// `user`, `password` for https.
    pub user_pass: Option<(String, String)>,
}

/// Why a push did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The commit is not in the repository.
    #[error("commit {sha} is not in {url}")]
    ShaNotInRepo {
        /// The repository.
        url: String,
        /// The commit asked for.
        sha: String,
    },
    /// The server refused the ref update.
    #[error("push of {ref_name} to {url} was rejected: {reason}")]
    Rejected {
        /// The repository.
        url: String,
        /// The ref.
        ref_name: String,
        /// The server's (or libgit2's) reason.
        reason: String,
    },
    /// Opening, fetching or pushing failed (unreachable, auth, I/O).
    #[error("git {op} on {url} failed")]
    Git {
        /// `open`, `fetch`, `push`, ...
        op: &'static str,
        /// The repository.
        url: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
}

/// Pushes `ref_name` → `sha` to `url`. `sha` must be 40 hex digits.
pub fn push_tag_blocking(
    url: &str,
    ref_name: &str,
    sha: &str,
    credentials: &PushCredentials,
    mirror_dir: &Path,
) -> Result<(), PushError> {
    let git = |op: &'static str| {
        move |source: git2::Error| PushError::Git {
            op,
            url: url.to_string(),
            source,
        }
    };
    let repo = match local_git_dir(url) {
        Some(dir) => Repository::open_bare(&dir)
            .or_else(|_| Repository::open(&dir))
            .map_err(git("open"))?,
        None => {
            let repo = open_mirror(url, mirror_dir).map_err(git("open mirror"))?;
            fetch_mirror(&repo, url, credentials).map_err(git("fetch"))?;
            repo
        }
    };
    let oid = Oid::from_str(sha).map_err(git("parse sha"))?;
    if repo.find_commit(oid).is_err() {
        return Err(PushError::ShaNotInRepo {
            url: url.to_string(),
            sha: sha.to_string(),
        });
    }
    let mut remote = repo.remote_anonymous(url).map_err(git("remote"))?;
    let mut rejection: Option<String> = None;
    let mut callbacks = callbacks(credentials);
    callbacks.push_update_reference(|_name, status| {
        if let Some(msg) = status {
            rejection = Some(msg.to_string());
        }
        Ok(())
    });
    let mut opts = PushOptions::new();
    opts.remote_callbacks(callbacks);
    let pushed = remote.push(&[format!("{sha}:{ref_name}")], Some(&mut opts));
    drop(opts);
    match pushed {
        Err(e) if is_rejection(&e) => Err(PushError::Rejected {
            url: url.to_string(),
            ref_name: ref_name.to_string(),
            reason: e.message().to_string(),
        }),
        Err(e) => Err(git("push")(e)),
        Ok(()) => match rejection {
            Some(reason) => Err(PushError::Rejected {
                url: url.to_string(),
                ref_name: ref_name.to_string(),
                reason,
            }),
            None => Ok(()),
        },
    }
}

/// libgit2 reports a refused update of an existing ref as a reference error.
fn is_rejection(e: &git2::Error) -> bool {
    e.class() == git2::ErrorClass::Reference
        || e.message().contains("non-fastforward")
        || e.message().contains("already exists")
}

/// Credentials callbacks shared by fetch and push.
fn callbacks(credentials: &PushCredentials) -> RemoteCallbacks<'_> {
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |_url, username, allowed| {
        let user = username.unwrap_or(&credentials.ssh_user);
        if allowed.contains(CredentialType::SSH_KEY) {
            match &credentials.ssh_key {
                Some(key) => Cred::ssh_key(user, None, key, None),
                None => Cred::ssh_key_from_agent(user),
            }
        } else if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
            && let Some((u, p)) = &credentials.user_pass
        {
            Cred::userpass_plaintext(u, p)
        } else {
            Cred::default()
        }
    });
    cb
}

fn open_mirror(url: &str, mirror_dir: &Path) -> Result<Repository, git2::Error> {
    let name: String = url
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = mirror_dir.join(format!("{name}.git"));
    Repository::open_bare(&path).or_else(|_| Repository::init_bare(&path))
}

fn fetch_mirror(
    repo: &Repository,
    url: &str,
    credentials: &PushCredentials,
) -> Result<(), git2::Error> {
    let mut remote = repo.remote_anonymous(url)?;
    let mut opts = git2::FetchOptions::new();
    opts.remote_callbacks(callbacks(credentials));
    remote.fetch(
        &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
        Some(&mut opts),
        None,
    )
}
