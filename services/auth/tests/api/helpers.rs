use hop_auth::TokenSettings;
use hop_kit::secret::Secret;
use hop_kit::service_auth::{ServiceChannel, ServiceToken, authenticated};
use hop_kit::shared::SharedConfig;
use hop_proto::auth::v1 as pb;
use hop_proto::auth::v1::auth_service_client::AuthServiceClient;
use hop_testkit::TestStores;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// The test deployment's SECRET_KEY.
pub const SECRET: &str = "auth-tests-secret-0123456789";

/// The service token of the test deployment.
pub fn token() -> ServiceToken {
    ServiceToken::derive(&Secret::parse(SECRET).unwrap())
}

pub struct TestAuth {
    pub client: AuthServiceClient<ServiceChannel>,
    /// Redis, or the in-process bus, that the service announces revocations on.
    pub shared: SharedConfig,
    stop: CancellationToken,
}

impl Drop for TestAuth {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn tokens() -> TokenSettings {
    TokenSettings {
        issuer: "hop".into(),
        audience: "hop-api".into(),
        access_ttl: Duration::from_secs(900),
        refresh_ttl: Duration::from_secs(86_400),
    }
}

pub async fn spawn_auth(stores: &TestStores) -> TestAuth {
    spawn_auth_with_key(stores, None).await
}

pub async fn spawn_auth_with_key(
    stores: &TestStores,
    signing_key_file: Option<std::path::PathBuf>,
) -> TestAuth {
    let shared = stores.shared();
    let server = hop_auth::build(hop_auth::Config {
        signing_key_file,
        tokens: tokens(),
        ..hop_auth::Config::for_test(
            stores.database(),
            shared.clone(),
            Secret::parse(SECRET).unwrap(),
        )
    })
    .await
    .unwrap();
    let addr = server.grpc_addr();
    let stop = CancellationToken::new();
    tokio::spawn(server.run(stop.clone().cancelled_owned()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    TestAuth {
        client: AuthServiceClient::new(authenticated(channel, token())),
        shared,
        stop,
    }
}

impl TestAuth {
    pub async fn register(&self, email: &str, password: &str) -> Result<pb::User, tonic::Status> {
        let request = pb::RegisterRequest {
            email: email.into(),
            password: password.into(),
            username: None,
        };
        self.client
            .clone()
            .register(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<pb::TokenPair, tonic::Status> {
        let request = pb::LoginRequest {
            email: email.into(),
            password: password.into(),
            client_ip: String::new(),
        };
        self.client
            .clone()
            .login(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn refresh(&self, token: &str) -> Result<pb::TokenPair, tonic::Status> {
        let request = pb::RefreshRequest {
            refresh_token: token.into(),
        };
        self.client
            .clone()
            .refresh(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn active(&self, session_id: &str) -> bool {
        let request = pb::CheckSessionRequest {
            session_id: session_id.into(),
        };
        self.client
            .clone()
            .check_session(request)
            .await
            .unwrap()
            .into_inner()
            .active
    }

    /// Whether the session is on the deny-list (in Redis, or on the bus).
    pub async fn denied(&self, session_id: &str) -> bool {
        let shared = self.shared.connect().unwrap();
        if let Some(redis) = shared.redis() {
            redis.ping().await.unwrap();
        }
        let now = chrono::Utc::now().timestamp();
        let live = hop_revocations::listed_in(&shared, now).await.unwrap();
        live.iter()
            .any(|r| r.session_id == session_id && r.until > now + 800)
    }
}

/// The claims of an access token, verified with the public keys the service publishes.
pub async fn verify(auth: &TestAuth, token: &str) -> hop_proto::token::Claims {
    let keys = auth
        .client
        .clone()
        .get_public_keys(pb::GetPublicKeysRequest {})
        .await
        .unwrap()
        .into_inner();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let key = keys
        .keys
        .iter()
        .find(|k| Some(&k.kid) == header.kid.as_ref())
        .expect("the token's kid is published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[keys.audience]);
    validation.set_issuer(&[keys.issuer]);
    jsonwebtoken::decode::<hop_proto::token::Claims>(
        token,
        &jsonwebtoken::DecodingKey::from_ed_der(&key.key),
        &validation,
    )
    .unwrap()
    .claims
}
