//! The redirect service's HTTP surface: `GET|HEAD /{code}`, and `/health*` and `/metrics`
//! on the same port (their names are reserved words, so no alias can shadow them).
//!
//! The hot path allocates nothing on an L1 hit: the path is checked in place, the cached
//! `Location` value is shared, and the body is empty.

use crate::clicks::Recorder;
use crate::metrics::Metrics;

/// The W3C trace context header.
const TRACEPARENT: &str = "traceparent";
use crate::resolver::{Entry, Resolver};
use bytes::Bytes;
use hop_kit::health::Health;
use hop_proto::link::ShortCode;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use prometheus::Registry;
use std::net::IpAddr;
use std::time::Instant;

pub type Body = Full<Bytes>;

const NOT_FOUND: &str = r#"{"type":"/problems/not-found","title":"Not found","status":404,"detail":"no link has this code"}"#;
const GONE: &str = r#"{"type":"/problems/gone","title":"Gone","status":410,"detail":"this link is inactive or has expired"}"#;
const UNAVAILABLE: &str = r#"{"type":"/problems/unavailable","title":"Service unavailable","status":503,"detail":"the link store cannot be reached; retry shortly"}"#;
const METHOD_NOT_ALLOWED: &str = r#"{"type":"/problems/method-not-allowed","title":"Method not allowed","status":405,"detail":"use GET or HEAD"}"#;

/// Redirects are cacheable by the browser for a short while only, so edits and deletes
/// take effect and clicks are seen.
const REDIRECT_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, max-age=90");

/// The redirect service's request handler, shared by its own server and `hop up`.
pub struct App {
    resolver: Resolver,
    recorder: Recorder,
    health: Health,
    registry: Registry,
    metrics: Metrics,
}

