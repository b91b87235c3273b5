use hop_kit::database::DatabaseConfig;
use hop_kit::redis::RedisArgs;
use hop_kit::shared::SharedConfig;
use hop_proto::link::RedirectType;
use hop_read_model::{CachedLink, ReadEntry};
use hop_redirect::{CacheSettings, ClickSettings};
use hop_testkit::{Backend, TestDb, TestStores};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct TestRedirect {
    pub base: String,
    pub http: reqwest::Client,
    /// The Redis it shares, unless it runs on the in-process bus.
    pub redis: Option<RedisArgs>,
    stop: CancellationToken,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestRedirect {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestRedirect {
    /// The Redis settings of a test about the Redis tier.
    pub fn redis(&self) -> &RedisArgs {
        self.redis.as_ref().expect("this test runs on Redis")
    }

    /// Stops the service the way SIGTERM does and waits until it has finished.
    pub async fn shut_down(mut self) {
        self.stop.cancel();
        if let Some(running) = self.running.take() {
            running.await.unwrap().unwrap();
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn head(&self, path: &str) -> reqwest::Response {
        self.http
            .head(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// Waits until the service's own Redis probe has connected. Commands fail fast while
    /// the client is still connecting (the service degrades instead of queueing), so a
    /// test that expects a Redis hit on its first request waits for this first.
    pub async fn until_redis_up(&self) {
        hop_testkit::until(
            "the redirect service connects to Redis",
            Duration::from_secs(10),
            || async {
                let health: serde_json::Value = self.get("/health").await.json().await.unwrap();
                health["checks"]["redis"]["status"] == "up"
            },
        )
        .await;
    }

    /// Status and Location of `GET /code`.
    pub async fn follow(&self, code: &str) -> (u16, Option<String>) {
        let response = self.get(&format!("/{code}")).await;
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status().as_u16(), location)
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    /// The value of the cache counter for `tier` and `result`.
    pub async fn tier(&self, tier: &str, result: &str) -> f64 {
        metric(
            &self.metrics().await,
            "hop_redirect_cache_requests_total",
            &[("tier", tier), ("result", result)],
        )
    }

    /// Writes an entry straight into this service's Redis prefix.
    pub async fn put_redis(&self, code: &str, link: &CachedLink) {
        let redis = connected(self.redis()).await;
        let key = hop_read_model::link_key(&redis, code);
        // Each write is newer than the last: the version is the wall clock in microseconds.
        let version = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        let entry = ReadEntry::Live {
            version,
            link: link.clone(),
        };
        redis
            .set_ex(&key, entry.encode(), Duration::from_secs(60))
            .await
            .unwrap();
    }
}

/// A Redis client that has finished connecting.
pub async fn connected(args: &RedisArgs) -> hop_kit::redis::Redis {
    let redis = hop_kit::redis::Redis::connect(args).unwrap();
    redis.ping().await.expect("redis answers");
    redis
}

/// A counter's value from Prometheus text; 0 when the series is absent.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

pub fn cache(l1: bool, redis: bool) -> CacheSettings {
    CacheSettings {
        cache_l1_enabled: l1,
        cache_redis_enabled: redis,
        ..CacheSettings::default()
    }
}

/// A redirect service on the shared Redis, connected to it before the first request.
pub async fn spawn_redirect(db: &TestDb, cache: CacheSettings) -> TestRedirect {
    let app = spawn_redirect_with(db.args.clone(), hop_testkit::redis_args(), cache).await;
    app.until_redis_up().await;
    app
}

pub async fn spawn_redirect_with(
    database: impl Into<DatabaseConfig>,
    shared: impl Into<SharedConfig>,
    cache: CacheSettings,
) -> TestRedirect {
    spawn_recording(database, shared, cache, fast_clicks()).await
}

/// A redirect service on the test's stores (either backend), connected to Redis, when it
/// has one, before the first request.
pub async fn spawn_redirect_on(stores: &TestStores, cache: CacheSettings) -> TestRedirect {
    let app = spawn_redirect_with(stores.database(), stores.shared(), cache).await;
    if stores.backend() == Backend::Servers {
        app.until_redis_up().await;
    }
    app
}

/// Click settings that flush every 100 ms, so tests need not wait a second per check.
pub fn fast_clicks() -> ClickSettings {
    ClickSettings {
        click_flush_ms: 100,
        ..ClickSettings::default()
    }
}

pub async fn spawn_recording(
    database: impl Into<DatabaseConfig>,
    shared: impl Into<SharedConfig>,
    cache: CacheSettings,
    clicks: ClickSettings,
) -> TestRedirect {
    let shared = shared.into();
    let redis = match &shared {
        SharedConfig::Redis(args) => Some(args.clone()),
        SharedConfig::InProcess(_) => None,
    };
    let config = hop_redirect::Config {
        cache,
        clicks,
        ..hop_redirect::Config::for_test(database, shared)
    };
    let server = hop_redirect::build(config).await.expect("redirect builds");
    let base = format!("http://{}", server.addr());
    let stop = CancellationToken::new();
    let running = tokio::spawn(server.run(stop.clone().cancelled_owned()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    TestRedirect {
        base,
        http,
        redis,
        stop,
        running: Some(running),
    }
}

/// A link row written straight into the schema (what the links service would store).
pub struct Seed<'a> {
    pub code: &'a str,
    pub url: &'a str,
    pub status: i16,
    pub active: bool,
    pub expires_in_secs: Option<i64>,
    pub deleted: bool,
}

impl<'a> Seed<'a> {
    pub fn new(code: &'a str, url: &'a str) -> Self {
        Self {
            code,
            url,
            status: 302,
            active: true,
            expires_in_secs: None,
            deleted: false,
        }
    }

    /// Into the test's stores, whichever backend they are.
    pub async fn insert_into(self, stores: &TestStores) {
        let sqlite = match stores {
            TestStores::Servers { db, .. } => return self.insert(db).await,
            TestStores::Embedded { sqlite, .. } => sqlite,
        };
        let now = hop_kit::sqlite::now_micros();
        let (code, url, status, active) = (
            self.code.to_owned(),
            self.url.to_owned(),
            self.status,
            self.active,
        );
        let expires = self.expires_in_secs.map(|s| now + s * 1_000_000);
        let deleted = self.deleted.then_some(now);
        sqlite
            .write(move |c| {
                let id: i64 = c.query_row(
                    "UPDATE link_ids SET next = next + block RETURNING next - block",
                    [],
                    |r| r.get(0),
                )?;
                c.execute(
                    "INSERT INTO links (id, code, target_url, redirect_type, is_active, expires_at, \
                                        created_at, updated_at, deleted_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
                    hop_kit::sqlite::rusqlite::params![id, code, url, status, active, expires, now, deleted],
                )?;
                Ok(())
            })
            .await
            .unwrap();
    }

    pub async fn insert(self, db: &TestDb) {
        db.client()
            .await
            .execute(
                "INSERT INTO links (id, code, target_url, redirect_type, is_active, expires_at, deleted_at) \
                 VALUES (nextval('link_ids'), $1, $2, $3, $4, \
                         now() + make_interval(secs => $5::double precision), \
                         CASE WHEN $6 THEN now() END)",
                &[
                    &self.code,
                    &self.url,
                    &self.status,
                    &self.active,
                    &self.expires_in_secs.map(|s| s as f64),
                    &self.deleted,
                ],
            )
            .await
            .unwrap();
    }
}

pub fn cached(url: &str) -> CachedLink {
    CachedLink {
        id: 1,
        url: url.into(),
        redirect_type: RedirectType::Found,
        is_active: true,
        expires_at: None,
    }
}
