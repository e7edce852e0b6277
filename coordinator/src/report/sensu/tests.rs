//! Sensu client over a real socket, the queued sink, and the alert tracker's transitions.

use std::sync::Mutex;

use galley_common::monitoring::MonitoringSources;
use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::*;

#[derive(Default)]
struct Recorder(Mutex<Vec<SensuEvent>>);

impl SensuSink for Arc<Recorder> {
    async fn send(&self, event: &SensuEvent) -> Result<(), SensuError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

fn sources(team: Option<&str>) -> MonitoringSources {
    let mut yaml = Map::new();
    if let Some(team) = team {
        yaml.insert("team".into(), Value::from(team));
    }
    MonitoringSources {
        overrides: Map::new(),
        monitoring_yaml: yaml,
        general: Map::new(),
    }
}

fn settings(team: &str) -> SensuSettings {
    sources(Some(team))
        .resolve(CheckKind::Replication, "norcal")
        .expect("team")
}

#[tokio::test]
async fn client_writes_one_json_line_per_connection_and_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = SensuClient::new("127.0.0.1", port, Duration::from_secs(2));
    let event = SensuEvent::new("check.a.b", Status::Critical, "boom", &settings("web")).unwrap();
    let (sent, received) = tokio::join!(client.send(&event), async {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        sock.read_to_end(&mut buf).await.unwrap();
        buf
    });
    sent.expect("sent");
    assert_eq!(received.last(), Some(&b'\n'));
    assert_eq!(received.iter().filter(|b| **b == b'\n').count(), 1);
    let wire: Value = serde_json::from_slice(&received).unwrap();
    assert_eq!(wire["name"], json!("check.a.b"));
    assert_eq!(wire["status"], json!(2));
    assert_eq!(wire["team"], json!("web"));
    assert_eq!(wire["source"], json!("paasta-norcal"));
}

#[tokio::test]
async fn an_unreachable_sensu_is_an_error_within_the_timeout() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = SensuClient::new("127.0.0.1", port, Duration::from_millis(500));
    let event = SensuEvent::new("check.a.b", Status::Ok, "", &settings("web")).unwrap();
    let started = std::time::Instant::now();
    let err = client.send(&event).await.unwrap_err();
    assert!(
        matches!(err, SensuError::Connect { .. } | SensuError::Timeout { .. }),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    let mut tracker = AlertTracker::new(client);
    let s = Arc::new(settings("web"));
    let result = tracker
        .report(
            CheckKind::Replication,
            "a",
            "b",
            Status::Critical,
            "x",
            Some(&s),
            true,
        )
        .await;
    assert!(result.is_err());
    assert_eq!(tracker.counts(), (0, 1));
    assert_eq!(
        tracker.last_status(CheckKind::Replication, "a", "b"),
        Some(Status::Critical),
        "the status is remembered even when delivery failed"
    );
}

#[tokio::test]
async fn tracker_sends_changes_at_once_and_unchanged_events_on_rounds() {
    let rec = Arc::new(Recorder::default());
    let mut tracker = AlertTracker::new(rec.clone());
    let s = Arc::new(settings("web"));
    let mut report = async |status, output, round| {
        tracker
            .report(
                CheckKind::Replication,
                "web",
                "main",
                status,
                output,
                Some(&s),
                round,
            )
            .await
            .unwrap()
    };
    assert_eq!(report(Status::Ok, "out", false).await, Transition::First);
    assert_eq!(report(Status::Ok, "out", false).await, Transition::Quiet);
    assert_eq!(report(Status::Ok, "out", true).await, Transition::Unchanged);
    assert_eq!(
        report(Status::Critical, "out", false).await,
        Transition::Raised
    );
    assert_eq!(
        report(Status::Critical, "out", false).await,
        Transition::Quiet
    );
    assert_eq!(
        report(Status::Critical, "other", false).await,
        Transition::Unchanged,
        "a new output goes out at once"
    );
    assert_eq!(
        report(Status::Ok, "other", false).await,
        Transition::Recovered
    );
    let statuses: Vec<u8> = rec.0.lock().unwrap().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [0, 0, 2, 2, 0]);
}

