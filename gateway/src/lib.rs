//! hop-gateway: the public HTTP API. It parses and checks requests, authenticates callers
//! (verifying tokens itself), applies rate limits, answers errors as problem+json, and
//! forwards the work to the gRPC services (links, auth). It owns no data.
//!
//! # Layout
//!
//! - [`routes`]: the public API, a child per resource: [`routes::links`] (`/links*`:
//!   create, read, list, change and delete links, bulk creates, stats, QR codes),
//!   [`routes::tags`] (`/tags*`), [`routes::accounts`] (`/auth/*`: register, login,
//!   refresh, logout, me, forwarded to the auth service) and [`routes::api_keys`]
//!   (`/auth/api-keys*`).
//! - [`state`]: [`state::AppState`], what the routes share.
//! - [`caller`]: who is calling: the token [`caller::Verifier`] with the keys it knows
//!   ([`caller::keys`], merged across rotations), the [`caller::AuthUser`] extractor and
//!   the client's IP ([`caller::ClientIp`]).
//! - [`ratelimit`]: limits shared through Redis; [`settings`]: the knobs.
//! - [`body`]: the JSON-object body extractor (size limit → 413, not JSON or not an object
//!   → 400) and typed field access with per-field errors.
//! - [`error`]: [`error::ApiError`] and the one function that turns a gRPC status into an
//!   HTTP problem.
//! - [`context`]: the per-request middleware: request id (taken from `X-Request-Id` or
//!   generated, echoed back and sent on to gRPC), the request span, RED metrics and the
//!   `request_completed` log line.
//! - [`web`]: the web app (`/`, `/app/*`, `/assets/*`): server-rendered pages on the
//!   same gRPC calls as the API, with cookie sessions ([`caller::browser`]) and CSRF
//!   tokens; [`qr`]: QR codes of short URLs, for `GET /links/{code}/qr` and the pages.
//! - [`shlink`]: Shlink's REST API v3 (`/rest/v3/*`, with `X-Api-Key`) on the same gRPC
//!   calls, so Shlink's clients work against hop (docs/shlink.md).
//! - [`openapi`]: the OpenAPI 3.1 document (`GET /openapi.json`), generated from the
//!   handlers' `#[utoipa::path]` and the types they answer with; `/docs` renders it.
//! - [`server`]: [`Gateway`] (state and router, also mounted by `hop up`), [`build`] and
//!   `run`.

mod body;
mod caller;
mod context;
mod error;
mod openapi;
mod qr;
mod ratelimit;
mod routes;
mod server;
mod settings;
mod shlink;
mod state;
mod web;

pub use caller::keys::MIN_REFETCH as KEYS_MIN_REFETCH;
pub use server::{Config, Gateway, Server, Upstream, build};
pub use settings::{Limit, Proxies, Settings};
