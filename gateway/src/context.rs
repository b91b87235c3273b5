//! The per-request middleware: request id, trace context, span, metrics and the
//! `request_completed` line.

use crate::settings::Proxies;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use hop_kit::grpc::REQUEST_ID_HEADER;
use hop_kit::metrics::HttpMetrics;
use http::HeaderValue;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The current request's id, for handlers to pass on to gRPC calls.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// Longest accepted incoming `X-Request-Id`; longer or odd ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// What the per-request layer needs: the metrics it records, and whose trace context it
/// believes.
#[derive(Clone)]
pub struct ContextState {
    pub metrics: HttpMetrics,
    pub trusted_proxies: Arc<Proxies>,
}

/// Outermost layer of the API: takes the caller's `X-Request-Id` when it is sane (or makes
/// one), echoes it on the response, runs the request in a span that every log line inside
/// inherits, then records RED metrics and logs one `request_completed` line.
///
/// The span joins the caller's trace (`traceparent`) only when the caller is a trusted
/// proxy: anyone else could force every request to be exported by sending the sampled
/// flag. Responses to `/auth/*` and to requests that carry credentials are `no-store`.
pub async fn request_context(
    State(state): State<ContextState>,
    mut req: Request,
    next: Next,
) -> Response {
    let metrics = &state.metrics;
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane(id))
        .map_or_else(generate, str::to_owned);
    let method = req.method().clone();
    req.extensions_mut()
        .insert(RequestId(request_id.as_str().into()));
    let span = tracing::info_span!(
        "request",
        service = "gateway",
        request_id = %request_id,
        method = %method,
        endpoint = tracing::field::Empty,
        user_id = tracing::field::Empty,
        api_key_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        otel.name = method.as_str(),
        otel.kind = "server",
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| hop_kit::net::canonical(c.0.ip()));
    let parent = match peer {
        Some(ip) if state.trusted_proxies.contains(&ip) => {
            hop_kit::telemetry::otel::extract_headers(req.headers())
        }
        _ => hop_kit::telemetry::otel::no_parent(),
    };
    if let Some(trace_id) = hop_kit::telemetry::otel::adopt(&span, parent) {
        span.record("trace_id", trace_id);
    }
    let private = req.uri().path().starts_with("/auth")
        || req.headers().contains_key(http::header::AUTHORIZATION);
    let mut response = next.run(req).instrument(span.clone()).await;
    if private {
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    response.headers_mut().insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", MatchedPath::as_str)
        .to_owned();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics.observe(&route, method.as_str(), status, elapsed);
    span.record("endpoint", route.as_str());
    span.record("http.route", route.as_str());
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    // Probes and scrapes arrive every few seconds from every monitor; their lines would
    // drown the API's, so they log at debug unless they fail.
    let routine = route.starts_with("/health") || route == "/metrics";
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, duration_ms, "request_completed");
        } else if routine {
            tracing::debug!(status, duration_ms, "request_completed");
        } else {
            tracing::info!(status, duration_ms, "request_completed");
        }
    });
    response
}

/// Inner (route) layer: copies the matched route onto the response, where the outer layer
/// can read it for its labels.
pub async fn expose_matched_path(
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = next.run(req).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(matched);
    }
    response
}

fn is_sane(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// 128 random bits, hex.
fn generate() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_request_ids_are_replaced() {
        assert!(is_sane("abc-123"));
        assert!(!is_sane(""));
        assert!(!is_sane("has space"));
        assert!(!is_sane(&"x".repeat(129)));
        assert_eq!(generate().len(), 32);
    }
}
