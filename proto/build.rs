//! Generates the gRPC code for hop.links.v1 and hop.auth.v1.
//!
//! Uses `protoc` from `PROTOC` or the PATH when there is one (Debian: protobuf-compiler) and
//! falls back to the vendored binary, so a fresh machine builds without installing anything.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut includes = vec![PathBuf::from(".")];
    let vendored = if std::env::var_os("PROTOC").is_none() && !protoc_on_path() {
        includes.push(protoc_bin_vendored::include_path()?);
        Some(protoc_bin_vendored::protoc_bin_path()?)
    } else {
        None
    };
    let config = || {
        let mut config = prost_build::Config::new();
        if let Some(protoc) = &vendored {
            config.protoc_executable(protoc);
        }
        config
    };
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // One descriptor set per package, so each service's reflection lists only itself.
    for (package, file) in [
        ("links", "hop/links/v1/links.proto"),
        ("auth", "hop/auth/v1/auth.proto"),
    ] {
        tonic_prost_build::configure()
            .file_descriptor_set_path(out.join(format!("{package}_descriptor.bin")))
            .compile_with_config(config(), &[PathBuf::from(file)], &includes)?;
    }
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
