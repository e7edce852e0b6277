//! The rollback's Sensu event: `galley_bounce_rollback.<service>.<instance>`, WARNING when a
//! rollback was pushed (naming both shas, the trigger and the evidence), OK once an instance
//! of the group runs a third sha with every task happy (a fix shipped). The envelope is the
//! instance's monitoring settings (team, runbook, page, ...) as `setup_marathon_job`'s, with
//! `alert_after` 0: one event is enough.

use std::collections::BTreeMap;

use galley_common::monitoring::{CheckKind, MonitoringSources, SensuEvent, SensuSettings, Status};
use galley_common::soa::InstanceKind;
use serde_json::Value;

use super::decide::{InstanceKey, InstanceObservation, Rollback};
use crate::error_chain::ErrorChain;
use crate::reconciler::PassRecord;
use crate::sensu::SensuSink;

/// The check name of `service.instance`'s rollback event.
pub(super) fn check_name(service: &str, instance: &str) -> String {
    format!("galley_bounce_rollback.{service}.{instance}")
}

/// A raised rollback event, remembered until it is resolved.
#[derive(Debug, Clone)]
pub(super) struct Alert {
    deploy_group: String,
    from_sha: String,
    to_sha: String,
    settings: Option<SensuSettings>,
}

/// Raised events by instance.
#[derive(Debug, Default)]
pub(super) struct Alerts {
    raised: BTreeMap<InstanceKey, Alert>,
}

impl Alerts {
    /// Remembers the event of `r` (to `to_sha`).
    pub(super) fn raise(
        &mut self,
        r: &Rollback,
        to_sha: &str,
        settings: Option<SensuSettings>,
    ) -> Alert {
        let alert = Alert {
            deploy_group: r.deploy_group.clone(),
            from_sha: r.from_sha.clone(),
            to_sha: to_sha.to_owned(),
            settings,
        };
        self.raised
            .insert((r.service.clone(), r.instance.clone()), alert.clone());
        alert
    }

    /// The instances with a raised event.
    pub(super) fn instances(&self) -> impl Iterator<Item = (&str, &str)> {
        self.raised.keys().map(|(s, i)| (s.as_str(), i.as_str()))
    }

    /// Forgets and returns the events resolved by `observations`: an instance of the same
    /// group healthy (only app, every task happy) on a sha that is neither the failed one nor
    /// the one rolled back to.
    pub(super) fn resolved(
        &mut self,
        observations: &[InstanceObservation],
    ) -> Vec<(InstanceKey, Alert)> {
        let fixed = |key: &InstanceKey, a: &Alert| {
            observations.iter().any(|o| {
                o.key.0 == key.0
                    && o.deploy_group == a.deploy_group
                    && super::decide::is_healthy(o)
                    && o.desired_sha != a.from_sha
                    && o.desired_sha != a.to_sha
            })
        };
        let (done, kept) = std::mem::take(&mut self.raised)
            .into_iter()
            .partition(|(k, a)| fixed(k, a));
        self.raised = kept;
        done.into_iter().collect()
    }
}

/// The event text: a first line for logs, then the evidence.
pub(super) fn describe(r: &Rollback, to_sha: &str) -> String {
    let mut text = format!(
        "Automatic rollback of {}.{}: deploy group {} marked back from {} to {} ({}: {})",
        r.service, r.instance, r.deploy_group, r.from_sha, to_sha, r.failed_app, r.trigger
    );
    if !r.evidence.is_empty() {
        text.push_str("\n\nWhat Galley sees:\n");
        for e in &r.evidence {
            text.push_str(&format!("  * {e}\n"));
        }
    }
    text
}

/// The instance's monitoring envelope, `None` when no team resolves (then no event).
pub(super) fn settings(record: &PassRecord, cluster: &str, r: &Rollback) -> Option<SensuSettings> {
    let entry = record.snapshot.desired.services.get(&r.service)?;
    let parsed = entry.config()?;
    let config = parsed
        .instance(cluster, InstanceKind::Marathon, &r.instance)
        .ok()?;
    let sources = MonitoringSources::for_instance(&config, &entry.source, &parsed.general).ok()?;
    let mut s = sources.resolve(CheckKind::SetupMarathonJob, cluster)?;
    s.alert_after = Value::from(0);
    s.ttl = Value::Null;
    Some(s)
}

