//! Replication: spec §8 items 34–37, the expected-count sum, the prefix quirk and evidence.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::*;
use crate::observed::{ObservedTask, TaskFailure};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2016, 7, 1, 12, 0, 0).unwrap()
}

fn task(app_id: &str, started_minutes_ago: Option<i64>, health: &[bool]) -> ObservedTask {
    ObservedTask {
        id: format!("{}.{}", app_id.trim_start_matches('/'), health.len()),
        host: "agent1".into(),
        ports: vec![31000],
        state: Some("TASK_RUNNING".into()),
        staged_at: started_minutes_ago.map(|m| now() - TimeDelta::minutes(m + 1)),
        started_at: started_minutes_ago.map(|m| now() - TimeDelta::minutes(m)),
        health_results: health.to_vec(),
    }
}

fn app(id: &str, tasks: Vec<ObservedTask>) -> ObservedApp {
    ObservedApp {
        id: id.into(),
        instances: tasks.len() as u32,
        tasks,
        ..ObservedApp::default()
    }
}

fn target(threshold: f64) -> CheckTarget {
    CheckTarget {
        service: "test_service".into(),
        instance: "worker".into(),
        cluster: "fake_cluster".into(),
        threshold,
    }
}

#[test]
fn item_34_is_under_replicated() {
    assert_eq!(is_under_replicated(1, 1, 50.0), (false, 100.0));
    assert_eq!(is_under_replicated(1, 0, 50.0), (false, 100.0));
    assert_eq!(is_under_replicated(0, 1, 50.0), (true, 0.0));
}

#[test]
fn item_35_non_smartstack_output() {
    let zero = marathon_report(&target(90.0), 0, 0);
    assert_eq!(zero.status, Status::Ok);
    assert_eq!(
        zero.output,
        "Service test_service.worker has 0 out of 0 expected instances available!\n(threshold: 90%)"
    );
    assert_eq!(
        zero.check_name,
        "check_marathon_services_replication.test_service.worker"
    );

    let full = marathon_report(&target(90.0), 100, 100);
    assert_eq!(full.status, Status::Ok);
    assert!(full.output.ends_with("(threshold: 90%)"));

    let short = marathon_report(&target(90.0), 100, 89);
    assert_eq!(short.status, Status::Critical);
    let expected = "Service test_service.worker has 89 out of 100 expected instances available!\n\
(threshold: 90%)\n\nWhat this alert means:\n\n  This replication alert means that the service \
PaaSTA can't keep the\n  requested number of copies up and healthy in the cluster.\n\n\
Reasons this might be happening:\n\n  The service may simply unhealthy. There also may not be \
enough resources\n  in the cluster to support the requested instance count.\n\n\
Things you can do:\n\n  * Increase the instance count\n  * Fix the cause of the unhealthy \
service. Try running:\n\n      paasta status -s test_service -i worker -c fake_cluster -vv\n";
    assert_eq!(short.output, expected);
}

#[test]
fn threshold_prints_truncated_like_python_percent_d() {
    let report = marathon_report(&target(33.9), 3, 1);
    assert!(
        report.output.contains("(threshold: 33%)"),
        "{}",
        report.output
    );
    assert_eq!(report.status, Status::Critical, "33.33 < 33.9");
}

#[test]
fn item_36_healthy_marathon_tasks() {
    let alternating: Vec<_> = (0..4)
        .map(|i| {
            task(
                &format!("/service.instance.foo{i}.bar{i}"),
                Some(5),
                &[i % 2 == 0],
            )
        })
        .collect();
    let apps = vec![app("/service.instance.foo.bar", alternating)];
    assert_eq!(healthy_task_count(&apps, "service.instance", now()), 2);

    let ages: Vec<_> = (0..4)
        .map(|i| {
            task(
                &format!("/service.instance.foo{i}.bar{i}"),
                Some(i),
                &[true],
            )
        })
        .collect();
    let apps = vec![app("/service.instance.foo.bar", ages)];
    // PaaSTA's test evaluates a moment after building the tasks, so the one started exactly a
    // minute before that moment counts; "started now" does not.
    let a_moment_later = now() + TimeDelta::milliseconds(1);
    assert_eq!(
        healthy_task_count(&apps, "service.instance", a_moment_later),
        3,
        "the task started now is not counted yet"
    );
    assert_eq!(
        healthy_task_count(&apps, "service.instance", now()),
        2,
        "strictly older"
    );

    let never = vec![app(
        "/service.instance.foo.bar",
        vec![task("/service.instance.foo.bar", None, &[true])],
    )];
    assert_eq!(healthy_task_count(&never, "service.instance", now()), 0);
}

