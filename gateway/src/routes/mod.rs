//! The public API's routes, one child module per resource. Each takes the shared
//! [`AppState`]; the router here merges them.

pub mod accounts;
pub mod links;

use crate::state::AppState;
use axum::Router;

/// `/links*` and `/auth/*`.
pub fn router() -> Router<AppState> {
    links::router().merge(accounts::router())
}
