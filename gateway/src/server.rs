//! Wiring and running the gateway.

use crate::body::BodyLimit;
use crate::caller::Verifier;
use crate::caller::browser::BrowserSessions;
use crate::context::{ContextState, expose_matched_path, request_context};
use crate::ratelimit::RateLimiter;
use crate::settings::Settings;
use crate::state::AppState;
use anyhow::Context as _;
use axum::Router;
use axum::response::{IntoResponse, Response};
use hop_kit::config::ConfigError;
use hop_kit::health::Health;
use hop_kit::metrics::HttpMetrics;
use hop_kit::problem::Problem;
use hop_kit::secret::Secret;
use hop_kit::service_auth::{ServiceToken, Transport, authenticated};
use hop_kit::shared::{Shared, SharedConfig};
use hop_proto::auth::v1::auth_service_client::AuthServiceClient;
use hop_proto::links::v1::link_service_client::LinkServiceClient;
use hop_revocations::Replica;
use prometheus::Registry;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Where the gateway reaches a gRPC service.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Over the network (`hop serve gateway`): `http://host:port`, or `https://` with mTLS.
    Url(String),
    /// The service's routes in this process (`hop up`): no listener, no port.
    InProcess(tonic::service::Routes),
}

/// Everything the gateway needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The public HTTP listener; port 0 picks a free port. Unused when embedded (`hop up`).
    pub addr: SocketAddr,
    /// The links service: `Upstream::Url("http://127.0.0.1:50051")`, or in process.
    pub links: Upstream,
    /// The auth service: `Upstream::Url("http://127.0.0.1:50052")`, or in process.
    pub auth: Upstream,
    pub settings: Settings,
    /// The deployment secret: the service token every gRPC call carries, and the web app's
    /// CSRF key, are derived from it.
    pub secret: Secret,
    /// Where the public reaches hop: the web app's cookies are `Secure` when it is https.
    pub public_base_url: String,
    /// mTLS to links and auth (GRPC_TLS_*); their URLs are then `https://`.
    pub tls: Option<hop_kit::grpc_tls::GrpcTls>,
    /// For the session deny-list and the shared rate limits: Redis, or `hop up`'s
    /// in-process bus.
    pub shared: SharedConfig,
    pub shutdown_grace: Duration,
    /// Bounds of the public listener (heads, idle and request timeouts, connections).
    pub http: hop_kit::serve::HttpLimits,
}

#[cfg(feature = "testsuite")]
impl Config {
    /// A gateway for tests in front of `links_url` and `auth_url`: a free loopback port,
    /// plain-text gRPC, the default HTTP limits and a 1 s shutdown grace. Change what a
    /// test needs with `..`.
    pub fn for_test(
        links_url: &str,
        auth_url: &str,
        settings: Settings,
        shared: impl Into<SharedConfig>,
        secret: Secret,
    ) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            links: Upstream::Url(links_url.into()),
            auth: Upstream::Url(auth_url.into()),
            settings,
            secret,
            public_base_url: "http://localhost:8080".into(),
            tls: None,
            shared: shared.into(),
            shutdown_grace: Duration::from_secs(1),
            http: hop_kit::serve::HttpLimits::default(),
        }
    }
}

/// The gateway without a listener: state, health and router. `hop up` mounts
/// [`Gateway::router`] behind its own front listener.
pub struct Gateway {
    state: AppState,
    verifier: Arc<Verifier>,
    links_channel: Transport,
    auth_channel: Transport,
    shared: Shared,
    deny: Arc<Replica>,
    health: Health,
    /// Where the deployment's short links live (the Shlink API's one domain).
    public_base_url: String,
    registry: Registry,
    metrics: HttpMetrics,
    request_timeout: Duration,
}

impl Gateway {
    /// Waits for Redis's first connection attempt to end (see
    /// [`hop_kit::shared::Shared::first_connection`]), so the first requests' rate limits
    /// and deny-list use it.
    pub async fn first_connection(&self) {
        self.shared.first_connection().await;
    }

