//! Which services changed under the soa dir since desired state was last read: the watcher
//! records the service directory of every changed path, so a pass re-reads those services
//! only ([`crate::desired::update_desired`]). Anything it cannot attribute to one service (a
//! change at the root, a watcher error or queue overflow, too many services at once) asks for
//! a full read.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::error_chain::ErrorChain;

/// Past this many changed services a full read is as cheap and simpler.
const MAX_TRACKED: usize = 1000;

/// What changed since the last [`SoaChanges::take`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Changed {
    /// Re-read everything.
    pub(crate) all: bool,
    /// Re-read these services.
    pub(crate) services: BTreeSet<String>,
}

/// The changes recorded by the watcher; shared with its callback.
#[derive(Debug)]
pub(crate) struct SoaChanges {
    root: PathBuf,
    changed: Mutex<Changed>,
}

impl SoaChanges {
    /// Tracks changes under `root`; starts with "everything changed" (nothing read yet).
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            changed: Mutex::new(Changed {
                all: true,
                services: BTreeSet::new(),
            }),
        }
    }

    /// Records one changed path (absolute, under the root), or a full read when `None`.
    pub(crate) fn record(&self, path: Option<&Path>) {
        let service = path.and_then(|p| service_of(&self.root, p));
        let mut c = self.changed.lock().unwrap_or_else(|p| p.into_inner());
        match service {
            Some(Service::Hidden) => {}
            Some(Service::Named(s)) if c.services.len() < MAX_TRACKED => {
                c.services.insert(s);
            }
            _ => c.all = true,
        }
    }

    /// What changed, resetting the record (changes from now on are recorded again).
    pub(crate) fn take(&self) -> Changed {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

enum Service {
    Named(String),
    Hidden,
}

/// The service directory `path` lies in, `None` when it is the root itself or outside it.
fn service_of(root: &Path, path: &Path) -> Option<Service> {
    let rel = path.strip_prefix(root).ok()?;
    match rel.components().next()? {
        Component::Normal(name) => {
            let name = name.to_str()?;
            Some(if name.starts_with('.') {
                Service::Hidden
            } else {
                Service::Named(name.to_owned())
            })
        }
        _ => None,
    }
}

/// Watches `changes`' root recursively; every change is recorded and sends (coalesced) on
/// `tx`. A watcher that cannot be set up is logged: the periodic pass still runs.
pub(crate) fn watch_dir(
    changes: Arc<SoaChanges>,
    tx: mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = changes.root.clone();
    let record = changes.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        match res {
            Ok(event) if event.kind.is_access() => return,
            Ok(event) if !event.need_rescan() && !event.paths.is_empty() => {
                for p in &event.paths {
                    record.record(Some(p));
                }
            }
            // An error, a rescan (e.g. a queue overflow) or an event without paths: re-read all.
            _ => record.record(None),
        }
        let _ = tx.try_send(());
    })
    .map_err(|e| tracing::warn!(error = %ErrorChain(&e), "cannot watch the soa dir; relying on periodic passes"))
    .ok()?;
    match watcher.watch(&dir, notify::RecursiveMode::Recursive) {
        Ok(()) => Some(watcher),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %ErrorChain(&e), "cannot watch the soa dir; relying on periodic passes");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_attributed_to_their_service() {
        let root = Path::new("/soa");
        let c = SoaChanges::new(root);
        assert!(c.take().all, "nothing read yet: everything");
        assert_eq!(c.take(), Changed::default());
        c.record(Some(Path::new("/soa/web/marathon-norcal.yaml")));
        c.record(Some(Path::new("/soa/api/deployments.json")));
        c.record(Some(Path::new("/soa/api")));
        c.record(Some(Path::new("/soa/.git/index")));
        let got = c.take();
        assert!(!got.all);
        assert_eq!(got.services.into_iter().collect::<Vec<_>>(), ["api", "web"]);
        for unclear in [
            None,
            Some(Path::new("/soa")),
            Some(Path::new("/elsewhere/x")),
        ] {
            c.record(unclear);
            assert!(c.take().all, "{unclear:?}");
        }
        for i in 0..=MAX_TRACKED {
            c.record(Some(&Path::new("/soa").join(format!("s{i}"))));
        }
        assert!(c.take().all, "too many services: a full read");
    }
}
