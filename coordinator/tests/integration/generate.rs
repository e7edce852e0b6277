//! generate-deployments on real git repositories (spec §8 items 1–10), through the library.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use galley_coordinator::atomic::{Durability, WriteOutcome};
use galley_coordinator::generate::{GenerateOptions, ServiceError, generate_all};
use galley_coordinator::git::{Git2Source, GitError, GitSource, RemoteRef};
use serde_json::json;

use crate::fixtures::{SoaTree, TestRepo};

/// The real libgit2 source, counting how often each run lists refs.
struct Counting {
    inner: Git2Source,
    calls: AtomicUsize,
}

impl GitSource for Counting {
    async fn list_refs(&self, url: &str) -> Result<Vec<RemoteRef>, GitError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.list_refs(url).await
    }
}

fn git() -> Arc<Counting> {
    Arc::new(Counting {
        inner: Git2Source::new(Duration::from_secs(10)),
        calls: AtomicUsize::new(0),
    })
}

fn opts(soa: &SoaTree, legacy: bool) -> GenerateOptions {
    GenerateOptions {
        soa_dir: soa.root.clone(),
        services: vec![],
        jobs: 4,
        legacy_branches: legacy,
        durability: Durability::Fsync,
        stamps: false,
    }
}

fn service_yaml(repo: &TestRepo) -> String {
    format!("git_url: {}\n", repo.path.display())
}

#[tokio::test]
async fn deploy_groups_and_control_tags_on_a_real_repo() {
    // §8 item 5 (+ unrelated tags and branches).
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = TestRepo::bare(&tmp.path().join("fake_service.git"));
    let (a, b) = (repo.commit("a"), repo.commit("b"));
    repo.set_ref("refs/heads/master", &a)
        .set_ref("refs/tags/paasta-try_me-20160308T053933-deploy", &a)
        .set_ref("refs/tags/paasta-clusterB.main-123-stop", &a)
        .set_ref("refs/tags/paasta-no_thanks-20160308T053933-deploy", &b)
        .set_ref("refs/tags/v1.0", &b);
    let soa = SoaTree::new(&tmp.path().join("soa"));
    soa.file("fake_service", "service.yaml", &service_yaml(&repo))
        .file(
            "fake_service",
            "marathon-clustera.yaml",
            "main:\n  deploy_group: no_thanks\n",
        )
        .file(
            "fake_service",
            "marathon-clusterb.yaml",
            "main:\n  deploy_group: try_me\n",
        );
    // Cluster names are lower case in file names; use matching control branches in the tags.
    repo.set_ref("refs/tags/paasta-clusterb.main-123-stop", &a);
    let git = git();
    let report = generate_all(&opts(&soa, false), git.clone())
        .await
        .expect("run");
    assert_eq!(report.failed(), 0, "{report:?}");
    assert_eq!(
        git.calls.load(Ordering::SeqCst),
        1,
        "exactly one ref listing per service"
    );
    let img = |sha: &str| format!("services-fake_service:paasta-{sha}");
    assert_eq!(
        soa.deployments("fake_service"),
        json!({
            "v1": {
                "fake_service:paasta-clustera.main": {"docker_image": img(&b), "desired_state": "start", "force_bounce": null},
                "fake_service:paasta-clusterb.main": {"docker_image": img(&a), "desired_state": "stop", "force_bounce": "123"},
            },
            "v2": {
                "deployments": {
                    "no_thanks": {"docker_image": img(&b), "git_sha": b},
                    "try_me": {"docker_image": img(&a), "git_sha": a},
                },
                "controls": {
                    "fake_service:clustera.main": {"desired_state": "start", "force_bounce": null},
                    "fake_service:clusterb.main": {"desired_state": "stop", "force_bounce": "123"},
                },
            },
        })
    );
}

