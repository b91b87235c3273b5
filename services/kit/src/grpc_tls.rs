//! Optional mutual TLS on the internal gRPC wire, for deployments whose network between
//! services is not private enough for the service token alone ([`crate::service_auth`]).
//!
//! The same three variables configure both ends. On links and auth, GRPC_TLS_CERT and
//! GRPC_TLS_KEY are the server's identity, and GRPC_TLS_CA makes every client present a
//! certificate that CA signed. On the gateway, the cert and key are its client identity and
//! the CA verifies the servers; LINKS_GRPC_URL and AUTH_GRPC_URL are then `https://`, with
//! the host the servers' certificates name. grpc.health is served over the same TLS.
//! `hop up` calls its services over loopback and leaves them unset.

use crate::config::ConfigError;
use std::path::PathBuf;

/// mTLS between hop's services.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "gRPC TLS")]
pub struct GrpcTlsArgs {
    /// PEM certificate (chain) of this service on the internal gRPC wire: the server's on
    /// links and auth, the client's on the gateway. Set with GRPC_TLS_KEY.
    #[arg(
        long,
        env = "GRPC_TLS_CERT",
        value_name = "GRPC_TLS_CERT",
        requires = "grpc_tls_key"
    )]
    pub grpc_tls_cert: Option<PathBuf>,
    /// PEM private key of GRPC_TLS_CERT.
    #[arg(
        long,
        env = "GRPC_TLS_KEY",
        value_name = "GRPC_TLS_KEY",
        requires = "grpc_tls_cert"
    )]
    pub grpc_tls_key: Option<PathBuf>,
    /// PEM CA that signed the other side's certificates: servers then require a client
    /// certificate it signed, and the gateway verifies servers against it.
    #[arg(long, env = "GRPC_TLS_CA", value_name = "GRPC_TLS_CA")]
    pub grpc_tls_ca: Option<PathBuf>,
}

/// The loaded PEM files.
#[derive(Clone)]
pub struct GrpcTls {
    identity: Option<tonic::transport::Identity>,
    ca: Option<tonic::transport::Certificate>,
}

impl std::fmt::Debug for GrpcTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTls")
            .field("identity", &self.identity.is_some())
            .field("ca", &self.ca.is_some())
            .finish()
    }
}

fn read(variable: &'static str, path: &PathBuf) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| {
        ConfigError::new(
            variable,
            format!("cannot be read ({}): {e}", path.display()),
        )
    })
}

impl GrpcTlsArgs {
    /// The files, read; `None` when no TLS is configured.
    pub fn load(&self) -> Result<Option<GrpcTls>, ConfigError> {
        let identity = match (&self.grpc_tls_cert, &self.grpc_tls_key) {
            (Some(cert), Some(key)) => Some(tonic::transport::Identity::from_pem(
                read("GRPC_TLS_CERT", cert)?,
                read("GRPC_TLS_KEY", key)?,
            )),
            (None, None) => None,
            _ => {
                return Err(ConfigError::new(
                    "GRPC_TLS_CERT",
                    "and GRPC_TLS_KEY must be set together",
                ));
            }
        };
        let ca = match &self.grpc_tls_ca {
            Some(path) => Some(tonic::transport::Certificate::from_pem(read(
                "GRPC_TLS_CA",
                path,
            )?)),
            None => None,
        };
        Ok((identity.is_some() || ca.is_some()).then_some(GrpcTls { identity, ca }))
    }
}

impl GrpcTls {
    /// The server side: its identity, and client certificates required when a CA is set.
    pub fn server(&self) -> Result<tonic::transport::ServerTlsConfig, ConfigError> {
        let identity = self.identity.clone().ok_or_else(|| {
            ConfigError::new(
                "GRPC_TLS_CERT",
                "must be set for a gRPC server to serve TLS",
            )
        })?;
        let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.ca {
            config = config.client_ca_root(ca.clone());
        }
        Ok(config)
    }

    /// The client side: the CA servers must chain to, and this client's identity.
    pub fn client(&self) -> tonic::transport::ClientTlsConfig {
        let mut config = tonic::transport::ClientTlsConfig::new();
        if let Some(ca) = &self.ca {
            config = config.ca_certificate(ca.clone());
        }
        if let Some(identity) = &self.identity {
            config = config.identity(identity.clone());
        }
        config
    }
}

/// Checks that a service URL's scheme matches whether TLS is configured.
pub fn check_scheme(
    variable: &'static str,
    url: &str,
    tls: Option<&GrpcTls>,
) -> Result<(), ConfigError> {
    match (url.starts_with("https://"), tls.is_some()) {
        (true, false) => Err(ConfigError::new(
            variable,
            "is https:// but GRPC_TLS_CA (or GRPC_TLS_CERT) is not set",
        )),
        (false, true) => Err(ConfigError::new(
            variable,
            "must be https:// when gRPC TLS is configured (GRPC_TLS_*)",
        )),
        _ => Ok(()),
    }
}
