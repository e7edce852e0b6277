//! `galley-coordinator demo`: the embedded default. Until the emulated cluster exists, it
//! shows the desired-state pipeline end to end: the example soa-configs shipped in
//! `deploy/examples/soa-configs` are laid out in a work dir, each service gets a real local
//! git repository with deploy and stop tags, `generate-deployments` runs over them, and then a
//! new deploy tag is "pushed" and generation runs again, rewriting only what changed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use git2::{Oid, Repository, Signature};

use crate::atomic::Durability;
use crate::generate::{GenerateOptions, GenerateReport, generate_all};
use crate::git::Git2Source;

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

/// A demo step failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Laying out files failed.
    #[error("demo: cannot write {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A git operation on the demo repositories failed.
    #[error("demo: git operation on {repo} failed")]
    Git {
        /// The repository.
        repo: PathBuf,
        /// Why.
        #[source]
        source: git2::Error,
    },
    /// The soa dir could not be listed.
    #[error(transparent)]
    Generate(#[from] crate::soa_dir::SoaReadError),
}

/// The demo's work tree.
#[derive(Debug, Clone)]
pub struct DemoTree {
    /// `<root>/soa`: the soa-configs.
    pub soa_dir: PathBuf,
    /// `<root>/repos`: one bare repository per service.
    pub repos: PathBuf,
}

/// Lays out the example soa-configs under `root/soa` (with `git_url` pointing at local
/// repositories under `root/repos`) and creates the repositories with their initial refs.
pub fn prepare(root: &Path) -> Result<DemoTree, DemoError> {
    let tree = DemoTree {
        soa_dir: root.join("soa"),
        repos: root.join("repos"),
    };
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
            text.push_str(&format!(
                "git_url: {}\n",
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

/// Runs the scripted demo, printing to `out`.
pub async fn run(root: &Path, out: &mut (impl Write + Send)) -> Result<(), DemoError> {
    let tree = prepare(root)?;
    let git = Arc::new(Git2Source::new(Duration::from_secs(10)));
    let opts = GenerateOptions {
        soa_dir: tree.soa_dir.clone(),
        services: vec![],
        jobs: 4,
        legacy_branches: false,
        durability: Durability::NoFsync,
    };
    let _ = writeln!(
        out,
        "Galley demo: soa-configs in {}, git repositories in {}\n",
        tree.soa_dir.display(),
        tree.repos.display()
    );
    let report = generate_all(&opts, git.clone()).await?;
    print_report(out, &tree, &report);

    let path = tree.repos.join("web.git");
    let repo = Repository::open_bare(&path).map_err(|source| DemoError::Git {
        repo: path.clone(),
        source,
    })?;
    let sha = commit(&repo, "web release 3").map_err(|source| DemoError::Git {
        repo: path.clone(),
        source,
    })?;
    let tag = "refs/tags/paasta-norcal-prod.canary-20161103T150000-deploy";
    repo.reference(tag, sha, true, "demo")
        .map_err(|source| DemoError::Git {
            repo: path.clone(),
            source,
        })?;
    let _ = writeln!(
        out,
        "\n== pushed {tag} -> {sha} (mark-for-deployment of web's canary)\n"
    );
    let report = generate_all(&opts, git).await?;
    print_report(out, &tree, &report);
    Ok(())
}

fn print_report(out: &mut impl Write, tree: &DemoTree, report: &GenerateReport) {
    let _ = writeln!(
        out,
        "generate-deployments: {} services in {} ms: {} written, {} unchanged, {} failed",
        report.services.len(),
        report.elapsed.as_millis(),
        report.written(),
        report.unchanged(),
        report.failed()
    );
    for s in &report.services {
        let path = tree.soa_dir.join(&s.service).join("deployments.json");
        let body = fs::read_to_string(&path).unwrap_or_default();
        let pretty = serde_json::from_str::<serde_json::Value>(&body)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or(body);
        let _ = writeln!(
            out,
            "\n--- {} ({:?})\n{pretty}",
            path.display(),
            s.outcome.as_ref().map_err(|e| e.to_string())
        );
    }
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
