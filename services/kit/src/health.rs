//! Health: background probes of each dependency, answered from memory at `/health`,
//! `/health/live` and `/health/ready`.
//!
//! - live: the process answers (always 200 while serving).
//! - ready: every *required* dependency is up, at least one of each "any of" group is up
//!   (the redirect service serves from Redis or Postgres), and the service is not
//!   draining; 503 otherwise, so load balancers stop sending traffic.
//! - health: the full report; a down optional dependency (Redis) is "degraded", still 200.
//!
//! Probes run on an interval, never per request, so a health check costs a few atomic
//! loads and a flood of them cannot load Postgres.

use prometheus::{IntGaugeVec, Opts, Registry};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the stores are probed while up.
pub const STORE_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// How soon a failed probe is retried.
const RETRY_WHILE_DOWN: Duration = Duration::from_millis(250);

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// A service's dependency checks. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    service: &'static str,
    checks: RwLock<Vec<Arc<Check>>>,
    any_of: RwLock<Vec<Vec<Arc<Check>>>>,
    draining: AtomicBool,
    up_gauge: IntGaugeVec,
}

/// One dependency's last known state.
pub struct Check {
    name: &'static str,
    required: bool,
    state: AtomicU8,
    error: Mutex<Option<String>>,
    gauge: prometheus::IntGauge,
}

impl Check {
    pub fn is_up(&self) -> bool {
        self.state.load(Ordering::Relaxed) == UP
    }

    /// Records a probe result, logging transitions (not every probe).
    pub fn set(&self, result: Result<(), String>) {
        let new = if result.is_ok() { UP } else { DOWN };
        let old = self.state.swap(new, Ordering::Relaxed);
        self.gauge.set(i64::from(new == UP));
        match (&result, old) {
            (Err(error), UP | UNKNOWN) => {
                tracing::warn!(dependency = self.name, error = %error, "dependency_down")
            }
            (Ok(()), DOWN) => tracing::info!(dependency = self.name, "dependency_up"),
            _ => {}
        }
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = result.err();
    }

    fn report(&self, exposure: Exposure) -> Value {
        let status = match self.state.load(Ordering::Relaxed) {
            UP => "up",
            DOWN => "down",
            _ => "unknown",
        };
        let mut out = json!({ "status": status, "required": self.required });
        if exposure == Exposure::Public {
            return out;
        }
        if let Some(e) = self
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            out["error"] = Value::String(e.clone());
        }
        out
    }
}

impl Health {
    /// Registers `hop_dependency_up{dependency}` in `registry`.
    pub fn new(service: &'static str, registry: &Registry) -> Self {
        let up_gauge = IntGaugeVec::new(
            Opts::new(
                "hop_dependency_up",
                "Whether a dependency answered its last probe (1) or not (0)",
            ),
            &["dependency"],
        )
        .expect("valid metric");
        crate::metrics::register(registry, &up_gauge);
        Self {
            inner: Arc::new(Inner {
                service,
                checks: RwLock::new(Vec::new()),
                any_of: RwLock::new(Vec::new()),
                draining: AtomicBool::new(false),
                up_gauge,
            }),
        }
    }

    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    /// Adds a dependency whose state the caller sets.
    pub fn check(&self, name: &'static str, required: bool) -> Arc<Check> {
        let check = Arc::new(Check {
            name,
            required,
            state: AtomicU8::new(UNKNOWN),
            error: Mutex::new(None),
            gauge: self.inner.up_gauge.with_label_values(&[name]),
        });
        self.inner
            .checks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(check.clone());
        check
    }

    /// Adds a dependency probed every `interval` (the first probe runs at once) until
    /// `stop` is cancelled. A probe slower than `interval` counts as a failure.
    pub fn spawn_probe<F, Fut>(
        &self,
        name: &'static str,
        required: bool,
        interval: Duration,
        stop: CancellationToken,
        probe: F,
    ) -> Arc<Check>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send,
    {
        let check = self.check(name, required);
        let task_check = check.clone();
        let span = tracing::info_span!("probe", service = self.service(), dependency = name);
        let task = async move {
            loop {
                let result = match tokio::time::timeout(interval, probe()).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {interval:?}")),
                };
                task_check.set(result);
                // While down, look again sooner: recovery (and start-up) shows quickly.
                let wait = if task_check.is_up() {
                    interval
                } else {
                    interval.min(RETRY_WHILE_DOWN)
                };
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        };
        tokio::spawn(tracing::Instrument::instrument(task, span));
        check
    }

