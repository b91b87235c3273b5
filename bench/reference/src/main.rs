//! The benchmark reference: a bare hyper server that answers every request with the same
//! 302. It is what a redirect costs with no lookup at all, so hop's redirect throughput is
//! reported as a ratio to it, measured by the same load tool in the same run.
//!
//! It uses the same accept loop shape as hop (tokio, hyper HTTP/1.1 with keep-alive,
//! TCP_NODELAY) and answers with the same headers as a hop redirect, so the ratio isolates
//! hop's own work: routing, the cache lookup and metrics.
//!
//! Usage: `hop-reference [PORT]` (default 8090). Stops on SIGINT or SIGTERM.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, HeaderValue, LOCATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8090);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("hop-reference listening on {}", listener.local_addr()?);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        };
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = service_fn(|_req| async {
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::FOUND;
                let headers = response.headers_mut();
                headers.insert(
                    LOCATION,
                    HeaderValue::from_static("https://example.com/landing"),
                );
                headers.insert(
                    CACHE_CONTROL,
                    HeaderValue::from_static("private, max-age=90"),
                );
                Ok::<_, Infallible>(response)
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
