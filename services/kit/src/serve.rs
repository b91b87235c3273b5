//! The HTTP accept loop shared by the gateway and redirect services: HTTP/1.1 with
//! keep-alive plus HTTP/2 cleartext, slow-header protection, and a graceful drain bounded
//! by a grace period.

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish (keep-alive connections close after their current response) and returns
/// when all are done or `grace` has passed.
///
/// `make_service` builds the service for each connection from the peer address.
pub async fn serve<M, S, B>(
    listener: TcpListener,
    make_service: M,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
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
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
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
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), make_service(peer))
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("connections_drained"),
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
    serve(listener, make, shutdown, grace).await;
}

/// The admin surface of a service: `/health*` for `services` and `/metrics` for
/// `registries` (plus the process metrics).
pub fn admin_router<S: Clone + Send + Sync + 'static>(
    services: Vec<crate::health::Health>,
    registries: Vec<prometheus::Registry>,
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
    crate::health::router(services).route("/metrics", get(metrics))
}
