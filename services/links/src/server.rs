//! Building and running the links service: the gRPC listener (LinkService, grpc.health.v1,
//! optional reflection; every call but health needs the service token) and the admin HTTP
//! listener (`/health*`, `/metrics`).

use crate::codes::CodePermutation;
use crate::cursor::CursorKey;
use crate::domain::LinkService;
use crate::grpc::LinksApi;
use crate::mint::Minter;
use crate::policy::{TargetPolicy, TargetSettings};
use crate::store::Store;
use crate::writer::Writer;
use anyhow::Context as _;
use hop_kit::database::{Database, DatabaseConfig};
use hop_kit::grpc::{GrpcServer, GrpcService};
use hop_kit::health::Health;
use hop_kit::metrics::RpcMetrics;
use hop_kit::replicas::Replicas;
use hop_kit::secret::Secret;
use hop_kit::service_auth::ServiceToken;
use hop_kit::shared::{Shared, SharedConfig};
use hop_proto::links::v1::link_service_server::LinkServiceServer;
use prometheus::Registry;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;

/// Everything the links service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The gRPC listener; port 0 picks a free port. `None`: no listener, the service is
    /// called in process through [`Server::in_process`] (`hop up`).
    pub grpc_addr: Option<SocketAddr>,
    /// The admin HTTP listener (health, metrics); `None` when an embedding process (`hop
    /// up`) serves those itself.
    pub admin_addr: Option<SocketAddr>,
    pub public_base_url: String,
    /// Where links may point: other public names, blocked hosts, private targets.
    pub targets: TargetSettings,
    /// The public listeners of this deployment that links can know of (`hop up`'s port);
    /// a link to one of them is a loop.
    pub public_listeners: Vec<SocketAddr>,
    /// Keys the code permutation.
    pub secret: Secret,
    /// PostgreSQL, or the embedded store `hop up` shares.
    pub database: DatabaseConfig,
    /// Redis, or `hop up`'s in-process bus.
    pub shared: SharedConfig,
    /// Serve gRPC reflection (GRPC_REFLECTION).
    pub reflection: bool,
    /// mTLS on the gRPC listener (GRPC_TLS_*).
    pub tls: Option<hop_kit::grpc_tls::GrpcTls>,
    /// Bound on draining in-flight calls at shutdown.
    pub shutdown_grace: Duration,
}

#[cfg(feature = "testsuite")]
impl Config {
    /// A links service for tests: gRPC on a free loopback port, no admin listener, no
    /// reflection, no TLS, the default target policy, `https://hop.test` as the public
    /// base URL and a 1 s shutdown grace. Change what a test needs with `..`.
    pub fn for_test(
        database: impl Into<DatabaseConfig>,
        shared: impl Into<SharedConfig>,
        secret: Secret,
    ) -> Self {
        Self {
            grpc_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            admin_addr: None,
            public_base_url: "https://hop.test".into(),
            targets: TargetSettings::default(),
            public_listeners: Vec::new(),
            secret,
            database: database.into(),
            shared: shared.into(),
            reflection: false,
            tls: None,
            shutdown_grace: Duration::from_secs(1),
        }
    }
}

/// A links service with its listeners bound, ready to [`Server::run`].
pub struct Server {
    grpc: Option<TcpListener>,
    admin: Option<TcpListener>,
    api: Arc<LinksApi>,
    /// Cancelled when the service stops: its probes and gRPC health reporter watch it.
    stop: CancellationToken,
    health: Health,
    registry: Registry,
    database: Database,
    shared: Shared,
    token: ServiceToken,
    reflection: bool,
    tls: Option<hop_kit::grpc_tls::GrpcTls>,
    grace: Duration,
}

/// Binds the listeners and wires the service. Touches neither PostgreSQL nor Redis: both are
/// reached lazily, so the service starts (not ready) while they are down.
pub async fn build(config: Config) -> anyhow::Result<Server> {
    if let Some(tls) = &config.tls {
        tls.server()?; // a missing server identity fails at start, not at first call
    }
    let registry = hop_kit::metrics::registry("links");
    let database = config.database.connect()?;
    database.register_metrics(&registry);
    let shared = config.shared.connect()?;
    shared.first_connection().await;
    let permutation = CodePermutation::new(config.secret.expose());
    let store = Store::new(database.clone());
    let minter = Minter::new(store.clone(), permutation, &registry);
    let ttl = config.shared.link_ttl().unwrap_or_default();
    let read_model = hop_read_model::Writer::new(&shared, ttl);
    let writer = Writer::spawn(store.clone(), read_model.clone(), &registry);
    let replicas = match &config.database {
        DatabaseConfig::Postgres(args) => Replicas::connect(args)?,
        DatabaseConfig::Sqlite(_) => None,
    };
    let links = LinkService::new(store, minter, writer, read_model, replicas.clone());
    let api = Arc::new(LinksApi::new(
        Arc::new(links),
        &config.public_base_url,
        TargetPolicy::new(
            &config.targets,
            &config.public_base_url,
            &config.public_listeners,
        ),
        CursorKey::derive(&config.secret),
        RpcMetrics::new(&registry),
    ));
    let grpc = match config.grpc_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the links gRPC listener on {addr}"))?,
        ),
        None => None,
    };
    let admin = match config.admin_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the links admin listener on {addr}"))?,
        ),
        None => None,
    };
    let stop = CancellationToken::new();
    let health = Health::new("links", &registry);
    if let Some(replicas) = &replicas {
        replicas.spawn_probes(&health, &stop);
    }
    Ok(Server {
        grpc,
        admin,
        api,
        stop,
        health,
        registry,
        database,
        shared,
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
            .expect("a links service with a gRPC listener")
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The service's routes (LinkService and grpc.health.v1), for callers in this process
    /// ([`hop_kit::service_auth::Transport::local`]).
    pub fn in_process(&self) -> tonic::service::Routes {
        hop_kit::grpc::in_process(self.service(), &self.health, &self.stop)
    }

    fn service(&self) -> GrpcService {
        GrpcService {
            routes: Routes::new(LinkServiceServer::from_arc(self.api.clone())),
            name: <LinkServiceServer<LinksApi> as NamedService>::NAME,
            descriptor: hop_proto::links::v1::FILE_DESCRIPTOR_SET,
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

    /// Serves until `shutdown` resolves, then reports not-ready, stops accepting, drains
    /// in-flight calls for at most the grace period and closes its connections.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = self.stop.clone();
        self.health
            .spawn_store_probes(&self.database, self.shared.redis(), &stop);
        let service = self.service();
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
        tracing::info!(service = "links", "service_stopped");
        served
    }
}
