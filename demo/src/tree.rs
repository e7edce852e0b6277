//! The demo's files: the example soa-configs of `deploy/examples/soa-configs` (embedded),
//! a system config for cluster `norcal-prod`, and one real bare git repository per service
//! with deploy and stop tags; plus "pushing" new tags the way `mark-for-deployment` and
//! `paasta stop` do.

use std::fs;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature};

use super::DemoError;

/// The demo's cluster (the example tree's `marathon-norcal-prod.yaml` files).
pub const CLUSTER: &str = "norcal-prod";

/// The example tree, embedded so the demo runs from any directory.
pub const EXAMPLE_FILES: &[(&str, &str)] = &[
    (
        "api/marathon-norcal-prod.yaml",
        include_str!("../../deploy/examples/soa-configs/api/marathon-norcal-prod.yaml"),
    ),
    (
        "api/service.yaml",
        include_str!("../../deploy/examples/soa-configs/api/service.yaml"),
    ),
    (
        "batch/chronos-norcal-prod.yaml",
        include_str!("../../deploy/examples/soa-configs/batch/chronos-norcal-prod.yaml"),
    ),
    (
        "batch/service.yaml",
        include_str!("../../deploy/examples/soa-configs/batch/service.yaml"),
    ),
    (
        "web/deploy.yaml",
        include_str!("../../deploy/examples/soa-configs/web/deploy.yaml"),
    ),
    (
        "web/marathon-norcal-prod.yaml",
        include_str!("../../deploy/examples/soa-configs/web/marathon-norcal-prod.yaml"),
    ),
    (
        "web/marathon-pnw-devc.yaml",
        include_str!("../../deploy/examples/soa-configs/web/marathon-pnw-devc.yaml"),
    ),
    (
        "web/monitoring.yaml",
        include_str!("../../deploy/examples/soa-configs/web/monitoring.yaml"),
    ),
    (
        "web/service.yaml",
        include_str!("../../deploy/examples/soa-configs/web/service.yaml"),
    ),
    (
        "web/smartstack.yaml",
        include_str!("../../deploy/examples/soa-configs/web/smartstack.yaml"),
    ),
];

/// Refs each example repository starts with: `(ref name, index of the commit it points at)`.
const INITIAL_REFS: &[(&str, &[(&str, usize)])] = &[
    (
        "web",
        &[
            ("refs/heads/master", 1),
            (
                "refs/tags/paasta-pnw-devc.everything-20161101T100000-deploy",
                1,
            ),
            (
                "refs/tags/paasta-norcal-prod.canary-20161101T110000-deploy",
                1,
            ),
            (
                "refs/tags/paasta-norcal-prod.everything-20161101T120000-deploy",
                0,
            ),
            ("refs/tags/paasta-pnw-devc.main-20161102T090000-stop", 1),
        ],
    ),
    (
        "api",
        &[
            ("refs/heads/master", 0),
            (
                "refs/tags/paasta-norcal-prod.main-20161101T100000-deploy",
                0,
            ),
        ],
    ),
    (
        "batch",
        &[
            ("refs/heads/master", 0),
            (
                "refs/tags/paasta-norcal-prod.nightly-20161101T100000-deploy",
                0,
            ),
        ],
    ),
];

/// The demo's work tree.
#[derive(Debug, Clone)]
pub struct DemoTree {
    /// `<root>/soa`: the soa-configs.
    pub soa_dir: PathBuf,
    /// `<root>/repos`: one bare repository per service.
    pub repos: PathBuf,
    /// `<root>/etc-paasta`: the system config (cluster, docker registry).
    pub system_config_dir: PathBuf,
}

