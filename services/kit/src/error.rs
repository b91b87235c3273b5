//! The one error-code table. Each service's error says which [`ErrorCode`] it is
//! ([`ServiceError::code`]); the table maps a code to both its gRPC code and its HTTP
//! status; [`to_status`] is the one conversion of a service error into a `tonic::Status`
//! (it logs what the caller must not see, with its cause chain); the gateway maps a status
//! back through the same table ([`ErrorCode::from_grpc`]).
//!
//! [`Backend`] classifies a store failure once (unreachable, so retryable, or internal),
//! and [`from_backend!`](crate::from_backend) gives a service error the `From` impls that
//! let `?` do it.

use crate::problem::FieldError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The store errors [`Backend`] classifies, named here so [`from_backend!`](crate::from_backend)
/// works in crates that do not depend on the drivers themselves.
pub use deadpool_postgres::PoolError;
pub use tokio_postgres::Error as PgError;

/// The `domain` of hop's ErrorInfo details.
pub const ERROR_DOMAIN: &str = "hop";

/// What kind of failure an error is, as every caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is wrong; field errors say where.
    Invalid,
    NotFound,
    AlreadyExists,
    /// No (valid) credentials.
    Unauthenticated,
    /// Valid credentials, not allowed.
    Forbidden,
    /// Too much at once; retry shortly.
    Overloaded,
    /// The work did not finish within its deadline.
    Timeout,
    /// A dependency cannot be reached; retry shortly.
    Unavailable,
    /// A bug or an unexpected answer: logged, never shown.
    Internal,
}

