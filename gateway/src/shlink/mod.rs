//! Shlink's REST API v3 under `/rest/v3`, on hop's own links, tags, clicks and API keys, so
//! the clients written for Shlink (its web client, its JS SDK, the apps and plugins built
//! on them) work against hop. docs/shlink.md says what is covered and what is not.
//!
//! - [`problem`]: Shlink-shaped problems (`https://shlink.io/api/error/...` types and
//!   Shlink's extra fields), and how hop's own problems become them; [`ShlinkKey`], the
//!   `X-Api-Key` caller; [`query`]: Shlink's query strings (`tags[]`, empty values as
//!   absent ones) and how the document describes them.
//! - [`short_urls`]: `/short-urls*` (create, list, get, edit, delete) and the short URL
//!   shape; [`visits`]: `/visits` and `/short-urls/{code}/visits`; [`tags`]: `/tags*`;
//!   [`server`]: `/domains`, `/health` and `/mercure-info`.
//!
//! Every handler calls the same gRPC methods as hop's own API; nothing here stores data.

mod problem;
mod query;
mod server;
mod short_urls;
mod tags;
mod visits;

use crate::state::AppState;
use axum::routing::any;
use hop_kit::health::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `/rest/v3/*` and `/rest/health`, with their OpenAPI paths, and a Shlink-shaped 404 for
/// the rest of `/rest`.
pub fn router(health: Vec<Health>, public_base_url: &str) -> OpenApiRouter<AppState> {
    let info = server::Info::new(health, public_base_url);
    OpenApiRouter::new()
        .routes(routes!(short_urls::list, short_urls::create))
        .routes(routes!(
            short_urls::read,
            short_urls::update,
            short_urls::remove
        ))
        .routes(routes!(visits::of_short_url))
        .routes(routes!(visits::overview))
        .routes(routes!(tags::list, tags::rename, tags::remove))
        .routes(routes!(tags::stats))
        .routes(routes!(server::domains))
        .routes(routes!(server::health))
        .routes(routes!(server::health_v3))
        .routes(routes!(server::mercure_info))
        .route("/rest", any(problem::no_such_route))
        .route("/rest/{*rest}", any(problem::no_such_route))
        .layer(axum::Extension(info))
}