    /// Probes the stores every service uses: its database (required) and Redis (optional;
    /// none in process).
    pub fn spawn_store_probes(
        &self,
        database: &crate::database::Database,
        redis: Option<&crate::redis::Redis>,
        stop: &CancellationToken,
    ) {
        self.probe_stores(database, redis, true, stop);
    }

    /// Probes the stores of a service that reads from either (the redirect service): ready
    /// while at least one answers. With the database down, an instance still serves what
    /// Redis and its own cache hold, so it must stay in the load balancer. Without Redis,
    /// the database is required.
    pub fn spawn_read_store_probes(
        &self,
        database: &crate::database::Database,
        redis: Option<&crate::redis::Redis>,
        stop: &CancellationToken,
    ) {
        let (database, redis) = self.probe_stores(database, redis, redis.is_none(), stop);
        if let Some(redis) = redis {
            self.require_any(vec![database, redis]);
        }
    }

    /// Ready only while at least one of `group` is up.
    pub fn require_any(&self, group: Vec<Arc<Check>>) {
        self.inner
            .any_of
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(group);
    }

    fn probe_stores(
        &self,
        database: &crate::database::Database,
        redis: Option<&crate::redis::Redis>,
        database_required: bool,
        stop: &CancellationToken,
    ) -> (Arc<Check>, Option<Arc<Check>>) {
        let db = database.clone();
        let database = self.spawn_probe(
            database.name(),
            database_required,
            STORE_PROBE_INTERVAL,
            stop.clone(),
            move || {
                let db = db.clone();
                async move { db.ping().await }
            },
        );
        let redis = redis.map(|redis| {
            let redis = redis.clone();
            self.spawn_probe(
                "redis",
                false,
                STORE_PROBE_INTERVAL,
                stop.clone(),
                move || {
                    let redis = redis.clone();
                    async move { redis.ping().await }
                },
            )
        });
        (database, redis)
    }

    /// Marks the service as shutting down: ready turns 503 so traffic moves elsewhere.
    pub fn set_draining(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        !self.inner.draining.load(Ordering::Relaxed)
            && self.checks().iter().all(|c| !c.required || c.is_up())
            && self
                .inner
                .any_of
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .all(|group| group.iter().any(|c| c.is_up()))
    }

    fn checks(&self) -> Vec<Arc<Check>> {
        self.inner
            .checks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Answers a health path, or `None` when `path` is not one: `(status, JSON body)`.
    pub fn respond(&self, path: &str, exposure: Exposure) -> Option<(u16, String)> {
        respond(std::slice::from_ref(self), path, exposure)
    }
}

/// Who reads a health answer. The public port says which dependency is down, never why: a
/// raw error string can carry hostnames, addresses and versions. The detail is in the logs
/// (`dependency_down`) and on the gRPC services' admin port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    Public,
    Admin,
}

/// Answers a health path for several services at once (`hop up`): ready when all are.
pub fn respond(services: &[Health], path: &str, exposure: Exposure) -> Option<(u16, String)> {
    let ready = services.iter().all(Health::is_ready);
    let (status, body) = match path {
        "/health/live" => (200, json!({ "status": "alive" })),
        "/health/ready" => {
            let status = if ready { "ready" } else { "not_ready" };
            (
                if ready { 200 } else { 503 },
                json!({ "status": status, "checks": checks_report(services, exposure) }),
            )
        }
        "/health" => {
            let all_up = services.iter().flat_map(Health::checks).all(|c| c.is_up());
            let status = match (ready, all_up) {
                (false, _) => "unavailable",
                (true, false) => "degraded",
                (true, true) => "ok",
            };
            let name = match services {
                [one] => one.service(),
                _ => "hop",
            };
            let body = json!({
                "status": status,
                "service": name,
                "version": crate::VERSION,
                "checks": checks_report(services, exposure),
            });
            (if ready { 200 } else { 503 }, body)
        }
        _ => return None,
    };
    Some((status, body.to_string()))
}