#[tokio::test]
async fn paasta_0_19_9_local_run_cases() {
    // §8 items 6, 8, 10: latest deploy tag wins; stop on the deployed sha applies; a later start
    // on an older sha does not; a group without deploy tag is omitted; double prefix honoured.
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = TestRepo::bare(&tmp.path().join("svc.git"));
    let (old, new) = (repo.commit("old"), repo.commit("new"));
    repo.set_ref("refs/tags/paasta-prod-20160101T000000-deploy", &old)
        .set_ref("refs/tags/paasta-prod-20160301T000000-deploy", &new)
        .set_ref("refs/tags/paasta-c1.main-20160302T000000-stop", &new)
        .set_ref("refs/tags/paasta-c1.main-20160401T000000-start", &old)
        .set_ref(
            "refs/tags/paasta-paasta-c1.batch-20160303T000000-stop",
            &new,
        );
    let soa = SoaTree::new(&tmp.path().join("soa"));
    soa.file(
        "svc",
        "service.yaml",
        &format!("{}deploy_group: prod\n", service_yaml(&repo)),
    )
    .file(
        "svc",
        "marathon-c1.yaml",
        "main: {}\nbatch: {}\ncanary:\n  deploy_group: canary\n",
    )
    .file("empty", "service.yaml", "description: no instances\n");
    let report = generate_all(&opts(&soa, false), git()).await.expect("run");
    assert_eq!(report.failed(), 0, "{report:?}");
    let d = soa.deployments("svc");
    assert_eq!(
        d["v1"]["svc:paasta-c1.main"]["docker_image"],
        json!(format!("services-svc:paasta-{new}"))
    );
    assert_eq!(
        d["v1"]["svc:paasta-c1.main"]["desired_state"],
        json!("stop")
    );
    assert_eq!(
        d["v1"]["svc:paasta-c1.batch"]["desired_state"],
        json!("stop"),
        "double prefix"
    );
    assert!(
        d["v1"].get("svc:paasta-c1.canary").is_none(),
        "group without a deploy tag is omitted"
    );
    assert_eq!(
        soa.deployments("empty"),
        json!({"v1": {}, "v2": {"deployments": {}, "controls": {}}})
    );
}

#[tokio::test]
async fn legacy_branches_follow_era_a_discovery() {
    // §8 items 1 and 2: `branch` keys, dashed cluster names, era-A control tags.
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = TestRepo::bare(&tmp.path().join("dos.git"));
    let (s1, s2) = (repo.commit("1"), repo.commit("2"));
    repo.set_ref("refs/heads/ranch", &s1)
        .set_ref("refs/tags/paasta-ranch-123-stop", &s1)
        .set_ref("refs/heads/paasta-boston-devc-with-extra-dashes.test2", &s2);
    let soa = SoaTree::new(&tmp.path().join("soa"));
    soa.file("dos", "service.yaml", &service_yaml(&repo)).file(
        "dos",
        "marathon-boston-devc-with-extra-dashes.yaml",
        "test1: {branch: ranch}\ntest2: {}\ntest3: {}\n",
    );
    let report = generate_all(&opts(&soa, false), git()).await.expect("run");
    assert_eq!(report.failed(), 0);
    assert_eq!(
        soa.deployments("dos")["v1"],
        json!({}),
        "without the flag branches deploy nothing (0.19.9)"
    );
    let report = generate_all(&opts(&soa, true), git()).await.expect("run");
    assert_eq!(report.written(), 1);
    let v1 = &soa.deployments("dos")["v1"];
    assert_eq!(
        v1["dos:ranch"],
        json!({"docker_image": format!("services-dos:paasta-{s1}"), "desired_state": "stop", "force_bounce": "123"})
    );
    assert_eq!(
        v1["dos:paasta-boston-devc-with-extra-dashes.test2"],
        json!({"docker_image": format!("services-dos:paasta-{s2}"), "desired_state": "start", "force_bounce": null})
    );
    assert_eq!(
        v1.as_object().expect("object").len(),
        2,
        "test3 has no branch on the remote: skipped"
    );
}

#[tokio::test]
async fn annotated_deploy_tags_deploy_the_commit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = TestRepo::bare(&tmp.path().join("svc.git"));
    let sha = repo.commit("x");
    let tag_obj = repo.annotated_tag("paasta-c1.main-20160101T000000-deploy", &sha);
    assert_ne!(tag_obj, sha);
    let soa = SoaTree::new(&tmp.path().join("soa"));
    soa.file("svc", "service.yaml", &service_yaml(&repo)).file(
        "svc",
        "marathon-c1.yaml",
        "main: {}\n",
    );
    generate_all(&opts(&soa, false), git()).await.expect("run");
    assert_eq!(
        soa.deployments("svc")["v2"]["deployments"]["c1.main"]["git_sha"],
        json!(sha)
    );
}

