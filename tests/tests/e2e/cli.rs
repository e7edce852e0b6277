//! The one-shot commands as an operator types them: `generate-deployments`, `render-app`,
//! `plan`, `check-config` and the tag subcommands, with their outputs, exit codes and the
//! error messages broken input gets (each names the file, key or service).

use std::process::Output;

use galley_e2e::cluster::{CLUSTER, Cluster, SimProc};
use serde_json::Value;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a failed run (exit 1) whose stderr contains every one of `needles`.
fn fails_with(out: &Output, needles: &[&str]) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}:\n{stderr}");
    }
}

#[test]
fn generate_deployments_writes_what_it_can_and_names_what_it_cannot() {
    let c = Cluster::from_examples();
    let soa = c.soa.display().to_string();
    let (web, api) = (c.repo("web"), c.repo("api"));
    let (w1, a1) = (web.commit("web v1"), api.commit("api v1"));
    web.deploy("norcal-prod.everything", &w1);
    api.deploy("norcal-prod.main", &a1);
    c.generate_deployments();
    let read = |svc: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(c.soa.join(svc).join("deployments.json")).expect("read"),
        )
        .expect("json")
    };
    assert_eq!(
        read("web")["v2"]["deployments"]["norcal-prod.everything"]["git_sha"],
        w1.as_str()
    );
    let api_before = read("api");

    // api's config breaks and web moves on: web is written, api keeps its file, exit 1.
    let w2 = web.commit("web v2");
    web.deploy("norcal-prod.everything", &w2);
    c.write_soa("api/marathon-norcal-prod.yaml", "main: [unclosed\n");
    let out = c.cli(&["generate-deployments", "--soa-dir", &soa]);
    fails_with(&out, &["service api", "marathon-norcal-prod.yaml"]);
    assert_eq!(
        read("web")["v2"]["deployments"]["norcal-prod.everything"]["git_sha"],
        w2.as_str()
    );
    assert_eq!(
        read("api"),
        api_before,
        "a broken service keeps its old file"
    );

    // An unreachable repository: named, old file kept.
    std::fs::remove_dir_all(&web.path).expect("rm repo");
    let out = c.cli(&[
        "generate-deployments",
        "--soa-dir",
        &soa,
        "--service",
        "web",
        "--timeout",
        "5",
    ]);
    fails_with(&out, &["service web"]);
    assert_eq!(
        read("web")["v2"]["deployments"]["norcal-prod.everything"]["git_sha"],
        w2.as_str()
    );
    // A service that does not exist.
    let out = c.cli(&[
        "generate-deployments",
        "--soa-dir",
        &soa,
        "--service",
        "nosuch",
    ]);
    fails_with(&out, &["nosuch"]);
}

/// The `N written, N unchanged (N skipped by stamp)` counts of a successful run.
fn counts(out: &Output) -> (usize, usize, usize) {
    let (_, stderr) = text(out);
    assert!(out.status.success(), "{stderr}");
    let num = |after: &str| -> usize {
        let tail = &stderr[stderr
            .find(after)
            .unwrap_or_else(|| panic!("{after:?} in {stderr}"))..];
        let before = &stderr[..stderr.len() - tail.len()];
        let digits: String = before
            .trim_end()
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .chars()
            .rev()
            .collect::<String>()
            .parse()
            .expect("count")
    };
    (num(" written"), num(" unchanged"), num(" skipped by stamp"))
}

