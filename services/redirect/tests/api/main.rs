//! The redirect service over HTTP, against real PostgreSQL and Redis (and throwaway ones
//! that the tests stop).

mod clicks;
mod failures;
mod helpers;
mod redirects;
mod replicas;
mod tiers;
