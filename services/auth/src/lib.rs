//! hop-auth: users, passwords, access tokens and sessions, over gRPC
//! (`hop.auth.v1.AuthService`). The signing key never leaves this service: gateways fetch
//! the public keys and verify tokens themselves.
//!
//! # Layout
//!
//! - [`credentials`]: the validated newtypes of the edge: [`credentials::Email`] (normalized),
//!   [`credentials::Password`] (8–128 characters), [`credentials::Username`].
//! - [`hashing`]: argon2id with OWASP parameters on a bounded blocking pool, and the dummy
//!   hash that makes an unknown email cost what a wrong password costs.
//! - [`keys`]: the Ed25519 signing key (derived from SECRET_KEY or read from a PKCS#8 file),
//!   its `kid`, and minting access tokens.
//! - [`store`]: the service's SQL on `users`, `sessions` and `refresh_tokens`;
//!   [`import`]: the bulk statements that add the users `hop import` brings in.
//! - [`accounts`]: what may be done: register, login, refresh (with rotation and reuse
//!   detection), logout; knows nothing of gRPC.
//! - [`revocation`]: the Redis deny-list of revoked sessions that gateways check.
//! - [`grpc`]: the thin tonic adapter; [`error`]: the error enum and its gRPC codes.
//! - [`server`]: [`build`] binds the gRPC and admin listeners; `run` serves and drains;
//!   [`settings`]: the knobs.

mod accounts;
mod api_keys;
mod credentials;
mod error;
mod grpc;
mod hashing;
pub mod import;
mod keys;
mod revocation;
mod server;
mod settings;
mod store;

pub use accounts::TokenSettings;
pub use credentials::{Email, Password};
pub use error::AuthError;
pub use hashing::Hasher;
pub use keys::SigningKey;
pub use server::{Config, Server, build};
pub use settings::Settings;
pub use store::Store;
