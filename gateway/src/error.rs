//! API errors, and the one place a gRPC status becomes an HTTP problem. Imports nothing
//! from the rest of the crate: every other module may use it.

use axum::response::{IntoResponse, Response};
use hop_kit::error::ErrorCode;
use hop_kit::problem::{FieldError, Problem};
use tonic_types::StatusExt;

/// What a handler returns on failure: always a problem+json response.
#[derive(Debug)]
pub struct ApiError(pub Problem);

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        Self(problem_from_status(&status))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

/// Longest framework message kept as a problem's `detail`.
const MAX_REJECTION_DETAIL: usize = 300;

/// Outer layer: an error answered without a problem body (axum's own rejections of an
/// undecodable path segment or a malformed query, a timeout layer's bare status) becomes
/// problem+json with the same status, its text kept as the detail.
pub async fn problems_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let content_type = response.headers().get(http::header::CONTENT_TYPE);
    let is_problem =
        content_type.is_some_and(|v| v.as_bytes() == hop_kit::problem::CONTENT_TYPE.as_bytes());
    // The web app's pages answer their errors as pages.
    let is_page = content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    // Only client errors: a 5xx of ours is a problem already, and /health's 503 carries
    // its own report.
    if !status.is_client_error() || is_problem || is_page {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4 * MAX_REJECTION_DETAIL)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail: String = match text.as_str() {
        "" => status
            .canonical_reason()
            .unwrap_or("rejected")
            .to_lowercase(),
        _ => text.chars().take(MAX_REJECTION_DETAIL).collect(),
    };
    let mut problem = Problem::for_status(status, detail).into_response();
    // Keep what the framework said about the exchange (Allow, Retry-After, ...).
    for name in [
        http::header::ALLOW,
        http::header::RETRY_AFTER,
        http::header::CONNECTION,
    ] {
        if let Some(value) = parts.headers.remove(&name) {
            problem.headers_mut().insert(name, value);
        }
    }
    problem
}

/// A request (its body included) and its answer within HTTP_REQUEST_TIMEOUT_SECS, or a 408
/// that closes the connection: a client that stalls its body holds nothing for long.
pub async fn within_deadline(
    axum::extract::State(deadline): axum::extract::State<std::time::Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_secs = deadline.as_secs(), "request_timed_out");
            let mut response = Problem::request_timeout(deadline.as_secs()).into_response();
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

/// Maps a gRPC status from a backend to what the public sees, through the one error-code
/// table ([`ErrorCode`]): the problem's status is the code's HTTP status. Messages of
/// client errors are written for clients by the services; server-side failures stay opaque.
pub fn problem_from_status(status: &tonic::Status) -> Problem {
    match ErrorCode::from_grpc(status.code()) {
        ErrorCode::Invalid => {
            let details = status.get_error_details();
            let errors: Vec<FieldError> = details
                .bad_request()
                .map(|bad| {
                    bad.field_violations
                        .iter()
                        .map(|v| FieldError::new(v.field.clone(), v.description.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let refusal = details
                .error_info()
                .filter(|info| info.domain == hop_kit::grpc::ERROR_DOMAIN)
                .and_then(|info| refusal(&info.reason));
            match (refusal, errors.is_empty()) {
                (Some((kind, title)), _) => {
                    let mut p = Problem::new(400, kind, title).with_detail(status.message());
                    p.errors = errors;
                    p
                }
                (None, false) => Problem::validation(errors),
                (None, true) => Problem::bad_request(status.message()),
            }
        }
        ErrorCode::AlreadyExists => Problem::conflict(status.message()),
        ErrorCode::NotFound => Problem::not_found(status.message()),
        ErrorCode::Forbidden => Problem::forbidden(status.message()),
        ErrorCode::Unauthenticated if status.message() == hop_kit::service_auth::REFUSED => {
            tracing::error!("service_token_refused");
            Problem::unavailable("a backend service is unavailable; retry shortly")
        }
        ErrorCode::Unauthenticated => Problem::unauthorized(status.message()),
        // The auth service's hashing pool is saturated: back off briefly.
        ErrorCode::Overloaded => Problem::too_many_requests(1),
        ErrorCode::Timeout => Problem::timeout(),
        ErrorCode::Unavailable => {
            tracing::warn!(code = ?status.code(), message = status.message(), "backend_unavailable");
            Problem::unavailable("a backend service is unavailable; retry shortly")
        }
        ErrorCode::Internal => {
            tracing::error!(code = ?status.code(), message = status.message(), "backend_error");
            Problem::internal()
        }
    }
}

/// The problem type and title of a policy refusal the links service names by `reason`.
fn refusal(reason: &str) -> Option<(&'static str, &'static str)> {
    Some(match reason {
        "redirect-loop" => ("/problems/redirect-loop", "Redirect loop"),
        "blocked-host" => ("/problems/blocked-host", "Blocked destination"),
        "private-target" => ("/problems/private-target", "Private destination"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn field_violations_become_field_errors() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("url", "must use http or https");
        let status =
            tonic::Status::with_error_details(tonic::Code::InvalidArgument, "invalid", details);
        let p = problem_from_status(&status);
        assert_eq!(p.status, 400);
        assert_eq!(
            p.errors,
            vec![FieldError::new("url", "must use http or https")]
        );
    }

    #[test]
    fn codes_map_to_statuses() {
        let status = |code| problem_from_status(&tonic::Status::new(code, "m")).status;
        assert_eq!(status(tonic::Code::AlreadyExists), 409);
        assert_eq!(status(tonic::Code::NotFound), 404);
        assert_eq!(status(tonic::Code::Unavailable), 503);
        assert_eq!(status(tonic::Code::DeadlineExceeded), 504);
        assert_eq!(status(tonic::Code::Internal), 500);
        assert_eq!(status(tonic::Code::InvalidArgument), 400);
        assert_eq!(status(tonic::Code::Unauthenticated), 401);
        // The gateway's own calls refused: a deployment fault, not the client's.
        let refused = tonic::Status::unauthenticated(hop_kit::service_auth::REFUSED);
        assert_eq!(problem_from_status(&refused).status, 503);
    }

    #[test]
    fn every_problem_has_the_http_status_of_its_code_in_the_table() {
        use hop_kit::error::ErrorCode;
        for code in ErrorCode::ALL {
            let problem = problem_from_status(&tonic::Status::new(code.grpc(), "m"));
            assert_eq!(problem.status, code.http(), "{code:?}");
        }
    }
}