impl App {
    pub fn new(
        resolver: Resolver,
        recorder: Recorder,
        health: Health,
        registry: Registry,
        metrics: Metrics,
    ) -> Self {
        Self {
            resolver,
            recorder,
            health,
            registry,
            metrics,
        }
    }

    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Answers one request from `peer`. Only the head of the request is read.
    pub async fn handle<B>(&self, req: &Request<B>, peer: Option<IpAddr>) -> Response<Body> {
        let started = Instant::now();
        let path = req.uri().path();
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return self.method_not_allowed(req.method(), started),
        };
        match path {
            "/metrics" => self.render_metrics(started),
            // Whole segments, as the edge routes: `/healthy` is an alias like any other.
            p if p == "/health" || p.starts_with("/health/") => {
                self.health_check(p, req.method(), started)
            }
            p if hop_kit::telemetry::otel::enabled() && req.headers().contains_key(TRACEPARENT) => {
                self.redirect_traced(&p[1..], head, req, peer, started)
                    .await
            }
            p => {
                self.redirect(&p[1..], head, req.headers(), peer, started)
                    .await
            }
        }
    }

    /// A redirect whose caller sent a trace context: the same, inside a server span that
    /// joins the caller's trace.
    async fn redirect_traced<B>(
        &self,
        code: &str,
        head: bool,
        req: &Request<B>,
        peer: Option<IpAddr>,
        started: Instant,
    ) -> Response<Body> {
        use tracing::Instrument;
        let span = tracing::info_span!(
            "redirect",
            service = "redirect",
            method = %req.method(),
            code,
            trace_id = tracing::field::Empty,
            otel.name = "GET /{code}",
            otel.kind = "server",
            http.route = "/{code}",
            http.response.status_code = tracing::field::Empty,
        );
        let parent = hop_kit::telemetry::otel::extract_headers(req.headers());
        if let Some(trace_id) = hop_kit::telemetry::otel::adopt(&span, parent) {
            span.record("trace_id", trace_id);
        }
        let response = self
            .redirect(code, head, req.headers(), peer, started)
            .instrument(span.clone())
            .await;
        span.record("http.response.status_code", response.status().as_u16());
        response
    }

    async fn redirect(
        &self,
        code: &str,
        head: bool,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
        started: Instant,
    ) -> Response<Body> {
        let routes = &self.metrics.routes;
        let Some(code) = ShortCode::parse(code) else {
            // Impossible shape: no store is asked.
            let series = if head {
                &routes.head_not_found
            } else {
                &routes.not_found
            };
            series.observe(started.elapsed());
            return answer(headers, StatusCode::NOT_FOUND, NOT_FOUND);
        };
        let (response, series) = match self.resolver.resolve(code.as_str(), started).await {
            Ok(Entry::Link(target)) if target.is_live() => {
                self.recorder.record(target.link_id, headers, peer);
                let mut response = Response::new(Body::default());
                *response.status_mut() = target.status;
                let headers = response.headers_mut();
                headers.insert(LOCATION, target.location.clone());
                headers.insert(CACHE_CONTROL, REDIRECT_CACHE_CONTROL);
                let index = match target.status.as_u16() {
                    301 => 0,
                    302 => 1,
                    307 => 2,
                    _ => 3,
                };
                let series = if head {
                    &routes.head_found[index]
                } else {
                    &routes.found[index]
                };
                (response, series)
            }
            Ok(Entry::Link(_)) => {
                let series = if head {
                    &routes.head_gone
                } else {
                    &routes.gone
                };
                (answer(headers, StatusCode::GONE, GONE), series)
            }
            Ok(Entry::Missing) => {
                let series = if head {
                    &routes.head_not_found
                } else {
                    &routes.not_found
                };
                (answer(headers, StatusCode::NOT_FOUND, NOT_FOUND), series)
            }
            Err(_) => {
                let series = if head {
                    &routes.head_unavailable
                } else {
                    &routes.unavailable
                };
                let mut response = answer(headers, StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                (response, series)
            }
        };
        series.observe(started.elapsed());
        response
    }

    fn health_check(&self, path: &str, method: &Method, started: Instant) -> Response<Body> {
        let response = match self.health.respond(path, hop_kit::health::Exposure::Public) {
            Some((status, body)) => {
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            None => problem(StatusCode::NOT_FOUND, NOT_FOUND),
        };
        let route = if response.status() == StatusCode::NOT_FOUND {
            "other"
        } else {
            path
        };
        self.metrics.http.observe(
            route,
            method.as_str(),
            response.status().as_u16(),
            started.elapsed(),
        );
        response
    }

    fn render_metrics(&self, started: Instant) -> Response<Body> {
        self.metrics
            .l1_entries
            .set(self.resolver.l1_entries() as i64);
        let text = hop_kit::metrics::render(&[&self.registry]);
        let mut response = Response::new(Body::from(text));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(hop_kit::metrics::CONTENT_TYPE),
        );
        self.metrics
            .http
            .observe("/metrics", "GET", 200, started.elapsed());
        response
    }

    fn method_not_allowed(&self, method: &Method, started: Instant) -> Response<Body> {
        let mut response = problem(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        self.metrics
            .http
            .observe("other", method.as_str(), 405, started.elapsed());
        response
    }
}

/// A failed redirect's answer: the problem, or for a browser (it accepts `text/html`) a
/// page saying the same.
fn answer(headers: &http::HeaderMap, status: StatusCode, body: &'static str) -> Response<Body> {
    let browser = headers
        .get(http::header::ACCEPT)
        .is_some_and(|v| v.as_bytes().windows(9).any(|w| w == b"text/html"));
    let mut response = if browser {
        let page = match status {
            StatusCode::GONE => GONE_PAGE,
            StatusCode::NOT_FOUND => NOT_FOUND_PAGE,
            _ => UNAVAILABLE_PAGE,
        };
        let mut response = Response::new(Body::from(Bytes::from_static(page.as_bytes())));
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    } else {
        problem(status, body)
    };
    response
        .headers_mut()
        .insert(http::header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// The pages browsers get instead of the problems: small, self-contained, same words.
macro_rules! page {
    ($title:literal, $message:literal) => {
        concat!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<meta name=\"color-scheme\" content=\"light dark\"><title>",
            $title,
            " · hop</title><style>body{font:16px/1.5 system-ui,sans-serif;margin:0;",
            "display:grid;place-items:center;min-height:100vh;padding:16px}main{max-width:420px}",
            "h1{margin:0 0 8px}a{color:#4f46e5}</style></head><body><main><h1>",
            $title,
            "</h1><p>",
            $message,
            "</p><p><a href=\"/\">Go to hop</a></p></main></body></html>"
        )
    };
}
const NOT_FOUND_PAGE: &str = page!(
    "Link not found",
    "No short link has this address. Check it for typos."
);
const GONE_PAGE: &str = page!(
    "This link is no longer active",
    "Its owner turned it off, or it has expired."
);
const UNAVAILABLE_PAGE: &str = page!(
    "Try again in a moment",
    "hop could not look this link up just now."
);

fn problem(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(hop_kit::problem::CONTENT_TYPE),
    );
    response
}
