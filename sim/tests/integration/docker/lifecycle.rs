//! Lifecycle part of the contract suite: inspect, create/start, stop, kill, remove and the
//! events each emits, asserted identically against the emulator and a real dockerd.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::ContainerStateStatusEnum;
use bollard::query_parameters::{
    EventsOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::backend::{Backend, server_error};
use super::raw::request;

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Inspect by id, name and prefix; fields of a running and of a killed container; 404.
pub async fn inspect_fields(b: &Backend) {
    let task_id = format!("svc.main.gitabc.configdef.{}", uuid::Uuid::new_v4());
    let name = format!("mesos-{}", uuid::Uuid::new_v4());
    let env = [
        ("MESOS_TASK_ID", task_id.as_str()),
        ("MESOS_SANDBOX", "/mnt/mesos/sandbox"),
    ];
    let id = b
        .run_container(&name, &env, &[("MESOS_TASK_ID", &task_id)])
        .await;

    for given in [id.as_str(), name.as_str(), &id[..12]] {
        let i = b
            .docker
            .inspect_container(given, None)
            .await
            .expect("inspect");
        assert_eq!(i.id.as_deref(), Some(id.as_str()), "{given}");
    }
    let i = b
        .docker
        .inspect_container(&name, None)
        .await
        .expect("inspect");
    assert_eq!(i.name, Some(format!("/{name}")));
    assert_eq!(i.path.as_deref(), Some("/bin/sleep"));
    assert_eq!(i.args, Some(vec!["3600".to_owned()]));
    let created = i.created.as_deref().expect("created");
    let created = DateTime::parse_from_rfc3339(created).expect("RFC3339 Created");
    assert!((Utc::now() - created.to_utc()).num_seconds().abs() < 60);
    let state = i.state.expect("state");
    assert_eq!(state.status, Some(ContainerStateStatusEnum::RUNNING));
    assert_eq!(state.running, Some(true));
    assert_eq!(state.paused, Some(false));
    assert_eq!(state.dead, Some(false));
    assert!(state.pid.unwrap_or(0) > 0);
    assert_eq!(state.exit_code, Some(0));
    assert_ne!(state.started_at.as_deref(), Some(ZERO_TIME));
    assert_eq!(state.finished_at.as_deref(), Some(ZERO_TIME));
    let config = i.config.expect("config");
    let env = config.env.unwrap_or_default();
    assert!(env.contains(&format!("MESOS_TASK_ID={task_id}")), "{env:?}");
    assert!(
        env.contains(&"MESOS_SANDBOX=/mnt/mesos/sandbox".to_owned()),
        "{env:?}"
    );
    assert_eq!(
        config.labels.as_ref().and_then(|l| l.get("MESOS_TASK_ID")),
        Some(&task_id)
    );
    assert_eq!(config.image.as_deref(), Some(b.image.as_str()));
    assert_eq!(
        config.cmd,
        Some(vec!["/bin/sleep".to_owned(), "3600".to_owned()])
    );
    assert_eq!(config.hostname.as_deref(), Some(&id[..12]));
    assert_eq!(
        i.host_config.and_then(|h| h.network_mode).as_deref(),
        Some("none")
    );
    assert!(i.image.as_deref().unwrap_or("").starts_with("sha256:"));

    b.docker.kill_container(&id, None).await.expect("kill");
    let state = b
        .docker
        .inspect_container(&id, None)
        .await
        .expect("inspect")
        .state
        .expect("state");
    assert_eq!(state.status, Some(ContainerStateStatusEnum::EXITED));
    assert_eq!(
        (state.running, state.exit_code, state.pid),
        (Some(false), Some(137), Some(0))
    );
    assert_ne!(state.finished_at.as_deref(), Some(ZERO_TIME));

    let missing = b.name("missing");
    let err = server_error(b.docker.inspect_container(&missing, None).await);
    assert_eq!(err, (404, format!("No such container: {missing}")));
    let r = request(
        &b.socket,
        "GET",
        &format!("/v1.41/containers/{missing}/json"),
    )
    .await;
    assert_eq!(
        (r.status, r.message()),
        (404, format!("No such container: {missing}"))
    );
}

/// Create and start: name conflicts, invalid names, start of a running container (304).
pub async fn create_and_start_codes(b: &Backend) {
    let name = b.name("dup");
    let id = b.create(&name, &[], &[]).await;
    let state = b
        .docker
        .inspect_container(&id, None)
        .await
        .expect("inspect")
        .state
        .expect("state");
    assert_eq!(state.status, Some(ContainerStateStatusEnum::CREATED));
    assert_eq!(state.started_at.as_deref(), Some(ZERO_TIME));
    let opts = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&b.run_filter())
        .build();
    let listed = b.docker.list_containers(Some(opts)).await.expect("list");
    assert_eq!(listed[0].status.as_deref(), Some("Created"));

    let err = server_error(bollard_create(b, &name).await);
    assert_eq!(
        err,
        (
            409,
            format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
            )
        )
    );
    let err = server_error(bollard_create(b, "a").await);
    assert_eq!(
        err,
        (
            400,
            "Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed".to_owned()
        )
    );

    b.docker.start_container(&name, None).await.expect("start");
    let r = request(&b.socket, "POST", &format!("/containers/{id}/start")).await;
    assert_eq!((r.status, r.body.as_str()), (304, ""));
    let missing = b.name("missing");
    let r = request(&b.socket, "POST", &format!("/containers/{missing}/start")).await;
    assert_eq!(
        (r.status, r.message()),
        (404, format!("No such container: {missing}"))
    );
}

