//! API keys at the edge: `Authorization: Bearer hop_…` or `X-Api-Key: hop_…`.
//!
//! A key is checked with the auth service (`CheckApiKey`, by the key's SHA-256: auth
//! stores nothing else) and the answer kept for [`CHECKED_FOR`], so a busy integration
//! costs one call a minute per gateway. A revocation reaches every gateway at once over the
//! session deny-list, where a revoked key is listed as `apikey:<id>` for longer than an
//! answer is kept; while the deny-list replica is out of sync, every request asks auth.
//! Keys are never logged: only their id.

use super::{AuthFailure, AuthUser};
use crate::context::RequestId;
use hop_kit::service_auth::ServiceChannel;
use hop_proto::api_key::{Scopes, is_key, revocation_id};
use hop_proto::auth::v1 as pb;
use hop_proto::auth::v1::auth_service_client::AuthServiceClient;
use hop_revocations::Replica;
use sha2::Digest as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an answer about a key is kept.
pub const CHECKED_FOR: Duration = Duration::from_secs(60);
/// Keys remembered at most.
const CAPACITY: usize = 10_000;

/// What auth said about a key.
#[derive(Debug, Clone)]
struct Checked {
    at: Instant,
    id: i64,
    user_id: i64,
    scopes: Scopes,
    /// Unix seconds.
    expires_at: Option<i64>,
}

pub struct ApiKeys {
    auth: AuthServiceClient<ServiceChannel>,
    grpc_timeout: Duration,
    checked: quick_cache::sync::Cache<[u8; 32], Arc<Checked>>,
}

impl ApiKeys {
    pub fn new(auth: AuthServiceClient<ServiceChannel>, grpc_timeout: Duration) -> Self {
        Self {
            auth,
            grpc_timeout,
            checked: quick_cache::sync::Cache::new(CAPACITY),
        }
    }

    /// The caller behind `secret`, if it is a live key.
    pub async fn authenticate(
        &self,
        secret: &str,
        deny: &Replica,
        request_id: &RequestId,
    ) -> Result<AuthUser, AuthFailure> {
        if !is_key(secret) {
            return Err(AuthFailure::Invalid);
        }
        let hash: [u8; 32] = sha2::Sha256::digest(secret.as_bytes()).into();
        let cached = self
            .checked
            .get(&hash)
            .filter(|c| c.at.elapsed() < CHECKED_FOR);
        let from_cache = cached.is_some();
        let checked = match cached {
            Some(checked) => checked,
            None => self.check(secret, hash, request_id).await?,
        };
        let checked = match deny.check(&revocation_id(checked.id)) {
            Some(true) => {
                self.checked.remove(&hash);
                return Err(AuthFailure::Revoked);
            }
            Some(false) => checked,
            // The replica may be missing a revocation: auth decides.
            None if from_cache => self.check(secret, hash, request_id).await?,
            None => checked,
        };
        if checked
            .expires_at
            .is_some_and(|t| t <= hop_kit::time::unix_now())
        {
            return Err(AuthFailure::Invalid);
        }
        Ok(AuthUser {
            user_id: checked.user_id,
            session_id: revocation_id(checked.id),
            scopes: Some(checked.scopes),
        })
    }

    async fn check(
        &self,
        secret: &str,
        hash: [u8; 32],
        request_id: &RequestId,
    ) -> Result<Arc<Checked>, AuthFailure> {
        let mut request = tonic::Request::new(pb::CheckApiKeyRequest {
            secret: secret.to_owned(),
        });
        request.set_timeout(self.grpc_timeout);
        if let Ok(value) = request_id.0.parse() {
            request
                .metadata_mut()
                .insert(hop_kit::grpc::REQUEST_ID_HEADER, value);
        }
        let key = match self.auth.clone().check_api_key(request).await {
            Ok(key) => key.into_inner(),
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                self.checked.remove(&hash);
                return Err(AuthFailure::Invalid);
            }
            Err(_) => return Err(AuthFailure::Unavailable),
        };
        let scopes = Scopes::parse(key.scopes.iter().map(String::as_str))
            .map_err(|_| AuthFailure::Invalid)?;
        let checked = Arc::new(Checked {
            at: Instant::now(),
            id: key.id,
            user_id: key.user_id,
            scopes,
            expires_at: key.expires_at.map(|t| t.seconds),
        });
        self.checked.insert(hash, checked.clone());
        Ok(checked)
    }
}
