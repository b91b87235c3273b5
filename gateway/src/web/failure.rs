//! What every page's answer carries, and the page for a backend that failed: apart from
//! [`super::view`] so the layer that resolves the visitor can use them.

use super::assets;
use crate::context::RequestId;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use maud::{DOCTYPE, html};

/// The Content-Security-Policy of every page: nothing but hop's own assets, no inline
/// script, no framing, forms only to hop.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers of every page: never cached (pages show a session's data), never framed.
pub fn page_headers(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name, value| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(headers, http::header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, http::header::CACHE_CONTROL, "no-store");
    set(headers, http::header::X_FRAME_OPTIONS, "DENY");
    set(headers, http::header::REFERRER_POLICY, "same-origin");
}

/// What the visitor sees when a backend failed: what happened, what to do, and the request
/// id to quote; never a stack trace.
pub fn failure_page(request_id: &RequestId) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Try again · hop" }
                link rel="stylesheet" href=(assets::url("app.css"));
            }
            body {
                main #main {
                    section.card.narrow {
                        h1 { "Something went wrong on our side" }
                        p { "hop could not finish this just now. Nothing you typed was lost on \
                             purpose: go back and try again in a moment." }
                        p.muted { "If it keeps happening, quote this request id: " code.rid { (request_id.0) } }
                        p { a.button href="/" { "Try again" } }
                    }
                }
            }
        }
    };
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    page_headers(response.headers_mut());
    response
}
