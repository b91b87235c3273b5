//! The public API's routes, one child module per resource. Each takes the shared
//! [`AppState`]; the router here merges them.

pub mod accounts;
pub mod api_keys;
pub mod links;

use crate::state::AppState;
use axum::Router;

/// `/links*`, `/auth/*` and `/auth/api-keys*`.
pub fn router() -> Router<AppState> {
    links::router()
        .merge(accounts::router())
        .merge(api_keys::router())
}
