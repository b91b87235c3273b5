//! Prometheus metrics: one registry per service, merged with the process registry at
//! `/metrics`.
//!
//! Each service registers its metrics in its own [`prometheus::Registry`], labelled with
//! `service`, so `hop up` can expose every service's metrics from one endpoint and tests can
//! spawn many services in one process without name clashes. Names follow Prometheus
//! conventions: `hop_` prefix, unit in the name, `_total` on counters.

use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::Duration;

/// Latency buckets in seconds, fine enough below a millisecond to resolve an L1 redirect.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether this process counts (METRICS_ENABLED; on unless a benchmark turns it off).
pub fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Turns counting on or off for the whole process.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Adds one to `counter`, unless counting is off.
#[inline]
pub fn inc(counter: &prometheus::IntCounter) {
    if enabled() {
        counter.inc();
    }
}

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A registry whose every series carries `service="<service>"`.
pub fn registry(service: &str) -> Registry {
    let labels = HashMap::from([("service".to_owned(), service.to_owned())]);
    Registry::new_custom(None, Some(labels)).expect("a constant label set is valid")
}

/// Process metrics (CPU, memory, file descriptors) and `hop_build_info`, once per process.
pub fn process_registry() -> &'static Registry {
    static PROCESS: OnceLock<Registry> = OnceLock::new();
    PROCESS.get_or_init(|| {
        let registry = Registry::new();
        let collector = prometheus::process_collector::ProcessCollector::for_self();
        registry
            .register(Box::new(collector))
            .expect("the process collector registers once");
        let info = IntGaugeVec::new(
            Opts::new("hop_build_info", "hop's version; always 1"),
            &["version"],
        )
        .expect("valid metric");
        info.with_label_values(&[crate::VERSION]).set(1);
        registry
            .register(Box::new(info))
            .expect("build info registers once");
        registry
            .register(Box::new(LogLines::process().family.clone()))
            .expect("log lines register once");
        registry
    })
}

/// `hop_log_lines_total{level}`: the log lines a process wrote, by level. The telemetry
/// layer counts each line it writes, so the figure matches the logs with no Loki in the
/// way; `HopErrorLogs` alerts on the error rate. Every level's series exists from the
/// start (at 0), so a rate over it is defined before the first error.
#[derive(Clone)]
pub struct LogLines {
    family: IntCounterVec,
    /// error, warn, info, debug, trace: `tracing::Level`'s order.
    by_level: [prometheus::IntCounter; 5],
}

impl LogLines {
    /// A fresh family (tests count on their own); a process uses [`LogLines::process`].
    pub fn new() -> Self {
        let family = IntCounterVec::new(
            Opts::new(
                "hop_log_lines_total",
                "Log lines written by this process, by level",
            ),
            &["level"],
        )
        .expect("valid metric");
        let by_level = ["error", "warn", "info", "debug", "trace"]
            .map(|level| family.with_label_values(&[level]));
        Self { family, by_level }
    }

    /// The process's counters, exposed through [`process_registry`].
    pub fn process() -> &'static Self {
        static LINES: OnceLock<LogLines> = OnceLock::new();
        LINES.get_or_init(Self::new)
    }

    /// Counts one line at `level` (unless counting is off).
    #[inline]
    pub fn count(&self, level: tracing::Level) {
        let index = match level {
            tracing::Level::ERROR => 0,
            tracing::Level::WARN => 1,
            tracing::Level::INFO => 2,
            tracing::Level::DEBUG => 3,
            tracing::Level::TRACE => 4,
        };
        inc(&self.by_level[index]);
    }

    /// The lines counted at `level` ("error", "warn", …; 0 for anything else).
    pub fn get(&self, level: &str) -> u64 {
        self.family
            .get_metric_with_label_values(&[level])
            .map_or(0, |c| c.get())
    }
}

impl Default for LogLines {
    fn default() -> Self {
        Self::new()
    }
}

