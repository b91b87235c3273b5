//! hop-gateway: the public HTTP API. It parses and checks requests, authenticates callers
//! (verifying tokens itself), applies rate limits, answers errors as problem+json, and
//! forwards the work to the gRPC services (links, auth). It owns no data.
//!
//! # Layout
//!
//! - [`links`]: `/links*`: create, read, list, change and delete links.
//! - [`accounts`]: `/auth/*`: register, login, refresh, logout, me.
//! - [`auth`]: the token [`auth::Verifier`], the [`auth::AuthUser`] extractor and the
//!   client's IP; [`keys`]: the verifying keys it knows, merged across rotations;
//!   [`ratelimit`]: limits shared through Redis; [`settings`]: the knobs.
//! - [`body`]: the JSON-object body extractor (size limit → 413, not JSON or not an object
//!   → 400) and typed field access with per-field errors.
//! - [`error`]: [`error::ApiError`] and the one function that turns a gRPC status into an
//!   HTTP problem.
//! - [`context`]: the per-request middleware: request id (taken from `X-Request-Id` or
//!   generated, echoed back and sent on to gRPC), the request span, RED metrics and the
//!   `request_completed` log line.
//! - [`server`]: [`Gateway`] (state and router, also mounted by `hop up`), [`build`] and
//!   `run`.

pub mod accounts;
pub mod auth;
pub mod body;
pub mod context;
pub mod error;
pub mod keys;
pub mod links;
pub mod ratelimit;
pub mod server;
pub mod settings;

pub use server::{Config, Gateway, Server, build};
pub use settings::{Limit, Settings};
