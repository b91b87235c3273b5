//! hop-links: the write service. It mints codes, owns links and writes them through to the
//! redirect read model; callers reach it over gRPC (`hop.links.v1.LinkService`).
//!
//! # Layout
//!
//! - [`model`]: what a link is ([`model::Link`]) and a validated new one
//!   ([`model::NewLink`]).
//! - [`domain`]: what may be done to links ([`domain::LinkService`]);
//!   knows nothing of gRPC.
//! - [`edit`]: the validated changes of an update; [`cursor`]: the signed cursor of "my
//!   links" pages.
//! - [`policy`]: where a link may point (no loops in any spelling, no blocked hosts, no
//!   private addresses unless allowed).
//! - [`mint`]: block-leased sequence ids turned into 7-character codes, by
//!   [`codes`]: base62 and the keyed permutation that makes them unguessable.
//! - [`store`]: the service's SQL for its requests, against `links`, `link_events` and
//!   the `link_ids` sequence (stats are read by `hop-clicks`); [`import`]: the bulk
//!   statements that add the links and events `hop import` brings in. No other module
//!   holds SQL.
//! - [`writer`]: batches concurrent creates into one INSERT and one commit.
//! - the read model (each link written through to Redis, its code announced) is
//!   `hop-read-model`'s [`hop_read_model::Writer`].
//! - [`grpc`]: the thin tonic adapter: proto in, domain call, proto or status out.
//! - [`error`]: the one error enum and its mapping to gRPC codes.
//! - [`server`]: [`build`] binds the gRPC and admin (health, metrics) listeners; `run`
//!   serves until shutdown and drains.

mod codes;
mod cursor;
mod domain;
mod edit;
mod error;
mod grpc;
pub mod import;
mod mint;
mod model;
mod policy;
mod server;
mod store;
mod writer;

pub use codes::CodePermutation;
pub use error::LinksError;
pub use policy::TargetSettings;
pub use server::{Config, Server, build};
