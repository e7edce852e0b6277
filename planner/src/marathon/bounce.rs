//! PaaSTA's bounce functions (spec §3.6, v0.34 semantics): given the desired count, whether the
//! new app exists, its happy tasks and the old apps' happy/unhappy tasks, decide whether to
//! create the new app and which old tasks to drain.

use std::collections::{BTreeMap, BTreeSet};

use super::model::BounceMethod;

/// Old tasks by app id, in a stable order.
pub type TasksByApp = BTreeMap<String, BTreeSet<String>>;

/// What a bounce function decides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BounceDecision {
    /// Create the new app (if it does not exist).
    pub create_app: bool,
    /// `(app id, task id)` of old tasks to drain.
    pub tasks_to_drain: BTreeSet<(String, String)>,
}

/// Inputs of a bounce function.
#[derive(Debug, Clone, Copy)]
pub struct BounceInput<'a> {
    /// Desired instances of the new app.
    pub instances: u32,
    /// Whether the new app exists in Marathon.
    pub new_app_running: bool,
    /// Number of happy tasks of the new app.
    pub happy_new: usize,
    /// Old apps' happy tasks (every old app is a key, even with no tasks).
    pub old_happy: &'a TasksByApp,
    /// Old apps' unhappy tasks.
    pub old_unhappy: &'a TasksByApp,
    /// Crossover margin.
    pub margin_factor: f64,
}

fn all(map: &TasksByApp) -> impl Iterator<Item = (String, String)> + '_ {
    map.iter()
        .flat_map(|(app, tasks)| tasks.iter().map(move |t| (app.clone(), t.clone())))
}

/// Runs `method`.
pub fn decide(method: BounceMethod, input: BounceInput<'_>) -> BounceDecision {
    let every_old = || {
        all(input.old_happy)
            .chain(all(input.old_unhappy))
            .collect::<BTreeSet<_>>()
    };
    match method {
        BounceMethod::Brutal => BounceDecision {
            create_app: true,
            tasks_to_drain: every_old(),
        },
        BounceMethod::Upthendown => {
            let done = input.new_app_running && input.happy_new >= input.instances as usize;
            BounceDecision {
                create_app: true,
                tasks_to_drain: if done { every_old() } else { BTreeSet::new() },
            }
        }
        BounceMethod::Downthenup => BounceDecision {
            create_app: input.old_happy.is_empty()
                && input.old_unhappy.is_empty()
                && !input.new_app_running,
            tasks_to_drain: every_old(),
        },
        BounceMethod::Down => BounceDecision {
            create_app: false,
            tasks_to_drain: every_old(),
        },
        BounceMethod::Crossover => {
            let target = (f64::from(input.instances) * input.margin_factor).ceil() as usize;
            let needed = target.saturating_sub(input.happy_new);
            // Happy old tasks keep serving first; unhappy ones go before any happy one.
            let ordered: Vec<_> = all(input.old_happy).chain(all(input.old_unhappy)).collect();
            BounceDecision {
                create_app: true,
                tasks_to_drain: ordered.into_iter().skip(needed).collect(),
            }
        }
    }
}
