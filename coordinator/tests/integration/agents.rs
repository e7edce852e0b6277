//! Coordinator ↔ agents over real gRPC: with the Docker and Marathon/Mesos emulators
//! (`emulator`) and with a real dockerd (`dockerd`).

mod dockerd;
mod emulator;
mod ha;
mod harness;
