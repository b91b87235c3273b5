//! The public API's routes, one child module per resource. Each takes the shared
//! [`AppState`]; the router here merges them. Every handler carries its
//! `#[utoipa::path]`, and each child registers its handlers through
//! [`utoipa_axum::routes!`], so the router and the OpenAPI document ([`crate::openapi`])
//! are built from the same list and cannot drift apart.

pub mod accounts;
pub mod api_keys;
pub mod links;
pub mod tags;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// `/links*`, `/tags*`, `/auth/*` and `/auth/api-keys*`, with their OpenAPI paths.
pub fn router() -> OpenApiRouter<AppState> {
    links::router()
        .merge(accounts::router())
        .merge(api_keys::router())
        .merge(tags::router())
}
