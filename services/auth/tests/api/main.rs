//! The auth service over gRPC, against real PostgreSQL and Redis.

mod helpers;
mod sessions;
