//! Generation cases from PaaSTA's own tests (spec §8 items 2, 4–10), at the pure level. The
//! same cases run again on real git repositories in the coordinator's tests.

use serde_json::json;

use super::*;

fn inst(cb: &str, group: &str) -> InstanceRefs {
    InstanceRefs {
        control_branch: cb.into(),
        deploy_group: group.into(),
        branch: format!("paasta-{cb}"),
    }
}

fn json_of(d: &Deployments) -> serde_json::Value {
    serde_json::from_str(&d.to_json_text()).expect("valid json")
}

#[test]
fn deploy_groups_pick_their_own_tags_and_control_tags_need_the_deployed_sha() {
    // §8 item 5.
    let refs = RefIndex::new([
        ("refs/heads/master", "123456"),
        ("refs/tags/paasta-try_me-20160308T053933-deploy", "123456"),
        ("refs/tags/paasta-clusterB.main-123-stop", "123456"),
        (
            "refs/tags/paasta-no_thanks-20160308T053933-deploy",
            "789009",
        ),
        ("refs/tags/paasta-clusterA.main-999-stop", "123456"),
        ("refs/tags/some-other-tag", "789009"),
    ]);
    let d = generate(
        "fake_service",
        &[
            inst("clusterA.main", "no_thanks"),
            inst("clusterB.main", "try_me"),
        ],
        &refs,
        false,
    );
    assert_eq!(
        json_of(&d)["v1"],
        json!({
            "fake_service:paasta-clusterA.main": {"docker_image": "services-fake_service:paasta-789009", "desired_state": "start", "force_bounce": null},
            "fake_service:paasta-clusterB.main": {"docker_image": "services-fake_service:paasta-123456", "desired_state": "stop", "force_bounce": "123"},
        })
    );
    assert_eq!(
        json_of(&d)["v2"],
        json!({
            "deployments": {
                "no_thanks": {"docker_image": "services-fake_service:paasta-789009", "git_sha": "789009"},
                "try_me": {"docker_image": "services-fake_service:paasta-123456", "git_sha": "123456"},
            },
            "controls": {
                "fake_service:clusterA.main": {"desired_state": "start", "force_bounce": null},
                "fake_service:clusterB.main": {"desired_state": "stop", "force_bounce": "123"},
            },
        })
    );
}

#[test]
fn newest_stop_on_the_deployed_sha_wins_over_a_start_on_another_sha() {
    // §8 item 6.
    let sha = "9085fab8ea5d5d4a7e5d2c46d2bb2f5f5b9ce6b5";
    let refs = RefIndex::new([
        (
            "refs/tags/paasta-cluster2.someinstance-20160101T000000-deploy",
            sha,
        ),
        (
            "refs/tags/paasta-cluster2.someinstance-20160202T233805-start",
            "ffffffffffffffffffffffffffffffffffffffff",
        ),
        (
            "refs/tags/paasta-cluster2.someinstance-20160205T182601-stop",
            sha,
        ),
    ]);
    let d = generate(
        "svc",
        &[inst("cluster2.someinstance", "cluster2.someinstance")],
        &refs,
        false,
    );
    let e = &d.v1["svc:paasta-cluster2.someinstance"];
    assert_eq!(
        (e.desired_state, e.force_bounce.as_deref()),
        (DesiredState::Stop, Some("20160205T182601"))
    );
}

#[test]
fn only_branches_means_nothing_deployed_without_legacy_flag() {
    // §8 item 7 (start/null is the state when tags are absent) and 10 (no deploy tag → omitted).
    let refs = RefIndex::new([("refs/heads/paasta-c.main", "abc")]);
    let d = generate("svc", &[inst("c.main", "c.main")], &refs, false);
    assert_eq!(d, Deployments::default());
    let legacy = generate("svc", &[inst("c.main", "c.main")], &refs, true);
    let e = &legacy.v1["svc:paasta-c.main"];
    assert_eq!(
        (e.desired_state, e.force_bounce.as_deref()),
        (DesiredState::Start, None)
    );
}