async fn bollard_create(
    b: &Backend,
    name: &str,
) -> Result<bollard::models::ContainerCreateResponse, bollard::errors::Error> {
    let body = bollard::models::ContainerCreateBody {
        image: Some(b.image.clone()),
        cmd: Some(vec!["/bin/true".to_owned()]),
        ..Default::default()
    };
    let opts = bollard::query_parameters::CreateContainerOptionsBuilder::new()
        .name(name)
        .build();
    b.docker.create_container(Some(opts), body).await
}

/// Stop: 204 then 304, exit 137 for a PID 1 ignoring SIGTERM, events kill(15) kill(9) die
/// stop; 404 for a missing container.
pub async fn stop_semantics_and_events(b: &Backend) {
    let task_id = format!("svc.main.x.y.{}", uuid::Uuid::new_v4());
    let name = format!("mesos-{}", uuid::Uuid::new_v4());
    let id = b
        .run_container(
            &name,
            &[("MESOS_TASK_ID", &task_id)],
            &[("MESOS_TASK_ID", &task_id)],
        )
        .await;
    let before = Utc::now();
    let opts = StopContainerOptionsBuilder::new().t(1).build();
    b.docker
        .stop_container(&id, Some(opts))
        .await
        .expect("stop");

    let events = collect_events(b, &id, before, None, 4).await;
    let actions: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(actions, ["kill", "kill", "die", "stop"]);
    assert_eq!(events[0].1.get("signal").map(String::as_str), Some("15"));
    assert_eq!(events[1].1.get("signal").map(String::as_str), Some("9"));
    assert_eq!(events[2].1.get("exitCode").map(String::as_str), Some("137"));
    for (_, attrs) in &events {
        assert_eq!(attrs.get("name"), Some(&name));
        assert_eq!(attrs.get("image"), Some(&b.image));
        assert_eq!(attrs.get("MESOS_TASK_ID"), Some(&task_id));
    }

    let state = b
        .docker
        .inspect_container(&id, None)
        .await
        .expect("inspect")
        .state
        .expect("state");
    assert_eq!(
        (state.status, state.exit_code),
        (Some(ContainerStateStatusEnum::EXITED), Some(137))
    );

    let r = request(&b.socket, "POST", &format!("/containers/{id}/stop?t=1")).await;
    assert_eq!((r.status, r.body.as_str()), (304, ""));
    b.docker
        .stop_container(&id, None)
        .await
        .expect("bollard treats 304 as success");
    let missing = b.name("missing");
    let r = request(
        &b.socket,
        "POST",
        &format!("/v1.41/containers/{missing}/stop"),
    )
    .await;
    assert_eq!(
        (r.status, r.message()),
        (404, format!("No such container: {missing}"))
    );
    let r = request(&b.socket, "POST", &format!("/containers/{id}/stop?t=abc")).await;
    assert_eq!(
        (r.status, r.message().as_str()),
        (500, "strconv.Atoi: parsing \"abc\": invalid syntax")
    );
}

