//! The links service's errors and which [`ErrorCode`] each is; `hop_kit::error` turns them
//! into gRPC statuses.

use crate::policy::Refusal;
use hop_kit::error::{Backend, ErrorCode, ServiceError};
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
}

impl ServiceError for LinksError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) | Self::Refused(_) => ErrorCode::Invalid,
            Self::AliasTaken(_) => ErrorCode::AlreadyExists,
            Self::NotFound => ErrorCode::NotFound,
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(errors) => errors.clone(),
            Self::Refused(refusal) => vec![FieldError::new("url", refusal.to_string())],
            _ => Vec::new(),
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::Refused(refusal) => Some(refusal.reason()),
            _ => None,
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

impl From<Backend> for LinksError {
    fn from(e: Backend) -> Self {
        match e {
            Backend::Unavailable(cause) => Self::Unavailable(cause),
            Backend::Internal(cause) => Self::Internal(cause),
        }
    }
}

hop_kit::from_backend!(LinksError);
