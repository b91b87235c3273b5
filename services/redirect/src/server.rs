//! Wiring and running the redirect service.

use crate::clicks::writer::ClickWriter;
use crate::clicks::{ClickMetrics, ClickSettings, Recorder};
use crate::http::{App, Body};
use crate::metrics::Metrics;
use crate::resolver::{CacheSettings, Resolver};
use anyhow::Context as _;
use hop_clicks::partitions;
use hop_kit::database::{Database, DatabaseConfig};
use hop_kit::health::Health;
use hop_kit::replicas::Replicas;
use hop_kit::shared::{Shared, SharedConfig};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Everything the redirect service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The HTTP listener; port 0 picks a free port. Unused when embedded (`hop up`).
    pub addr: SocketAddr,
    pub cache: CacheSettings,
    pub clicks: ClickSettings,
    /// PostgreSQL, or the embedded store `hop up` shares.
    pub database: DatabaseConfig,
    /// Redis, or `hop up`'s in-process bus (then there is no Redis tier: L1, then the
    /// database).
    pub shared: SharedConfig,
    pub shutdown_grace: Duration,
    /// Bounds of the public listener (heads, idle and request timeouts, connections).
    pub http: hop_kit::serve::HttpLimits,
}

#[cfg(feature = "testsuite")]
impl Config {
    /// A redirect service for tests: a free loopback port, the default cache, click and
    /// HTTP settings and a 1 s shutdown grace. Change what a test needs with `..`.
    pub fn for_test(database: impl Into<DatabaseConfig>, shared: impl Into<SharedConfig>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            cache: CacheSettings::default(),
            clicks: ClickSettings::default(),
            database: database.into(),
            shared: shared.into(),
            shutdown_grace: Duration::from_secs(1),
            http: hop_kit::serve::HttpLimits::default(),
        }
    }
}

/// The redirect service without a listener: its handler and background tasks. `hop up`
/// routes requests to [`Redirect::app`] from its own front listener.
pub struct Redirect {
    app: Arc<App>,
    database: Database,
    replicas: Option<Replicas>,
    shared: Shared,
    clicks: ClickSettings,
    /// The click writer, until started; then its task, awaited at close.
    writer: Mutex<Option<ClickWriter>>,
    writing: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Redirect {
    /// Wires the service. Touches neither PostgreSQL nor Redis.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let registry = hop_kit::metrics::registry("redirect");
        let database = config.database.connect()?;
        let metrics = Metrics::new(&registry, database.name());
        database.register_metrics(&registry);
        let shared = config.shared.connect()?;
        let replicas = match &config.database {
            DatabaseConfig::Postgres(args) => Replicas::connect(args)?,
            DatabaseConfig::Sqlite(_) => None,
        };
        let resolver = Resolver::new(
            &config.cache,
            shared.redis().cloned(),
            database.clone(),
            replicas.clone(),
            config.shared.link_ttl().unwrap_or_default(),
            config.database.timeout(),
            metrics.clone(),
        );
        let click_metrics = ClickMetrics::new(&registry);
        let (recorder, receiver) = Recorder::new(&config.clicks, click_metrics.clone());
        // The writer has a connection of its own: its buffers grow to the largest batch
        // it sent, and in the shared pool every connection would end up that size.
        let writer = match receiver {
            Some(rx) => Some(ClickWriter::new(
                rx,
                config.database.connect_with(1)?,
                &config.clicks,
                click_metrics,
            )),
            None => None,
        };
        let health = Health::new("redirect", &registry);
        let app = Arc::new(App::new(resolver, recorder, health, registry, metrics));
        Ok(Self {
            app,
            database,
            replicas,
            shared,
            clicks: config.clicks.clone(),
            writer: Mutex::new(writer),
            writing: Mutex::new(None),
        })
    }

    pub fn app(&self) -> Arc<App> {
        self.app.clone()
    }

    /// Waits for Redis's first connection attempt to end (see
    /// [`hop_kit::shared::Shared::first_connection`]).
    pub async fn first_connection(&self) {
        self.shared.first_connection().await;
    }

    /// Starts the dependency probes, the invalidation listener and the click pipeline
    /// (writer and partition upkeep) until `stop`. Cancel `stop` only once requests have
    /// drained: the writer then writes what is still buffered.
    pub fn start(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        self.app
            .health()
            .spawn_read_store_probes(&self.database, self.shared.redis(), stop);
        if let Some(replicas) = &self.replicas {
            replicas.spawn_probes(self.app.health(), stop);
        }
        if let Some(writer) = lock(&self.writer).take() {
            partitions::spawn(
                self.database.clone(),
                self.clicks.click_retention_days,
                stop.clone(),
            );
            *lock(&self.writing) = Some(tokio::spawn(writer.run(stop.clone())));
        }
        crate::invalidation::spawn(&self.shared, self.app.clone(), stop.clone())
    }

    /// Waits for the click writer to write what was buffered, then closes the connections.
    pub async fn close(&self) {
        let writing = lock(&self.writing).take();
        if let Some(writing) = writing {
            let _ = writing.await;
        }
        self.shared.quit().await;
        self.database.close();
        if let Some(replicas) = &self.replicas {
            replicas.close();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A redirect service with its listener bound, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    service: Redirect,
    grace: Duration,
    http: hop_kit::serve::HttpLimits,
}

pub async fn build(config: Config) -> anyhow::Result<Server> {
    let service = Redirect::new(&config)?;
    service.shared.first_connection().await;
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding the redirect listener on {}", config.addr))?;
    Ok(Server {
        listener,
        service,
        grace: config.shutdown_grace,
        http: config.http,
    })
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn app(&self) -> Arc<App> {
        self.service.app()
    }

    /// Serves until `shutdown` resolves, then reports not-ready, stops accepting and drains
    /// in-flight requests for at most the grace period.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        self.service.start(&stop)?;
        let app = self.service.app();
        let health = app.health().clone();
        let make = move |peer: SocketAddr| {
            let app = app.clone();
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    Ok::<_, Infallible>(app.handle(&req, Some(peer.ip())).await)
                        as Result<http::Response<Body>, Infallible>
                }
            })
        };
        let drain = async move {
            shutdown.await;
            health.set_draining();
        };
        tracing::info!(service = "redirect", addr = %self.addr(), "service_started");
        hop_kit::serve::serve(self.listener, make, drain, self.grace, self.http).await;
        stop.cancel();
        self.service.close().await;
        tracing::info!(service = "redirect", "service_stopped");
        Ok(())
    }
}
