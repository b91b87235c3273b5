//! The web app's static files, embedded in the binary and served under content-hashed
//! names (`/assets/app.3f9c2e1a7b.css`) with a year-long, immutable cache: a new build
//! changes the name, never the content behind one. Nothing comes from a CDN.

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode};
use sha2::Digest as _;
use std::sync::LazyLock;

/// One embedded file.
pub struct Asset {
    /// Its plain name (`app.css`), as pages ask for it.
    pub name: &'static str,
    /// Its served name, with the content hash.
    pub hashed: String,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/icon.svg"),
    ),
    // `/docs`: Swagger UI, vendored from npm (assets/vendor/swagger-ui/VERSION), and the
    // script that points it at /openapi.json.
    (
        "swagger-ui.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/vendor/swagger-ui/swagger-ui.css"),
    ),
    (
        "docs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/docs.js"),
    ),
];

/// Every asset, hashed once.
pub static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(name, content_type, bytes)| {
            let digest = sha2::Sha256::digest(bytes);
            let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
            let (stem, ext) = name.rsplit_once('.').expect("assets have an extension");
            Asset {
                name,
                hashed: format!("{stem}.{hash}.{ext}"),
                content_type,
                bytes,
            }
        })
        .collect()
});

/// The URL of the asset named `name` (one of [`FILES`]).
pub fn url(name: &str) -> String {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .expect("pages name embedded assets only");
    format!("/assets/{}", asset.hashed)
}

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{name}", get(serve))
}

async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.hashed == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such asset",
        )
            .into_response();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash() {
        for asset in ASSETS.iter() {
            let (stem, ext) = asset.name.rsplit_once('.').unwrap();
            assert!(
                asset.hashed.starts_with(&format!("{stem}.")),
                "{}",
                asset.hashed
            );
            assert!(asset.hashed.ends_with(&format!(".{ext}")));
            assert_eq!(asset.hashed.len(), asset.name.len() + 11);
        }
        assert!(url("app.css").starts_with("/assets/app."));
    }
}
