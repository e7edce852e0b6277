//! Re-reading only the services that changed gives exactly what a full read of the soa dir
//! gives, whatever changed (configs broken and fixed, services added and removed, deployments
//! written), even when an added or removed service is not among the names said to change.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use galley_common::marathon_app::SystemSettings;
use galley_common::refs::DesiredState;
use galley_coordinator::desired::{
    DesiredContext, DesiredReport, read_desired, reread_desired, update_desired,
};
use proptest::prelude::*;

use crate::reconcile::{SHA1, SHA2, deployments_text};

#[derive(Debug, Clone, PartialEq)]
enum State {
    Absent,
    /// Instances `main` (with this count) and `canary`, deployed at SHA1 or SHA2.
    Running(u32, bool),
    /// YAML that does not parse.
    Broken,
    /// No instance in this cluster.
    Elsewhere,
    /// Configured, never deployed.
    Undeployed,
}

fn state() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::Absent),
        (1u32..4, any::<bool>()).prop_map(|(n, b)| State::Running(n, b)),
        Just(State::Broken),
        Just(State::Elsewhere),
        Just(State::Undeployed),
    ]
}

fn write(soa: &Path, service: &str, state: &State) {
    let dir = soa.join(service);
    let _ = fs::remove_dir_all(&dir);
    if matches!(state, State::Absent) {
        return;
    }
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("service.yaml"), "description: x\n").expect("service.yaml");
    let marathon = match state {
        State::Running(n, _) => format!("main:\n  instances: {n}\ncanary:\n  instances: 1\n"),
        State::Undeployed => "main:\n  instances: 1\ncanary:\n  instances: 1\n".to_owned(),
        State::Broken => "main: [unclosed\n".to_owned(),
        State::Elsewhere | State::Absent => String::new(),
    };
    if !marathon.is_empty() {
        fs::write(dir.join("marathon-testcluster.yaml"), marathon).expect("marathon yaml");
    }
    if matches!(state, State::Elsewhere) {
        fs::write(
            dir.join("marathon-othercluster.yaml"),
            "main:\n  instances: 1\n",
        )
        .expect("other");
    }
    if let State::Running(_, second) = state {
        let sha = if *second { SHA2 } else { SHA1 };
        let text = deployments_text(service, &["main", "canary"], sha, DesiredState::Start, None);
        fs::write(dir.join("deployments.json"), text).expect("deployments.json");
    }
}

fn ctx() -> DesiredContext {
    DesiredContext {
        cluster: "testcluster".into(),
        system: SystemSettings {
            docker_registry: "registry.example.com:443".into(),
            volumes: vec![],
            dockercfg_location: String::new(),
        },
        // One slave, so that instances render (PaaSTA needs slaves for the default
        // constraints) and a new image shows in the desired apps.
        slaves: vec![[("region".to_owned(), "r1".to_owned())].into()],
    }
}

/// Everything a pass uses, as comparable text.
fn canonical(r: &DesiredReport) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        r.desired,
        r.issues,
        r.service_errors,
        r.services.keys().collect::<Vec<_>>(),
        r.listed
    )
}

const SERVICES: [&str; 5] = ["alpha", "bravo", "charlie", "delta", "echo"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn updating_the_changed_services_equals_a_full_read(
        before in prop::collection::vec(state(), SERVICES.len()),
        changes in prop::collection::vec((0..SERVICES.len(), state(), any::<bool>()), 1..6),
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let soa = tmp.path();
        for (name, st) in SERVICES.iter().zip(&before) {
            write(soa, name, st);
        }
        let previous = read_desired(soa, &ctx());
        let mut named = BTreeSet::new();
        for (i, st, tell) in &changes {
            write(soa, SERVICES[*i], st);
            // Added or removed services are found by listing even when not named.
            let appears_or_goes = matches!(st, State::Absent) || matches!(before[*i], State::Absent);
            if *tell || !appears_or_goes {
                named.insert(SERVICES[*i].to_owned());
            }
        }
        let updated = update_desired(soa, &ctx(), previous, &named);
        let full = read_desired(soa, &ctx());
        prop_assert_eq!(canonical(&updated), canonical(&full));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The reconciler keeps its cached desired state (and every cache keyed by it) when a full
    /// re-read equals it: two reads of an unchanged tree must be equal, and a change must not.
    /// (A deployments.json change that alters nothing a pass uses, such as an entry of another
    /// cluster, may read equal: the report keeps what the passes use, not the parsed file.)
    #[test]
    fn full_reads_are_equal_exactly_when_the_tree_is(
        before in prop::collection::vec(state(), SERVICES.len()),
        change in (0..SERVICES.len(), state()),
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let soa = tmp.path();
        for (name, st) in SERVICES.iter().zip(&before) {
            write(soa, name, st);
        }
        let first = read_desired(soa, &ctx());
        prop_assert!(first == read_desired(soa, &ctx()), "an unchanged tree reads equal");
        let (i, st) = change;
        write(soa, SERVICES[i], &st);
        let second = read_desired(soa, &ctx());
        prop_assert_eq!(
            first == second,
            before[i] == st,
            "equal exactly when the service's files are the same"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The periodic full re-read gives what a full read gives, holding the services that read
    /// the same as their previous `Arc`s (entry and desired instances) and only those.
    #[test]
    fn a_reread_equals_a_full_read_and_keeps_what_reads_the_same(
        before in prop::collection::vec(state(), SERVICES.len()),
        changes in prop::collection::vec((0..SERVICES.len(), state()), 0..6),
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let soa = tmp.path();
        for (name, st) in SERVICES.iter().zip(&before) {
            write(soa, name, st);
        }
        let previous = read_desired(soa, &ctx());
        let mut after = before.clone();
        for (i, st) in &changes {
            write(soa, SERVICES[*i], st);
            after[*i] = st.clone();
        }
        let reread = reread_desired(soa, &ctx(), &previous);
        let full = read_desired(soa, &ctx());
        prop_assert_eq!(canonical(&reread), canonical(&full));
        prop_assert!(reread == full);
        for (i, name) in SERVICES.iter().enumerate() {
            let (Some(old), Some(new)) = (previous.services.get(*name), reread.services.get(*name)) else {
                continue;
            };
            // Kept exactly when it reads the same (always when its files are the same; the
            // entry holds no sha, so a redeploy alone keeps it).
            let kept = std::sync::Arc::ptr_eq(old, new);
            prop_assert_eq!(kept, **old == **new, "{} entry", name);
            prop_assert!(kept || before[i] != after[i], "{} unchanged, kept", name);
        }
        // An instance that reads the same is its previous `Arc` (also in a changed service:
        // `canary` when only `main`'s count changed), any other a new one.
        for new in &reread.desired.instances {
            let old = previous
                .desired
                .instances
                .iter()
                .find(|o| o.service == new.service && o.instance == new.instance);
            let kept = old.is_some_and(|o| std::sync::Arc::ptr_eq(o, new));
            prop_assert_eq!(kept, old.is_some_and(|o| **o == **new), "{}.{}", &new.service, &new.instance);
        }
    }
}
