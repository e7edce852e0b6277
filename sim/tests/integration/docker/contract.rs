//! The contract suite (protocol part: ping, versions, list, filters, event parameters): each
//! scenario asserts dockerd 20.10's observable behaviour and runs unchanged against the
//! emulator and a real dockerd. The lifecycle part is in `lifecycle.rs`.

use std::collections::HashMap;

use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::ListContainersOptionsBuilder;
use chrono::Utc;

use super::backend::{Backend, RUN_LABEL, server_error};
use super::raw::{enc, request};

/// `/_ping` (GET and HEAD), `/version` and the headers dockerd puts on every response.
pub async fn ping_version_and_headers(b: &Backend) {
    assert_eq!(b.docker.ping().await.expect("ping"), "OK");
    let v = b.docker.version().await.expect("version");
    assert_eq!(v.api_version.as_deref(), Some("1.41"));
    assert_eq!(v.min_api_version.as_deref(), Some("1.12"));
    assert!(
        v.version.as_deref().unwrap_or("").starts_with("20.10.24"),
        "{v:?}"
    );
    assert_eq!(v.os.as_deref(), Some("linux"));

    let ping = request(&b.socket, "GET", "/_ping").await;
    assert_eq!((ping.status, ping.body.as_str()), (200, "OK"));
    assert_eq!(ping.header("Api-Version"), Some("1.41"));
    assert_eq!(ping.header("Ostype"), Some("linux"));
    assert_eq!(ping.header("Docker-Experimental"), Some("false"));
    assert_eq!(
        ping.header("Cache-Control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(ping.header("Pragma"), Some("no-cache"));
    let server = ping.header("Server").unwrap_or_default();
    assert!(
        server.starts_with("Docker/20.10.24") && server.ends_with("(linux)"),
        "{server}"
    );

    let head = request(&b.socket, "HEAD", "/_ping").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("0"));
    assert_eq!(head.header("Api-Version"), Some("1.41"));

    let list = request(&b.socket, "GET", "/containers/json").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.header("Content-Type"), Some("application/json"));
    assert_eq!(list.header("Api-Version"), Some("1.41"));
}

/// Paths with and without `/v1.xx`; too new and too old versions; unknown paths.
pub async fn version_prefixes(b: &Backend) {
    for path in ["/v1.41/_ping", "/v1.24/_ping", "/_ping"] {
        let r = request(&b.socket, "GET", path).await;
        assert_eq!((r.status, r.body.as_str()), (200, "OK"), "{path}");
    }
    for path in [
        "/v1.41/containers/json?all=1",
        "/v1.24/containers/json",
        "/containers/json",
    ] {
        let r = request(&b.socket, "GET", path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.json().is_array(), "{path}: {}", r.body);
    }
    let r = request(&b.socket, "GET", "/v1.41/version").await;
    assert_eq!(r.json()["ApiVersion"], "1.41");

    for version in ["1.53", "1.42", "2.0"] {
        for path in ["/_ping", "/containers/json", "/version"] {
            let r = request(&b.socket, "GET", &format!("/v{version}{path}")).await;
            assert_eq!(r.status, 400, "/v{version}{path}");
            assert_eq!(
                r.message(),
                format!(
                    "client version {version} is too new. Maximum supported API version is 1.41"
                )
            );
            assert_eq!(r.header("Api-Version"), Some("1.41"));
        }
    }
    let r = request(&b.socket, "GET", "/v1.11/version").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body.trim_end(),
        "client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version"
    );

    for path in ["/nope", "/v1.x/version", "/v1.41/nope", "/containers"] {
        let r = request(&b.socket, "GET", path).await;
        assert_eq!(
            (r.status, r.message().as_str()),
            (404, "page not found"),
            "{path}"
        );
    }
}

