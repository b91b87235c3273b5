//! The public API's routes, one child module per resource. Each takes the shared
//! [`AppState`]; the router here merges them.

pub mod accounts;
pub mod api_keys;
pub mod links;
pub mod tags;

use crate::state::AppState;
use axum::Router;

/// `/links*`, `/tags*`, `/auth/*` and `/auth/api-keys*`.
pub fn router() -> Router<AppState> {
    links::router()
        .merge(accounts::router())
        .merge(api_keys::router())
        .merge(tags::router())
}
