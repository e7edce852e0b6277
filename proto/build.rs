//! Compiles `galley/v1/*.proto` with protox (pure Rust, no system `protoc`) and emits both the
//! tonic code and a file-descriptor set for gRPC server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "galley/v1/coordinator.proto",
        "galley/v1/agent.proto",
        "galley/v1/deploy.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("galley_descriptor.bin"), prost_encode(&fds))?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}

fn prost_encode(fds: &impl prost::Message) -> Vec<u8> {
    fds.encode_to_vec()
}
