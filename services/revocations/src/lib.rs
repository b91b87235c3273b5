//! hop-revocations: the one owner of session revocation between the auth service (which
//! revokes) and every gateway (which refuses a revoked session's tokens at once).
//!
//! # Layout
//!
//! - [`Revocation`]: a revoked session and until when it matters; the typed message the
//!   channel carries.
//! - [`Publisher`] (auth): revocations listed in the Redis deny-list and announced, with
//!   the Lua script that does both atomically.
//! - [`Replica`] (gateway): the in-memory copy of the deny-list, kept in sync from the set
//!   and the channel, and trusted only while it is.
//!
//! Postgres (`sessions.revoked_at`) stays the truth; the auth service rebuilds the Redis
//! set from it, so a revocation survives Redis losing the set.

mod message;
mod replica;
mod store;

pub use message::Revocation;
pub use replica::{RESYNC_EVERY, RETRY_EVERY, Replica};
pub use store::{Publisher, listed, listed_in};
