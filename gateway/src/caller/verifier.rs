//! The token [`Verifier`]: bearer tokens checked here, without a round trip to the auth
//! service.
//!
//! It holds the auth service's public keys (fetched over gRPC, refreshed every few minutes
//! and whenever a token names an unknown `kid`, so keys can rotate; [`super::keys`]). It
//! pins the algorithm to EdDSA and checks signature, `iss`, `aud`, `exp`, `nbf` and the
//! lifetime; tokens already verified are remembered until they expire, so a busy client
//! costs one signature check. Every authenticated request also checks the session
//! deny-list: an in-memory [`Replica`] kept current over pub/sub, so a logout anywhere
//! takes effect at once; while the replica is out of sync, the auth service is asked.

use super::keys::{KeySet, Published};
use super::{AuthFailure, AuthUser};
use crate::context::RequestId;
use hop_kit::service_auth::ServiceChannel;
use hop_proto::auth::v1 as pb;
use hop_proto::auth::v1::auth_service_client::AuthServiceClient;
use hop_proto::token::Claims;
use hop_revocations::Replica;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Tokens are accepted this long past `exp`, for clock skew between machines.
pub const LEEWAY_SECS: u64 = 30;
/// Verified tokens remembered at most.
const VERIFIED_CAPACITY: usize = 50_000;

pub struct Verifier {
    auth: AuthServiceClient<ServiceChannel>,
    deny: Arc<Replica>,
    grpc_timeout: Duration,
    keys: RwLock<KeySet>,
    fetching: tokio::sync::Mutex<()>,
    /// `hop_auth_key_fetches_total{result}` and `hop_auth_keys_known`.
    fetches: prometheus::IntCounterVec,
    known_keys: prometheus::IntGauge,
    verified: quick_cache::sync::Cache<String, Arc<Claims>>,
    api_keys: super::api_key::ApiKeys,
}

