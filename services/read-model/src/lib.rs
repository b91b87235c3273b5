//! hop-read-model: the one owner of the redirect read model, the contract between the
//! links service (which writes it) and the redirect service (which reads it).
//!
//! # Layout
//!
//! - [`ReadEntry`] and [`CachedLink`]: what redirect needs to answer for a code, and its
//!   text encoding in Redis (`v3 <version> …`).
//! - [`Writer`] (links) and [`Reader`] (redirect): the entries in Redis, their keys, and
//!   the Lua script that keeps the newest version whoever writes.
//! - [`invalidations`]: the channel on which links announces every changed code, and the
//!   subscriber redirect instances evict their L1 copies from.
//! - [`source`]: the entry of a code built from the `links` table, redirect's fallback
//!   when no cache has it.

mod entry;
pub mod invalidations;
pub mod source;
mod store;

pub use entry::{CachedLink, ReadEntry};
pub use store::{Reader, Writer, invalidation_channel, link_key};
