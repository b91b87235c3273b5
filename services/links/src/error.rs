//! The links service's errors, and the one place they become gRPC statuses.

use crate::policy::Refusal;
use hop_kit::problem::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum LinksError {
    /// INVALID_ARGUMENT, with one violation per bad field.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// INVALID_ARGUMENT, with the refusal's reason in an ErrorInfo (the gateway names the
    /// problem type after it) and one violation on `url`.
    #[error("url {0}")]
    Refused(Refusal),
    /// ALREADY_EXISTS.
    #[error("alias {0:?} is already taken")]
    AliasTaken(String),
    /// NOT_FOUND: unknown, deleted, or not the caller's to change.
    #[error("link not found")]
    NotFound,
    /// UNAUTHENTICATED: the call needs an acting user.
    #[error("this call needs an acting user (actor_user_id)")]
    Unauthenticated,
    /// UNAVAILABLE: PostgreSQL cannot be reached; the caller may retry.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// INTERNAL: a bug or an unexpected database answer; logged, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl LinksError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn code(&self) -> tonic::Code {
        match self {
            Self::Invalid(_) | Self::Refused(_) => tonic::Code::InvalidArgument,
            Self::AliasTaken(_) => tonic::Code::AlreadyExists,
            Self::NotFound => tonic::Code::NotFound,
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::Unavailable(_) => tonic::Code::Unavailable,
            Self::Internal(_) => tonic::Code::Internal,
        }
    }
}

/// A refused destination is its own problem when it is the only one; among other invalid
/// fields it is one more field error.
pub fn refused_or_invalid(
    mut errors: Vec<FieldError>,
    refused: Option<Refusal>,
) -> Result<(), LinksError> {
    match (errors.is_empty(), refused) {
        (true, None) => Ok(()),
        (true, Some(refusal)) => Err(LinksError::Refused(refusal)),
        (false, refusal) => {
            if let Some(refusal) = refusal {
                errors.insert(0, FieldError::new("url", refusal.to_string()));
            }
            Err(LinksError::Invalid(errors))
        }
    }
}

impl From<deadpool_postgres::PoolError> for LinksError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        // Every pool error means no usable connection: timeouts, refused connects, a closed
        // pool during shutdown.
        Self::Unavailable(Box::new(e))
    }
}

impl From<tokio_postgres::Error> for LinksError {
    fn from(e: tokio_postgres::Error) -> Self {
        if hop_kit::postgres::is_transient(&e) {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Internal(Box::new(e))
        }
    }
}

impl From<hop_clicks::StoreError> for LinksError {
    fn from(e: hop_clicks::StoreError) -> Self {
        match e {
            hop_clicks::StoreError::Pool(e) => e.into(),
            hop_clicks::StoreError::Query(e) => e.into(),
        }
    }
}

impl From<LinksError> for tonic::Status {
    fn from(e: LinksError) -> Self {
        match &e {
            LinksError::Invalid(errors) => hop_kit::grpc::invalid_argument(&e.to_string(), errors),
            LinksError::Refused(refusal) => hop_kit::grpc::refused(
                refusal.reason(),
                &FieldError::new("url", refusal.to_string()),
            ),
            LinksError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database_unavailable");
                tonic::Status::new(e.code(), e.to_string())
            }
            LinksError::Internal(cause) => {
                tracing::error!(error = %cause, "internal_error");
                tonic::Status::new(e.code(), e.to_string())
            }
            _ => tonic::Status::new(e.code(), e.to_string()),
        }
    }
}
