//! Who is calling: bearer tokens verified here, without a round trip to the auth service,
//! and the client's IP for rate limits.
//!
//! - [`Verifier`] holds the auth service's public keys (fetched over gRPC, refreshed every
//!   few minutes and whenever a token names an unknown `kid`, so keys can rotate). It pins
//!   the algorithm to EdDSA and checks signature, `iss`, `aud` and `exp`; tokens already
//!   verified are remembered until they expire, so a busy client costs one signature check.
//! - Every authenticated request also checks the session deny-list: an in-memory replica
//!   of the Redis list kept current over pub/sub ([`hop_revocations::Replica`]), so a logout anywhere
//!   takes effect at once; while the replica is out of sync, the auth service is asked.
//! - [`AuthUser`] and [`MaybeUser`] are the extractors handlers use; [`ClientIp`] believes
//!   `X-Forwarded-For` only from TRUSTED_PROXIES.

use crate::context::RequestId;
use crate::keys::{KeySet, Published};
use crate::server::AppState;
use crate::settings::Proxies;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::response::{IntoResponse, Response};
use hop_kit::problem::Problem;
use hop_kit::service_auth::ServiceChannel;
use hop_kit::token::Claims;
use hop_proto::auth::v1 as pb;
use hop_proto::auth::v1::auth_service_client::AuthServiceClient;
use hop_revocations::Replica;
use http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Tokens are accepted this long past `exp`, for clock skew between machines.
pub const LEEWAY_SECS: u64 = 30;
/// Verified tokens remembered at most.
const VERIFIED_CAPACITY: usize = 50_000;

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
    Revoked,
    /// The keys or the deny-list could not be consulted.
    Unavailable,
}

impl IntoResponse for AuthFailure {
    fn into_response(self) -> Response {
        let problem = match self {
            Self::Missing => Problem::unauthorized(
                "this needs a bearer token (Authorization: Bearer <access_token>)",
            ),
            Self::Invalid => Problem::unauthorized("the bearer token is invalid or has expired"),
            Self::Revoked => Problem::unauthorized("this session has ended; log in again"),
            Self::Unavailable => {
                Problem::unavailable("authentication is unavailable; retry shortly")
            }
        };
        problem.into_response()
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: i64,
    pub session_id: String,
}

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
        })
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
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()) as i64;
        // Past the last token of the session, clock skew included.
        let until = now
            .saturating_add(lifetime)
            .saturating_add(2 * LEEWAY_SECS as i64);
        self.deny.insert_here(session_id.to_owned(), until, listed);
    }

    /// The token's claims if its signature, algorithm, issuer, audience and expiry hold.
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, AuthFailure> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()) as i64;
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
                tokio::time::sleep(crate::keys::MIN_REFETCH.saturating_sub(since)).await;
            }
            if self.key(kid).is_none() {
                self.refresh(false).await?;
            }
        }
        self.key(kid).ok_or(AuthFailure::Invalid)
    }

    /// Fetches the public keys and merges them into those known ([`crate::keys`]); unless
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

fn bearer(parts: &Parts) -> Result<Option<&str>, AuthFailure> {
    let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthFailure::Invalid)?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(AuthFailure::Invalid),
    }
}

fn request_id(parts: &Parts) -> RequestId {
    parts
        .extensions
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId(Arc::from("")))
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AuthFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or(AuthFailure::Missing)?;
        let user = state
            .verifier()
            .authenticate(token, &request_id(parts))
            .await?;
        tracing::Span::current().record("user_id", user.user_id);
        Ok(user)
    }
}

/// The caller when a bearer token is sent (and valid), `None` when none is sent.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AuthFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            None => Ok(Self(None)),
            Some(_) => AuthUser::from_request_parts(parts, state)
                .await
                .map(|u| Self(Some(u))),
        }
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
/// untrusted address in `X-Forwarded-For`. IPv4-mapped addresses (how a dual-stack listener
/// sees an IPv4 client) are folded to IPv4 first, for TRUSTED_PROXIES as for the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// What a per-client rate limit counts: the IPv4 address, or an IPv6 address's /64 (a
    /// client holds a whole /64 and could change address on every request).
    pub fn limit_key(&self) -> String {
        hop_kit::net::client_key(self.0)
    }

    fn resolve<'a>(
        peer: IpAddr,
        forwarded: impl Iterator<Item = &'a str>,
        proxies: &Proxies,
    ) -> Self {
        let peer = hop_kit::net::canonical(peer);
        if !proxies.contains(&peer) {
            return Self(peer);
        }
        let forwarded = forwarded
            .flat_map(|v| v.split(','))
            .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
            .map(hop_kit::net::canonical)
            .collect::<Vec<_>>();
        let client = forwarded.into_iter().rev().find(|ip| !proxies.contains(ip));
        Self(client.unwrap_or(peer))
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(Self::resolve(
            peer,
            forwarded,
            &state.settings().trusted_proxies,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(peer: &str, forwarded: &[&str]) -> ClientIp {
        let proxies = Proxies(vec!["127.0.0.1/32".parse().unwrap()]);
        ClientIp::resolve(ip(peer), forwarded.iter().copied(), &proxies)
    }

    #[test]
    fn ipv4_mapped_peers_and_forwarded_addresses_are_ipv4() {
        assert_eq!(
            client("::ffff:127.0.0.1", &["203.0.113.7"]).0,
            ip("203.0.113.7")
        );
        assert_eq!(
            client("::ffff:198.51.100.4", &["203.0.113.7"]).0,
            ip("198.51.100.4")
        );
        assert_eq!(
            client("127.0.0.1", &["::ffff:203.0.113.9, ::ffff:127.0.0.1"]).0,
            ip("203.0.113.9"),
            "a mapped proxy in the chain is still a proxy"
        );
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let one = client("127.0.0.1", &["2001:db8:1:2::a"]);
        let same = client("127.0.0.1", &["2001:db8:1:2:ffff::b"]);
        let other = client("127.0.0.1", &["2001:db8:1:3::a"]);
        assert_eq!(one.limit_key(), same.limit_key());
        assert_ne!(one.limit_key(), other.limit_key());
        assert_eq!(client("::ffff:192.0.2.1", &[]).limit_key(), "192.0.2.1");
    }
}