/// Lays out the example soa-configs under `root/soa` (with `git_url` pointing at local
/// repositories under `root/repos`) and creates the repositories with their initial refs.
pub fn prepare(root: &Path) -> Result<DemoTree, DemoError> {
    let tree = DemoTree {
        soa_dir: root.join("soa"),
        repos: root.join("repos"),
        system_config_dir: root.join("etc-paasta"),
    };
    write_system_config(&tree.system_config_dir)?;
    for (rel, text) in EXAMPLE_FILES {
        let path = tree.soa_dir.join(rel);
        let io = |source| DemoError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(path.parent().expect("file has a parent")).map_err(io)?;
        let mut text = text.to_string();
        if rel.ends_with("/service.yaml") {
            let service = rel.split('/').next().expect("service dir");
            // The emulated slaves run no hacheck: drain with noop instead of smartstack's
            // default hacheck, or bounces would wait forever for a safe-to-kill answer.
            text.push_str(&format!(
                "git_url: {}\ndrain_method: noop\n",
                tree.repos.join(format!("{service}.git")).display()
            ));
        }
        fs::write(&path, text).map_err(io)?;
    }
    for (service, refs) in INITIAL_REFS {
        let path = tree.repos.join(format!("{service}.git"));
        let git = |source| DemoError::Git {
            repo: path.clone(),
            source,
        };
        let repo = Repository::init_bare(&path).map_err(git)?;
        let commits = (0..3)
            .map(|i| commit(&repo, &format!("{service} release {i}")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(git)?;
        for (name, i) in *refs {
            repo.reference(name, commits[*i], true, "demo")
                .map_err(git)?;
        }
    }
    Ok(tree)
}

/// `cluster.json` and `docker.json` as `/etc/paasta` would hold them.
fn write_system_config(dir: &Path) -> Result<(), DemoError> {
    let io = |source| DemoError::Io {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    fs::write(
        dir.join("cluster.json"),
        format!("{{\"cluster\": \"{CLUSTER}\"}}\n"),
    )
    .map_err(io)?;
    fs::write(
        dir.join("docker.json"),
        "{\"docker_registry\": \"docker-registry.example.com:443\", \"volumes\": []}\n",
    )
    .map_err(io)
}

/// Commits a new release to `service`'s repository and points `tag` at it (a push of
/// `mark-for-deployment`); returns the new sha.
pub fn push_release(tree: &DemoTree, service: &str, tag: &str) -> Result<Oid, DemoError> {
    let path = tree.repos.join(format!("{service}.git"));
    let git = |source| DemoError::Git {
        repo: path.clone(),
        source,
    };
    let repo = Repository::open_bare(&path).map_err(git)?;
    let sha = commit(&repo, &format!("{service} release at {tag}")).map_err(git)?;
    repo.reference(tag, sha, true, "demo").map_err(git)?;
    Ok(sha)
}

/// Points `tag` at the commit `deployed_tag` points at (a push of `paasta stop`/`start`).
pub fn push_control(
    tree: &DemoTree,
    service: &str,
    deployed_tag: &str,
    tag: &str,
) -> Result<Oid, DemoError> {
    let path = tree.repos.join(format!("{service}.git"));
    let git = |source| DemoError::Git {
        repo: path.clone(),
        source,
    };
    let repo = Repository::open_bare(&path).map_err(git)?;
    let sha = repo
        .find_reference(deployed_tag)
        .and_then(|r| r.peel_to_commit())
        .map_err(git)?
        .id();
    repo.reference(tag, sha, true, "demo").map_err(git)?;
    Ok(sha)
}

fn commit(repo: &Repository, message: &str) -> Result<Oid, git2::Error> {
    let blob = repo.blob(message.as_bytes())?;
    let mut tb = repo.treebuilder(None)?;
    tb.insert("RELEASE", blob, 0o100644)?;
    let tree = repo.find_tree(tb.write()?)?;
    let sig = Signature::new(
        "Galley Demo",
        "demo@example.com",
        &git2::Time::new(1_480_000_000, 0),
    )?;
    repo.commit(None, &sig, &sig, message, &tree, &[])
}
