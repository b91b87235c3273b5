//! The public API end to end in one process: gateway → links (gRPC) → Postgres/Redis, and
//! the redirect service reading what was created.

mod accounts;
mod api_keys;
mod bad_input;
mod bulk;
mod helpers;
mod hostile;
mod links;
mod mtls;
mod openapi;
mod ownership;
mod rotation;
mod shlink;
mod stats;
mod tags;
mod web;
