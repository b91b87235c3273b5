//! TLS to the stores: PostgreSQL with `sslmode=require` and Redis at `rediss://` URLs, as
//! managed providers demand. rustls with the ring provider; the server's certificate is
//! always verified, against a CA file when the provider publishes one
//! (DATABASE_CA_FILE, REDIS_CA_FILE), else against the system's CA certificates.

use crate::config::ConfigError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use std::path::Path;
use std::sync::Arc;

/// A client configuration that trusts `ca_file`'s certificates, or the system's roots.
/// `variable` names the setting in errors.
pub fn client_config(
    ca_file: Option<&Path>,
    variable: &'static str,
) -> Result<rustls::ClientConfig, ConfigError> {
    // Crates that build their own configuration (fred) use the process default.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    // An empty value (compose passes `VAR=` for unset) means unset.
    match ca_file.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect)
                .map_err(|e| {
                    ConfigError::new(
                        variable,
                        format!("cannot be read ({}): {e}", path.display()),
                    )
                })?;
            if certs.is_empty() {
                return Err(ConfigError::new(
                    variable,
                    format!("holds no PEM certificate ({})", path.display()),
                ));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    ConfigError::new(variable, format!("holds a bad certificate: {e}"))
                })?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(ConfigError::new(
                    variable,
                    "must be set: TLS was asked for and the system has no CA certificates",
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new(variable, e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_that_is_not_pem_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let e = client_config(Some(&path), "DATABASE_CA_FILE").unwrap_err();
        assert_eq!(e.variable, "DATABASE_CA_FILE");
        let missing = client_config(Some(&dir.path().join("nope.pem")), "REDIS_CA_FILE");
        assert_eq!(missing.unwrap_err().variable, "REDIS_CA_FILE");
    }
}
