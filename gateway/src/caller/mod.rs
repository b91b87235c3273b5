//! Who is calling. Caller authentication at the public edge, apart from the auth service
//! (which issues tokens) and the `/auth/*` routes (which forward to it):
//!
//! - [`verifier`]: the token [`Verifier`], with the keys it knows ([`keys`]) and the
//!   session deny-list replica it consults, and the API keys it accepts ([`api_key`]:
//!   `Authorization: Bearer hop_…` or `X-Api-Key`, with scopes);
//! - [`browser`]: the web app's cookie sessions and CSRF tokens;
//! - [`AuthUser`] and [`MaybeUser`]: the extractors handlers use, and [`AuthFailure`],
//!   their rejection (a 401 with `WWW-Authenticate: Bearer`, or a 503);
//! - [`client_ip`]: the client's address for rate limits.
//!
//! The extractors take what they need from any router state that provides it
//! ([`FromRef`]: the verifier, and the rate limiter and settings for the per-key limit),
//! so this module knows nothing of the gateway's state.

pub mod api_key;
pub mod browser;
pub mod client_ip;
pub mod keys;
pub mod verifier;

pub use client_ip::ClientIp;
pub use verifier::Verifier;

use crate::context::RequestId;
use crate::error::ApiError;
use crate::ratelimit::RateLimiter;
use crate::settings::Settings;
use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use hop_kit::problem::Problem;
use hop_proto::api_key::{Scope, Scopes};
use http::request::Parts;
use std::sync::Arc;

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
    Revoked,
    /// The keys or the deny-list could not be consulted.
    Unavailable,
    /// An API key past its rate limit: retry after this many seconds.
    Limited(u64),
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
            Self::Limited(secs) => Problem::too_many_requests(secs),
        };
        problem.into_response()
    }
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        Self(match failure {
            AuthFailure::Unavailable => {
                Problem::unavailable("authentication is unavailable; retry shortly")
            }
            AuthFailure::Limited(secs) => Problem::too_many_requests(secs),
            _ => Problem::unauthorized(
                "this needs a valid bearer token (Authorization: Bearer <access_token>)",
            ),
        })
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: i64,
    /// The session, or `apikey:<id>` for an API key.
    pub session_id: String,
    /// An API key's scopes; `None` for a session, which may do everything.
    pub scopes: Option<Scopes>,
}

impl AuthUser {
    /// Refuses (403) an API key without `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        match self.scopes {
            Some(scopes) if !scopes.contains(scope) => Err(ApiError(Problem::forbidden(format!(
                "this API key does not have the {scope} scope"
            )))),
            _ => Ok(()),
        }
    }

    /// Refuses (403) an API key where only a session will do (managing the account).
    pub fn require_session(&self) -> Result<(), ApiError> {
        match self.scopes {
            Some(_) => Err(ApiError(Problem::forbidden(
                "an API key cannot do this: sign in (POST /auth/login) and use the access token",
            ))),
            None => Ok(()),
        }
    }

    /// The API key's id, for an API key.
    pub fn api_key_id(&self) -> Option<&str> {
        self.scopes.and(
            self.session_id
                .strip_prefix(hop_proto::api_key::REVOCATION_PREFIX),
        )
    }
}

/// What a request presents: a bearer access token, or an API key (as a bearer token
/// starting `hop_`, or in `X-Api-Key`).
enum Credential<'a> {
    Token(&'a str),
    ApiKey(&'a str),
}

fn credential(parts: &Parts) -> Result<Option<Credential<'_>>, AuthFailure> {
    if let Some(value) = parts.headers.get(API_KEY_HEADER) {
        let key = value.to_str().map_err(|_| AuthFailure::Invalid)?.trim();
        if parts.headers.contains_key(http::header::AUTHORIZATION) {
            // Two credentials: which one is meant cannot be guessed safely.
            return Err(AuthFailure::Invalid);
        }
        return Ok(Some(Credential::ApiKey(key)));
    }
    Ok(bearer(parts)?.map(|token| {
        if token.starts_with(hop_proto::api_key::KEY_PREFIX) {
            Credential::ApiKey(token)
        } else {
            Credential::Token(token)
        }
    }))
}

/// The header integrations send an API key in (Shlink's name for it).
pub const API_KEY_HEADER: &str = "x-api-key";

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

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
    Arc<RateLimiter>: FromRef<S>,
    Arc<Settings>: FromRef<S>,
{
    type Rejection = AuthFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        let request_id = request_id(parts);
        let user = match credential(parts)?.ok_or(AuthFailure::Missing)? {
            Credential::Token(token) => verifier.authenticate(token, &request_id).await?,
            Credential::ApiKey(key) => {
                let user = verifier.authenticate_key(key, &request_id).await?;
                let id = user.api_key_id().unwrap_or_default().to_owned();
                let limit = Arc::<Settings>::from_ref(state).rate_limit_api_key;
                Arc::<RateLimiter>::from_ref(state)
                    .check("api_key", &id, limit)
                    .await
                    .map_err(|p| AuthFailure::Limited(p.retry_after.unwrap_or(1)))?;
                tracing::Span::current().record("api_key_id", id.as_str());
                user
            }
        };
        tracing::Span::current().record("user_id", user.user_id);
        Ok(user)
    }
}

/// The caller when a bearer token is sent (and valid), `None` when none is sent.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<AuthUser>);

impl<S> FromRequestParts<S> for MaybeUser
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
    Arc<RateLimiter>: FromRef<S>,
    Arc<Settings>: FromRef<S>,
{
    type Rejection = AuthFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match credential(parts)? {
            None => Ok(Self(None)),
            Some(_) => AuthUser::from_request_parts(parts, state)
                .await
                .map(|u| Self(Some(u))),
        }
    }
}
