//! The API room: the gRPC operator API and the services mounted next to it (`grpc`, `server`),
//! mutual TLS (`tls`) with the authorization layer (`grpc::authz`), and the bounded HTTP server
//! of the webhook and `/metrics` (`http_server`).

pub mod grpc;
pub mod http_server;
pub mod server;
pub mod tls;
