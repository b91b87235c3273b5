//! Who is calling. Caller authentication at the public edge, apart from the auth service
//! (which issues tokens) and the `/auth/*` routes (which forward to it):
//!
//! - [`verifier`]: the token [`Verifier`], with the keys it knows ([`keys`]) and the
//!   session deny-list replica it consults;
//! - [`AuthUser`] and [`MaybeUser`]: the extractors handlers use, and [`AuthFailure`],
//!   their rejection (a 401 with `WWW-Authenticate: Bearer`, or a 503);
//! - [`client_ip`]: the client's address for rate limits.
//!
//! The extractors take what they need from any router state that provides it
//! ([`FromRef`]), so this module knows nothing of the gateway's state.

pub mod browser;
pub mod client_ip;
pub mod keys;
pub mod verifier;

pub use client_ip::ClientIp;
pub use verifier::Verifier;

use crate::context::RequestId;
use crate::error::ApiError;
use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use hop_kit::problem::Problem;
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

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        Self(match failure {
            AuthFailure::Unavailable => {
                Problem::unavailable("authentication is unavailable; retry shortly")
            }
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
    pub session_id: String,
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

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
{
    type Rejection = AuthFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or(AuthFailure::Missing)?;
        let user = Arc::<Verifier>::from_ref(state)
            .authenticate(token, &request_id(parts))
            .await?;
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
{
    type Rejection = AuthFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            None => Ok(Self(None)),
            Some(_) => AuthUser::from_request_parts(parts, state)
                .await
                .map(|u| Self(Some(u))),
        }
    }
}
