//! Deploy log lines as PaaSTA wrote them (spec §7, §8 item 39), the file writer, broadcast and
//! recent ring.

use chrono::TimeZone;

use super::*;

fn at(micros: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2016, 7, 1, 12, 0, 5).unwrap()
        + chrono::TimeDelta::microseconds(micros.into())
}

fn event(service: &str, message: &str) -> DeployEvent {
    DeployEvent::new(
        at(0),
        Level::Event,
        Component::Deploy,
        "norcal",
        service,
        "main",
        message,
    )
}

#[test]
fn line_has_sorted_keys_python_separators_and_a_zoneless_timestamp() {
    assert_eq!(
        event("web", "Deleted stale marathon job").to_line(),
        r#"{"cluster": "norcal", "component": "deploy", "instance": "main", "level": "event", "message": "Deleted stale marathon job", "service": "web", "timestamp": "2016-07-01T12:00:05"}"#
    );
    let e = DeployEvent::new(
        at(1500),
        Level::Debug,
        Component::Monitoring,
        "c",
        "s",
        "i",
        "caf\u{e9}",
    );
    let line = e.to_line();
    assert!(
        line.contains(r#""timestamp": "2016-07-01T12:00:05.001500""#),
        "{line}"
    );
    assert!(
        line.contains(r#""message": "caf\u00e9""#),
        "ensure_ascii: {line}"
    );
    assert_eq!(DeployEvent::from_line(&line).unwrap(), e);
}

#[test]
fn ansi_escapes_are_stripped() {
    assert_eq!(
        strip_ansi("\u{1b}[31mred\u{1b}[0m plain \u{9b}1;2mx"),
        "red plain x"
    );
    assert_eq!(strip_ansi("no escape [31m"), "no escape [31m");
    assert_eq!(event("web", "\u{1b}[1mbold\u{1b}[0m").message, "bold");
}

#[test]
fn unknown_component_and_level_are_rejected() {
    assert!(
        matches!("bogus".parse::<Component>(), Err(DeployLogError::UnknownComponent(c)) if c == "bogus")
    );
    assert!(matches!("info".parse::<Level>(), Err(DeployLogError::UnknownLevel(l)) if l == "info"));
    let line = event("web", "m")
        .to_line()
        .replace("\"deploy\"", "\"stdout\"");
    assert!(matches!(
        DeployEvent::from_line(&line),
        Err(DeployLogError::UnknownComponent(_))
    ));
}

#[tokio::test]
async fn log_appends_broadcasts_and_keeps_recent() {
    let dir = tempfile::tempdir().unwrap();
    let log = DeployLog::new(DeployLogConfig {
        path_format: Some(format!(
            "{}/{{service}}-{{component}}.log",
            dir.path().display()
        )),
        recent_capacity: 2,
        broadcast_capacity: 8,
    });
    let mut rx = log.subscribe();
    log.log(event("web", "one")).unwrap();
    log.log(event("api", "two")).unwrap();
    log.log(event("web", "three")).unwrap();

    let text = std::fs::read_to_string(dir.path().join("web-deploy.log")).unwrap();
    let messages: Vec<String> = text
        .lines()
        .map(|l| DeployEvent::from_line(l).unwrap().message)
        .collect();
    assert_eq!(messages, ["one", "three"]);
    assert_eq!(rx.recv().await.unwrap().message, "one");
    assert_eq!(rx.recv().await.unwrap().message, "two");

    let recent: Vec<String> = log
        .recent(None, 10)
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(recent, ["two", "three"], "ring keeps the last two");
    let web: Vec<String> = log
        .recent(Some("web"), 10)
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(web, ["three"]);

    // A path below a regular file can never be written.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let broken = DeployLog::new(DeployLogConfig {
        path_format: Some(format!("{}/x.log", blocker.display())),
        recent_capacity: 1,
        broadcast_capacity: 1,
    });
    let err = broken.log(event("web", "x")).unwrap_err();
    assert!(matches!(err, DeployLogError::Write { .. }), "{err}");
    assert_eq!(
        broken.recent(None, 5).len(),
        1,
        "kept even when the file write failed"
    );
}

fn cluster_wide(message: &str) -> DeployEvent {
    DeployEvent::new(
        at(0),
        Level::Event,
        Component::Deploy,
        "norcal",
        NOT_APPLICABLE,
        NOT_APPLICABLE,
        message,
    )
}

fn messages(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| DeployEvent::from_line(l).unwrap().message)
        .collect()
}

/// Cluster-wide events (no service) go to `_cluster` in a per-service layout, whether the
/// service names a file or a directory; service events stay in their own file.
#[test]
fn cluster_wide_events_have_a_home_in_both_per_service_layouts() {
    for layout in ["{service}.log", "{service}/deploy-{instance}.log"] {
        let dir = tempfile::tempdir().unwrap();
        let log = DeployLog::new(DeployLogConfig {
            path_format: Some(format!("{}/{layout}", dir.path().display())),
            recent_capacity: 4,
            broadcast_capacity: 4,
        });
        log.log(cluster_wide("froze reconciling")).unwrap();
        log.log(event("web", "bounced")).unwrap();
        let (cluster_file, web_file) = if layout.starts_with("{service}/") {
            ("_cluster/deploy-_cluster.log", "web/deploy-main.log")
        } else {
            ("_cluster.log", "web.log")
        };
        assert_eq!(
            messages(&dir.path().join(cluster_file)),
            ["froze reconciling"]
        );
        assert_eq!(messages(&dir.path().join(web_file)), ["bounced"]);
        assert!(!dir.path().join("N").exists(), "no N/A.log below N/");
    }
}

/// A single-file layout keeps everything in that file.
#[test]
fn one_file_layout_keeps_cluster_wide_events_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.log");
    let log = DeployLog::new(DeployLogConfig {
        path_format: Some(path.display().to_string()),
        recent_capacity: 4,
        broadcast_capacity: 4,
    });
    log.log(cluster_wide("froze")).unwrap();
    log.log(event("web", "bounced")).unwrap();
    assert_eq!(messages(&path), ["froze", "bounced"]);
}

/// Substituted names never leave the directory: separators and a leading dot are replaced.
#[test]
fn substituted_names_cannot_escape_the_directory() {
    let log = DeployLog::new(DeployLogConfig {
        path_format: Some("/var/log/galley/{service}.log".into()),
        recent_capacity: 1,
        broadcast_capacity: 1,
    });
    let path = log.path_for(&event("../../etc/passwd", "x")).unwrap();
    assert_eq!(path, PathBuf::from("/var/log/galley/_._.._etc_passwd.log"));
}