#[test]
fn tasks_without_health_results_count_and_the_prefix_has_no_trailing_dot() {
    let apps = vec![
        app(
            "/svc.main.gita.configb",
            vec![task("/svc.main.gita.configb", Some(2), &[])],
        ),
        app(
            "/svc.main2.gitc.configd",
            vec![task("/svc.main2.gitc.configd", Some(2), &[])],
        ),
        app(
            "/svc.canary.gite.configf",
            vec![task("/svc.canary.gite.configf", Some(2), &[])],
        ),
    ];
    assert_eq!(
        healthy_task_count(&apps, "svc.main", now()),
        2,
        "PaaSTA's prefix quirk: svc.main also counts svc.main2"
    );
    assert_eq!(instance_apps(&apps, "svc.main").len(), 1);
    assert!(!is_bouncing(&apps, "svc.main"));
}

fn locations(entries: &[(&str, Option<u64>)]) -> SmartstackLocations {
    entries
        .iter()
        .map(|(loc, n)| {
            let backends: BTreeMap<String, u64> = n
                .map(|n| ("test_service.worker".to_string(), n))
                .into_iter()
                .collect();
            (loc.to_string(), backends)
        })
        .collect()
}

#[test]
fn item_37_smartstack() {
    let t = target(90.0);
    let zero = smartstack_report(&t, "worker", 0, &locations(&[("fake_region", Some(0))]));
    assert_eq!(zero.expect("event").status, Status::Ok);

    let missing =
        smartstack_report(&t, "worker", 8, &locations(&[("fake_region", None)])).expect("event");
    assert_eq!(missing.status, Status::Critical);
    assert!(missing.output.starts_with(
        "- Service test_service.worker has 0 out of 8 expected instances in fake_region (CRITICAL: 0%)\n\n\nWhat this alert means:"
    ));
    assert!(
        missing
            .output
            .ends_with("-c fake_cluster -vv\n\n  * Widen SmartStack discovery settings\n  * Increase the instance count\n\n")
    );

    let half =
        smartstack_report(&t, "worker", 8, &locations(&[("fake_region", Some(4))])).expect("event");
    assert_eq!(half.status, Status::Critical);
    assert!(
        half.output
            .contains("has 4 out of 8 expected instances in fake_region (CRITICAL: 50%)")
    );

    let two = smartstack_report(
        &target(50.0),
        "worker",
        2,
        &locations(&[("fake_region", Some(1)), ("fake_other_region", Some(0))]),
    )
    .expect("event");
    assert_eq!(two.status, Status::Critical);
    assert!(two.output.starts_with(
        "- Service test_service.worker has 0 out of 1 expected instances in fake_other_region (CRITICAL: 0%)\n\
         - Service test_service.worker has 1 out of 1 expected instances in fake_region (OK: 100%)\n"
    ), "locations sorted: {}", two.output);

    assert_eq!(
        smartstack_report(&t, "other_ns", 8, &locations(&[("r", Some(8))])),
        None,
        "announced under another namespace: no event"
    );

    let none = smartstack_report(&t, "worker", 8, &BTreeMap::new()).expect("event");
    assert_eq!(none.status, Status::Critical);
    assert_eq!(
        none.output,
        "Service test_service.worker has no Smartstack replication info. Make sure the discover \
         key in your smartstack.yaml is valid!\n"
    );
}

#[test]
fn expected_count_sums_desired_instances_per_nerve_ns() {
    let member = |instance: &str, ns: &str, n: u64| NamespaceMember {
        instance: instance.into(),
        nerve_ns: ns.into(),
        desired_instances: n,
    };
    let members = [
        member("main", "main", 3),
        member("canary", "main", 1),
        member("stopped", "main", 0),
        member("batch", "batch", 5),
    ];
    assert_eq!(expected_count(&members, "main"), 4);
    assert_eq!(expected_count(&members, "batch"), 5);
    assert_eq!(expected_count(&members, "nothing"), 0);
}

