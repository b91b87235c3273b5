use hop_gateway::Proxies;
use hop_gateway::{Limit, Settings};
use hop_kit::secret::Secret;
use hop_kit::shared::{Bus, SharedConfig};
use hop_testkit::{Backend, TestStores};
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const PUBLIC_BASE_URL: &str = "https://sho.rt";
/// The test deployment's SECRET_KEY, shared by every service a test spawns.
pub const SECRET: &str = "gateway-tests-secret-0000";
pub const BODY_LIMIT: usize = 4096;
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub api: String,
    pub redirect: String,
    pub http: reqwest::Client,
    /// PostgreSQL and Redis, or the embedded store and bus (HOP_TEST_BACKEND).
    pub stores: TestStores,
    pub links_url: String,
    pub auth_url: String,
    pub stop: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestApp {
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.api))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn create(&self, body: Value) -> reqwest::Response {
        self.post_raw("/links", "application/json", body.to_string())
            .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.api))
            .send()
            .await
            .unwrap()
    }

    /// Registers `email` and logs in; the access and refresh tokens.
    pub async fn account(&self, email: &str) -> (String, String) {
        let register = self
            .post_json(
                "/auth/register",
                &serde_json::json!({"email": email, "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(register.status(), 201, "{:?}", register.text().await);
        let login: Value = self
            .post_json(
                "/auth/login",
                &serde_json::json!({"email": email, "password": PASSWORD}),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        (
            login["access_token"].as_str().unwrap().to_owned(),
            login["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.api)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// How many links are stored, deleted ones included.
    pub async fn rows(&self) -> i64 {
        let count = self
            .stores
            .strings("SELECT CAST(count(*) AS TEXT) FROM links", &[])
            .await;
        count[0].parse().unwrap()
    }
}

/// links, auth, gateway and redirect on free ports over one fresh schema and Redis
/// prefix, with anonymous creation allowed (as the bad-input tests need).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Settings {
        anonymous_links: true,
        ..test_settings()
    })
    .await
}

/// Generous limits, and loopback trusted as a proxy so tests can speak for other clients
/// through X-Forwarded-For.
pub fn test_settings() -> Settings {
    Settings {
        trusted_proxies: "127.0.0.1/32"
            .parse::<ipnet::IpNet>()
            .map(|n| Proxies(vec![n]))
            .unwrap(),
        rate_limit_register_ip: Limit::Off,
        rate_limit_create_user: Limit::Off,
        rate_limit_create_anon_ip: Limit::Off,
        ..Settings::default()
    }
}

pub async fn spawn_app_with(settings: Settings) -> TestApp {
    spawn_app_on(settings, TestStores::new().await).await
}

/// Like [`spawn_app_with`], with every service on PostgreSQL and the Redis at `url` (a
/// throwaway one), whatever the run's backend.
pub async fn spawn_app_on_redis(settings: Settings, url: &str) -> TestApp {
    let stores = TestStores::on_redis(hop_testkit::redis_args_for(url)).await;
    spawn_app_on(settings, stores).await
}

pub async fn spawn_app_on(settings: Settings, stores: TestStores) -> TestApp {
    let (database, shared) = (stores.database(), stores.shared());
    let stop = CancellationToken::new();
    let links = hop_links::build(hop_links::Config {
        public_base_url: PUBLIC_BASE_URL.into(),
        ..hop_links::Config::for_test(
            database.clone(),
            shared.clone(),
            Secret::parse(SECRET).unwrap(),
        )
    })
    .await
    .unwrap();
    let links_url = format!("http://{}", links.grpc_addr());
    tokio::spawn(links.run(stop.clone().cancelled_owned()));
    let auth = hop_auth::build(hop_auth::Config::for_test(
        database.clone(),
        shared.clone(),
        Secret::parse(SECRET).unwrap(),
    ))
    .await
    .unwrap();
    let auth_url = format!("http://{}", auth.grpc_addr());
    tokio::spawn(auth.run(stop.clone().cancelled_owned()));
    let api = spawn_gateway_with(&links_url, &auth_url, settings, shared.clone(), &stop).await;
    let redirect = hop_redirect::build(hop_redirect::Config::for_test(database, shared))
        .await
        .unwrap();
    let redirect_url = format!("http://{}", redirect.addr());
    tokio::spawn(redirect.run(stop.clone().cancelled_owned()));
    TestApp {
        api,
        redirect: redirect_url,
        http: client(),
        stores,
        links_url,
        auth_url,
        stop,
    }
}

/// A gateway in front of `links_url` (and an auth service that is not there); returns its
/// base URL.
pub async fn spawn_gateway(
    links_url: &str,
    grpc_timeout: Duration,
    stop: &CancellationToken,
) -> String {
    let closed = format!("http://127.0.0.1:{}", hop_testkit::free_port());
    let settings = Settings {
        grpc_timeout_ms: grpc_timeout.as_millis() as u64,
        anonymous_links: true,
        ..test_settings()
    };
    let shared = match Backend::from_env() {
        Backend::Servers => SharedConfig::Redis(hop_testkit::redis_args()),
        Backend::Embedded => SharedConfig::InProcess(Bus::new()),
    };
    spawn_gateway_with(links_url, &closed, settings, shared, stop).await
}

pub async fn spawn_gateway_with(
    links_url: &str,
    auth_url: &str,
    settings: Settings,
    shared: impl Into<SharedConfig>,
    stop: &CancellationToken,
) -> String {
    let settings = Settings {
        body_limit_bytes: BODY_LIMIT as u64,
        ..settings
    };
    let gateway = hop_gateway::build(hop_gateway::Config::for_test(
        links_url,
        auth_url,
        settings,
        shared,
        Secret::parse(SECRET).unwrap(),
    ))
    .await
    .unwrap();
    let base = format!("http://{}", gateway.addr());
    tokio::spawn(gateway.run(stop.clone().cancelled_owned()));
    base
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Asserts a problem+json answer with `status`; returns the body.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "{:?}",
        response.headers()
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    body
}

/// The fields named in a validation problem.
pub fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits, when a minute is about to turn, until it has: rate limits count in fixed windows
/// that start on the minute, so a test that counts up to a limit must not straddle one.
pub async fn clear_of_a_window_edge() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = now.as_millis() % 60_000;
    let left = 60_000 - into;
    if left < 15_000 {
        tokio::time::sleep(Duration::from_millis(left as u64 + 100)).await;
    }
}
