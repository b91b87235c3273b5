//! Generates the gRPC code for hop.links.v1 and hop.auth.v1.
//!
//! Uses `protoc` from `PROTOC` or the PATH when there is one (Debian: protobuf-compiler) and
//! falls back to the vendored binary, so a fresh machine builds without installing anything.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    let mut includes = vec![PathBuf::from(".")];
    if std::env::var_os("PROTOC").is_none() && !protoc_on_path() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
        includes.push(protoc_bin_vendored::include_path()?);
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("hop_descriptor.bin"))
        .compile_with_config(
            config,
            &[
                PathBuf::from("hop/links/v1/links.proto"),
                PathBuf::from("hop/auth/v1/auth.proto"),
            ],
            &includes,
        )?;
    println!("cargo:rerun-if-changed=hop");
    println!("cargo:rerun-if-env-changed=PROTOC");
    Ok(())
}

fn protoc_on_path() -> bool {
    std::process::Command::new("protoc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
