//! Forms posted by the web app's pages: `application/x-www-form-urlencoded`, at most
//! [`MAX_FORM_BYTES`], and carrying the visitor's CSRF token (`csrf`). A form without it,
//! or with another session's, is refused with a 403 page and changes nothing.

use super::visitor::Visitor;
use axum::extract::{FromRequest, Request};
use axum::response::Response;
use http::StatusCode;

/// Largest form body: a URL, a title and a few small fields fit many times over.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// A checked form and the visitor who posted it.
pub struct Form {
    fields: Vec<(String, String)>,
    pub visitor: Visitor,
}

impl Form {
    /// The field's value, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The field's trimmed value, `None` when absent or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        let value = self.get(name).trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// Every value of a field that repeats (checkboxes of one name).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == name)
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let visitor =
            <Visitor as axum::extract::FromRequestParts<S>>::from_request_parts(&mut parts, state)
                .await?;
        let is_form = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim() == "application/x-www-form-urlencoded");
        if !is_form {
            return Err(super::view::message_page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This is not a form",
                "hop's pages post forms; use the API for anything else.",
                &visitor,
            ));
        }
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return Err(super::view::message_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "That was too much",
                "The form was larger than hop accepts. Shorten what you typed and try again.",
                &visitor,
            ));
        };
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let presented = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map_or("", |(_, v)| v.as_str());
        if !constant_time_eq(presented, visitor.csrf()) {
            tracing::warn!("web_form_csrf_refused");
            return Err(super::view::message_page(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "It did not come from this page of hop, or your session changed since it \
                 was shown. Nothing was changed. Go back, reload the page and try again.",
                &visitor,
            ));
        }
        Ok(Self { fields, visitor })
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}
