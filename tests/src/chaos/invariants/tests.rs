//! Each invariant on synthetic evidence: a history that keeps it passes, and one that breaks
//! it is reported (so a check that can never fail would fail here).

use super::*;
use crate::chaos::evidence::{DockerEvent, LeaderSpan, LogLine, TaskLife, Window};

const APP1: &str = "/web.main.gitaaaaaaaa.config11111111";
const APP2: &str = "/web.main.gitbbbbbbbb.config22222222";

fn req(at: f64, user: &str, method: &str, path: &str, status: u16) -> Request {
    Request {
        at,
        target: "marathon".into(),
        method: method.into(),
        path: path.into(),
        user: Some(user.into()),
        status,
        location: None,
        ids: vec![],
    }
}

fn create(at: f64, user: &str, app: &str) -> Request {
    Request {
        ids: vec![app.into()],
        ..req(at, user, "POST", "/v2/apps", 201)
    }
}

fn delete(at: f64, user: &str, app: &str) -> Request {
    req(
        at,
        user,
        "DELETE",
        &format!("/v2/apps{app}?force=true"),
        200,
    )
}

fn list(at: f64, user: &str) -> Request {
    req(at, user, "GET", "/v2/apps?embed=apps.tasks", 200)
}

fn line(at: f64, node: &str, message: &str) -> LogLine {
    LogLine {
        node: node.into(),
        at,
        message: message.into(),
    }
}

fn lead(node: &str, term: u64, start: f64, end: Option<f64>) -> LeaderSpan {
    LeaderSpan {
        node: node.into(),
        term,
        start,
        end,
    }
}

/// A clean bounce by c1 (term 2): list, create APP2, list, delete APP1, each logged.
fn clean() -> Evidence {
    Evidence {
        requests: vec![
            list(1.0, "c1"),
            create(2.0, "c1", APP1),
            list(30.0, "c1"),
            create(31.0, "c1", APP2),
            list(40.0, "c1"),
            delete(41.0, "c1", APP1),
        ],
        deploy_log: vec![
            line(2.1, "c1", &format!("create {APP1}")),
            line(31.1, "c1", &format!("create {APP2}")),
            line(41.1, "c1", &format!("delete old app {APP1}")),
        ],
        leaders: vec![lead("c1", 2, 0.5, None)],
        ..Evidence::default()
    }
}

fn names(e: &Evidence) -> Vec<&'static str> {
    let (v, _) = check(e, &Bounds::default());
    let mut n: Vec<&'static str> = v.iter().map(|v| v.invariant).collect();
    n.dedup();
    n
}

#[test]
fn a_clean_history_passes() {
    let (v, c) = check(&clean(), &Bounds::default());
    assert!(v.is_empty(), "{v:#?}");
    assert_eq!((c.writes, c.destructive, c.logged_actions), (3, 1, 3));
}

#[test]
fn a_delete_without_a_fresh_read_is_reported() {
    let mut e = clean();
    // The last list failed (500): the delete rests on a list 11 s older than the window allows.
    e.requests[4].status = 500;
    e.requests[2].at = 10.0;
    assert_eq!(names(&e), vec!["fresh_marathon_read"]);
    // A GET of the app itself is a fresh read.
    e.requests.insert(
        4,
        req(
            39.0,
            "c1",
            "GET",
            &format!("/v2/apps{APP1}?embed=app.tasks"),
            200,
        ),
    );
    assert!(names(&e).is_empty());
}

#[test]
fn a_delete_on_a_view_not_listed_since_a_stream_break_is_reported() {
    let mut e = clean();
    e.requests
        .insert(5, req(40.5, "c1", "GET", &format!("/v2/apps{APP1}"), 200));
    e.requests.remove(4); // no list after the break at 35
    e.windows.push(Window {
        kind: "event_stream_break".into(),
        subject: String::new(),
        start: 35.0,
        end: 35.0,
    });
    assert_eq!(names(&e), vec!["fresh_marathon_read"]);
}

#[test]
fn deleting_the_last_app_of_a_configured_instance_is_reported() {
    let mut e = clean();
    // APP2 was never created: APP1 is web.main's only app when it is deleted.
    e.requests.remove(3);
    e.deploy_log.remove(1);
    assert_eq!(names(&e), vec!["configured_instance_keeps_an_app"]);
    // Once the instance is removed from the config (long enough ago), the delete is cleanup.
    e.config
        .insert(("web".into(), "main".into()), vec![(20.0, false)]);
    assert!(names(&e).is_empty());
    // Written back just before: not configured throughout the grace: no verdict.
    e.config.insert(
        ("web".into(), "main".into()),
        vec![(20.0, false), (38.0, true)],
    );
    assert!(names(&e).is_empty());
}

fn reap_evidence(task_end: Option<f64>, name: &str) -> Evidence {
    let mut e = clean();
    e.tasks.insert(
        "web.main.t1".into(),
        TaskLife {
            id: "web.main.t1".into(),
            launched: 3.0,
            ended: task_end,
        },
    );
    e.requests.push(Request {
        target: "mesos".into(),
        ..req(49.0, "c1", "GET", "/master/state", 200)
    });
    e.deploy_log.push(line(
        50.0,
        "c1",
        &format!("Reaping container {name} on slave-1 (NO_SUCH_TASK, order 7)"),
    ));
    e.docker.push(DockerEvent {
        at: 51.0,
        host: "slave-1".into(),
        action: "destroy".into(),
        id: "abc".into(),
        name: name.into(),
        task_id: Some("web.main.t1".into()),
    });
    e
}

