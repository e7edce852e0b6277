//! The demo runs end to end: deployments generated from real repositories, then a pushed tag
//! rewrites exactly one service.

use galley_coordinator::demo;

#[tokio::test]
async fn demo_generates_then_regenerates_only_the_changed_service() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut out = Vec::new();
    demo::run(tmp.path(), &mut out).await.expect("demo runs");
    let text = String::from_utf8(out).expect("utf8");
    assert!(
        text.contains("3 services") && text.contains("3 written, 0 unchanged, 0 failed"),
        "{text}"
    );
    assert!(text.contains("1 written, 2 unchanged, 0 failed"), "{text}");
    let web: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("soa/web/deployments.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(
        web["v2"]["controls"]["web:pnw-devc.main"]["desired_state"],
        "stop"
    );
    assert_eq!(
        web["v1"]["web:paasta-norcal-prod.canary"]["desired_state"],
        "start"
    );
    let canary_sha = web["v2"]["deployments"]["norcal-prod.canary"]["git_sha"]
        .as_str()
        .expect("sha");
    let main_sha = web["v2"]["deployments"]["norcal-prod.everything"]["git_sha"]
        .as_str()
        .expect("sha");
    assert_ne!(
        canary_sha, main_sha,
        "the canary got the newly pushed release"
    );
    let batch: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("soa/batch/deployments.json")).expect("read"),
    )
    .expect("json");
    assert!(
        batch["v2"]["deployments"]["norcal-prod.nightly"].is_object(),
        "chronos instances deploy too"
    );
}
