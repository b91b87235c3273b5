//! The web app: server-rendered pages for the people who make and share links in a
//! browser, served by the gateway from the same binary, on the same gRPC calls as the API.
//!
//! - [`visitor`]: the layer in front of every page: who the browser is (its session
//!   cookie, renewed when the access token expired; `caller::browser` does the work) and
//!   its CSRF token, as a [`visitor::Visitor`] for the handlers.
//! - [`form`]: the urlencoded form extractor: size-limited, CSRF-checked (403 otherwise).
//! - [`view`]: the layout and the pieces every page uses (fields with their errors, the
//!   message pages), as maud templates compiled into the binary; [`failure`]: the headers
//!   every page carries and the "try again" page.
//! - pages, one module per area: [`home`] (`/`: the create form and the new link's card),
//!   [`links`] (`/app/links*`: my links, a link's page with its QR code and stats, edit,
//!   delete), [`sign`] (`/app/signin`, `/app/signup`, `/app/signout`), [`account`]
//!   (`/app/account*`: password, sign out everywhere, API keys).
//! - [`docs`]: `/docs`, the API reference: Swagger UI (vendored, embedded) reading
//!   `/openapi.json`.
//! - [`chart`]: the clicks chart, drawn here as SVG; [`assets`]: the stylesheet, script
//!   and icon, embedded, served under content-hashed names with year-long caching.
//!
//! Every answer is a page: a bad form comes back with its errors beside the fields (the
//! API's own words) and what was typed kept; a backend that is down gives a "try again"
//! page with the request id.

mod account;
mod assets;
mod chart;
mod docs;
mod failure;
mod form;
mod home;
mod links;
mod sign;
mod view;
mod visitor;

use crate::state::AppState;
use axum::Router;
use axum::routing::{any, get, post};

/// `/`, `/app*`, `/docs` and `/assets*`.
pub fn router(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(home::show))
        .route("/app", get(home::app))
        .route("/app/links", get(links::list).post(home::create))
        .route("/app/links/{code}", get(links::show))
        .route(
            "/app/links/{code}/edit",
            get(links::edit_form).post(links::edit),
        )
        .route("/app/links/{code}/active", post(links::set_active))
        .route(
            "/app/links/{code}/delete",
            get(links::confirm_delete).post(links::delete),
        )
        .route("/app/signin", get(sign::signin_form).post(sign::signin))
        .route("/app/signup", get(sign::signup_form).post(sign::signup))
        .route("/app/signout", post(sign::signout))
        .route("/app/account", get(account::show))
        .route("/app/account/password", post(account::change_password))
        .route(
            "/app/account/signout-everywhere",
            post(account::signout_everywhere),
        )
        .route("/app/account/api-keys", post(account::create_key))
        .route(
            "/app/account/api-keys/{id}/revoke",
            post(account::revoke_key),
        )
        .route("/app/{*rest}", any(view::not_found_handler))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            visitor::resolve,
        ));
    pages
        .route("/docs", get(docs::show))
        .merge(assets::router())
}
