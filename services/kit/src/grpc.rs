//! What every gRPC service shares: serving (with grpc.health.v1, optional reflection, the
//! service-token check of [`crate::service_auth`], an admin HTTP listener and a bounded
//! drain), and helpers for the adapters.

use crate::health::Health;
use anyhow::Context as _;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A gRPC service's listeners and what its admin surface reports.
pub struct GrpcServer {
    /// `None`: no listener; the service is called in process ([`in_process`]) and
    /// [`serve`] only waits for the shutdown.
    pub listener: Option<TcpListener>,
    /// `/health*` and `/metrics`; `None` when an embedding process serves those.
    pub admin: Option<TcpListener>,
    pub health: Health,
    pub registry: prometheus::Registry,
    pub grace: Duration,
    /// What every call but grpc.health must carry ([`crate::service_auth`]).
    pub token: crate::service_auth::ServiceToken,
    /// Serve gRPC server reflection (GRPC_REFLECTION), behind the token like every RPC.
    pub reflection: bool,
    /// TLS on the listener (GRPC_TLS_*); `None` serves plaintext.
    pub tls: Option<crate::grpc_tls::GrpcTls>,
}

/// What a gRPC service serves: its routes, its full name (for grpc.health.v1) and its
/// encoded file descriptor set (for reflection).
pub struct GrpcService {
    pub routes: tonic::service::Routes,
    pub name: &'static str,
    pub descriptor: &'static [u8],
}

/// Serves until `shutdown` resolves, then reports not-ready, stops accepting, drains
/// in-flight calls for at most the grace period, and cancels `stop` (which the service's own
/// background tasks watch).
pub async fn serve(
    server: GrpcServer,
    service: GrpcService,
    stop: CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Some(listener) = server.listener else {
        run_in_process(&server.health, stop, shutdown).await;
        return Ok(());
    };
    let health_service = grpc_health(&server.health, service.name, &stop);
    let mut routes = service.routes.add_service(health_service);
    if server.reflection {
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(service.descriptor)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("building gRPC reflection")?;
        routes = routes.add_service(reflection);
    }
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &server.tls {
        builder = builder
            .tls_config(tls.server()?)
            .context("configuring gRPC TLS")?;
    }
    let grpc = builder
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .layer(crate::service_auth::RequireServiceToken::new(server.token))
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            stop.clone().cancelled_owned(),
        );
    let admin = server.admin.map(|listener| {
        let router = crate::serve::admin_router(
            vec![server.health.clone()],
            vec![server.registry.clone()],
            crate::health::Exposure::Admin,
        );
        tokio::spawn(crate::serve::serve_router(
            listener,
            router,
            stop.clone().cancelled_owned(),
            server.grace,
            crate::serve::HttpLimits::default(),
        ))
    });
    let (health, trigger) = (server.health.clone(), stop.clone());
    tokio::spawn(async move {
        shutdown.await;
        health.set_draining();
        trigger.cancel();
    });
    tracing::info!(service = server.health.service(), "service_started");
    let drained = async {
        stop.cancelled().await;
        tokio::time::sleep(server.grace).await;
    };
    tokio::select! {
        served = grpc => served.context("serving gRPC")?,
        () = drained => tracing::warn!(grace_secs = server.grace.as_secs(), "drain_grace_elapsed"),
    }
    stop.cancel();
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    Ok(())
}

/// The routes of a service that callers in this process reach through
/// [`crate::service_auth::Transport::Local`] (`hop up`): the service and grpc.health.v1,
/// kept in step with `health` until `stop`. No listener, no reflection.
pub fn in_process(
    service: GrpcService,
    health: &Health,
    stop: &CancellationToken,
) -> tonic::service::Routes {
    service
        .routes
        .add_service(grpc_health(health, service.name, stop))
}

/// Runs a service without a listener until `shutdown`: then it reports not-ready and
/// cancels `stop` (its background tasks). Its callers, in this process, have drained first.
async fn run_in_process(
    health: &Health,
    stop: CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tracing::info!(service = health.service(), "service_started");
    shutdown.await;
    health.set_draining();
    stop.cancel();
}

/// grpc.health.v1, kept in step with readiness so gRPC-aware balancers route around an
/// instance whose database is down.
fn grpc_health(
    health: &Health,
    name: &'static str,
    stop: &CancellationToken,
) -> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health> {
    use tonic_health::ServingStatus;
    let (reporter, service) = tonic_health::server::health_reporter();
    let (health, stop) = (health.clone(), stop.clone());
    tokio::spawn(async move {
        loop {
            let status = if health.is_ready() {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status(name, status).await;
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    });
    service
}

/// The metadata key (and HTTP header) that carries a request's id across services.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The canonical name of a gRPC code, as metrics label it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Runs one RPC's domain call inside a span carrying the caller's request id and trace
/// context (so it joins the caller's trace), converts
/// its error to a status, and records the call's duration and code in `metrics`.
pub async fn traced<T, E: crate::error::ServiceError>(
    metrics: &crate::metrics::RpcMetrics,
    service: &'static str,
    method: &'static str,
    metadata: &tonic::metadata::MetadataMap,
    work: impl Future<Output = Result<T, E>>,
) -> Result<tonic::Response<T>, tonic::Status> {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "rpc",
        service,
        rpc = method,
        request_id = request_id(metadata),
        trace_id = tracing::field::Empty,
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.grpc.status_code = tracing::field::Empty,
    );
    if let Some(trace_id) =
        crate::telemetry::otel::adopt(&span, crate::telemetry::otel::extract_metadata(metadata))
    {
        span.record("trace_id", trace_id);
    }
    let started = std::time::Instant::now();
    let result = async { work.await.map_err(|e| crate::error::to_status(&e)) }
        .instrument(span.clone())
        .await;
    let code = result
        .as_ref()
        .map_or_else(tonic::Status::code, |_| tonic::Code::Ok);
    span.record("rpc.grpc.status_code", code as i32);
    metrics.observe(method, code_name(code), started.elapsed());
    result.map(tonic::Response::new)
}

/// The `domain` of hop's ErrorInfo details (see [`crate::error::to_status`]).
pub use crate::error::ERROR_DOMAIN;

/// The request id a caller sent in `metadata`, or "".
pub fn request_id(metadata: &tonic::metadata::MetadataMap) -> &str {
    metadata
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// How a gRPC service (links, auth) serves.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "gRPC")]
pub struct GrpcArgs {
    /// Serve gRPC server reflection (for grpcurl). Off by default; when on, reflection
    /// calls need the service token like every RPC (`hop service-token` prints it).
    #[arg(long, env = "GRPC_REFLECTION", value_name = "GRPC_REFLECTION", default_value = "false", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub grpc_reflection: bool,
}
