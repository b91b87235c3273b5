//! Shlink's problems and its caller. Shlink answers errors as RFC 7807 problems whose
//! `type` is a `https://shlink.io/api/error/...` URI, with extra fields per type
//! (`invalidElements`, `shortCode`, `customSlug`, `tag`); its clients switch on those
//! types. Errors hop has no Shlink counterpart for (429, 503, 413, a missing scope) keep
//! hop's own type, in the same shape.

use crate::caller::Verifier;
use crate::caller::{API_KEY_HEADER, AuthFailure, AuthUser};
use crate::error::ApiError;
use crate::ratelimit::RateLimiter;
use crate::settings::Settings;
use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use hop_kit::problem::Problem;
use hop_proto::api_key::Scope;
use http::request::Parts;
use serde_json::{Map, Value, json};
use std::sync::Arc;

const ERROR: &str = "https://shlink.io/api/error/";

/// A Shlink-shaped problem.
#[derive(Debug)]
pub struct ShlinkError {
    status: u16,
    kind: String,
    title: String,
    detail: String,
    extra: Map<String, Value>,
    retry_after: Option<u64>,
}

impl ShlinkError {
    fn shlink(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind: format!("{ERROR}{kind}"),
            title: title.to_owned(),
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    fn with(mut self, field: &str, value: Value) -> Self {
        self.extra.insert(field.to_owned(), value);
        self
    }

    /// 400 `invalid-data`, naming the fields (`invalidElements`).
    pub fn invalid(fields: &[&str], detail: impl Into<String>) -> Self {
        Self::shlink(400, "invalid-data", "Invalid data", detail).with(
            "invalidElements",
            Value::from(fields.iter().map(|f| Value::from(*f)).collect::<Vec<_>>()),
        )
    }

    /// 400 `invalid-data` for a Shlink feature hop does not have.
    pub fn unsupported(field: &str, what: &str) -> Self {
        Self::invalid(&[field], format!("hop does not support {what}"))
    }

    /// 404 `short-url-not-found`.
    pub fn short_url_not_found(code: &str) -> Self {
        Self::shlink(
            404,
            "short-url-not-found",
            "Short URL not found",
            format!("No URL found with short code \"{code}\""),
        )
        .with("shortCode", Value::from(code))
    }

    /// 404 `tag-not-found`.
    pub fn tag_not_found(tag: &str) -> Self {
        Self::shlink(
            404,
            "tag-not-found",
            "Tag not found",
            format!("Tag with name \"{tag}\" could not be found"),
        )
        .with("tag", Value::from(tag))
    }

    /// 501 `mercure-not-configured`.
    pub fn mercure_not_configured() -> Self {
        Self::shlink(
            501,
            "mercure-not-configured",
            "Mercure integration not configured",
            "This hop instance is not integrated with a mercure hub.",
        )
    }

    /// hop's own problem in Shlink's shape: the Shlink type where there is one.
    pub fn from_problem(problem: Problem) -> Self {
        match (problem.status, problem.kind) {
            (400, "/problems/validation-error") => {
                let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
                let detail = problem
                    .errors
                    .iter()
                    .map(|e| format!("{}: {}", shlink_field(&e.field), e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                let fields: Vec<&str> = fields.into_iter().map(shlink_field).collect();
                Self::invalid(&fields, detail)
            }
            (401, _) => Self::invalid_key(),
            _ => Self {
                status: problem.status,
                kind: problem.kind.to_owned(),
                title: problem.title.to_owned(),
                detail: problem.detail.unwrap_or_else(|| problem.title.to_owned()),
                extra: Map::new(),
                retry_after: problem.retry_after,
            },
        }
    }

    fn invalid_key() -> Self {
        Self::shlink(
            401,
            "invalid-api-key",
            "Invalid API key",
            "Provided API key does not exist or is invalid.",
        )
    }

    /// A gRPC answer about short code `code`: its 404 is Shlink's, and a taken alias is
    /// `non-unique-slug`.
    pub fn about_code(error: ApiError, code: &str) -> Self {
        match error.0.status {
            404 => Self::short_url_not_found(code),
            409 => Self::shlink(
                400,
                "non-unique-slug",
                "Invalid custom slug",
                format!("Provided slug \"{code}\" is already in use."),
            )
            .with("customSlug", Value::from(code)),
            _ => Self::from_problem(error.0),
        }
    }
}

/// hop's field names as Shlink's clients know them.
fn shlink_field(field: &str) -> &str {
    match field {
        "url" => "longUrl",
        "alias" => "customSlug",
        "expires_at" => "validUntil",
        "limit" | "per_page" => "itemsPerPage",
        "q" => "searchTerm",
        "from" => "startDate",
        "to" => "endDate",
        other => other,
    }
}

impl From<ApiError> for ShlinkError {
    fn from(error: ApiError) -> Self {
        Self::from_problem(error.0)
    }
}

impl From<Problem> for ShlinkError {
    fn from(problem: Problem) -> Self {
        Self::from_problem(problem)
    }
}

impl From<tonic::Status> for ShlinkError {
    fn from(status: tonic::Status) -> Self {
        Self::from(ApiError::from(status))
    }
}

impl IntoResponse for ShlinkError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            map.extend(self.extra);
        }
        let status =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::BAD_REQUEST);
        let mut response = (
            status,
            [(http::header::CONTENT_TYPE, hop_kit::problem::CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        response
    }
}

/// The caller of the Shlink API: an API key in `X-Api-Key`, as Shlink takes it (an
/// `Authorization: Bearer hop_...` key works too). Session tokens are hop's own API's.
#[derive(Debug, Clone)]
pub struct ShlinkKey(pub AuthUser);

impl ShlinkKey {
    /// 403 for a key without `scope`.
    pub fn require(&self, scope: Scope) -> Result<i64, ShlinkError> {
        self.0.require(scope)?;
        Ok(self.0.user_id)
    }
}

impl<S> FromRequestParts<S> for ShlinkKey
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
    Arc<RateLimiter>: FromRef<S>,
    Arc<Settings>: FromRef<S>,
{
    type Rejection = ShlinkError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let has_key = parts.headers.contains_key(API_KEY_HEADER)
            || parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains(hop_proto::api_key::KEY_PREFIX));
        if !has_key {
            return Err(ShlinkError::shlink(
                401,
                "missing-authentication",
                "Invalid authorization",
                "Expected one of the following authentication headers, [\"X-Api-Key\"], but none were provided",
            ));
        }
        match AuthUser::from_request_parts(parts, state).await {
            Ok(user) => Ok(Self(user)),
            Err(AuthFailure::Missing | AuthFailure::Invalid | AuthFailure::Revoked) => {
                Err(ShlinkError::invalid_key())
            }
            Err(failure) => Err(ShlinkError::from(ApiError::from(failure))),
        }
    }
}

/// No such route under `/rest`: Shlink's `not-found`.
pub async fn no_such_route(uri: http::Uri) -> ShlinkError {
    ShlinkError::shlink(
        404,
        "not-found",
        "Not found",
        format!(
            "Requested route {} does not exist (hop speaks Shlink's REST API v3 only: docs/shlink.md)",
            uri.path()
        ),
    )
}