#[test]
fn evidence_is_attached_to_critical_and_bouncing_reports_only() {
    let mut staging = task("/test--service.worker.gitnew.confignew", None, &[]);
    staging.staged_at = Some(now() - TimeDelta::minutes(4));
    let mut new_app = app(
        "/test--service.worker.gitnew.confignew",
        vec![
            staging,
            task(
                "/test--service.worker.gitnew.confignew",
                Some(3),
                &[false, true],
            ),
        ],
    );
    new_app.deployments = vec!["d-1".into()];
    new_app.last_task_failure = Some(Box::new(TaskFailure {
        task_id: "t".into(),
        state: "TASK_FAILED".into(),
        message: "Container exited with status 137".into(),
        host: "agent2".into(),
        timestamp: "2016-07-01T11:59:00.000Z".into(),
    }));
    let old_app = app(
        "/test--service.worker.gitold.configold",
        vec![task(
            "/test--service.worker.gitold.configold",
            Some(0),
            &[true],
        )],
    );
    let apps = vec![new_app, old_app];
    let queue = [QueueSignal {
        app_id: "/test--service.worker.gitnew.confignew".into(),
        count: 1,
        delay_seconds: Some(40),
        no_capacity: Some("InsufficientMemory".into()),
    }];
    let observed = MarathonObservation {
        apps: &apps,
        now: now(),
        queue: &queue,
    };
    let report = check_marathon_instance(&target(50.0), 3, observed, &EvidenceConfig::default());
    assert_eq!((report.available, report.status), (0, Status::Critical));
    let kinds: Vec<String> = report.evidence.iter().map(ToString::to_string).collect();
    assert_eq!(kinds.len(), 7, "{kinds:#?}");
    assert!(kinds[0].starts_with("1 task(s) staging for too long (longest 240s)"));
    assert!(kinds[1].starts_with("1 task(s) failing health checks"));
    assert!(kinds[2].starts_with("1 healthy task(s) started less than a minute ago"));
    assert!(kinds[3].contains("TASK_FAILED on agent2") && kinds[3].contains("status 137"));
    assert!(kinds[4].contains("deployment in flight") && kinds[4].ends_with("d-1"));
    assert!(kinds[5].contains("next launch in 40s"));
    assert!(kinds[6].ends_with("InsufficientMemory"));
    let text = report.alert_output();
    assert!(
        text.starts_with(&report.output),
        "PaaSTA's text stays a prefix"
    );
    assert!(text.contains("\nWhat Galley sees:\n\n  * 1 task(s) staging"));

    let healthy = vec![app(
        "/test--service.worker.gitnew.confignew",
        vec![task(
            "/test--service.worker.gitnew.confignew",
            Some(3),
            &[true],
        )],
    )];
    let observed = MarathonObservation {
        apps: &healthy,
        now: now(),
        queue: &[],
    };
    let ok = check_marathon_instance(&target(50.0), 1, observed, &EvidenceConfig::default());
    assert_eq!(ok.status, Status::Ok);
    assert!(ok.evidence.is_empty());
    assert_eq!(ok.alert_output(), ok.output);

    let bouncing = marathon_report(&target(50.0), 1, 1)
        .with_evidence(true, vec![Evidence::TooYoung { count: 1 }]);
    assert_eq!(
        bouncing.evidence.len(),
        1,
        "bouncing keeps its evidence even when OK"
    );
}

/// The index answers exactly what the scans answer, the prefix quirk included (`/web.main`
/// without a dot also matches `/web.mainx…`'s tasks, as PaaSTA's check did).
#[test]
fn the_app_index_answers_what_the_scans_answer() {
    let mk =
        |id: &str, n: usize, ok: bool| app(id, (0..n).map(|_| task(id, Some(5), &[ok])).collect());
    let apps = vec![
        mk("/web.main.gitaaaaaaaa.config11111111", 3, true),
        mk("/web.main.gitbbbbbbbb.config22222222", 2, false),
        mk("/web.mainx.gitcccccccc.config33333333", 1, true),
        mk("/web.canary.gitaaaaaaaa.config11111111", 1, true),
        mk("/api.main.gitdddddddd.config44444444", 4, true),
        mk("/weird", 1, true),
    ];
    let index = AppIndex::new(&apps);
    for short in [
        "web.main",
        "web.mainx",
        "web.canary",
        "api.main",
        "nope.main",
        "web",
    ] {
        assert_eq!(
            index.healthy_task_count(short, now()),
            healthy_task_count(&apps, short, now()),
            "{short}"
        );
        let ids = |v: Vec<&ObservedApp>| v.into_iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        let mut scanned = ids(instance_apps(&apps, short));
        scanned.sort();
        assert_eq!(ids(index.instance_apps(short)), scanned, "{short}");
        assert_eq!(
            index.is_bouncing(short),
            is_bouncing(&apps, short),
            "{short}"
        );
    }
    assert_eq!(
        index.healthy_task_count("web.main", now()),
        4,
        "the quirk counts web.mainx"
    );
}