#[test]
fn generate_deployments_skips_services_whose_inputs_did_not_change() {
    let c = Cluster::from_examples();
    let soa = c.soa.display().to_string();
    let services = std::fs::read_dir(&c.soa)
        .expect("soa")
        .filter(|e| {
            let e = e.as_ref().expect("entry");
            e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.')
        })
        .count();
    let (web, api) = (c.repo("web"), c.repo("api"));
    let (w1, a1) = (web.commit("web v1"), api.commit("api v1"));
    web.deploy("norcal-prod.everything", &w1);
    api.deploy("norcal-prod.main", &a1);
    let run = |extra: &[&str]| {
        let mut args = vec!["generate-deployments", "--soa-dir", soa.as_str()];
        args.extend_from_slice(extra);
        counts(&c.cli(&args))
    };
    let first = run(&[]);
    assert_eq!(first.2, 0, "nothing stamped yet: {first:?}");
    // Nothing changed: every service is skipped before it is read or listed.
    assert_eq!(run(&[]), (0, services, services));
    // A push to one repository: that service alone is generated, and written.
    let w2 = web.commit("web v2");
    web.deploy("norcal-prod.everything", &w2);
    assert_eq!(run(&[]), (1, services - 1, services - 1));
    let path = c.soa.join("web").join("deployments.json");
    let written = std::fs::read_to_string(&path).expect("read");
    assert!(written.contains(&w2), "{written}");
    // A deployments.json changed by hand is regenerated, not trusted.
    std::fs::write(&path, "{}").expect("write");
    assert_eq!(run(&[]), (1, services - 1, services - 1));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), written);
    // A config edit regenerates that service (here its file does not change).
    let yaml = c.soa.join("api").join("service.yaml");
    let text = std::fs::read_to_string(&yaml).expect("read");
    std::fs::write(&yaml, format!("{text}\n# edited\n")).expect("write");
    assert_eq!(run(&[]), (0, services, services - 1));
    // --no-stamps generates everything; so does --legacy-branches (another output).
    assert_eq!(run(&["--no-stamps"]), (0, services, 0));
    assert_eq!(run(&["--legacy-branches"]).2, 0);
}

