//! Wiring and running the gateway.

use crate::body::BodyLimit;
use crate::context::{RequestId, expose_matched_path, request_context};
use anyhow::Context as _;
use axum::Router;
use axum::response::{IntoResponse, Response};
use hop_kit::grpc::REQUEST_ID_HEADER;
use hop_kit::health::Health;
use hop_kit::metrics::HttpMetrics;
use hop_kit::problem::Problem;
use hop_proto::links::v1::link_service_client::LinkServiceClient;
use prometheus::Registry;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Everything the gateway needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The public HTTP listener; port 0 picks a free port. Unused when embedded (`hop up`).
    pub addr: SocketAddr,
    /// The links service, e.g. `http://127.0.0.1:50051`.
    pub links_url: String,
    /// Deadline of every gRPC call (sent to the service as `grpc-timeout`).
    pub grpc_timeout: Duration,
    /// Largest accepted request body.
    pub body_limit: usize,
    pub shutdown_grace: Duration,
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    links: LinkServiceClient<Channel>,
    grpc_timeout: Duration,
}

impl AppState {
    pub fn links(&self) -> LinkServiceClient<Channel> {
        self.links.clone()
    }

    /// A gRPC request carrying the request id and the deadline.
    pub fn request<T>(&self, message: T, request_id: &RequestId) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.grpc_timeout);
        if let Ok(value) = request_id.0.parse() {
            request.metadata_mut().insert(REQUEST_ID_HEADER, value);
        }
        request
    }
}

/// The gateway without a listener: state, health and router. `hop up` mounts
/// [`Gateway::router`] behind its own front listener.
pub struct Gateway {
    state: AppState,
    links_channel: Channel,
    health: Health,
    registry: Registry,
    metrics: HttpMetrics,
    body_limit: usize,
}

impl Gateway {
    /// Wires the gateway. Connects to nothing yet: channels connect on first use.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let links_channel = channel(&config.links_url, config.grpc_timeout)
            .map_err(|e| hop_kit::config::ConfigError::new("LINKS_GRPC_URL", e.to_string()))?;
        let registry = hop_kit::metrics::registry("gateway");
        Ok(Self {
            state: AppState {
                links: LinkServiceClient::new(links_channel.clone()),
                grpc_timeout: config.grpc_timeout,
            },
            links_channel,
            health: Health::new("gateway", &registry),
            metrics: HttpMetrics::new(&registry),
            registry,
            body_limit: config.body_limit,
        })
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// The whole public API. `/health*` and `/metrics` answer for `health` and
    /// `registries` (the gateway's own when serving alone, every service's in `hop up`).
    pub fn router(&self, health: Vec<Health>, registries: Vec<Registry>) -> Router {
        let api = crate::links::router()
            .merge(hop_kit::serve::admin_router(health, registries))
            .route_layer(axum::middleware::from_fn(expose_matched_path))
            .with_state(self.state.clone());
        api.fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::Extension(BodyLimit(self.body_limit)))
            .layer(axum::middleware::from_fn_with_state(
                self.metrics.clone(),
                request_context,
            ))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
    }

    /// Probes the links service until `stop`.
    pub fn start(&self, stop: &CancellationToken) {
        let channel = self.links_channel.clone();
        self.health
            .spawn_probe("links", true, PROBE_INTERVAL, stop.clone(), move || {
                let mut client =
                    tonic_health::pb::health_client::HealthClient::new(channel.clone());
                async move {
                    let request = tonic_health::pb::HealthCheckRequest {
                        service: "hop.links.v1.LinkService".into(),
                    };
                    let response = client
                        .check(request)
                        .await
                        .map_err(|s| s.message().to_owned())?;
                    match response.into_inner().status() {
                        tonic_health::pb::health_check_response::ServingStatus::Serving => Ok(()),
                        other => Err(format!("links reports {other:?}")),
                    }
                }
            });
    }
}

fn channel(url: &str, timeout: Duration) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

async fn not_found() -> Response {
    Problem::not_found("no such route").into_response()
}

async fn method_not_allowed() -> Response {
    Problem::method_not_allowed().into_response()
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler_panicked");
    Problem::internal().into_response()
}

/// A gateway with its listener bound, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    gateway: Gateway,
    grace: Duration,
}

pub async fn build(config: Config) -> anyhow::Result<Server> {
    let gateway = Gateway::new(&config)?;
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding the gateway listener on {}", config.addr))?;
    Ok(Server {
        listener,
        gateway,
        grace: config.shutdown_grace,
    })
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then reports not-ready, stops accepting and drains.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        self.gateway.start(&stop);
        let router = self
            .gateway
            .router(vec![self.gateway.health()], vec![self.gateway.registry()]);
        let health = self.gateway.health();
        let drain = async move {
            shutdown.await;
            health.set_draining();
        };
        tracing::info!(service = "gateway", addr = %self.addr(), "service_started");
        hop_kit::serve::serve_router(self.listener, router, drain, self.grace).await;
        stop.cancel();
        tracing::info!(service = "gateway", "service_stopped");
        Ok(())
    }
}