#[tokio::test]
async fn removal_sends_three_oks_with_the_remembered_team_then_forgets() {
    let rec = Arc::new(Recorder::default());
    let mut tracker = AlertTracker::new(rec.clone());
    let s = Arc::new(settings("web"));
    tracker
        .report(
            CheckKind::Replication,
            "web",
            "main",
            Status::Critical,
            "x",
            Some(&s),
            true,
        )
        .await
        .unwrap();
    for (service, instance) in [("web", "canary"), ("webby", "main")] {
        let kind = CheckKind::Replication;
        let s = Some(&s);
        let sent = tracker.report(kind, service, instance, Status::Ok, "x", s, true);
        sent.await.unwrap();
    }
    rec.0.lock().unwrap().clear();

    let live = BTreeSet::from([("web".to_string(), "canary".to_string())]);
    let fallback = |_: &str| Some(sources(Some("fallback")));
    let other = BTreeSet::from(["api".to_string()]);
    tracker
        .retain_instances(&other, &live, fallback, "norcal")
        .await;
    assert!(
        rec.0.lock().unwrap().is_empty(),
        "only the services named are looked at"
    );
    let changed = BTreeSet::from(["web".to_string()]);
    tracker
        .retain_instances(&changed, &live, fallback, "norcal")
        .await;
    let events = rec.0.lock().unwrap().clone();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "check_marathon_services_replication.web.main",
            "setup_marathon_job.web.main",
            "paasta_bounce_progress.web.main"
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.status == 0 && e.output == REMOVED_OUTPUT)
    );
    // Issue 16: sent as PaaSTA's cleanup sent them, with no overrides: the service's team
    // and contacts, runbook http://y/paasta-troubleshooting, alert_after 5m, no ttl (the
    // bounce-progress check's own ttl of an hour would page an hour after every removal).
    let teams: Vec<&str> = events.iter().map(|e| e.team.as_str()).collect();
    assert_eq!(teams, ["fallback", "fallback", "fallback"]);
    for e in &events {
        assert_eq!(e.runbook, "http://y/paasta-troubleshooting", "{}", e.name);
        assert_eq!(e.alert_after, Some(300), "{}", e.name);
        assert_eq!(e.interval, Some(60), "{}", e.name);
        assert_eq!(e.ttl, None, "{}", e.name);
    }
    assert_eq!(
        tracker.tracked_instances(),
        BTreeSet::from([
            ("web".to_string(), "canary".to_string()),
            ("webby".to_string(), "main".to_string())
        ])
    );
}

#[tokio::test]
async fn no_team_sends_nothing() {
    let rec = Arc::new(Recorder::default());
    let mut tracker = AlertTracker::new(rec.clone());
    let none = sources(None).resolve(CheckKind::Replication, "c");
    tracker
        .report(
            CheckKind::Replication,
            "a",
            "b",
            Status::Critical,
            "x",
            none.map(Arc::new).as_ref(),
            true,
        )
        .await
        .unwrap();
    tracker
        .removed("a", "b", Some(&sources(None)), "c")
        .await
        .unwrap();
    assert!(rec.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn queued_sink_returns_at_once_and_delivers_in_the_background() {
    let rec = Arc::new(Recorder::default());
    let queued = QueuedSink::spawn(rec.clone(), 4);
    let event = SensuEvent::new("c.a.b", Status::Ok, "", &settings("web")).unwrap();
    for _ in 0..3 {
        queued.send(&event).await.expect("queued");
    }
    for _ in 0..100 {
        if queued.stats().sent.load(Ordering::Relaxed) == 3 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(rec.0.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_check_with_no_team_sends_nothing_and_is_quiet_while_unchanged() {
    let rec = Arc::new(Recorder::default());
    let mut tracker = AlertTracker::new(rec.clone());
    let mut report = async |status, output, round, settings: Option<&Arc<SensuSettings>>| {
        tracker
            .report(
                CheckKind::Replication,
                "web",
                "main",
                status,
                output,
                settings,
                round,
            )
            .await
            .unwrap()
    };
    assert_eq!(
        report(Status::Ok, "out", false, None).await,
        Transition::First
    );
    assert_eq!(
        report(Status::Ok, "out", false, None).await,
        Transition::Quiet,
        "an unchanged teamless check between rounds (it was logged every pass)"
    );
    assert_eq!(
        report(Status::Ok, "out", true, None).await,
        Transition::Unchanged
    );
    assert_eq!(
        report(Status::Critical, "out", false, None).await,
        Transition::Raised
    );
    assert!(rec.0.lock().unwrap().is_empty(), "no team: nothing sent");
    let s = Arc::new(settings("web"));
    assert_eq!(
        report(Status::Critical, "out", false, Some(&s)).await,
        Transition::Unchanged,
        "a team resolving later gets the event at once"
    );
    assert_eq!(rec.0.lock().unwrap().len(), 1);
}
