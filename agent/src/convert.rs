//! [`ContainerRecord`] → protobuf `Container` (the only place the agent builds wire records).

use galley_proto::v1::{Container, ContainerState as PbState};

use crate::docker::{ContainerRecord, ContainerState};

/// The wire form of a record.
pub fn to_proto(r: &ContainerRecord) -> Container {
    Container {
        id: r.id.clone(),
        name: r.name.clone(),
        created_unix_nanos: r.created_unix_nanos,
        started_unix_nanos: r.started_unix_nanos,
        state: pb_state(r.state).into(),
        task_id_env: r.task_id_env.clone().unwrap_or_default(),
        task_id_label: r.task_id_label.clone().unwrap_or_default(),
        marathon_app_id: r.marathon_app_id.clone().unwrap_or_default(),
        image: r.image.clone(),
    }
}

fn pb_state(s: ContainerState) -> PbState {
    match s {
        ContainerState::Unknown => PbState::Unspecified,
        ContainerState::Created => PbState::Created,
        ContainerState::Running => PbState::Running,
        ContainerState::Paused => PbState::Paused,
        ContainerState::Restarting => PbState::Restarting,
        ContainerState::Removing => PbState::Removing,
        ContainerState::Exited => PbState::Exited,
        ContainerState::Dead => PbState::Dead,
    }
}
