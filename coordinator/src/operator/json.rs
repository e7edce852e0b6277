//! Answers as JSON in protobuf's JSON mapping (lowerCamelCase names, enum names, 64-bit
//! integers as strings, default values left out): what grpcurl prints for the same call,
//! built from the descriptor set the server's reflection serves.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

/// Why a message could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The descriptor set does not know the message.
    #[error("no message {name} in galley's descriptor set")]
    UnknownMessage {
        /// Full name, e.g. `galley.v1.InstanceStatus`.
        name: String,
    },
    /// The bytes do not decode as it.
    #[error("{name} does not decode")]
    Decode {
        /// Full name.
        name: String,
        /// Why.
        #[source]
        source: prost::DecodeError,
    },
    /// serde refused it.
    #[error("{name} does not serialise")]
    Serialize {
        /// Full name.
        name: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(galley_proto::FILE_DESCRIPTOR_SET)
            .expect("galley's descriptor set decodes")
    })
}

/// `message` (whose protobuf type is `full_name`, e.g. `galley.v1.ListInstancesResponse`) as
/// JSON.
pub fn to_json<M: prost::Message>(
    message: &M,
    full_name: &str,
) -> Result<serde_json::Value, JsonError> {
    let desc = pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| JsonError::UnknownMessage {
            name: full_name.to_owned(),
        })?;
    let dynamic =
        DynamicMessage::decode(desc, message.encode_to_vec().as_slice()).map_err(|source| {
            JsonError::Decode {
                name: full_name.to_owned(),
                source,
            }
        })?;
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .map_err(|source| JsonError::Serialize {
            name: full_name.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use galley_proto::v1 as pb;

    use super::to_json;

    #[test]
    fn answers_print_as_grpcurl_prints_them() {
        let status = pb::InstanceStatus {
            service: "web".into(),
            instance: "main".into(),
            bounce_state: pb::BounceState::Bouncing as i32,
            tasks_expected: 3,
            generation: 7,
            replication: Some(pb::ReplicationEntry {
                under_replicated: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = to_json(&status, "galley.v1.InstanceStatus").unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "service": "web",
                "instance": "main",
                "bounceState": "BOUNCE_STATE_BOUNCING",
                "tasksExpected": 3,
                "generation": "7",
                "replication": {"underReplicated": true},
            })
        );
        assert!(to_json(&status, "galley.v1.Nothing").is_err());
    }
}