/// Sends the WARNING of a pushed rollback.
pub(super) async fn send_raised<S: SensuSink>(sink: &S, r: &Rollback, alert: &Alert, text: &str) {
    send(
        sink,
        &check_name(&r.service, &r.instance),
        Status::Warning,
        text,
        alert,
    )
    .await;
}

/// Sends the OK that resolves `alert`.
pub(super) async fn send_ok<S: SensuSink>(sink: &S, key: &InstanceKey, alert: &Alert) {
    let text = format!(
        "Deploy group {} runs a new healthy version; the rollback from {} is resolved",
        alert.deploy_group, alert.from_sha
    );
    send(sink, &check_name(&key.0, &key.1), Status::Ok, &text, alert).await;
}

async fn send<S: SensuSink>(sink: &S, check: &str, status: Status, text: &str, alert: &Alert) {
    let Some(settings) = &alert.settings else {
        return; // no team: PaaSTA sent nothing either
    };
    let result = match SensuEvent::new(check, status, text, settings) {
        Ok(event) => sink.send(&event).await,
        Err(e) => {
            tracing::warn!(check, error = %ErrorChain(&e), "rollback event not built");
            return;
        }
    };
    if let Err(e) = result {
        tracing::warn!(check, error = %ErrorChain(&e), "rollback event not delivered");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::decide::Trigger;
    use super::super::policy::RollbackPolicy;
    use super::*;

    const FAILED: &str = "2222222222222222222222222222222222222222";
    const BACK: &str = "1111111111111111111111111111111111111111";
    const FIX: &str = "3333333333333333333333333333333333333333";

    fn rollback() -> Rollback {
        Rollback {
            service: "web".into(),
            instance: "main".into(),
            deploy_group: "prod.main".into(),
            failed_app: format!("/web.main.git{}.configaaaa", &FAILED[..8]),
            from_sha: FAILED.into(),
            to: None,
            trigger: Trigger::Timeout {
                waited: Duration::from_secs(60),
            },
            evidence: vec![],
        }
    }

    /// `instance` of `group` running `sha` as its only app, `happy` of 3 tasks happy.
    fn running(instance: &str, group: &str, sha: &str, happy: u32) -> InstanceObservation {
        InstanceObservation {
            key: ("web".into(), instance.into()),
            deploy_group: group.into(),
            policy: RollbackPolicy::default(),
            desired_app: format!("/web.{instance}.git{}.configaaaa", &sha[..8]),
            desired_sha: sha.into(),
            desired_instances: 3,
            new_app_happy: Some(happy),
            only_app: true,
            healthy_old_shas: vec![],
            launch_delay: None,
            evidence: vec![],
            paused: false,
        }
    }

    #[test]
    fn the_alert_clears_only_when_a_third_sha_runs_healthy_in_the_group() {
        let mut alerts = Alerts::default();
        alerts.raise(&rollback(), BACK, None);
        let not_yet = [
            (
                "the sha rolled back to",
                running("main", "prod.main", BACK, 3),
            ),
            (
                "the failed sha, marked again",
                running("main", "prod.main", FAILED, 3),
            ),
            (
                "a fix, not every task happy",
                running("main", "prod.main", FIX, 2),
            ),
            (
                "a fix, in another group",
                running("canary", "prod.canary", FIX, 3),
            ),
        ];
        for (what, o) in not_yet {
            assert!(alerts.resolved(&[o]).is_empty(), "{what} does not clear it");
        }
        let cleared = alerts.resolved(&[running("main", "prod.main", FIX, 3)]);
        assert_eq!(cleared.len(), 1, "a fix shipped clears it");
        assert_eq!(cleared[0].0, ("web".to_owned(), "main".to_owned()));
        assert_eq!(cleared[0].1.from_sha, FAILED);
        assert!(
            alerts
                .resolved(&[running("main", "prod.main", FIX, 3)])
                .is_empty(),
            "once"
        );
    }
}
