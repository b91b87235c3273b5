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
    /// UNAUTHENTICATED: unknown, expired, revoked or already-used refresh token.
    #[error("invalid or expired refresh token")]
    BadRefreshToken,
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
            Self::BadCredentials | Self::BadRefreshToken | Self::BadApiKey => {
                ErrorCode::Unauthenticated
            }
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