    /// Wires the gateway. Connects to nothing yet: channels connect on first use.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let timeout = config.settings.grpc_timeout();
        let tls = config.tls.as_ref();
        let token = ServiceToken::derive(&config.secret);
        let links_channel = transport("LINKS_GRPC_URL", &config.links, timeout, tls, &token)?;
        let auth_channel = transport("AUTH_GRPC_URL", &config.auth, timeout, tls, &token)?;
        let shared = config.shared.connect()?;
        let auth = AuthServiceClient::new(authenticated(auth_channel.clone(), token.clone()));
        let registry = hop_kit::metrics::registry("gateway");
        let deny = Arc::new(Replica::default());
        let verifier = Arc::new(Verifier::new(
            auth.clone(),
            deny.clone(),
            timeout,
            &registry,
        ));
        let browser = Arc::new(BrowserSessions::new(
            auth.clone(),
            timeout,
            &config.secret,
            config.public_base_url.starts_with("https://"),
        ));
        Ok(Self {
            state: AppState::new(
                LinkServiceClient::new(authenticated(links_channel.clone(), token)),
                auth.clone(),
                verifier.clone(),
                browser,
                Arc::new(RateLimiter::new(shared.redis().cloned())),
                Arc::new(config.settings.clone()),
            ),
            verifier,
            links_channel,
            auth_channel,
            shared,
            deny,
            health: Health::new("gateway", &registry),
            public_base_url: config.public_base_url.clone(),
            metrics: HttpMetrics::new(&registry),
            registry,
            request_timeout: config.http.request_timeout(),
        })
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// The whole public API and the web app. `/health*` and `/metrics` answer for `health` and
    /// `registries` (the gateway's own when serving alone, every service's in `hop up`).
    pub fn router(&self, health: Vec<Health>, registries: Vec<Registry>) -> Router {
        let limit = self.state.settings().body_limit_bytes as usize;
        let (api, paths) = crate::routes::router()
            .merge(crate::shlink::router(health.clone(), &self.public_base_url))
            .split_for_parts();
        let document = crate::openapi::document(paths);
        let api = api
            .route(
                "/openapi.json",
                axum::routing::get(move || {
                    let document = document.clone();
                    async move {
                        (
                            [
                                (http::header::CONTENT_TYPE, "application/json"),
                                (http::header::CACHE_CONTROL, "public, max-age=300"),
                            ],
                            document.to_string(),
                        )
                    }
                }),
            )
            .merge(crate::web::router(self.state.clone()))
            .merge(hop_kit::serve::admin_router(
                health,
                registries,
                hop_kit::health::Exposure::Public,
            ))
            .route_layer(axum::middleware::from_fn(expose_matched_path))
            .with_state(self.state.clone());
        api.fallback(fallback)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::Extension(BodyLimit(limit)))
            .layer(axum::middleware::from_fn_with_state(
                self.request_timeout,
                crate::error::within_deadline,
            ))
            .layer(axum::middleware::from_fn(crate::error::problems_only))
            .layer(axum::middleware::from_fn_with_state(
                ContextState {
                    metrics: self.metrics.clone(),
                    trusted_proxies: Arc::new(self.state.settings().trusted_proxies.clone()),
                },
                request_context,
            ))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
    }

    /// Probes links (required), auth and Redis (optional; none without Redis), and keeps
    /// the token-verifying keys fresh, until `stop`.
    pub fn start(&self, stop: &CancellationToken) {
        if let Err(e) = self.deny.spawn_sync(&self.shared, stop.clone()) {
            tracing::error!(error = %e, "revocations_sync_not_started");
        }
        let probe =
            |name: &'static str, channel: Transport, service: &'static str, required: bool| {
                self.health
                    .spawn_probe(name, required, PROBE_INTERVAL, stop.clone(), move || {
                        grpc_ready(channel.clone(), service)
                    });
            };
        probe(
            "links",
            self.links_channel.clone(),
            "hop.links.v1.LinkService",
            true,
        );
        probe(
            "auth",
            self.auth_channel.clone(),
            "hop.auth.v1.AuthService",
            false,
        );
        if let Some(redis) = self.shared.redis().cloned() {
            self.health
                .spawn_probe("redis", false, PROBE_INTERVAL, stop.clone(), move || {
                    let redis = redis.clone();
                    async move { redis.ping().await }
                });
        }
        let (verifier, stop) = (self.verifier.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let _ = verifier.fetch_keys(true).await;
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(KEY_REFRESH) => {}
                }
            }
        });
    }
}

/// How often the token-verifying keys are fetched again (and whenever an unknown kid shows).
const KEY_REFRESH: Duration = Duration::from_secs(300);

/// A gRPC service's readiness, through grpc.health.v1.
async fn grpc_ready(channel: Transport, service: &'static str) -> Result<(), String> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest {
        service: service.into(),
    };
    let response = client
        .check(request)
        .await
        .map_err(|s| s.message().to_owned())?;
    match response.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("{service} reports {other:?}")),
    }
}

/// How the gateway reaches `upstream`; `variable` names it in a configuration error.
fn transport(
    variable: &'static str,
    upstream: &Upstream,
    timeout: Duration,
    tls: Option<&hop_kit::grpc_tls::GrpcTls>,
    token: &ServiceToken,
) -> anyhow::Result<Transport> {
    match upstream {
        Upstream::Url(url) => {
            hop_kit::grpc_tls::check_scheme(variable, url, tls)?;
            let channel = channel(url, timeout, tls)
                .map_err(|e| ConfigError::new(variable, e.to_string()))?;
            Ok(Transport::Remote(channel))
        }
        Upstream::InProcess(routes) => Ok(Transport::local(routes.clone(), token.clone(), timeout)),
    }
}

fn channel(
    url: &str,
    timeout: Duration,
    tls: Option<&hop_kit::grpc_tls::GrpcTls>,
) -> Result<Channel, tonic::transport::Error> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.client())?;
    }
    Ok(endpoint
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// No route: a write to what can only be a short code (`POST /{code}`) is refused as the
/// redirect service refuses it, with `Allow: GET, HEAD`; anything else is a 404.
async fn fallback(method: http::Method, uri: http::Uri) -> Response {
    let path = uri.path();
    let one_segment = path.len() > 1 && !path[1..].contains('/');
    let readable = method == http::Method::GET || method == http::Method::HEAD;
    if one_segment && !readable && !hop_proto::link::is_edge_route(path) {
        let mut response = Problem::method_not_allowed()
            .with_detail("a short link answers only GET and HEAD")
            .into_response();
        response.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_static("GET, HEAD"),
        );
        return response;
    }
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
    http: hop_kit::serve::HttpLimits,
}

pub async fn build(config: Config) -> anyhow::Result<Server> {
    let gateway = Gateway::new(&config)?;
    gateway.first_connection().await;
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding the gateway listener on {}", config.addr))?;
    Ok(Server {
        listener,
        gateway,
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
        hop_kit::serve::serve_router(self.listener, router, drain, self.grace, self.http).await;
        stop.cancel();
        self.gateway.shared.quit().await;
        tracing::info!(service = "gateway", "service_stopped");
        Ok(())
    }
}