/// Listing: `all`, `limit`, `size`, every filter kind in both forms, order and summary fields.
pub async fn list_and_filters(b: &Backend) {
    let started = Utc::now();
    let task_id = format!(
        "svc.main.git1234abcd.config5678ef90.{}",
        uuid::Uuid::new_v4()
    );
    let mesos_name = format!("mesos-{}", uuid::Uuid::new_v4());
    let a = b
        .run_container(
            &mesos_name,
            &[("MESOS_TASK_ID", &task_id)],
            &[("MESOS_TASK_ID", &task_id)],
        )
        .await;
    let web = b.name("web");
    let bb = b.run_container(&web, &[], &[("role", "web")]).await;
    let gone = b.name("gone");
    let c = b.run_container(&gone, &[], &[("role", "batch")]).await;
    b.docker.kill_container(&c, None).await.expect("kill");

    let ids = |list: Vec<ContainerSummary>| -> Vec<String> {
        list.into_iter().map(|c| c.id.unwrap_or_default()).collect()
    };
    let list = |all: bool, extra: &[(&str, &str)]| {
        let mut filters = b.run_filter();
        for (k, v) in extra {
            filters
                .entry((*k).to_owned())
                .or_default()
                .push((*v).to_owned());
        }
        let opts = ListContainersOptionsBuilder::new()
            .all(all)
            .filters(&filters)
            .build();
        let docker = b.docker.clone();
        async move { docker.list_containers(Some(opts)).await.expect("list") }
    };

    // Running only by default, newest first; all adds the exited one.
    assert_eq!(ids(list(false, &[]).await), [bb.as_str(), a.as_str()]);
    assert_eq!(
        ids(list(true, &[]).await),
        [c.as_str(), bb.as_str(), a.as_str()]
    );

    // name: a regex against the name with its slash (or without it).
    assert_eq!(ids(list(true, &[("name", "^/mesos-")]).await), [a.as_str()]);
    assert_eq!(ids(list(true, &[("name", "^mesos-")]).await), [a.as_str()]);
    assert_eq!(ids(list(true, &[("name", "-web$")]).await), [bb.as_str()]);
    assert_eq!(
        ids(list(true, &[("name", "web"), ("name", "gone")]).await),
        [c.as_str(), bb.as_str()]
    );
    assert!(ids(list(true, &[("name", "[")]).await).is_empty());
    // label: key or key=value; several must all match.
    assert_eq!(
        ids(list(true, &[("label", "MESOS_TASK_ID")]).await),
        [a.as_str()]
    );
    let kv = format!("MESOS_TASK_ID={task_id}");
    assert_eq!(ids(list(true, &[("label", &kv)]).await), [a.as_str()]);
    assert!(ids(list(true, &[("label", "MESOS_TASK_ID=other")]).await).is_empty());
    assert!(ids(list(true, &[("label", "role=web"), ("label", "role=batch")]).await).is_empty());
    // id: prefix.
    assert_eq!(ids(list(true, &[("id", &a[..12])]).await), [a.as_str()]);
    assert!(ids(list(true, &[("id", &a[4..20])]).await).is_empty());
    // status: implies all.
    assert_eq!(
        ids(list(false, &[("status", "exited")]).await),
        [c.as_str()]
    );
    assert_eq!(
        ids(list(false, &[("status", "running")]).await),
        [bb.as_str(), a.as_str()]
    );
    assert_eq!(
        ids(list(true, &[("status", "running"), ("status", "exited")]).await).len(),
        3
    );
    assert!(ids(list(true, &[("status", "created")]).await).is_empty());
    // exited: exit code of exited containers only.
    assert_eq!(ids(list(true, &[("exited", "137")]).await), [c.as_str()]);
    assert!(ids(list(true, &[("exited", "0")]).await).is_empty());

    // limit: newest first, implies all.
    let opts = ListContainersOptionsBuilder::new()
        .limit(1)
        .filters(&b.run_filter())
        .build();
    assert_eq!(
        ids(b.docker.list_containers(Some(opts)).await.expect("list")),
        [c.as_str()]
    );

    // The legacy map form gives the same result.
    let legacy = format!(
        r#"{{"label":{{"{RUN_LABEL}={}":true}},"name":{{"^/mesos-":true}}}}"#,
        b.run_id
    );
    let r = request(
        &b.socket,
        "GET",
        &format!("/containers/json?all=1&filters={}", enc(&legacy)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    assert_eq!(r.json()[0]["Id"], a.as_str());

    // Summary fields and their exact JSON keys.
    let all = list(true, &[]).await;
    let sa = all
        .iter()
        .find(|s| s.id.as_deref() == Some(&a))
        .expect("a listed");
    assert_eq!(sa.names.as_deref(), Some(&[format!("/{mesos_name}")][..]));
    assert_eq!(sa.image.as_deref(), Some(b.image.as_str()));
    assert_eq!(sa.command.as_deref(), Some("/bin/sleep 3600"));
    assert_eq!(sa.state, Some(ContainerSummaryStateEnum::RUNNING));
    assert!(
        sa.status.as_deref().unwrap_or("").starts_with("Up "),
        "{:?}",
        sa.status
    );
    let created = sa.created.expect("created");
    assert!(
        (started.timestamp() - 5..=Utc::now().timestamp() + 1).contains(&created),
        "{created}"
    );
    assert_eq!(
        sa.labels.as_ref().and_then(|l| l.get("MESOS_TASK_ID")),
        Some(&task_id)
    );
    assert!(sa.image_id.as_deref().unwrap_or("").starts_with("sha256:"));
    assert_eq!(sa.id.as_deref().map(str::len), Some(64));
    let sc = all
        .iter()
        .find(|s| s.id.as_deref() == Some(&c))
        .expect("c listed");
    assert_eq!(sc.state, Some(ContainerSummaryStateEnum::EXITED));
    assert!(
        sc.status
            .as_deref()
            .unwrap_or("")
            .starts_with("Exited (137) "),
        "{:?}",
        sc.status
    );

    let filters = format!(r#"{{"id":["{a}"]}}"#);
    let r = request(
        &b.socket,
        "GET",
        &format!("/containers/json?size=1&filters={}", enc(&filters)),
    )
    .await;
    let item = &r.json()[0];
    let keys: Vec<&str> = item
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "Id",
            "Names",
            "Image",
            "ImageID",
            "Command",
            "Created",
            "Ports",
            "SizeRootFs",
            "Labels",
            "State",
            "Status",
            "HostConfig",
            "NetworkSettings",
            "Mounts"
        ]
    );
    assert_eq!(item["State"], "running");
    assert_eq!(item["HostConfig"]["NetworkMode"], "none");
    assert!(item["Created"].is_i64());
    assert!(item["SizeRootFs"].as_i64().unwrap_or(0) > 0);
}

/// Filter errors: status codes and exact texts.
pub async fn list_filter_errors(b: &Backend) {
    let bad = HashMap::from([("bogus", vec!["x"])]);
    let opts = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&bad)
        .build();
    let err = server_error(b.docker.list_containers(Some(opts)).await);
    assert_eq!(err, (400, "Invalid filter 'bogus'".to_owned()));

    let bad = HashMap::from([("status", vec!["bogus"])]);
    let opts = ListContainersOptionsBuilder::new().filters(&bad).build();
    let err = server_error(b.docker.list_containers(Some(opts)).await);
    assert_eq!(err, (400, "Invalid filter 'status=bogus'".to_owned()));

    let cases = [
        (
            r#"{"label":"abc"}"#,
            500,
            "json: cannot unmarshal string into Go value of type map[string]bool",
        ),
        (
            r#"{"label":{"a":"b"}}"#,
            500,
            "json: cannot unmarshal string into Go value of type bool",
        ),
        (
            r#"{"exited":["abc"]}"#,
            500,
            "strconv.Atoi: parsing \"abc\": invalid syntax",
        ),
        (
            r#"{"health":["sick"]}"#,
            400,
            "Unrecognised filter value for health: sick",
        ),
    ];
    for (filters, status, message) in cases {
        let r = request(
            &b.socket,
            "GET",
            &format!("/containers/json?filters={}", enc(filters)),
        )
        .await;
        assert_eq!(
            (r.status, r.message().as_str()),
            (status, message),
            "{filters}"
        );
    }
    let r = request(&b.socket, "GET", "/containers/json?limit=abc").await;
    assert_eq!(
        (r.status, r.message().as_str()),
        (500, "strconv.Atoi: parsing \"abc\": invalid syntax")
    );
}

/// `/events` parameter handling: `since` after `until`, unparsable times, filter JSON errors,
/// and unknown filter keys (ignored by 20.10). `until` in the past closes the stream.
pub async fn events_parameter_errors(b: &Backend) {
    let r = request(&b.socket, "GET", "/events?since=20&until=10").await;
    assert_eq!(
        (r.status, r.message().as_str()),
        (400, "`since` time (20) cannot be after `until` time (10)")
    );
    let r = request(&b.socket, "GET", "/events?since=abc&until=10").await;
    assert_eq!(
        (r.status, r.message().as_str()),
        (500, "strconv.ParseInt: parsing \"abc\": invalid syntax")
    );
    let bad = enc(r#"{"type":"container"}"#);
    let r = request(&b.socket, "GET", &format!("/events?until=10&filters={bad}")).await;
    assert_eq!(
        (r.status, r.message().as_str()),
        (
            500,
            "json: cannot unmarshal string into Go value of type map[string]bool"
        )
    );
    let unknown = enc(r#"{"bogus":["x"]}"#);
    let r = request(
        &b.socket,
        "GET",
        &format!("/events?since=1&until=10&filters={unknown}"),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
}
