//! Monitoring settings resolution (spec §5.3) and the Sensu wire event.

use serde_json::{Map, Value, json};

use super::*;

fn map(v: Value) -> Map<String, Value> {
    v.as_object().expect("object").clone()
}

fn sources(overrides: Value, monitoring_yaml: Value, general: Value) -> MonitoringSources {
    MonitoringSources {
        overrides: map(overrides),
        monitoring_yaml: map(monitoring_yaml),
        general: map(general),
    }
}

#[test]
fn team_precedence_is_instance_then_monitoring_yaml_then_service_yaml() {
    let top_level = sources(json!({}), json!({}), json!({"team": "top"}));
    assert_eq!(top_level.value("team"), json!("top"));
    let svc_monitoring = sources(
        json!({}),
        json!({}),
        json!({"team": "top", "monitoring": {"team": "svc-mon"}}),
    );
    assert_eq!(svc_monitoring.value("team"), json!("svc-mon"));
    let yaml = sources(
        json!({}),
        json!({"team": "yaml"}),
        json!({"team": "top", "monitoring": {"team": "svc-mon"}}),
    );
    assert_eq!(yaml.value("team"), json!("yaml"));
    let inst = sources(
        json!({"team": "inst"}),
        json!({"team": "yaml"}),
        json!({"team": "top"}),
    );
    assert_eq!(inst.value("team"), json!("inst"));
    assert_eq!(
        sources(json!({}), json!({}), json!({})).value("team"),
        Value::Null
    );
}

#[test]
fn no_team_means_no_event() {
    let s = sources(json!({}), json!({"runbook": "y/rb"}), json!({}));
    assert_eq!(s.resolve(CheckKind::Replication, "norcal"), None);
    let empty = sources(json!({"team": ""}), json!({}), json!({}));
    assert_eq!(empty.resolve(CheckKind::Replication, "norcal"), None);
}

#[test]
fn replication_defaults_and_overrides() {
    let s = sources(json!({}), json!({"team": "web"}), json!({}));
    let r = s.resolve(CheckKind::Replication, "norcal").expect("team");
    assert_eq!(r.team, "web");
    assert_eq!(r.alert_after, json!("2m"));
    assert_eq!(r.check_every, json!("1m"));
    assert_eq!(r.realert_every, json!(-1));
    assert_eq!(r.ticket, json!(false));
    assert_eq!(r.project, Value::Null);
    assert_eq!(r.source, "paasta-norcal");
    assert!(
        r.runbook
            .as_str()
            .unwrap()
            .starts_with("Please set a `runbook`")
    );
    assert!(r.tip.as_str().unwrap().starts_with("Please set a `tip`"));

    let s = sources(
        json!({"team": "web", "alert_after": "15m", "runbook": "y/web", "page": true}),
        json!({"team": "web", "irc_channels": ["#web"]}),
        json!({}),
    );
    let r = s.resolve(CheckKind::Replication, "norcal").expect("team");
    assert_eq!(
        (r.alert_after, r.runbook, r.page),
        (json!("15m"), json!("y/web"), json!(true))
    );
    assert_eq!(r.irc_channels, json!(["#web"]));
}

#[test]
fn setup_marathon_job_runbook_comes_only_from_overrides() {
    let s = sources(
        json!({}),
        json!({"team": "web", "runbook": "y/yaml"}),
        json!({}),
    );
    let r = s.resolve(CheckKind::SetupMarathonJob, "c").expect("team");
    assert_eq!(r.runbook, json!(DEFAULT_RUNBOOK));
    assert_eq!((r.alert_after, r.check_every), (json!("10m"), json!("10s")));
    let b = s.resolve(CheckKind::BounceProgress, "c").expect("team");
    assert_eq!(b.ttl, json!("1h"));
}

#[test]
fn check_names() {
    assert_eq!(
        CheckKind::ALL.map(|k| k.check_name("s", "i")),
        [
            "check_marathon_services_replication.s.i",
            "setup_marathon_job.s.i",
            "paasta_bounce_progress.s.i"
        ]
    );
}

#[test]
fn event_converts_intervals_and_drops_falsy_irc_channels() {
    let s = sources(json!({}), json!({"team": "web"}), json!({}));
    let settings = s.resolve(CheckKind::Replication, "norcal").expect("team");
    let e = SensuEvent::new("check.x", Status::Critical, "out", &settings).expect("event");
    assert_eq!(
        (e.status, e.interval, e.alert_after, e.ttl),
        (2, Some(60), Some(120), None)
    );
    let wire = serde_json::to_value(&e).unwrap();
    assert!(wire.get("irc_channels").is_none());
    assert_eq!(wire["handler"], json!("default"));
    assert_eq!(wire["realert_every"], json!(-1));
    assert_eq!(wire["dependencies"], json!([]));

    assert_eq!(interval_seconds("t", &json!("1h30m")), Ok(Some(5400)));
    assert_eq!(interval_seconds("t", &json!("1D2s")), Ok(Some(86402)));
    assert_eq!(interval_seconds("t", &json!(45)), Ok(Some(45)));
    assert!(interval_seconds("t", &json!("5")).is_err());
    assert!(interval_seconds("t", &json!("5x")).is_err());

    let mut bad = settings.clone();
    bad.runbook = json!("");
    bad.irc_channels = json!(["#a"]);
    let e = SensuEvent::new("check.x", Status::Ok, "", &bad).expect("event");
    assert_eq!(e.runbook, json!("Please set a runbook!"));
    assert_eq!(e.irc_channels, Some(json!(["#a"])));
}

#[test]
fn check_kind_index_is_its_position_in_all() {
    for (i, kind) in CheckKind::ALL.iter().enumerate() {
        assert_eq!(kind.index(), i, "{kind:?}");
    }
}
