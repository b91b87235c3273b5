//! hop-clicks: the one owner of clicks, from what a redirect hands over to what a stats
//! request reads. The redirect service records, `hop import` brings old clicks in, the
//! links service answers stats; all of them go through this crate, so the tables, the
//! classification and the meaning of a row are written down once.
//!
//! # Layout
//!
//! - [`Click`]: one redirect as the hot path hands it over: the link, the time and a
//!   bounded copy of three headers, nothing parsed.
//! - [`classify`]: a click's headers turned into what is stored: the referrer's host, the
//!   agent class (bot, mobile, desktop, other) and a country code.
//! - [`Preparer`] and [`Batch`]: clicks classified and folded, identical clicks in the
//!   same second into one raw row with a count, and the rollups' increments summed.
//! - [`store`]: every statement on the click tables: a batch written (raw rows by COPY,
//!   then the rollup upserts) and a link's stats read from the rollups.
//! - [`stats`]: what a stats request asks ([`StatsQuery`]) and answers ([`Stats`]).
//! - [`partitions`]: the raw table's daily partitions, made ahead and dropped after the
//!   retention.
//!
//! The tables themselves are created by the shared migrations (`hop-kit/migrations`,
//! `V3__clicks.sql` and `V5__click_weight.sql`).

mod batch;
pub mod classify;
mod click;
pub mod partitions;
pub mod stats;
pub mod store;

pub use batch::{Batch, Preparer};
pub use click::{Click, MAX_HEADER_KEPT};
pub use stats::{DIRECT, Stats, StatsQuery, Unit};
