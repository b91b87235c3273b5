//! hop-gateway: the public HTTP API. It parses and checks requests, answers errors as
//! problem+json, and forwards the work to the gRPC services (links now; auth with accounts).
//! It owns no data.
//!
//! # Layout
//!
//! - [`links`]: `POST /links`, `POST /links/create`, `GET /links/{code}`.
//! - [`body`]: the JSON-object body extractor (size limit → 413, not JSON or not an object
//!   → 400) and typed field access with per-field errors.
//! - [`error`]: [`error::ApiError`] and the one function that turns a gRPC status into an
//!   HTTP problem.
//! - [`context`]: the per-request middleware: request id (taken from `X-Request-Id` or
//!   generated, echoed back and sent on to gRPC), the request span, RED metrics and the
//!   `request_completed` log line.
//! - [`server`]: [`Gateway`] (state and router, also mounted by `hop up`), [`build`] and
//!   `run`.

pub mod body;
pub mod context;
pub mod error;
pub mod links;
pub mod server;

pub use server::{Config, Gateway, Server, build};