impl Verifier {
    pub fn new(
        auth: AuthServiceClient<ServiceChannel>,
        deny: Arc<Replica>,
        grpc_timeout: Duration,
        registry: &prometheus::Registry,
    ) -> Self {
        let fetches = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "hop_auth_key_fetches_total",
                "Fetches of the token-verifying keys from auth, by result",
            ),
            &["result"],
        )
        .expect("valid metric");
        let known_keys = prometheus::IntGauge::new(
            "hop_auth_keys_known",
            "Token-verifying keys known (current and retired but still live)",
        )
        .expect("valid metric");
        hop_kit::metrics::register(registry, &fetches);
        hop_kit::metrics::register(registry, &known_keys);
        Self {
            api_keys: super::api_key::ApiKeys::new(auth.clone(), grpc_timeout),
            auth,
            deny,
            grpc_timeout,
            keys: RwLock::new(KeySet::default()),
            fetching: tokio::sync::Mutex::new(()),
            fetches,
            known_keys,
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
        }
    }

    /// The caller behind `token`, if it is valid and its session is live.
    pub async fn authenticate(
        &self,
        token: &str,
        request_id: &RequestId,
    ) -> Result<AuthUser, AuthFailure> {
        let claims = self.verify(token).await?;
        if self.revoked(&claims.sid, request_id).await? {
            return Err(AuthFailure::Revoked);
        }
        let user_id = claims.sub.parse().map_err(|_| AuthFailure::Invalid)?;
        Ok(AuthUser {
            user_id,
            session_id: claims.sid.clone(),
            scopes: None,
        })
    }

    /// The caller behind an API key, if it is live.
    pub async fn authenticate_key(
        &self,
        secret: &str,
        request_id: &RequestId,
    ) -> Result<AuthUser, AuthFailure> {
        self.api_keys
            .authenticate(secret, &self.deny, request_id)
            .await
    }

    /// Records a logout made through this gateway before the logout answers, so its next
    /// request here is refused whatever pub/sub has delivered yet. `listed`: whether auth
    /// wrote it to the Redis deny-list (if not, the replica is distrusted until it has).
    pub fn revoked_here(&self, session_id: &str, listed: bool) {
        let lifetime = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .max_lifetime()
            .max(0);
        let now = hop_kit::time::unix_now();
        // Past the last token of the session, clock skew included.
        let until = now
            .saturating_add(lifetime)
            .saturating_add(2 * LEEWAY_SECS as i64);
        self.deny.insert_here(session_id.to_owned(), until, listed);
    }

    /// The token's claims if its signature, algorithm, issuer, audience and expiry hold.
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, AuthFailure> {
        let now = hop_kit::time::unix_now();
        if let Some(claims) = self.verified.get(token) {
            return if now <= claims.exp + LEEWAY_SECS as i64 {
                Ok(claims)
            } else {
                Err(AuthFailure::Invalid)
            };
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthFailure::Invalid);
        }
        let kid = header.kid.ok_or(AuthFailure::Invalid)?;
        let (key, validation, max_lifetime) = match self.key(&kid) {
            Some(found) => found,
            None => self.learn(&kid).await?,
        };
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|_| AuthFailure::Invalid)?;
        // A token auth would never issue: one that lives longer than the access TTL (a
        // leaked signing key's forgeries), or issued in the future.
        let lifetime = data.claims.exp - data.claims.iat;
        if lifetime > max_lifetime + LEEWAY_SECS as i64
            || data.claims.iat > now + LEEWAY_SECS as i64
        {
            return Err(AuthFailure::Invalid);
        }
        let claims = Arc::new(data.claims);
        self.verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn key(&self, kid: &str) -> Option<(Arc<DecodingKey>, Arc<Validation>, i64)> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).get(kid)
    }

    /// A `kid` not known yet: fetch the keys, and when a fetch was made a moment ago (so
    /// it may predate a rotation), wait for the refetch window and look once more. A
    /// rotation's new key is never refused; made-up kids cost one call a second at most.
    async fn learn(
        &self,
        kid: &str,
    ) -> Result<(Arc<DecodingKey>, Arc<Validation>, i64), AuthFailure> {
        if !self.refresh(false).await? {
            let since = self
                .keys
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .since_success(Instant::now());
            if let Some(since) = since {
                tokio::time::sleep(super::keys::MIN_REFETCH.saturating_sub(since)).await;
            }
            if self.key(kid).is_none() {
                self.refresh(false).await?;
            }
        }
        self.key(kid).ok_or(AuthFailure::Invalid)
    }

    /// Fetches the public keys and merges them into those known ([`super::keys`]); unless
    /// `force`, not again soon after the last attempt (and, after a failure, answering
    /// Unavailable without a call).
    pub async fn fetch_keys(&self, force: bool) -> Result<(), AuthFailure> {
        self.refresh(force).await.map(|_| ())
    }

    /// [`Self::fetch_keys`]; `true` when it fetched, `false` when a recent fetch stood.
    async fn refresh(&self, force: bool) -> Result<bool, AuthFailure> {
        let _one_at_a_time = self.fetching.lock().await;
        let recent = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .recently_tried(Instant::now());
        match recent {
            Some(true) if !force => return Ok(false),
            Some(false) if !force => return Err(AuthFailure::Unavailable),
            _ => {}
        }
        let mut request = tonic::Request::new(pb::GetPublicKeysRequest {});
        request.set_timeout(self.grpc_timeout);
        let published = match self.auth.clone().get_public_keys(request).await {
            Ok(published) => published.into_inner(),
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "public_keys_fetch_failed");
                self.fetches.with_label_values(&["failed"]).inc();
                self.keys
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .failed(Instant::now());
                return Err(AuthFailure::Unavailable);
            }
        };
        self.fetches.with_label_values(&["ok"]).inc();
        let keys = published
            .keys
            .iter()
            .filter(|k| k.algorithm == "EdDSA")
            .filter_map(|k| Some((k.kid.clone(), <[u8; 32]>::try_from(k.key.as_slice()).ok()?)))
            .collect();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[published.issuer]);
        validation.set_audience(&[published.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let published = Published {
            keys,
            validation,
            max_lifetime: i64::try_from(published.access_ttl_seconds).unwrap_or(i64::MAX / 2),
        };
        let leeway = Duration::from_secs(LEEWAY_SECS);
        let mut known = self.keys.write().unwrap_or_else(|p| p.into_inner());
        known.merge(published, leeway, Instant::now());
        self.known_keys.set(known.len() as i64);
        Ok(true)
    }

    /// Whether the session was revoked: the in-memory replica of the deny-list while it is
    /// in sync, else the auth service.
    async fn revoked(&self, session_id: &str, request_id: &RequestId) -> Result<bool, AuthFailure> {
        if let Some(listed) = self.deny.check(session_id) {
            return Ok(listed);
        }
        let mut request = tonic::Request::new(pb::CheckSessionRequest {
            session_id: session_id.to_owned(),
        });
        request.set_timeout(self.grpc_timeout);
        if let Ok(value) = request_id.0.parse() {
            request
                .metadata_mut()
                .insert(hop_kit::grpc::REQUEST_ID_HEADER, value);
        }
        hop_kit::telemetry::otel::inject_metadata(request.metadata_mut());
        match self.auth.clone().check_session(request).await {
            Ok(answer) => Ok(!answer.into_inner().active),
            Err(_) => Err(AuthFailure::Unavailable),
        }
    }
}
