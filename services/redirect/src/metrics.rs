//! The redirect service's metrics. The hot path uses series resolved once at start, so a
//! request costs a few atomic adds and no label hashing.

use hop_kit::metrics::{HttpMetrics, RouteHandles};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// A cache tier's hit and miss counters.
#[derive(Clone)]
pub struct TierCounters {
    pub hit: IntCounter,
    pub miss: IntCounter,
    pub error: IntCounter,
    /// Not asked: the circuit breaker is open.
    pub skipped: IntCounter,
}

#[derive(Clone)]
pub struct Metrics {
    pub l1: TierCounters,
    pub redis: TierCounters,
    /// The database tier, labelled by its name (`postgres` or `sqlite`).
    pub database: TierCounters,
    /// The read replicas (DATABASE_READ_URL), asked before the primary.
    pub replica: TierCounters,
    pub l1_entries: IntGauge,
    pub invalidations: IntCounter,
    pub subscribed: IntGauge,
    pub http: HttpMetrics,
    pub routes: Routes,
}

/// Pre-resolved `hop_http_*` series of the redirect route, one per answer.
#[derive(Clone)]
pub struct Routes {
    pub found: [RouteHandles; 4],
    pub not_found: RouteHandles,
    pub gone: RouteHandles,
    pub unavailable: RouteHandles,
    pub head_found: [RouteHandles; 4],
    pub head_not_found: RouteHandles,
    pub head_gone: RouteHandles,
    pub head_unavailable: RouteHandles,
}

impl Metrics {
    /// `database` names the last tier (`Database::name`).
    pub fn new(registry: &Registry, database: &'static str) -> Self {
        let tiers = IntCounterVec::new(
            Opts::new(
                "hop_redirect_cache_requests_total",
                "Lookups per cache tier and result (hit, miss, error, skipped)",
            ),
            &["tier", "result"],
        )
        .expect("valid metric");
        hop_kit::metrics::register(registry, &tiers);
        let tier = |name: &str| TierCounters {
            hit: tiers.with_label_values(&[name, "hit"]),
            miss: tiers.with_label_values(&[name, "miss"]),
            error: tiers.with_label_values(&[name, "error"]),
            skipped: tiers.with_label_values(&[name, "skipped"]),
        };
        let l1_entries =
            IntGauge::new("hop_redirect_l1_entries", "Entries in the in-process cache")
                .expect("valid metric");
        let invalidations = IntCounter::new(
            "hop_redirect_invalidations_total",
            "Invalidation messages received from the links service",
        )
        .expect("valid metric");
        let subscribed = IntGauge::new(
            "hop_redirect_invalidations_subscribed",
            "Whether this instance listens for invalidations (1) or relies on the L1 TTL (0)",
        )
        .expect("valid metric");
        hop_kit::metrics::register(registry, &subscribed);
        hop_kit::metrics::register(registry, &l1_entries);
        hop_kit::metrics::register(registry, &invalidations);
        let http = HttpMetrics::new(registry);
        let routes = Routes::new(&http);
        Self {
            l1: tier("l1"),
            redis: tier("redis"),
            database: tier(database),
            replica: tier("postgres-replica"),
            l1_entries,
            invalidations,
            subscribed,
            http,
            routes,
        }
    }
}

impl Routes {
    fn new(http: &HttpMetrics) -> Self {
        let route = |method: &str, status: u16| http.handles("/{code}", method, status);
        let found = |method: &str| [301, 302, 307, 308].map(|s| route(method, s));
        Self {
            found: found("GET"),
            not_found: route("GET", 404),
            gone: route("GET", 410),
            unavailable: route("GET", 503),
            head_found: found("HEAD"),
            head_not_found: route("HEAD", 404),
            head_gone: route("HEAD", 410),
            head_unavailable: route("HEAD", 503),
        }
    }
}
