//! The links service over gRPC, against real PostgreSQL and Redis.

mod create;
mod failures;
mod helpers;