#[test]
fn render_app_prints_paastas_app_and_refuses_unknown_instances() {
    let c = Cluster::from_examples();
    let web = c.repo("web");
    let w1 = web.commit("web v1");
    web.deploy("norcal-prod.everything", &w1);
    c.generate_deployments();
    let slaves = c.write(
        "slaves.json",
        r#"[{"region": "uswest1-prod", "pool": "default"}, {"region": "useast1-prod", "pool": "default"}]"#,
    );
    let (soa, sys, slaves) = (
        c.soa.display().to_string(),
        c.sys.display().to_string(),
        slaves.display().to_string(),
    );
    let render = |what: &str| {
        c.cli(&[
            "render-app",
            what,
            "--soa-dir",
            &soa,
            "--cluster",
            CLUSTER,
            "--system-config-dir",
            &sys,
            "--mesos-slaves-file",
            &slaves,
        ])
    };
    let out = render("web.main");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let app: Value = serde_json::from_str(&stdout).expect("app JSON");
    let id = app["id"].as_str().expect("id");
    assert!(
        id.starts_with(&format!("web.main.git{}.config", &w1[..8])),
        "{id}"
    );
    assert_eq!(app["instances"], 3);
    assert_eq!(
        app["container"]["docker"]["image"],
        format!("docker-registry.norcal-prod.example.com:443/services-web:paasta-{w1}")
    );
    assert_eq!(
        app["env"]["LOG_LEVEL"], "warning",
        "instance env over service.yaml's"
    );

    fails_with(&render("web.nosuch"), &["nosuch"]);
    fails_with(&render("api.main"), &["api"]); // not deployed: no deployments.json entry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_check_config_against_a_cluster() {
    let c = Cluster::from_examples();
    let web = c.repo("web");
    let w1 = web.commit("web v1");
    web.deploy("norcal-prod.everything", &w1);
    web.deploy("norcal-prod.canary", &w1);
    c.generate_deployments();
    let sim = SimProc::start(&c, 2, None).await;
    let config = |marathon: &str, extra: &str| {
        format!(
            "cluster: {CLUSTER}\nsoa_dir: {soa}\nsystem_config_dir: {sys}\n\
             marathon:\n  url: {marathon}\n  timeout_seconds: 3\nmesos:\n  url: {mesos}\n\
             reconcile:\n  interval_seconds: 30\n{extra}",
            soa = c.soa.display(),
            sys = c.sys.display(),
            mesos = sim.mesos,
        )
    };
    let good = c.write("coordinator.yaml", &config(&sim.marathon, ""));
    let good = good.display().to_string();

    // plan: what the next pass would do, applying nothing.
    let out = c.cli(&["plan", "--config", &good]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("/web.main.git{}", &w1[..8])),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("/web.canary.git{}", &w1[..8])),
        "{stdout}"
    );
    assert!(
        stdout.contains("api.main: not planned"),
        "undeployed instances are named: {stdout}"
    );
    let apps = galley_e2e::observe::marathon_app_ids(&sim.marathon)
        .await
        .expect("apps");
    assert!(apps.is_empty(), "plan applied something: {apps:?}");
    // Marathon down: exit 1 naming it.
    let down = c.write(
        "down.yaml",
        &config(&format!("http://127.0.0.1:{}", galley_e2e::free_port()), ""),
    );
    fails_with(
        &c.cli(&["plan", "--config", &down.display().to_string()]),
        &["marathon"],
    );

    // check-config: OK (with its warnings), then every way a file can be wrong.
    let out = c.cli(&["check-config", "--config", &good]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("config OK"), "{stdout}");
    assert!(stderr.contains("no `tls` section"), "{stderr}");
    let cases: [(&str, String, &[&str]); 5] = [
        (
            "unknown-key.yaml",
            config(&sim.marathon, "reconcile_typo: 1\n"),
            &["unknown-key.yaml", "reconcile_typo"],
        ),
        (
            "bad-reaper.yaml",
            config(&sim.marathon, "reaper:\n  sightings: 0\n"),
            &["bad-reaper.yaml", "reaper.sightings"],
        ),
        (
            "bad-listen.yaml",
            config(&sim.marathon, "listen: not-an-address\n"),
            &["bad-listen.yaml", "listen"],
        ),
        (
            "missing-secret.yaml",
            config(
                &sim.marathon,
                "git:\n  webhook_listen: 127.0.0.1:0\n  webhook_secret_file: /nonexistent/secret\n",
            ),
            &["missing-secret.yaml", "webhook_secret_file"],
        ),
        (
            "not-yaml.yaml",
            "soa_dir: [".into(),
            &["not-yaml.yaml", "YAML"],
        ),
    ];
    for (name, body, needles) in cases {
        let path = c.write(name, &body);
        fails_with(
            &c.cli(&["check-config", "--config", &path.display().to_string()]),
            needles,
        );
    }
    fails_with(
        &c.cli(&["check-config", "--config", "/nonexistent/coordinator.yaml"]),
        &["/nonexistent/coordinator.yaml"],
    );
    // A risky but valid reaper: a warning, exit 0.
    let risky = c.write(
        "risky.yaml",
        &config(&sim.marathon, "reaper:\n  min_age_seconds: 30\n"),
    );
    let out = c.cli(&["check-config", "--config", &risky.display().to_string()]);
    assert!(out.status.success());
    assert!(
        text(&out).1.contains("reaper.min_age_seconds"),
        "{:?}",
        text(&out)
    );

    // Tag subcommands refuse what cannot be right, naming it, and push nothing.
    let out = c.cli(&[
        "mark-for-deployment",
        "--config",
        &good,
        "--service",
        "web",
        "--deploy-group",
        "norcal-prod.nosuch",
        "--commit",
        &w1,
    ]);
    fails_with(&out, &["norcal-prod.nosuch", "norcal-prod.everything"]);
    let out = c.cli(&[
        "mark-for-deployment",
        "--config",
        &good,
        "--service",
        "web",
        "--deploy-group",
        "norcal-prod.everything",
        "--commit",
        "abc",
    ]);
    fails_with(&out, &["git_sha"]);
    // --timeout bounds --wait only (the git timeout is --git-timeout): alone it is refused.
    let out = c.cli(&[
        "mark-for-deployment",
        "--config",
        &good,
        "--service",
        "web",
        "--deploy-group",
        "norcal-prod.everything",
        "--commit",
        &w1,
        "--timeout",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("--wait"), "{:?}", text(&out));
    let out = c.cli(&[
        "stop",
        "--config",
        &good,
        "--service",
        "api",
        "--cluster",
        CLUSTER,
        "--instance",
        "main",
    ]);
    fails_with(&out, &["api", "main"]); // nothing deployed to stop
    let repo = git2::Repository::open_bare(&web.path).expect("repo");
    let names = repo.tag_names(None).expect("tags");
    assert_eq!(names.len(), 2, "only the two deploy tags");
}