#[tokio::test]
async fn broken_services_keep_their_old_file_and_do_not_stop_the_others() {
    // §8 items 4 and 10: the legacy flat file of a healthy service is rewritten in v1/v2 form;
    // an unreachable repo and a broken YAML leave their old files untouched.
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = TestRepo::bare(&tmp.path().join("good.git"));
    let sha = repo.commit("good");
    repo.set_ref("refs/tags/paasta-c1.main-20160101T000000-deploy", &sha);
    let soa = SoaTree::new(&tmp.path().join("soa"));
    soa.file("good", "service.yaml", &service_yaml(&repo))
        .file("good", "marathon-c1.yaml", "main: {}\n")
        .file("good", "deployments.json", r#"{"OLD_MAP": "PINGS"}"#)
        .file(
            "gone",
            "service.yaml",
            &format!("git_url: {}\n", tmp.path().join("missing.git").display()),
        )
        .file("gone", "marathon-c1.yaml", "main: {}\n")
        .file("gone", "deployments.json", "OLD GONE")
        .file("yaml", "service.yaml", &service_yaml(&repo))
        .file("yaml", "marathon-c1.yaml", "main: [unclosed\n")
        .file("yaml", "deployments.json", "OLD YAML");
    let report = generate_all(&opts(&soa, false), git()).await.expect("run");
    assert_eq!((report.written(), report.failed()), (1, 2), "{report:?}");
    assert_eq!(
        soa.deployments("good")["v1"]["good:paasta-c1.main"]["desired_state"],
        json!("start")
    );
    assert_eq!(
        std::fs::read_to_string(soa.deployments_path("gone")).expect("read"),
        "OLD GONE"
    );
    assert_eq!(
        std::fs::read_to_string(soa.deployments_path("yaml")).expect("read"),
        "OLD YAML"
    );
    let errors: Vec<_> = report
        .services
        .iter()
        .filter_map(|s| s.outcome.as_ref().err().map(|e| (s.service.as_str(), e)))
        .collect();
    assert!(
        matches!(
            errors[0],
            (
                "gone",
                ServiceError::Git {
                    source: GitError::ListRefs { .. },
                    ..
                }
            )
        ),
        "{errors:?}"
    );
    assert!(
        matches!(errors[1], ("yaml", ServiceError::Config(_))),
        "{errors:?}"
    );
    assert!(
        errors[1].1.to_string().contains("yaml/marathon-c1.yaml"),
        "{}",
        errors[1].1
    );
    // Nothing changed: a second run writes nothing.
    let again = generate_all(&opts(&soa, false), git()).await.expect("run");
    assert_eq!(
        (again.written(), again.unchanged(), again.failed()),
        (0, 1, 2)
    );
}

#[tokio::test]
async fn a_hung_remote_times_out_without_blocking_the_others() {
    // A git:// server that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(1) {
            held.push(stream);
            std::thread::sleep(Duration::from_millis(1500));
        }
    });
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = TestRepo::bare(&tmp.path().join("ok.git"));
    let sha = repo.commit("ok");
    repo.set_ref("refs/tags/paasta-c1.main-20160101T000000-deploy", &sha);
    let soa = SoaTree::new(&tmp.path().join("soa"));
    soa.file(
        "hung",
        "service.yaml",
        &format!("git_url: git://127.0.0.1:{port}/hung.git\n"),
    )
    .file("hung", "marathon-c1.yaml", "main: {}\n")
    .file("ok", "service.yaml", &service_yaml(&repo))
    .file("ok", "marathon-c1.yaml", "main: {}\n");
    let git = Arc::new(Git2Source::new(Duration::from_millis(400)));
    let report = generate_all(&opts(&soa, false), git).await.expect("run");
    let hung = &report.services[0];
    assert!(
        matches!(
            &hung.outcome,
            Err(ServiceError::Git {
                source: GitError::Timeout { .. } | GitError::ListRefs { .. },
                ..
            })
        ),
        "{hung:?}"
    );
    assert!(matches!(
        report.services[1].outcome,
        Ok(WriteOutcome::Written)
    ));
    assert!(
        report.elapsed < Duration::from_millis(1400),
        "the run ended at its timeout, not when the server gave up: {:?}",
        report.elapsed
    );
    drop(hold);
}
