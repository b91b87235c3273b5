//! hop-kit: the plumbing every hop service shares, so the services hold only their domain.
//!
//! # Layout
//!
//! - [`config`]: what every setting shares (the error naming a bad variable, common
//!   parsers, the public address). Each group of settings is a clap argument group
//!   beside the module that uses it (`postgres::DatabaseArgs`, `redis::RedisArgs`,
//!   `telemetry::{LogArgs, TraceArgs}`, `grpc::GrpcArgs`), so `hop --help` lists them all.
//! - [`telemetry`]: JSON logs to stdout and to a size-rotated file, and OTLP traces with
//!   W3C context carried over gRPC ([`telemetry::otel`]); [`metrics`]: Prometheus
//!   registries, RED histograms and the process collector.
//! - [`health`]: dependency probes behind `/health`, `/health/live` and `/health/ready`.
//! - [`database`]: the closed enum every store owner matches on, PostgreSQL or SQLite;
//!   [`postgres`]: its settings, the connection pool and the embedded migrations;
//!   [`sqlite`]: the embedded store of `hop up` (one writer with group commit, a reader
//!   pool, its own migrations); [`bridge`]: the copy from the second to the first;
//!   [`replicas`]: PostgreSQL read replicas in rotation while healthy and caught up.
//! - [`shared`]: Redis or the in-process bus; [`redis`]: the Redis client with fail-fast
//!   commands behind a circuit breaker, on one Redis, a Redis Cluster or Sentinel; [`tls`]: rustls client configurations for
//!   PostgreSQL and Redis (`sslmode=require`, `rediss://`).
//! - [`serve`]: the hyper accept loop with graceful drain, and the admin router (health and
//!   metrics) of the gRPC services; [`shutdown`]: SIGINT/SIGTERM; [`grpc`]: helpers the
//!   tonic adapters share; [`grpc_tls`]: optional mTLS between the services.
//! - [`secret`]: SECRET_KEY, the secret `hop up` generates when it is unset, and the keys
//!   derived from it; [`service_auth`]: the credential every internal gRPC call carries.
//! - [`net`]: client addresses as limits and checks see them (IPv4-mapped folded, IPv6 by
//!   its /64).
//! - [`text`]: what free text (titles, usernames) may not contain.
//! - [`problem`]: RFC 9457 problem+json bodies.
//!
//! Domain values live with their owners: the link newtypes and the access-token claims
//! in `hop-proto` (the contracts), code minting in `hop-links`, the read-model entry in
//! `hop-read-model`.

pub mod bridge;
pub mod config;
pub mod database;
pub mod error;
pub mod grpc;
pub mod grpc_tls;
pub mod health;
pub mod metrics;
pub mod net;
pub mod postgres;
pub mod problem;
pub mod redis;
pub mod replicas;
pub mod secret;
pub mod serve;
pub mod service_auth;
pub mod shared;
pub mod shutdown;
pub mod sqlite;
pub mod telemetry;
pub mod text;
pub mod time;
pub mod tls;

/// hop's version, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
