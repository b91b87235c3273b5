//! `/docs`: the API reference, rendered in the browser by Swagger UI from `/openapi.json`.
//! Swagger UI is vendored (`assets/vendor/swagger-ui`) and served from the binary like the
//! app's own assets: the page loads nothing from anywhere else.

use super::assets;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use maud::{DOCTYPE, html};

/// The app's policy, but for inline styles: Swagger UI's React views set `style`
/// attributes. Scripts stay hop's own files only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

pub async fn show() -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "API reference · hop" }
                link rel="icon" href=(assets::url("icon.svg"));
                link rel="stylesheet" href=(assets::url("swagger-ui.css"));
            }
            body {
                noscript {
                    p {
                        "The reference needs JavaScript; the document itself is "
                        a href="/openapi.json" { "/openapi.json" } "."
                    }
                }
                div id="swagger-ui" {}
                script src=(assets::url("swagger-ui.js")) {}
                script src=(assets::url("docs.js")) {}
            }
        }
    };
    let mut response = page.into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        http::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    response
}
