//! Building and running the auth service: gRPC (AuthService, grpc.health.v1, optional
//! reflection; every call but health needs the service token) and the admin HTTP listener (`/health*`, `/metrics`).

use crate::accounts::{Accounts, TokenSettings};
use crate::grpc::AuthApi;
use crate::hashing::Hasher;
use crate::keys::{Keys, SigningKey};
use crate::revocation::Revocations;
use crate::store::Store;
use anyhow::Context as _;
use hop_kit::config::ConfigError;
use hop_kit::database::{Database, DatabaseConfig};
use hop_kit::grpc::{GrpcServer, GrpcService};
use hop_kit::health::Health;
use hop_kit::metrics::RpcMetrics;
use hop_kit::secret::Secret;
use hop_kit::service_auth::ServiceToken;
use hop_kit::shared::{Shared, SharedConfig};
use hop_proto::auth::v1::auth_service_server::AuthServiceServer;
use prometheus::Registry;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;

/// Verifiers accept tokens this much past `exp`; deny-list entries outlive tokens by it.
pub const VERIFY_LEEWAY: Duration = Duration::from_secs(30);

/// Everything the auth service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The gRPC listener; port 0 picks a free port. `None`: no listener, the service is
    /// called in process through [`Server::in_process`] (`hop up`).
    pub grpc_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    /// Derives the signing key unless `signing_key_file` is set.
    pub secret: Secret,
    /// A PKCS#8 PEM Ed25519 key (AUTH_SIGNING_KEY_FILE).
    pub signing_key_file: Option<PathBuf>,
    /// The key that signed before the current one (AUTH_PREVIOUS_SIGNING_KEY_FILE):
    /// published, never used to sign.
    pub previous_key_file: Option<PathBuf>,
    pub tokens: TokenSettings,
    /// Password hashes computed at once (AUTH_HASH_CONCURRENCY).
    pub hash_concurrency: usize,
    /// How long a login waits for a hashing slot before it is refused.
    pub hash_queue_timeout: Duration,
    /// PostgreSQL, or the embedded store `hop up` shares.
    pub database: DatabaseConfig,
    /// Redis, or `hop up`'s in-process bus.
    pub shared: SharedConfig,
    /// Serve gRPC reflection (GRPC_REFLECTION).
    pub reflection: bool,
    /// mTLS on the gRPC listener (GRPC_TLS_*).
    pub tls: Option<hop_kit::grpc_tls::GrpcTls>,
    pub shutdown_grace: Duration,
}

#[cfg(feature = "testsuite")]
impl Config {
    /// An auth service for tests: gRPC on a free loopback port, no admin listener, no
    /// reflection, no TLS, a signing key derived from `secret`, the default token
    /// lifetimes, two hashing slots and a 1 s shutdown grace. Change what a test needs
    /// with `..`.
    pub fn for_test(
        database: impl Into<DatabaseConfig>,
        shared: impl Into<SharedConfig>,
        secret: Secret,
    ) -> Self {
        Self {
            grpc_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            admin_addr: None,
            secret,
            signing_key_file: None,
            previous_key_file: None,
            tokens: crate::Settings::test_defaults().tokens(),
            hash_concurrency: 2,
            hash_queue_timeout: Duration::from_secs(10),
            database: database.into(),
            shared: shared.into(),
            reflection: false,
            tls: None,
            shutdown_grace: Duration::from_secs(1),
        }
    }
}

pub struct Server {
    grpc: Option<TcpListener>,
    admin: Option<TcpListener>,
    api: Arc<AuthApi>,
    /// Cancelled when the service stops: its probes and gRPC health reporter watch it.
    stop: CancellationToken,
    health: Health,
    registry: Registry,
    database: Database,
    shared: Shared,
    revocations: Revocations,
    token: ServiceToken,
    reflection: bool,
    tls: Option<hop_kit::grpc_tls::GrpcTls>,
    grace: Duration,
}

fn key_file(variable: &'static str, path: &std::path::Path) -> Result<SigningKey, ConfigError> {
    let pem = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            variable,
            format!("cannot be read ({}): {e}", path.display()),
        )
    })?;
    SigningKey::from_pem(&pem).map_err(|e| ConfigError::new(variable, e))
}

/// Binds the listeners, loads or derives the signing key and wires the service. Touches
/// neither PostgreSQL nor Redis.
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let key = match &config.signing_key_file {
        Some(path) => key_file("AUTH_SIGNING_KEY_FILE", path)?,
        None => SigningKey::derive(config.secret.expose()),
    };
    let previous = match &config.previous_key_file {
        Some(path) => Some(key_file("AUTH_PREVIOUS_SIGNING_KEY_FILE", path)?),
        None => None,
    };
    if let Some(tls) = &config.tls {
        tls.server()?; // a missing server identity fails at start, not at first call
    }
    let registry = hop_kit::metrics::registry("auth");
    let database = config.database.connect()?;
    database.register_metrics(&registry);
    let shared = config.shared.connect()?;
    shared.first_connection().await;
    let store = Store::new(database.clone());
    let revocations = Revocations::new(
        &shared,
        store.clone(),
        config.tokens.access_ttl + VERIFY_LEEWAY,
    );
    let hasher = Hasher::new(config.hash_concurrency, config.hash_queue_timeout);
    let accounts = Accounts::new(
        store,
        hasher,
        Keys {
            current: key,
            previous,
        },
        revocations.clone(),
        config.tokens.clone(),
    );
    let api = Arc::new(AuthApi::new(Arc::new(accounts), RpcMetrics::new(&registry)));
    let grpc = match config.grpc_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the auth gRPC listener on {addr}"))?,
        ),
        None => None,
    };
    let admin = match config.admin_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the auth admin listener on {addr}"))?,
        ),
        None => None,
    };
    Ok(Server {
        grpc,
        admin,
        api,
        stop: CancellationToken::new(),
        health: Health::new("auth", &registry),
        registry,
        database,
        shared,
        revocations,
        token: ServiceToken::derive(&config.secret),
        reflection: config.reflection,
        tls: config.tls,
        grace: config.shutdown_grace,
    })
}

impl Server {
    /// The gRPC listener's address (a service built with a `grpc_addr`).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
            .as_ref()
            .expect("an auth service with a gRPC listener")
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The service's routes (AuthService and grpc.health.v1), for callers in this process
    /// ([`hop_kit::service_auth::Transport::local`]).
    pub fn in_process(&self) -> tonic::service::Routes {
        hop_kit::grpc::in_process(self.service(), &self.health, &self.stop)
    }

    fn service(&self) -> GrpcService {
        GrpcService {
            routes: Routes::new(AuthServiceServer::from_arc(self.api.clone())),
            name: <AuthServiceServer<AuthApi> as NamedService>::NAME,
            descriptor: hop_proto::auth::v1::FILE_DESCRIPTOR_SET,
        }
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Serves until `shutdown` resolves, then drains and closes its connections.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = self.stop.clone();
        self.health
            .spawn_store_probes(&self.database, self.shared.redis(), &stop);
        let service = self.service();
        tokio::spawn(self.revocations.run(stop.clone()));
        let server = GrpcServer {
            listener: self.grpc,
            admin: self.admin,
            health: self.health,
            registry: self.registry,
            grace: self.grace,
            token: self.token,
            reflection: self.reflection,
            tls: self.tls,
        };
        let served = hop_kit::grpc::serve(server, service, stop, shutdown).await;
        self.shared.quit().await;
        self.database.close();
        tracing::info!(service = "auth", "service_stopped");
        served
    }
}
