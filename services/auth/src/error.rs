//! The auth service's errors, and the one place they become gRPC statuses.

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
    /// NOT_FOUND.
    #[error("no such user")]
    NotFound,
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

    pub fn code(&self) -> tonic::Code {
        match self {
            Self::Invalid(_) => tonic::Code::InvalidArgument,
            Self::EmailTaken => tonic::Code::AlreadyExists,
            Self::BadCredentials | Self::BadRefreshToken => tonic::Code::Unauthenticated,
            Self::NotFound => tonic::Code::NotFound,
            Self::Overloaded => tonic::Code::ResourceExhausted,
            Self::Unavailable(_) => tonic::Code::Unavailable,
            Self::Internal(_) => tonic::Code::Internal,
        }
    }
}

impl From<deadpool_postgres::PoolError> for AuthError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

impl From<tokio_postgres::Error> for AuthError {
    fn from(e: tokio_postgres::Error) -> Self {
        if hop_kit::postgres::is_transient(&e) {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Internal(Box::new(e))
        }
    }
}

impl From<AuthError> for tonic::Status {
    fn from(e: AuthError) -> Self {
        match &e {
            AuthError::Invalid(errors) => hop_kit::grpc::invalid_argument(&e.to_string(), errors),
            AuthError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database_unavailable");
                tonic::Status::new(e.code(), e.to_string())
            }
            AuthError::Internal(cause) => {
                tracing::error!(error = %cause, "internal_error");
                tonic::Status::new(e.code(), e.to_string())
            }
            _ => tonic::Status::new(e.code(), e.to_string()),
        }
    }
}