/// Renders `registries` plus the process registry as one exposition, merging families that
/// several services share (their series differ by the `service` label).
pub fn render(registries: &[&Registry]) -> String {
    let mut families: BTreeMap<String, MetricFamily> = BTreeMap::new();
    let all = registries.iter().copied().chain([process_registry()]);
    for family in all.flat_map(Registry::gather) {
        match families.get_mut(family.name()) {
            Some(existing) => {
                let mut family = family;
                existing.mut_metric().extend(family.take_metric());
            }
            None => {
                families.insert(family.name().to_owned(), family);
            }
        }
    }
    let families: Vec<MetricFamily> = families.into_values().collect();
    let mut out = Vec::with_capacity(16 * 1024);
    if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
        tracing::error!(error = %e, "metrics_encode_failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The `method` label of a request: one of the methods hop answers, or "other". Anything a
/// client sends lands in this fixed set.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

/// Request rate, errors and duration per route of an HTTP service.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    pub fn new(registry: &Registry) -> Self {
        let requests = IntCounterVec::new(
            Opts::new("hop_http_requests_total", "HTTP requests answered"),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "hop_http_request_duration_seconds",
                "Time from request to response head",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )
        .expect("valid metric");
        register(registry, &requests);
        register(registry, &duration);
        Self { requests, duration }
    }

    /// `route` must be a template (or "other"); `method` is folded into
    /// [`method_label`]'s fixed set, so a client cannot mint series.
    pub fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        if !enabled() {
            return;
        }
        let method = method_label(method);
        let mut buf = itoa_status(status);
        self.requests
            .with_label_values(&[route, method, status_str(&mut buf)])
            .inc();
        self.duration
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    /// Pre-resolved series for a hot route, so each request costs two atomic adds.
    pub fn handles(&self, route: &str, method: &str, status: u16) -> RouteHandles {
        let method = method_label(method);
        let mut buf = itoa_status(status);
        RouteHandles {
            requests: self
                .requests
                .with_label_values(&[route, method, status_str(&mut buf)]),
            duration: self.duration.with_label_values(&[route, method]),
        }
    }
}

/// One route/method/status series of [`HttpMetrics`].
#[derive(Clone)]
pub struct RouteHandles {
    pub requests: prometheus::IntCounter,
    pub duration: prometheus::Histogram,
}

impl RouteHandles {
    pub fn observe(&self, elapsed: Duration) {
        if !enabled() {
            return;
        }
        self.requests.inc();
        self.duration.observe(elapsed.as_secs_f64());
    }
}

/// RPC rate, errors and duration per method of a gRPC service.
#[derive(Clone)]
pub struct RpcMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl RpcMetrics {
    pub fn new(registry: &Registry) -> Self {
        let requests = IntCounterVec::new(
            Opts::new("hop_grpc_requests_total", "gRPC calls answered"),
            &["method", "code"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("hop_grpc_request_duration_seconds", "gRPC call duration")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["method"],
        )
        .expect("valid metric");
        register(registry, &requests);
        register(registry, &duration);
        Self { requests, duration }
    }

    /// `code` is the gRPC status name ("OK", "NOT_FOUND", …).
    pub fn observe(&self, method: &str, code: &str, elapsed: Duration) {
        if !enabled() {
            return;
        }
        self.requests.with_label_values(&[method, code]).inc();
        self.duration
            .with_label_values(&[method])
            .observe(elapsed.as_secs_f64());
    }
}

/// Registers `metric`, which must be new to `registry`.
pub fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: &M) {
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once per registry");
}

fn itoa_status(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

fn status_str(buf: &mut [u8; 3]) -> &str {
    std::str::from_utf8(buf).unwrap_or("000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_sharing_a_metric_render_as_one_family() {
        let (a, b) = (registry("gateway"), registry("redirect"));
        HttpMetrics::new(&a).observe("/links", "POST", 201, Duration::from_micros(300));
        HttpMetrics::new(&b)
            .handles("/{code}", "GET", 302)
            .observe(Duration::from_micros(40));
        let text = render(&[&a, &b]);
        assert_eq!(
            text.matches("# TYPE hop_http_requests_total counter")
                .count(),
            1
        );
        assert!(text.contains(r#"service="gateway""#));
        assert!(text.contains(r#"status="302""#));
        assert!(text.contains("hop_build_info"));
        assert!(text.contains(r#"le="0.0001""#));
    }

    #[test]
    fn methods_fold_into_a_fixed_set() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("OPTIONS"), "OPTIONS");
        assert_eq!(method_label("get"), "other");
        assert_eq!(method_label("XYZZY"), "other");
        let r = registry("gateway");
        let http = HttpMetrics::new(&r);
        for i in 0..50 {
            http.observe("other", &format!("M{i}"), 405, Duration::from_micros(10));
        }
        let text = render(&[&r]);
        assert_eq!(
            text.matches("hop_http_requests_total{").count(),
            1,
            "{text}"
        );
    }
}
