//! `serve` watching Marathon's event stream (README's config: `marathon.watch_events` is on by
//! default). With the periodic pass an hour away, Marathon's events alone drive a bounce; the
//! stream is broken three times in the middle of it (`POST /_sim/events/break`), the view
//! lists again each time before trusting events, and the bounce finishes. Watched from
//! outside: Marathon's API, grpcurl (`GetStatus.marathonView`), `/metrics`.

use std::time::Duration;

use galley_e2e::cluster::{Cluster, SimProc};
use galley_e2e::observe::{apps_of, http, marathon_app_ids, marathon_apps, metric};
use galley_e2e::{Grpcurl, eventually, free_port};

const MINUTE: Duration = Duration::from_secs(60);

/// Every app of `svc.inst` is the one running `sha`, with all of its tasks running.
async fn settled_on(sim: &SimProc, svc: &str, inst: &str, sha: &str) -> Result<(), String> {
    let ids = marathon_app_ids(&sim.marathon).await?;
    let mine = apps_of(&ids, svc, inst);
    let git = format!(".git{}.", &sha[..8]);
    if mine.len() != 1 || !mine[0].contains(&git) {
        return Err(format!("{svc}.{inst}: {mine:?}, want one app with {git}"));
    }
    let apps = marathon_apps(&sim.marathon).await?;
    let app = apps
        .iter()
        .find(|a| a["id"] == mine[0].as_str())
        .ok_or("app gone")?;
    let (want, running) = (app["instances"].as_u64(), app["tasksRunning"].as_u64());
    if want.is_some() && want == running {
        Ok(())
    } else {
        Err(format!("{}: {running:?} of {want:?} running", mine[0]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_finishes_while_the_event_stream_breaks() {
    let c = Cluster::from_examples();
    let (web, api) = (c.repo("web"), c.repo("api"));
    let (web1, api1) = (web.commit("web v1"), api.commit("api v1"));
    web.deploy("norcal-prod.everything", &web1);
    web.deploy("norcal-prod.canary", &web1);
    api.deploy("norcal-prod.main", &api1);
    api.deploy("norcal-prod.worker", &api1);
    c.generate_deployments();

    let sim = SimProc::start(&c, 4, None).await;
    let (port, metrics_port) = (free_port(), free_port());
    // Passes come from the start, from soa-dir changes and from Marathon's events only.
    let extra =
        format!("metrics_listen: 127.0.0.1:{metrics_port}\ngit:\n  poll_interval_seconds: 3600\n");
    let cfg = c.write(
        "coordinator.yaml",
        &c.serve_config(&sim, port, 3600.0, &extra),
    );
    let _serve = c.serve("coordinator", &cfg, &["--insecure"]);
    eventually("web.main runs v1", MINUTE, || {
        settled_on(&sim, "web", "main", &web1)
    })
    .await;
    let Some(grpc) = Grpcurl::find(&format!("127.0.0.1:{port}")) else {
        return;
    };
    let view = grpc.ok("GetStatus", None)["marathonView"].clone();
    assert_eq!(view["complete"], true, "{view}");
    let lists_before = view["lists"]
        .as_str()
        .unwrap_or("0")
        .parse::<u64>()
        .unwrap_or(0);
    assert!(lists_before >= 1, "{view}");

    // A new deploy of web; once its new app exists, the stream breaks three times.
    let web2 = web.commit("web v2");
    web.deploy("norcal-prod.everything", &web2);
    c.generate_deployments();
    eventually("web.main's new app is created", MINUTE, || async {
        let ids = marathon_app_ids(&sim.marathon).await?;
        let git = format!(".git{}.", &web2[..8]);
        if apps_of(&ids, "web", "main")
            .iter()
            .any(|a| a.contains(&git))
        {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    // Each break must find the stream open (between breaks the view reconnects and lists).
    let mut broken = 0;
    while broken < 3 {
        let resp: serde_json::Value = http()
            .post(format!("{}/_sim/events/break", sim.marathon))
            .send()
            .await
            .expect("break")
            .json()
            .await
            .expect("break answer");
        if resp["broken"].as_u64().unwrap_or(0) > 0 {
            broken += 1;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eventually("web.main bounces to v2 through the breaks", MINUTE, || {
        settled_on(&sim, "web", "main", &web2)
    })
    .await;

    let view = grpc.ok("GetStatus", None)["marathonView"].clone();
    assert_eq!(view["complete"], true, "{view}");
    let n = |k: &str| view[k].as_str().unwrap_or("0").parse::<u64>().unwrap_or(0);
    assert!(n("breaks") >= 3, "{view}");
    assert!(
        n("lists") >= lists_before + 3,
        "a list after every break: {view}"
    );
    assert!(n("events") > 0 && n("fetches") > 0, "{view}");
    assert!(
        metric(metrics_port, "galley_marathon_stream_breaks_total")
            .await
            .is_some_and(|b| b >= 3.0)
    );
    assert_eq!(
        metric(metrics_port, "galley_observed_cache_complete").await,
        Some(1.0)
    );
    // Marathon is listed by the view only: no pass lists it for itself while the view is
    // complete (the monitor and the reaper read the same view).
    let list_calls = metric(
        metrics_port,
        r#"galley_call_duration_seconds_count{target="marathon",op="list_apps"}"#,
    )
    .await
    .unwrap_or(0.0);
    assert!(
        list_calls <= n("lists") as f64 + 2.0,
        "{list_calls} list calls for {} view lists",
        n("lists")
    );
    let text = http()
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let changed: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("galley_pass_duration_seconds_count{")
                && l.contains(r#"trigger="marathon_changed""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(changed >= 1.0, "events drove passes:\n{text}");
}
