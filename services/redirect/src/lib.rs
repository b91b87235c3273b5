//! hop-redirect: the read service. `GET /{code}` answers from an in-process cache (L1),
//! then Redis, then PostgreSQL, and stays up when either store is down.
//!
//! # Layout
//!
//! - [`http`]: the hyper service: the hot path (`GET|HEAD /{code}`), plus `/health*` and
//!   `/metrics` on the same port. No framework: a redirect is a path check, a cache hit and
//!   a response head.
//! - [`resolver`]: the tiered lookup: L1 (bounded, TTL, negative entries, single-flight
//!   misses) → Redis (behind a circuit breaker) → Postgres, filling the tiers on the way
//!   back. Each tier can be switched off ([`CacheSettings`]).
//!   The read model itself (entries, keys, scripts, the Postgres fallback query) is
//!   `hop-read-model`'s.
//! - [`clicks`]: click recording off the hot path: a bounded buffer and a batch writer;
//!   what a click is and how it is stored belong to `hop-clicks`.
//! - [`invalidation`]: evicts the L1 entry of each code announced on the read model's
//!   invalidation channel, so a new or changed link is served everywhere at once.
//! - [`metrics`]: cache tier counters and the pre-resolved request series of the hot path.
//! - [`server`]: [`build`] binds the listener; `run` serves until shutdown and drains.

mod clicks;
mod http;
mod invalidation;
mod metrics;
mod resolver;
mod server;

pub use clicks::{ClickSettings, Nets};
pub use http::App;
pub use resolver::CacheSettings;
pub use server::{Config, Redirect, Server, build};
