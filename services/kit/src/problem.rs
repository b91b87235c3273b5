//! RFC 9457 problem details: the only error body hop's HTTP services send
//! (`application/problem+json`: `type`, `title`, `status`, `detail`, `errors`).
//!
//! `type` is a relative URI naming the kind of problem; docs/api.md lists them all.

use serde::Serialize;

/// The media type of every error body.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// The `WWW-Authenticate` challenge of every 401.
pub const BEARER_CHALLENGE: &str = r#"Bearer realm="hop""#;

/// An HTTP error as the client sees it. Never carries internal messages.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// What kind of problem this is, one of: `/problems/malformed-body`,
    /// `/problems/validation-error`, `/problems/bad-request`, `/problems/redirect-loop`,
    /// `/problems/blocked-host`, `/problems/private-target` (400); `/problems/unauthorized`
    /// (401); `/problems/forbidden` (403); `/problems/not-found` (404);
    /// `/problems/method-not-allowed` (405); `/problems/request-timeout` (408);
    /// `/problems/conflict` (409); `/problems/gone` (410); `/problems/payload-too-large`
    /// (413); `/problems/unsupported-media-type` (415); `/problems/rate-limited` (429);
    /// `/problems/headers-too-large` (431); `/problems/internal` (500);
    /// `/problems/unavailable` (503); `/problems/timeout` (504). Under `/rest`, Shlink's
    /// `https://shlink.io/api/error/...` types (docs/shlink.md). docs/api.md says when each
    /// is given.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds, sent as `Retry-After` (429 and 503).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Problem {
    pub fn new(status: u16, kind: &'static str, title: &'static str) -> Self {
        Self {
            kind,
            title,
            status,
            detail: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// 400: the body parsed but fields are invalid.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut p = Self::new(400, "/problems/validation-error", "Invalid request")
            .with_detail("one or more fields are invalid");
        p.errors = errors;
        p
    }

    /// 400: the body is not a JSON object, or not JSON at all.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(400, "/problems/malformed-body", "Malformed request body").with_detail(detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, "/problems/bad-request", "Bad request").with_detail(detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, "/problems/unauthorized", "Unauthorized").with_detail(detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, "/problems/forbidden", "Forbidden").with_detail(detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "/problems/not-found", "Not found").with_detail(detail)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(405, "/problems/method-not-allowed", "Method not allowed")
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, "/problems/conflict", "Conflict").with_detail(detail)
    }

    pub fn gone(detail: impl Into<String>) -> Self {
        Self::new(410, "/problems/gone", "Gone").with_detail(detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(413, "/problems/payload-too-large", "Payload too large")
            .with_detail(format!("the body must be at most {limit} bytes"))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "/problems/unsupported-media-type",
            "Unsupported media type",
        )
        .with_detail("send the body as application/json")
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut p = Self::new(429, "/problems/rate-limited", "Too many requests")
            .with_detail("slow down and retry after the given number of seconds");
        p.retry_after = Some(retry_after_secs.max(1));
        p
    }

    /// 500: opaque on purpose; the cause is in the logs under the request id.
    pub fn internal() -> Self {
        Self::new(500, "/problems/internal", "Internal server error")
            .with_detail("an unexpected error occurred; it has been logged")
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut p =
            Self::new(503, "/problems/unavailable", "Service unavailable").with_detail(detail);
        p.retry_after = Some(1);
        p
    }

    pub fn timeout() -> Self {
        Self::new(504, "/problems/timeout", "Upstream timeout")
            .with_detail("a backend did not answer in time")
    }

    /// The problem for a bare `status` some layer answered without a body of ours (a
    /// framework's own rejection): its kind by status, and `detail` as given.
    pub fn for_status(status: http::StatusCode, detail: impl Into<String>) -> Self {
        let (kind, title) = match status.as_u16() {
            400 => ("/problems/bad-request", "Bad request"),
            401 => ("/problems/unauthorized", "Unauthorized"),
            403 => ("/problems/forbidden", "Forbidden"),
            404 => ("/problems/not-found", "Not found"),
            405 => ("/problems/method-not-allowed", "Method not allowed"),
            408 => ("/problems/request-timeout", "Request timeout"),
            413 => ("/problems/payload-too-large", "Payload too large"),
            415 => ("/problems/unsupported-media-type", "Unsupported media type"),
            422 => ("/problems/bad-request", "Bad request"),
            431 => (
                "/problems/headers-too-large",
                "Request header fields too large",
            ),
            429 => ("/problems/rate-limited", "Too many requests"),
            500..=599 => return Self::internal(),
            _ => ("/problems/bad-request", "Bad request"),
        };
        Self::new(status.as_u16(), kind, title).with_detail(detail)
    }

    /// 408: the request (head or body) did not arrive in time.
    pub fn request_timeout(secs: u64) -> Self {
        Self::new(408, "/problems/request-timeout", "Request timeout")
            .with_detail(format!("the request did not arrive within {secs} s"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"status":500}"#.to_owned())
    }
}

impl axum::response::IntoResponse for Problem {
    fn into_response(self) -> axum::response::Response {
        let mut builder = axum::response::Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE);
        if let Some(secs) = self.retry_after {
            builder = builder.header(http::header::RETRY_AFTER, secs);
        }
        if self.status == 401 {
            // RFC 9110 §11.6.1: every 401, whichever route or layer produced it.
            builder = builder.header(http::header::WWW_AUTHENTICATE, BEARER_CHALLENGE);
        }
        builder
            .body(axum::body::Body::from(self.to_json()))
            .unwrap_or_else(|_| axum::response::Response::new(axum::body::Body::empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_rfc9457() {
        let p = Problem::validation(vec![FieldError::new("url", "is required")]);
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["type"], "/problems/validation-error");
        assert_eq!(v["status"], 400);
        assert_eq!(v["errors"][0]["field"], "url");
        let p = Problem::not_found("no such link");
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert!(v.get("errors").is_none());
    }
}
