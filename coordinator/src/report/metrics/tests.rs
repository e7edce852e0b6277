//! `/metrics` served on a real socket, scraped with reqwest and parsed with a Prometheus text
//! parser.

use std::sync::Arc;

use prometheus_parse::{Scrape, Value};

use super::*;

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).is_some_and(|x| x == *v))
        })
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(_) | Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_endpoint_serves_parseable_text() {
    let metrics = Arc::new(Metrics::new());
    metrics.pass_finished("ok", "periodic", Duration::from_millis(120));
    metrics.pass_finished("failed", "marathon_changed", Duration::from_millis(30));
    metrics.count_app("created");
    metrics.count_app("created");
    metrics.count_tasks("killed", 3);
    metrics.observe_call("marathon", "list_apps", Duration::from_millis(8), true);
    metrics.observe_call("marathon", "list_apps", Duration::from_millis(9), false);
    let key = |s: &str, i: &str| Arc::new((s.to_owned(), i.to_owned()));
    let (web_main, web_canary, api_main) =
        (key("web", "main"), key("web", "canary"), key("api", "main"));
    metrics.record_replication([(&web_main, true), (&web_canary, false), (&api_main, true)]);
    // An equal key that is another `Arc` is the same series.
    let web_main_again = key("web", "main");
    metrics.record_replication([(&web_main_again, true), (&web_canary, true)]);
    metrics.record_bounces([(&web_main, true)]);
    metrics.queue_depth.set(4);
    metrics.agents_connected.set(3);
    metrics.agents_stale.set(1);
    metrics.orphans.set(1);
    metrics
        .reaps
        .get_or_create(&OpLabels { op: "refused" })
        .inc();
    metrics
        .sensu_events
        .get_or_create(&OutcomeLabels { outcome: "sent" })
        .inc();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_metrics(listener, metrics.clone(), async {
        let _ = stopped.await;
    }));

    crate::tls::install_crypto_provider();
    let resp = reqwest::get(&url).await.expect("scrape");
    assert!(resp.status().is_success());
    let content_type = resp.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.contains("openmetrics-text"), "{content_type}");
    let body = resp.text().await.unwrap();
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = Scrape::parse(lines).expect("prometheus text parses");

    assert_eq!(
        value(&scrape, "galley_passes_total", &[("outcome", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "galley_apps_total", &[("op", "created")]),
        Some(2.0)
    );
    assert_eq!(
        value(&scrape, "galley_tasks_total", &[("op", "killed")]),
        Some(3.0)
    );
    assert_eq!(
        value(
            &scrape,
            "galley_call_errors_total",
            &[("target", "marathon"), ("op", "list_apps")]
        ),
        Some(1.0)
    );
    let count = scrape
        .samples
        .iter()
        .find(|s| s.metric == "galley_call_duration_seconds")
        .map(|s| match &s.value {
            Value::Histogram(buckets) => buckets.last().map(|b| b.count),
            _ => None,
        });
    assert_eq!(
        count,
        Some(Some(2.0)),
        "two observations in the +Inf bucket"
    );
    assert_eq!(
        value(&scrape, "galley_under_replicated_instances", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(&scrape, "galley_under_replicated", &[("service", "api")]),
        None,
        "removed instances disappear"
    );
    assert_eq!(
        value(
            &scrape,
            "galley_under_replicated",
            &[("service", "web"), ("instance", "canary")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            "galley_bounce_in_progress",
            &[("instance", "main")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&scrape, "galley_queue_depth", &[]), Some(4.0));
    assert_eq!(value(&scrape, "galley_agents_stale", &[]), Some(1.0));
    assert_eq!(value(&scrape, "galley_orphans", &[]), Some(1.0));
    assert_eq!(
        value(&scrape, "galley_reaps_total", &[("op", "refused")]),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "galley_sensu_events_total", &[("outcome", "sent")]),
        Some(1.0)
    );

    stop.send(()).unwrap();
    server.await.unwrap().expect("server stops cleanly");
}

#[tokio::test]
async fn time_call_records_errors() {
    let metrics = Metrics::new();
    let ok: Result<u8, ()> = metrics.time_call("git", "ls_remote", async { Ok(1) }).await;
    let err: Result<u8, ()> = metrics
        .time_call("git", "ls_remote", async { Err(()) })
        .await;
    assert_eq!((ok, err), (Ok(1), Err(())));
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("galley_call_errors_total{target=\"git\",op=\"ls_remote\"} 1"),
        "{text}"
    );
}

#[test]
fn passes_are_timed_by_outcome_and_trigger() {
    let metrics = Metrics::new();
    metrics.pass_finished("ok", "marathon_changed", Duration::from_millis(3));
    metrics.pass_finished("ok", "periodic", Duration::from_millis(40));
    metrics.pass_finished("ok", "periodic", Duration::from_millis(50));
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("galley_pass_duration_seconds_count{outcome=\"ok\",trigger=\"periodic\"} 2"),
        "{text}"
    );
    assert!(
        text.contains(
            "galley_pass_duration_seconds_count{outcome=\"ok\",trigger=\"marathon_changed\"} 1"
        ),
        "{text}"
    );
}

#[test]
fn cache_probe_is_read_at_each_scrape() {
    let metrics = Metrics::new();
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("galley_observed_cache_age_seconds 0.0"),
        "no probe: the gauge stays at its default\n{text}"
    );
    let state = Arc::new(std::sync::Mutex::new(CacheProbe::default()));
    let read = state.clone();
    metrics.set_cache_probe(Arc::new(move || *read.lock().unwrap()));
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("galley_observed_cache_age_seconds -1.0"),
        "never listed\n{text}"
    );
    *state.lock().unwrap() = CacheProbe {
        age_seconds: Some(12.5),
        complete: true,
        events: 7,
        breaks: 1,
    };
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("galley_observed_cache_age_seconds 12.5"),
        "{text}"
    );
    assert!(text.contains("galley_observed_cache_complete 1"), "{text}");
    assert!(text.contains("galley_marathon_events_total 7"), "{text}");
    assert!(
        text.contains("galley_marathon_stream_breaks_total 1"),
        "{text}"
    );
    state.lock().unwrap().events = 9;
    let text = metrics.encode().unwrap();
    assert!(text.contains("galley_marathon_events_total 9"), "{text}");
}