impl ErrorCode {
    /// Every code, for tests that walk the table.
    pub const ALL: [Self; 9] = [
        Self::Invalid,
        Self::NotFound,
        Self::AlreadyExists,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::Overloaded,
        Self::Timeout,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The table, gRPC side.
    pub const fn grpc(self) -> tonic::Code {
        match self {
            Self::Invalid => tonic::Code::InvalidArgument,
            Self::NotFound => tonic::Code::NotFound,
            Self::AlreadyExists => tonic::Code::AlreadyExists,
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::Forbidden => tonic::Code::PermissionDenied,
            Self::Overloaded => tonic::Code::ResourceExhausted,
            Self::Timeout => tonic::Code::DeadlineExceeded,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::Internal => tonic::Code::Internal,
        }
    }

    /// The table, HTTP side.
    pub const fn http(self) -> u16 {
        match self {
            Self::Invalid => 400,
            Self::NotFound => 404,
            Self::AlreadyExists => 409,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::Overloaded => 429,
            Self::Timeout => 504,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// The code of a gRPC answer: the table read backwards. Codes no hop service sends
    /// (an unknown method, a broken stream, …) are internal; a cancelled call is a
    /// dependency going away.
    pub const fn from_grpc(code: tonic::Code) -> Self {
        match code {
            tonic::Code::InvalidArgument => Self::Invalid,
            tonic::Code::NotFound => Self::NotFound,
            tonic::Code::AlreadyExists => Self::AlreadyExists,
            tonic::Code::Unauthenticated => Self::Unauthenticated,
            tonic::Code::PermissionDenied => Self::Forbidden,
            tonic::Code::ResourceExhausted => Self::Overloaded,
            tonic::Code::DeadlineExceeded => Self::Timeout,
            tonic::Code::Unavailable | tonic::Code::Cancelled => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

/// An error a service answers with.
pub trait ServiceError: std::error::Error {
    fn code(&self) -> ErrorCode;

    /// The bad fields of an [`ErrorCode::Invalid`] error (a `BadRequest` detail).
    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// Why a value was refused by policy rather than by shape (an `ErrorInfo` reason; the
    /// gateway's problem type is `/problems/<reason>`).
    fn reason(&self) -> Option<&str> {
        None
    }

    /// Facts that go with [`ServiceError::reason`] for the calling service (the
    /// `ErrorInfo` metadata), never shown to the public.
    fn info(&self) -> std::collections::HashMap<String, String> {
        std::collections::HashMap::new()
    }
}

/// The status a service answers `error` with. Internal errors are logged at ERROR with
/// their cause chain, unavailable dependencies at WARN; the caller sees neither cause.
pub fn to_status(error: &impl ServiceError) -> tonic::Status {
    use tonic_types::{ErrorDetails, StatusExt};
    let code = error.code();
    match code {
        ErrorCode::Internal => {
            tracing::error!(error = %chain(error), "internal_error");
        }
        ErrorCode::Unavailable => {
            // Today only a store answers Unavailable; the runbooks search for this event.
            tracing::warn!(error = %chain(error), "database_unavailable");
        }
        _ => {}
    }
    let fields = error.field_errors();
    let reason = error.reason();
    if fields.is_empty() && reason.is_none() {
        return tonic::Status::new(code.grpc(), error.to_string());
    }
    let mut details = ErrorDetails::new();
    if let Some(reason) = reason {
        details.set_error_info(reason, ERROR_DOMAIN, error.info());
    }
    for e in &fields {
        details.add_bad_request_violation(e.field.clone(), e.message.clone());
    }
    // A refusal's message is its one field's, so the gateway can show it as the detail.
    let message = match (reason, fields.as_slice()) {
        (Some(_), [only]) => only.message.clone(),
        _ => error.to_string(),
    };
    tonic::Status::with_error_details(code.grpc(), message, details)
}

/// `error: cause: cause …`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A store failure, classified once.
#[derive(Debug, thiserror::Error)]
pub enum Backend {
    /// The store cannot be reached (no connection, a transient error): retryable.
    #[error("database unavailable: {0}")]
    Unavailable(BoxError),
    /// Anything else the store answered: a bug or an unexpected state.
    #[error("database error: {0}")]
    Internal(BoxError),
}

impl Backend {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<deadpool_postgres::PoolError> for Backend {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        // Every pool error means no usable connection: timeouts, refused connects, a closed
        // pool during shutdown.
        Self::Unavailable(Box::new(e))
    }
}

impl From<tokio_postgres::Error> for Backend {
    fn from(e: tokio_postgres::Error) -> Self {
        if crate::postgres::is_transient(&e) {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Internal(Box::new(e))
        }
    }
}

impl From<crate::sqlite::SqliteError> for Backend {
    fn from(e: crate::sqlite::SqliteError) -> Self {
        if e.is_transient() {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Internal(Box::new(e))
        }
    }
}

/// `From<deadpool_postgres::PoolError>`, `From<tokio_postgres::Error>` and `From<SqliteError>` for a service
/// error that implements `From<hop_kit::error::Backend>`: both go through [`Backend`]'s
/// one classification.
#[macro_export]
macro_rules! from_backend {
    ($error:ty) => {
        impl From<$crate::error::PoolError> for $error {
            fn from(e: $crate::error::PoolError) -> Self {
                Self::from($crate::error::Backend::from(e))
            }
        }

        impl From<$crate::error::PgError> for $error {
            fn from(e: $crate::error::PgError) -> Self {
                Self::from($crate::error::Backend::from(e))
            }
        }

        impl From<$crate::sqlite::SqliteError> for $error {
            fn from(e: $crate::sqlite::SqliteError) -> Self {
                Self::from($crate::error::Backend::from(e))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_back_to_itself_through_grpc() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_grpc(code.grpc()), code, "{code:?}");
        }
        assert_eq!(
            ErrorCode::from_grpc(tonic::Code::Cancelled),
            ErrorCode::Unavailable
        );
        assert_eq!(ErrorCode::from_grpc(tonic::Code::Unimplemented).http(), 500);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("url is refused")]
    struct Refused(Vec<FieldError>);

    impl ServiceError for Refused {
        fn code(&self) -> ErrorCode {
            ErrorCode::Invalid
        }
        fn field_errors(&self) -> Vec<FieldError> {
            self.0.clone()
        }
        fn reason(&self) -> Option<&str> {
            Some("blocked-host")
        }
    }

    #[test]
    fn details_carry_the_fields_and_the_reason() {
        use tonic_types::StatusExt;
        let status = to_status(&Refused(vec![FieldError::new("url", "is blocked")]));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "is blocked");
        let details = status.get_error_details();
        assert_eq!(details.error_info().unwrap().reason, "blocked-host");
        assert_eq!(details.bad_request().unwrap().field_violations.len(), 1);
    }
}
