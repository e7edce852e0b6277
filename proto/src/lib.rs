//! Generated protobuf and tonic code for package `galley.v1`, plus the file-descriptor set that
//! gRPC server reflection serves. No logic lives here.

#![allow(clippy::all, missing_docs, unreachable_pub)]

/// `galley.v1`: the operator and agent API.
pub mod v1 {
    tonic::include_proto!("galley.v1");
}

/// Encoded `FileDescriptorSet` of every Galley proto, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("galley_descriptor");