/// Kill: invalid signal 400, SIGTERM ignored by PID 1, stop without timeout ended by a kill
/// (kill(15) kill(9) die stop), 409 when not running, 404 texts; `until` ends the stream.
pub async fn kill_semantics_and_events(b: &Backend) {
    let name = b.name("kill");
    let id = b.run_container(&name, &[], &[]).await;
    let err = server_error(
        b.docker
            .kill_container(
                &name,
                Some(KillContainerOptionsBuilder::new().signal("SIGFOO").build()),
            )
            .await,
    );
    assert_eq!(err, (400, "Invalid signal: SIGFOO".to_owned()));
    let r = request(
        &b.socket,
        "POST",
        &format!("/containers/{name}/kill?signal=0"),
    )
    .await;
    assert_eq!((r.status, r.message().as_str()), (400, "Invalid signal: 0"));
    let r = request(
        &b.socket,
        "POST",
        &format!("/containers/{name}/kill?signal=99"),
    )
    .await;
    assert_eq!(
        (r.status, r.message()),
        (
            500,
            format!("Cannot kill container: {name}: The linux daemon does not support signal 99")
        )
    );

    // PID 1 (sleep) ignores SIGTERM.
    let term = KillContainerOptionsBuilder::new().signal("SIGTERM").build();
    b.docker
        .kill_container(&name, Some(term))
        .await
        .expect("kill TERM");
    let state = b
        .docker
        .inspect_container(&id, None)
        .await
        .expect("inspect")
        .state;
    assert_eq!(state.and_then(|s| s.running), Some(true));

    // stop with a negative timeout never SIGKILLs: it returns once a kill ends the container.
    let before = Utc::now();
    let docker = b.docker.clone();
    let stop_id = id.clone();
    let stopper = tokio::spawn(async move {
        let opts = StopContainerOptionsBuilder::new().t(-1).build();
        docker.stop_container(&stop_id, Some(opts)).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !stopper.is_finished(),
        "stop with t=-1 returned while the container ran"
    );
    b.docker.kill_container(&name, None).await.expect("kill");
    let stopped = tokio::time::timeout(Duration::from_secs(10), stopper).await;
    stopped
        .expect("stop returned after the kill")
        .expect("join")
        .expect("stop");

    // `until` slightly in the future: the stream ends by itself.
    let until = Some(Utc::now() + chrono::Duration::milliseconds(200));
    let events = collect_events(b, &id, before, until, 4).await;
    let actions: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(actions, ["kill", "kill", "die", "stop"]);
    assert_eq!(events[0].1.get("signal").map(String::as_str), Some("15"));
    assert_eq!(events[1].1.get("signal").map(String::as_str), Some("9"));
    assert_eq!(events[2].1.get("exitCode").map(String::as_str), Some("137"));

    let err = server_error(b.docker.kill_container(&name, None).await);
    assert_eq!(
        err,
        (
            409,
            format!("Cannot kill container: {name}: Container {id} is not running")
        )
    );
    let err = server_error(b.docker.kill_container(&id[..12], None).await);
    assert_eq!(
        err,
        (
            409,
            format!(
                "Cannot kill container: {}: Container {id} is not running",
                &id[..12]
            )
        )
    );
    let missing = b.name("missing");
    let err = server_error(b.docker.kill_container(&missing, None).await);
    assert_eq!(
        err,
        (
            404,
            format!("Cannot kill container: {missing}: No such container: {missing}")
        )
    );
}

/// Remove: 409 for a running container, 404 also with force, destroy events, force-remove of
/// a running container = kill die destroy.
pub async fn remove_semantics_and_events(b: &Backend) {
    let running = b.name("rm-running");
    let rid = b.run_container(&running, &[], &[]).await;
    let stopped = b.name("rm-stopped");
    let sid = b.run_container(&stopped, &[], &[]).await;
    b.docker.kill_container(&sid, None).await.expect("kill");

    let err = server_error(b.docker.remove_container(&running, None).await);
    assert_eq!(
        err,
        (
            409,
            format!(
                "You cannot remove a running container {rid}. Stop the container before attempting removal or force remove"
            )
        )
    );
    let missing = b.name("missing");
    let force = || {
        Some(
            RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build(),
        )
    };
    let err = server_error(b.docker.remove_container(&missing, force()).await);
    assert_eq!(err, (404, format!("No such container: {missing}")));
    let r = request(
        &b.socket,
        "DELETE",
        &format!("/v1.41/containers/{missing}?force=1"),
    )
    .await;
    assert_eq!(
        (r.status, r.message()),
        (404, format!("No such container: {missing}"))
    );

    let r = request(
        &b.socket,
        "DELETE",
        &format!("/containers/{stopped}?link=1"),
    )
    .await;
    assert_eq!(
        (r.status, r.message().as_str()),
        (
            500,
            "Conflict, cannot remove the default link name of the container"
        )
    );
    let r = request(
        &b.socket,
        "DELETE",
        &format!("/containers/{missing}?link=1"),
    )
    .await;
    assert_eq!(
        (r.status, r.message()),
        (404, format!("No such container: {missing}"))
    );

    let before = Utc::now();
    b.docker
        .remove_container(&stopped, None)
        .await
        .expect("remove stopped");
    let events = collect_events(b, &sid, before, None, 1).await;
    assert_eq!(
        events.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["destroy"]
    );

    b.docker
        .remove_container(&running, force())
        .await
        .expect("force remove");
    let events = collect_events(b, &rid, before, None, 3).await;
    assert_eq!(
        events.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["kill", "die", "destroy"]
    );
    assert_eq!(events[0].1.get("signal").map(String::as_str), Some("9"));

    let err = server_error(b.docker.inspect_container(&rid, None).await);
    assert_eq!(err, (404, format!("No such container: {rid}")));
}

/// A container's events since `since` (type container), as (action, attributes). With
/// `until`, also checks that the stream ends by itself; otherwise stops after `n` events.
async fn collect_events(
    b: &Backend,
    id: &str,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    n: usize,
) -> Vec<(String, HashMap<String, String>)> {
    let filters = HashMap::from([("container", vec![id]), ("type", vec!["container"])]);
    let since = docker_ts(since);
    let mut opts = EventsOptionsBuilder::new().since(&since).filters(&filters);
    let until_ts = until.map(docker_ts);
    if let Some(u) = &until_ts {
        opts = opts.until(u);
    }
    let mut stream = b.docker.events(Some(opts.build()));
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if until.is_none() && out.len() == n {
            break;
        }
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        match next {
            Ok(Some(Ok(ev))) => {
                let actor = ev.actor.unwrap_or_default();
                out.push((
                    ev.action.unwrap_or_default(),
                    actor.attributes.unwrap_or_default(),
                ));
            }
            Ok(Some(Err(e))) => panic!("event stream error: {e}"),
            Ok(None) => break,
            Err(_) => panic!("timed out waiting for events; got {out:?}"),
        }
    }
    assert_eq!(out.len(), n, "{out:?}");
    out
}

/// `secs.nanos`, the form `since`/`until` accept.
fn docker_ts(t: DateTime<Utc>) -> String {
    format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())
}