fn checks_report(services: &[Health], exposure: Exposure) -> Value {
    let mut out = serde_json::Map::new();
    for health in services {
        for check in health.checks() {
            let key = match services.len() {
                1 => check.name.to_owned(),
                _ => format!("{}.{}", health.service(), check.name),
            };
            out.insert(key, check.report(exposure));
        }
    }
    Value::Object(out)
}

/// `/health`, `/health/live` and `/health/ready` as axum routes.
pub fn router<S: Clone + Send + Sync + 'static>(
    services: Vec<Health>,
    exposure: Exposure,
) -> axum::Router<S> {
    use axum::routing::get;
    let handler = move |uri: axum::http::Uri| {
        let services = services.clone();
        async move {
            let (status, body) =
                respond(&services, uri.path(), exposure).unwrap_or((404, "{}".into()));
            json_response(status, body)
        }
    };
    axum::Router::new()
        .route("/health", get(handler.clone()))
        .route("/health/live", get(handler.clone()))
        .route("/health/ready", get(handler))
}

fn json_response(status: u16, body: String) -> axum::response::Response {
    axum::response::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(axum::body::Body::from(body))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(r: Option<(u16, String)>) -> (u16, Value) {
        let (s, b) = r.unwrap();
        (s, serde_json::from_str(&b).unwrap())
    }

    #[test]
    fn a_reader_is_ready_while_either_store_answers() {
        let health = Health::new("redirect", &crate::metrics::registry("redirect"));
        let pg = health.check("postgres", false);
        let redis = health.check("redis", false);
        health.require_any(vec![pg.clone(), redis.clone()]);
        assert_eq!(
            parse(health.respond("/health/ready", Exposure::Admin)).0,
            503
        );
        pg.set(Err("refused".into()));
        redis.set(Ok(()));
        assert_eq!(
            parse(health.respond("/health/ready", Exposure::Admin)).0,
            200
        );
        assert_eq!(
            parse(health.respond("/health", Exposure::Admin)).1["status"],
            "degraded"
        );
        redis.set(Err("refused".into()));
        assert_eq!(
            parse(health.respond("/health/ready", Exposure::Admin)).0,
            503
        );
        pg.set(Ok(()));
        assert_eq!(
            parse(health.respond("/health/ready", Exposure::Admin)).0,
            200
        );
    }

    #[test]
    fn an_optional_dependency_down_is_degraded_but_ready() {
        let health = Health::new("redirect", &crate::metrics::registry("redirect"));
        let pg = health.check("postgres", true);
        let redis = health.check("redis", false);
        assert_eq!(
            parse(health.respond("/health/ready", Exposure::Admin)).0,
            503,
            "unknown is not ready"
        );
        pg.set(Ok(()));
        redis.set(Err("connection refused".into()));
        let (status, body) = parse(health.respond("/health", Exposure::Admin));
        assert_eq!(status, 200);
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["checks"]["redis"]["error"], "connection refused");
        // The public port names the dependency and its state, never the error.
        let (_, public) = parse(health.respond("/health", Exposure::Public));
        assert_eq!(public["checks"]["redis"]["status"], "down");
        assert!(public["checks"]["redis"].get("error").is_none(), "{public}");
        assert_eq!(
            parse(health.respond("/health/ready", Exposure::Admin)).0,
            200
        );
        pg.set(Err("timeout".into()));
        assert_eq!(
            parse(health.respond("/health/ready", Exposure::Admin)).0,
            503
        );
        assert_eq!(
            parse(health.respond("/health", Exposure::Admin)).1["status"],
            "unavailable"
        );
        assert_eq!(
            parse(health.respond("/health/live", Exposure::Admin)).0,
            200
        );
        assert!(health.respond("/healthz", Exposure::Admin).is_none());
    }

    #[test]
    fn draining_is_not_ready() {
        let health = Health::new("links", &crate::metrics::registry("links"));
        health.check("postgres", true).set(Ok(()));
        assert!(health.is_ready());
        health.set_draining();
        assert!(!health.is_ready());
    }
}
