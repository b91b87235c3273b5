use hop_kit::config::Secret;
use hop_testkit::TestDb;
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const PUBLIC_BASE_URL: &str = "https://sho.rt";
pub const BODY_LIMIT: usize = 4096;

pub struct TestApp {
    pub api: String,
    pub redirect: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    stop: CancellationToken,
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

    pub async fn rows(&self) -> i64 {
        self.db
            .client()
            .await
            .query_one("SELECT count(*) FROM links", &[])
            .await
            .unwrap()
            .get(0)
    }
}

/// links, gateway and redirect on free ports over one fresh schema and Redis prefix.
pub async fn spawn_app() -> TestApp {
    let db = TestDb::new().await;
    let redis = hop_testkit::redis_args();
    let stop = CancellationToken::new();
    let links = hop_links::build(hop_links::Config {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        admin_addr: None,
        public_base_url: PUBLIC_BASE_URL.into(),
        secret: Secret::parse("gateway-tests-secret-0000").unwrap(),
        database: db.args.clone(),
        redis: redis.clone(),
        shutdown_grace: Duration::from_secs(1),
    })
    .await
    .unwrap();
    let links_url = format!("http://{}", links.grpc_addr());
    tokio::spawn(links.run(stop.clone().cancelled_owned()));
    let api = spawn_gateway(&links_url, Duration::from_secs(5), &stop).await;
    let redirect = hop_redirect::build(hop_redirect::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        cache: hop_redirect::CacheSettings::default(),
        database: db.args.clone(),
        redis,
        shutdown_grace: Duration::from_secs(1),
    })
    .await
    .unwrap();
    let redirect_url = format!("http://{}", redirect.addr());
    tokio::spawn(redirect.run(stop.clone().cancelled_owned()));
    TestApp {
        api,
        redirect: redirect_url,
        http: client(),
        db,
        stop,
    }
}

/// A gateway in front of `links_url`; returns its base URL.
pub async fn spawn_gateway(
    links_url: &str,
    grpc_timeout: Duration,
    stop: &CancellationToken,
) -> String {
    let gateway = hop_gateway::build(hop_gateway::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        links_url: links_url.into(),
        grpc_timeout,
        body_limit: BODY_LIMIT,
        shutdown_grace: Duration::from_secs(1),
    })
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
