//! The auth service's errors and which [`ErrorCode`] each is; `hop_kit::error` turns them
//! into gRPC statuses.

use hop_kit::error::{Backend, ErrorCode, ServiceError};
use hop_kit::problem::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// INVALID_ARGUMENT, one violation per bad field.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// ALREADY_EXISTS.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// UNAUTHENTICATED. The same answer for an unknown email and a wrong password.
    #[error("invalid email or password")]
    BadCredentials,
    /// UNAUTHENTICATED: unknown, expired or revoked refresh token.
    #[error("invalid or expired refresh token")]
    BadRefreshToken,
    /// UNAUTHENTICATED, to the public the same as [`AuthError::BadRefreshToken`]: the token
    /// had been used before, so its session is now revoked (`listed`: the Redis deny-list
    /// has it). The caller is told which session (`hop_proto::auth::v1::REFRESH_TOKEN_REUSED`).
    #[error("invalid or expired refresh token")]
    RefreshTokenReused { session_id: String, listed: bool },
    /// UNAUTHENTICATED: unknown, revoked or expired API key.
    #[error("invalid, revoked or expired API key")]
    BadApiKey,
    /// NOT_FOUND.
    #[error("no such user")]
    NotFound,
    /// NOT_FOUND: no such key among the account's.
    #[error("no such API key")]
    NoSuchKey,
    /// RESOURCE_EXHAUSTED: the password-hashing pool is saturated.
    #[error("too many password checks in progress; retry shortly")]
    Overloaded,
    /// UNAVAILABLE: PostgreSQL cannot be reached.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// INTERNAL: logged, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AuthError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl ServiceError for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::Invalid,
            Self::EmailTaken => ErrorCode::AlreadyExists,
            Self::BadCredentials
            | Self::BadRefreshToken
            | Self::RefreshTokenReused { .. }
            | Self::BadApiKey => ErrorCode::Unauthenticated,
            Self::NotFound | Self::NoSuchKey => ErrorCode::NotFound,
            Self::Overloaded => ErrorCode::Overloaded,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(errors) => errors.clone(),
            _ => Vec::new(),
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::RefreshTokenReused { .. } => Some(hop_proto::auth::v1::REFRESH_TOKEN_REUSED),
            _ => None,
        }
    }

    fn info(&self) -> std::collections::HashMap<String, String> {
        match self {
            Self::RefreshTokenReused { session_id, listed } => [
                (
                    hop_proto::auth::v1::REVOKED_SESSION.to_owned(),
                    session_id.clone(),
                ),
                (
                    hop_proto::auth::v1::REVOKED_LISTED.to_owned(),
                    listed.to_string(),
                ),
            ]
            .into(),
            _ => std::collections::HashMap::new(),
        }
    }
}

impl From<Backend> for AuthError {
    fn from(e: Backend) -> Self {
        match e {
            Backend::Unavailable(cause) => Self::Unavailable(cause),
            Backend::Internal(cause) => Self::Internal(cause),
        }
    }
}

hop_kit::from_backend!(AuthError);