#[test]
fn double_prefixed_control_tags_are_honoured() {
    // §8 item 8.
    let refs = RefIndex::new([
        (
            "refs/tags/paasta-cluster.instance-20160101T000000-deploy",
            "abc",
        ),
        (
            "refs/tags/paasta-paasta-cluster.instance-20160102T000000-stop",
            "abc",
        ),
    ]);
    let d = generate(
        "svc",
        &[inst("cluster.instance", "cluster.instance")],
        &refs,
        false,
    );
    assert_eq!(
        d.v2.controls["svc:cluster.instance"].desired_state,
        DesiredState::Stop
    );
}

#[test]
fn latest_of_two_deploy_tags_wins_and_a_later_start_on_an_older_sha_does_not_apply() {
    // §8 item 10.
    let refs = RefIndex::new([
        ("refs/tags/paasta-g-20160101T000000-deploy", "old"),
        ("refs/tags/paasta-g-20160301T000000-deploy", "new"),
        ("refs/tags/paasta-c.i-20160302T000000-stop", "new"),
        ("refs/tags/paasta-c.i-20160401T000000-start", "old"),
    ]);
    let d = generate("svc", &[inst("c.i", "g")], &refs, false);
    assert_eq!(d.v2.deployments["g"].git_sha, "new");
    assert_eq!(
        d.v2.controls["svc:c.i"],
        V2Control {
            desired_state: DesiredState::Stop,
            force_bounce: Some("20160302T000000".into())
        }
    );
}

#[test]
fn legacy_branch_with_era_a_control_tag() {
    // §8 item 2: branch try_me at 123456 with tag paasta-try_me-123-stop.
    let refs = RefIndex::new([
        ("refs/heads/try_me", "123456"),
        ("refs/tags/paasta-try_me-123-stop", "123456"),
    ]);
    let i = InstanceRefs {
        control_branch: "c.main".into(),
        deploy_group: "c.main".into(),
        branch: "try_me".into(),
    };
    let d = generate("dos", &[i], &refs, true);
    assert_eq!(
        d.v1["dos:try_me"],
        V1Entry {
            docker_image: "services-dos:paasta-123456".into(),
            desired_state: DesiredState::Stop,
            force_bounce: Some("123".into())
        }
    );
}

#[test]
fn no_instances_gives_empty_v1_and_v2() {
    let d = generate("svc", &[], &RefIndex::default(), false);
    assert_eq!(
        d.to_json_text(),
        r#"{"v1": {}, "v2": {"controls": {}, "deployments": {}}}"#
    );
}

#[test]
fn legacy_flat_and_v1_only_files_parse() {
    // §8 item 4.
    let d = Deployments::parse(r#"{"OLD_MAP": "PINGS"}"#).expect("parses");
    assert_eq!(
        d.v1["OLD_MAP"],
        V1Entry {
            docker_image: "PINGS".into(),
            desired_state: DesiredState::Start,
            force_bounce: None
        }
    );
    let d = Deployments::parse(r#"{"v1": {"s:paasta-c.i": {"docker_image": "x", "desired_state": "stop", "force_bounce": "1"}}}"#)
        .expect("parses");
    assert_eq!(d.v1["s:paasta-c.i"].desired_state, DesiredState::Stop);
    assert!(Deployments::parse("[]").is_err());
    let round = generate(
        "svc",
        &[inst("c.i", "g")],
        &RefIndex::new([("refs/tags/paasta-g-20160101T000000-deploy", "abc")]),
        false,
    );
    assert_eq!(
        Deployments::parse(&round.to_json_text()).expect("parses"),
        round
    );
}

#[test]
fn image_reverse_parse() {
    // §8 item 9.
    assert_eq!(
        service_from_image(
            "docker-paasta.yelpcorp.com:443/services-example_service:paasta-591ae8a7b3224e3b3322370b858377dd6ef335b6"
        ),
        Some("example_service")
    );
    assert_eq!(service_from_image("services-x:paasta-abc"), Some("x"));
    assert_eq!(service_from_image("busybox:latest"), None);
}
