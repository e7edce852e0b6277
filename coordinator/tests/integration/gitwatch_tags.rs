//! Writing control tags over real gRPC and through the subcommands, on real bare repositories:
//! stop → the stop tag exists and the app scales to 0; refusals name what is wrong and leave the
//! repository untouched; every write lands in the deploy log.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use galley_coordinator::deploy_log::{DeployLog, DeployLogConfig};
use galley_coordinator::gitwatch::{
    CheckOutcome, PushCredentials, TagWriter, TagWriterSettings, deploy_service,
};
use galley_proto::v1::deploy_service_client::DeployServiceClient;
use galley_proto::v1::{InstanceStateRequest, MarkForDeploymentRequest, TagKind};
use git2::Repository;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;

use crate::gitwatch::GitCluster;

fn ref_names(path: &std::path::Path) -> Vec<String> {
    let repo = Repository::open_bare(path).expect("open");
    let mut names: Vec<String> = repo
        .references()
        .expect("refs")
        .filter_map(|r| r.ok()?.name().ok().map(String::from))
        .collect();
    names.sort();
    names
}

async fn serve(
    g: &GitCluster,
    log: Arc<DeployLog>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let writer = TagWriter::new(
        TagWriterSettings {
            soa_dir: g.cluster.soa.root.clone(),
            timeout: Duration::from_secs(10),
            credentials: PushCredentials::default(),
            mirror_dir: g.tmp.path().join("mirrors"),
        },
        Some(log),
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let svc = deploy_service(Arc::new(writer), None);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stop_rx.await;
            })
            .await
            .expect("serve");
    });
    (addr, stop)
}

fn state(service: &str, instance: &str) -> InstanceStateRequest {
    InstanceStateRequest {
        service: service.into(),
        cluster: "testcluster".into(),
        instance: instance.into(),
        requested_by: "alice@laptop".into(),
    }
}

#[tokio::test]
async fn mark_and_stop_rpcs_push_paasta_tags_and_marathon_follows() {
    let mut g = GitCluster::new().await;
    let log_path = g.tmp.path().join("deploy-{service}.log");
    let log = Arc::new(DeployLog::new(DeployLogConfig {
        path_format: Some(log_path.display().to_string()),
        recent_capacity: 16,
        broadcast_capacity: 16,
    }));
    let (addr, stop) = serve(&g, log).await;
    let mut client = DeployServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let watcher = g.watcher();

    // Stop before anything is deployed: PaaSTA's "No branches found".
    let e = client
        .stop(state("web", "main"))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("No branches found"), "{}", e.message());

    let sha = g.repo.commit("v1");
    let marked = client
        .mark_for_deployment(MarkForDeploymentRequest {
            service: "web".into(),
            deploy_group: "testcluster.main".into(),
            git_sha: sha.clone(),
            requested_by: "alice@laptop".into(),
        })
        .await
        .expect("mark")
        .into_inner();
    assert!(
        marked
            .ref_name
            .starts_with("refs/tags/paasta-testcluster.main-")
    );
    assert!(marked.ref_name.ends_with("-deploy"), "{}", marked.ref_name);
    assert_eq!(
        (marked.git_sha.as_str(), marked.kind),
        (sha.as_str(), TagKind::Deploy as i32)
    );
    assert!(ref_names(&g.repo.path).contains(&marked.ref_name));
    watcher.check_service("web").await;
    g.cluster.converge(20).await;
    assert_eq!(g.cluster.running("web.main.").values().sum::<u32>(), 2);

    let stopped = client
        .stop(state("web", "main"))
        .await
        .expect("stop")
        .into_inner();
    assert!(stopped.ref_name.ends_with("-stop"), "{}", stopped.ref_name);
    assert_eq!(stopped.git_sha, sha, "stop tags go on the deployed sha");
    let repo = Repository::open_bare(&g.repo.path).expect("open");
    let target = repo
        .find_reference(&stopped.ref_name)
        .expect("stop tag exists");
    assert_eq!(target.target().map(|o| o.to_string()), Some(sha.clone()));
    let outcome = watcher.check_service("web").await;
    assert!(matches!(outcome, CheckOutcome::Generated(_)), "{outcome:?}");
    g.cluster.converge(20).await;
    let running = g.cluster.running("web.main.");
    assert_eq!(
        running.values().copied().collect::<Vec<_>>(),
        vec![0],
        "{running:?}"
    );

    let text = std::fs::read_to_string(g.tmp.path().join("deploy-web.log")).expect("log");
    assert!(
        text.contains(&format!(
            "Marked {sha} in for deployment in deploy group testcluster.main"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "Issued request to change state of main (an instance of web) to 'stop' by alice@laptop"
        ),
        "{text}"
    );
    let _ = stop.send(());
}

#[tokio::test]
async fn refusals_name_the_problem_and_leave_the_repository_untouched() {
    let g = GitCluster::new().await;
    let log = Arc::new(DeployLog::new(DeployLogConfig {
        path_format: None,
        recent_capacity: 16,
        broadcast_capacity: 16,
    }));
    let (addr, stop) = serve(&g, log).await;
    let mut client = DeployServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let sha = g.repo.commit("v1");
    let before = ref_names(&g.repo.path);
    let mark = |service: &str, group: &str, sha: &str| MarkForDeploymentRequest {
        service: service.into(),
        deploy_group: group.into(),
        git_sha: sha.into(),
        requested_by: String::new(),
    };
    let cases = [
        (
            mark("nope", "testcluster.main", &sha),
            Code::NotFound,
            "unknown service nope",
        ),
        (
            mark("web", "prod.main", &sha),
            Code::NotFound,
            "no deploy group prod.main",
        ),
        (
            mark("web", "testcluster.main", "abc"),
            Code::InvalidArgument,
            "invalid git_sha",
        ),
        (
            mark("web", "testcluster.main", &"0".repeat(40)),
            Code::NotFound,
            "is not in",
        ),
        (
            mark("../x", "testcluster.main", &sha),
            Code::InvalidArgument,
            "invalid service",
        ),
    ];
    for (req, code, needle) in cases {
        let e = client.mark_for_deployment(req).await.expect_err("refused");
        assert_eq!(e.code(), code, "{e:?}");
        assert!(e.message().contains(needle), "{needle}: {}", e.message());
    }
    let e = client
        .start(state("web", "canary"))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Code::NotFound);
    assert!(
        e.message().contains("no instance testcluster.canary"),
        "{}",
        e.message()
    );
    assert_eq!(ref_names(&g.repo.path), before, "nothing was written");
    let _ = stop.send(());
}

#[tokio::test]
async fn subcommands_push_the_same_tags_for_scripts() {
    let g = GitCluster::new().await;
    let sha = g.repo.commit("v1");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_galley-coordinator"))
            .args(args)
            .args(["--soa-dir", g.cluster.soa.root.to_str().expect("utf8")])
            .args(["--requested-by", "ci@builder"])
            .output()
            .expect("run")
    };
    let out = run(&[
        "mark-for-deployment",
        "-s",
        "web",
        "-l",
        "testcluster.main",
        "-c",
        &sha,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        printed.starts_with("refs/tags/paasta-testcluster.main-"),
        "{printed}"
    );
    let out = run(&["restart", "-s", "web", "-c", "testcluster", "-i", "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = ref_names(&g.repo.path);
    assert!(names.iter().any(|n| n.ends_with("-deploy")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("-start")), "{names:?}");
    let out = run(&["stop", "-s", "web", "-c", "testcluster", "-i", "nope"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no instance testcluster.nope"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