#[test]
fn reaping_the_container_of_a_live_task_is_reported() {
    assert!(names(&reap_evidence(Some(45.0), "mesos-1")).is_empty());
    assert_eq!(
        names(&reap_evidence(None, "mesos-1")),
        vec!["no_reap_of_live_task"]
    );
    assert_eq!(
        names(&reap_evidence(Some(52.0), "mesos-1")),
        vec!["no_reap_of_live_task"]
    );
    assert_eq!(
        names(&reap_evidence(Some(45.0), "sidecar-1")),
        vec!["no_reap_of_live_task"]
    );
}

#[test]
fn a_reap_without_an_order_or_fresh_inputs_is_reported() {
    let mut e = reap_evidence(Some(45.0), "mesos-1");
    e.deploy_log.pop();
    assert_eq!(names(&e), vec!["reap_on_fresh_inputs"]);
    let mut e = reap_evidence(Some(45.0), "mesos-1");
    e.requests.last_mut().expect("mesos read").status = 503;
    assert_eq!(names(&e), vec!["reap_on_fresh_inputs"]);
    let mut e = reap_evidence(Some(45.0), "mesos-1");
    e.windows.push(Window {
        kind: "marathon_leader_change".into(),
        subject: String::new(),
        start: 45.0,
        end: 47.0,
    });
    assert_eq!(names(&e), vec!["reap_on_fresh_inputs"]);
    // The Mesos read it rests on left slave-1 out (partial): reported; another host: fine.
    let mut e = reap_evidence(Some(45.0), "mesos-1");
    e.windows.push(Window {
        kind: "mesos_partial".into(),
        subject: "slave-2".into(),
        start: 48.0,
        end: 53.0,
    });
    assert!(names(&e).is_empty());
    e.windows.push(Window {
        kind: "mesos_partial".into(),
        subject: "slave-1".into(),
        start: 48.0,
        end: 53.0,
    });
    assert_eq!(names(&e), vec!["reap_on_fresh_inputs"]);
}

#[test]
fn two_coordinators_acting_at_once_are_reported() {
    let mut e = clean();
    // c1 led until 35; c2 leads from 36 with term 3 and creates; then c1's stale delete lands.
    e.leaders = vec![lead("c1", 2, 0.5, Some(35.0)), lead("c2", 3, 36.0, None)];
    e.requests.insert(4, list(39.0, "c2"));
    e.requests.insert(
        5,
        create(39.5, "c2", "/api.main.gitcccccccc.config33333333"),
    );
    e.deploy_log.push(line(
        39.6,
        "c2",
        "create /api.main.gitcccccccc.config33333333",
    ));
    let v = names(&e);
    assert!(v.contains(&"one_actor_by_term"), "{v:?}");
    // Within the in-flight slack after its span, and before c2 acted, c1's write is fine.
    let mut e = clean();
    e.leaders = vec![lead("c1", 2, 0.5, Some(40.0)), lead("c2", 3, 50.0, None)];
    assert!(names(&e).is_empty());
    // Far after: acting while not leading.
    e.leaders = vec![lead("c1", 2, 0.5, Some(38.0))];
    assert_eq!(names(&e), vec!["one_actor_by_term"]);
}

#[test]
fn lost_made_up_and_doubled_actions_are_reported() {
    // Lost: the delete is applied but never logged.
    let mut e = clean();
    e.deploy_log.pop();
    assert_eq!(names(&e), vec!["actions_logged_once"]);
    // ... unless c1 was killed right after it.
    e.kills.push(("c1".into(), 43.0));
    e.leaders = vec![lead("c1", 2, 0.5, Some(43.0))];
    assert!(
        names(&e).is_empty(),
        "{:?}",
        check(&e, &Bounds::default()).0
    );
    // Made up: logged twice, applied once.
    let mut e = clean();
    e.deploy_log
        .push(line(45.0, "c1", &format!("delete old app {APP1}")));
    assert_eq!(names(&e), vec!["actions_logged_once"]);
    // Doubled: a task killed by c1, then by c2 after a fail-over.
    let mut e = clean();
    e.leaders = vec![lead("c1", 2, 0.5, Some(45.0)), lead("c2", 3, 46.0, None)];
    let kill = |at, user: &str| Request {
        ids: vec!["web.main.gitaaaaaaaa.config11111111.t1".into()],
        ..req(at, user, "POST", "/v2/tasks/delete?scale=true", 200)
    };
    e.requests.push(kill(44.0, "c1"));
    e.requests.push(list(47.0, "c2"));
    e.requests.push(kill(48.0, "c2"));
    e.deploy_log
        .push(line(44.1, "c1", &format!("kill 1 task(s) of {APP1}")));
    e.deploy_log
        .push(line(48.1, "c2", &format!("kill 1 task(s) of {APP1}")));
    assert_eq!(names(&e), vec!["actions_logged_once"]);
}

#[test]
fn deploy_log_actions_parse() {
    assert_eq!(
        logged_action("create /a.b.gitx.configy"),
        Some(("create", "/a.b.gitx.configy".into()))
    );
    assert_eq!(
        logged_action("delete old app /a"),
        Some(("delete", "/a".into()))
    );
    assert_eq!(
        logged_action("delete /a (instance no longer configured)"),
        Some(("delete", "/a".into()))
    );
    assert_eq!(
        logged_action("Deleted stale marathon job that looks lost: a"),
        Some(("delete", "/a".into()))
    );
    assert_eq!(logged_action("scale /a to 3"), Some(("scale", "/a".into())));
    assert_eq!(
        logged_action("kill 2 task(s) of /a"),
        Some(("kill", "/a".into()))
    );
    assert_eq!(logged_action("crossover bounce in progress"), None);
}
