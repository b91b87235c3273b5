//! The HTTP accept loop shared by the gateway and redirect services: HTTP/1.1 with
//! keep-alive plus HTTP/2 cleartext, and a graceful drain bounded by a grace period.
//!
//! Every public listener treats its clients as hostile ([`HttpLimits`]): request heads are
//! bounded (a larger one is a 431), a head that does not arrive within the idle timeout
//! closes the connection (hyper starts that timer whenever a keep-alive connection waits
//! for its next request, so it is the idle timeout too), HTTP/2 connections are pinged and
//! closed when the pings go unanswered, and the number of open connections is bounded (at
//! the bound the loop stops accepting until one closes; the kernel's backlog holds the
//! rest). Bodies that stall are the gateway's request timeout's to cut.
//!
//! The drain loses no request a client has sent (`serve/drain.rs`): once it begins,
//! HTTP/1 responses carry `Connection: close`, and a keep-alive connection is closed only
//! between requests.

mod drain;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The bounds of a public HTTP listener.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "HTTP limits")]
pub struct HttpLimits {
    /// Largest request head (request line and headers), in bytes; larger ones get 431.
    #[arg(long, env = "HTTP_MAX_HEADER_BYTES", value_name = "HTTP_MAX_HEADER_BYTES", default_value_t = 32_768, value_parser = clap::value_parser!(u32).range(8_192..=1_048_576))]
    pub http_max_header_bytes: u32,
    /// Seconds a connection may sit idle between requests, or take to send a request head,
    /// before it is closed.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", value_name = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_idle_timeout_secs: u64,
    /// Seconds the gateway waits for a whole request (its body included) and its answer;
    /// a slower one gets 408 and the connection is closed.
    #[arg(long, env = "HTTP_REQUEST_TIMEOUT_SECS", value_name = "HTTP_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_request_timeout_secs: u64,
    /// Open connections at most; at the bound, new ones wait in the kernel's backlog.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", value_name = "HTTP_MAX_CONNECTIONS", default_value_t = 25_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_connections: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            http_max_header_bytes: 32_768,
            http_idle_timeout_secs: 30,
            http_request_timeout_secs: 30,
            http_max_connections: 25_000,
        }
    }
}

impl HttpLimits {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.http_idle_timeout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.http_request_timeout_secs)
    }
}

/// HTTP/2 keep-alive: a ping this often, and the connection closed when one goes unanswered
/// this long.
const H2_PING: Duration = Duration::from_secs(20);

/// Serves `listener` until `shutdown` resolves, then stops accepting and drains: responses
/// carry `Connection: close`, connections close between requests, and it returns when all
/// are closed or `grace` has passed.
///
/// `make_service` builds the service for each connection from the peer address.
pub async fn serve<M, S, B>(
    listener: TcpListener,
    make_service: M,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    limits: HttpLimits,
) where
    M: Fn(SocketAddr) -> S,
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout())
        .max_buf_size(limits.http_max_header_bytes as usize)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.http_max_header_bytes)
        .keep_alive_interval(Some(H2_PING))
        .keep_alive_timeout(H2_PING);
    let slots = Arc::new(tokio::sync::Semaphore::new(
        limits.http_max_connections as usize,
    ));
    let builder = Arc::new(builder);
    // `closing` is read on every response; `begun` wakes the connections.
    let (closing, begun) = (Arc::new(AtomicBool::new(false)), CancellationToken::new());
    let connections = TaskTracker::new();
    let idle = limits.idle_timeout();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept_failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let activity = drain::Activity::new(&closing);
                let (inner, counted) = (make_service(peer), activity.clone());
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let in_flight = counted.start(req.version());
                    // Boxed: moved into this wrapper inline, the service's (large) future
                    // was copied once more per request, which cost about a fifth of the
                    // redirect throughput (docs/capacity-plan.md).
                    let response = Box::pin(inner.call(req));
                    async move {
                        let mut response = response.await?;
                        in_flight.finish(&mut response);
                        Ok::<_, S::Error>(response)
                    }
                });
                let (builder, begun) = (builder.clone(), begun.clone());
                connections.spawn(async move {
                    // hyper's own timer starts only once a request begins; a connection
                    // that never sends a byte is closed here after the same idle timeout.
                    if !drain::first_byte(&stream, idle, &begun).await {
                        return;
                    }
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    drain::drive(conn, activity, begun).await;
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    closing.store(true, Ordering::Release);
    begun.cancel();
    connections.close();
    tokio::select! {
        () = connections.wait() => tracing::info!("connections_drained"),
        () = tokio::time::sleep(grace) => tracing::warn!(grace_secs = grace.as_secs(), "drain_grace_elapsed"),
    }
}

/// Serves an axum router with [`serve`], making the peer address available to handlers as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve_router(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    limits: HttpLimits,
) {
    use axum::extract::ConnectInfo;
    use hyper_util::service::TowerToHyperService;
    let make = move |peer: SocketAddr| {
        let service = tower::ServiceBuilder::new()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            })
            .service(router.clone());
        TowerToHyperService::new(service)
    };
    serve(listener, make, shutdown, grace, limits).await;
}

/// The admin surface of a service: `/health*` for `services` and `/metrics` for
/// `registries` (plus the process metrics).
pub fn admin_router<S: Clone + Send + Sync + 'static>(
    services: Vec<crate::health::Health>,
    registries: Vec<prometheus::Registry>,
    exposure: crate::health::Exposure,
) -> axum::Router<S> {
    use axum::routing::get;
    let metrics = move || {
        let registries = registries.clone();
        async move {
            let refs: Vec<&prometheus::Registry> = registries.iter().collect();
            (
                [(http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
                crate::metrics::render(&refs),
            )
        }
    };
    crate::health::router(services, exposure).route("/metrics", get(metrics))
}
