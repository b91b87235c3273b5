use hop_kit::database::DatabaseConfig;
use hop_kit::redis::RedisArgs;
use hop_kit::secret::Secret;
use hop_kit::service_auth::{ServiceChannel, ServiceToken, authenticated};
use hop_kit::shared::SharedConfig;
use hop_links::CodePermutation;
use hop_proto::links::v1 as pb;
use hop_proto::links::v1::link_service_client::LinkServiceClient;
use hop_testkit::{TestDb, TestStores};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub const SECRET: &str = "links-test-secret-0123456789";
pub const PUBLIC_BASE_URL: &str = "https://hop.test";

pub struct TestLinks {
    pub client: LinkServiceClient<ServiceChannel>,
    pub channel: Channel,
    pub admin: SocketAddr,
    /// The Redis it writes the read model to, unless it runs on the in-process bus.
    pub redis: Option<RedisArgs>,
    stop: CancellationToken,
}

impl Drop for TestLinks {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestLinks {
    pub fn permutation() -> CodePermutation {
        CodePermutation::new(SECRET.as_bytes())
    }

    pub async fn create(&self, url: &str) -> Result<pb::Link, tonic::Status> {
        self.create_with(pb::CreateLinkRequest {
            url: url.into(),
            ..Default::default()
        })
        .await
    }

    pub async fn create_with(
        &self,
        request: pb::CreateLinkRequest,
    ) -> Result<pb::Link, tonic::Status> {
        self.client
            .clone()
            .create_link(request)
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn get(&self, code: &str) -> Result<pb::Link, tonic::Status> {
        let request = pb::GetLinkRequest {
            code: code.into(),
            actor_user_id: None,
        };
        self.client
            .clone()
            .get_link(request)
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// The links service on free ports, over a fresh schema and Redis prefix.
pub async fn spawn_links(db: &TestDb) -> TestLinks {
    spawn_links_with(db.args.clone(), hop_testkit::redis_args()).await
}

/// A links service on the test's stores, either backend.
pub async fn spawn_links_on(stores: &TestStores) -> TestLinks {
    spawn_links_configured(stores.database(), stores.shared(), false).await
}

pub async fn spawn_links_with(
    database: impl Into<DatabaseConfig>,
    shared: impl Into<SharedConfig>,
) -> TestLinks {
    spawn_links_configured(database, shared, false).await
}

/// The links service with gRPC reflection on or off (GRPC_REFLECTION).
pub async fn spawn_links_configured(
    database: impl Into<DatabaseConfig>,
    shared: impl Into<SharedConfig>,
    reflection: bool,
) -> TestLinks {
    let shared = shared.into();
    let redis = match &shared {
        SharedConfig::Redis(args) => Some(args.clone()),
        SharedConfig::InProcess(_) => None,
    };
    let config = hop_links::Config {
        admin_addr: Some("127.0.0.1:0".parse().unwrap()),
        public_base_url: PUBLIC_BASE_URL.into(),
        reflection,
        ..hop_links::Config::for_test(database, shared, Secret::parse(SECRET).unwrap())
    };
    let server = hop_links::build(config).await.expect("links builds");
    let (grpc, admin) = (server.grpc_addr(), server.admin_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(server.run(stop.clone().cancelled_owned()));
    let channel = Channel::from_shared(format!("http://{grpc}"))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    TestLinks {
        client: LinkServiceClient::new(authenticated(channel.clone(), token())),
        channel,
        admin,
        redis,
        stop,
    }
}

/// The service token of the test deployment (from [`SECRET`]).
pub fn token() -> ServiceToken {
    ServiceToken::derive(&Secret::parse(SECRET).unwrap())
}

/// Field names of an INVALID_ARGUMENT's violations.
pub fn violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// The raw Redis value of a key, through a plain client.
pub async fn redis_get(args: &RedisArgs, key: &str) -> Option<String> {
    let redis = hop_kit::redis::Redis::connect(args).unwrap();
    hop_testkit::until("Redis answers", Duration::from_secs(1), || async {
        redis.ping().await.is_ok()
    })
    .await;
    let full = format!("{}{key}", args.redis_key_prefix);
    redis.get(&full).await.unwrap()
}
