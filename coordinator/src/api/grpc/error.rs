//! The operator API's errors and their gRPC codes: one `From<…> for Status` per error type,
//! each message saying what to do about it.

use tonic::Status;

use crate::agents::ReapNowError;
use crate::error_chain::ErrorChain;

/// Why an operator request was not carried out (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// A required field is empty.
    #[error("field `{field}` is required")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field holds something that cannot be a valid value.
    #[error("field `{field}`: {value:?} {why}")]
    BadValue {
        /// The field.
        field: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A name that cannot be one (see `galley_common::names`).
    #[error(transparent)]
    BadName(#[from] galley_common::names::NameError),
    /// No such service is configured in this cluster.
    #[error(
        "field `service`: no service {service:?} is configured in this cluster (see ListInstances)"
    )]
    UnknownService {
        /// The service.
        service: String,
    },
    /// No such instance is configured in this cluster.
    #[error(
        "field `instance`: {service}.{instance} is not a configured marathon instance of this cluster (see ListInstances)"
    )]
    UnknownInstance {
        /// Service.
        service: String,
        /// Instance.
        instance: String,
    },
    /// No agent for the host.
    #[error("field `host`: no agent has connected for host {host:?} (see ListAgents)")]
    UnknownHost {
        /// Host.
        host: String,
    },
    /// The first reconcile pass has not finished.
    #[error("no reconcile pass has completed yet; retry in a few seconds")]
    NoPassYet,
    /// A component is not running in this coordinator.
    #[error("{what} is not enabled on this coordinator")]
    NotEnabled {
        /// The component.
        what: &'static str,
    },
    /// A waited-for pass did not finish in time.
    #[error("the reconcile pass did not finish within {seconds} s; check GetStatus later")]
    PassTimeout {
        /// The wait.
        seconds: u64,
    },
    /// The reconciler has stopped (shutting down).
    #[error("the reconciler is shutting down")]
    ReconcilerGone,
    /// The one-shot reap failed as a whole.
    #[error("reap")]
    Reap(#[from] ReapNowError),
}

impl From<OperatorError> for Status {
    fn from(e: OperatorError) -> Self {
        let msg = e.to_string();
        match e {
            OperatorError::MissingField { .. }
            | OperatorError::BadValue { .. }
            | OperatorError::BadName(_) => Status::invalid_argument(msg),
            OperatorError::UnknownService { .. }
            | OperatorError::UnknownInstance { .. }
            | OperatorError::UnknownHost { .. } => Status::not_found(msg),
            OperatorError::NoPassYet | OperatorError::ReconcilerGone => Status::unavailable(msg),
            OperatorError::NotEnabled { .. } => Status::failed_precondition(msg),
            OperatorError::PassTimeout { .. } => Status::deadline_exceeded(msg),
            OperatorError::Reap(e) => reap_status(e),
        }
    }
}

fn reap_status(e: ReapNowError) -> Status {
    let chain = ErrorChain(&e).to_string();
    match e {
        ReapNowError::NotLeader => Status::failed_precondition(format!(
            "{chain}: ask the leading coordinator, or use dry_run"
        )),
        ReapNowError::UnknownHost { host } => Status::not_found(format!(
            "field `host`: no agent has connected for host {host:?} (see ListAgents)"
        )),
        ReapNowError::AgentStale { .. } => Status::unavailable(format!(
            "{chain}: its inventory cannot be trusted; retry once it reconnects (see ListAgents)"
        )),
        ReapNowError::View(_) => {
            Status::unavailable(format!("{chain}: Mesos or Marathon unreachable; retry"))
        }
        ReapNowError::ViewOlderThanInventory { .. } => Status::aborted(chain),
        ReapNowError::Delivery(_) => Status::unavailable(format!("{chain}; retry")),
    }
}

/// Checks `value` as the name in `field` (`galley_common::names`, the one name check).
pub fn require_name(field: &'static str, value: &str) -> Result<(), OperatorError> {
    galley_common::names::check(field, value).map_err(|e| match e {
        galley_common::names::NameError::Empty { field } => OperatorError::MissingField { field },
        other => OperatorError::BadName(other),
    })
}

/// Checks that `value` (a free-text reason) is non-empty and at most 1000 characters.
pub fn require_text(field: &'static str, value: &str) -> Result<(), OperatorError> {
    if value.trim().is_empty() {
        return Err(OperatorError::MissingField { field });
    }
    if value.chars().count() > 1000 {
        return Err(OperatorError::BadValue {
            field,
            value: value.chars().take(40).collect(),
            why: "is longer than 1000 characters",
        });
    }
    Ok(())
}
