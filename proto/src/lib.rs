//! hop's gRPC contracts and their generated code.
//!
//! The `.proto` files under `proto/hop/` are the source of truth; `build.rs` compiles them
//! with tonic-prost-build. Each package is a module here:
//!
//! - [`links::v1`]: `hop.links.v1.LinkService`, the write service (links, codes, stats).
//! - [`auth::v1`]: `hop.auth.v1.AuthService`, users, passwords, tokens and sessions.
//!
//! Beside the generated code, the values the contracts carry, validated once for every
//! side of them:
//!
//! - [`link`]: the link newtypes ([`link::ShortCode`], [`link::Alias`],
//!   [`link::TargetUrl`], [`link::RedirectType`]), titles, and the words and routes a code
//!   may not be; the gateway checks them at the public edge, links again for internal
//!   callers, redirect when it reads a code.
//! - [`token`]: the claims of an access token, signed by auth and verified by gateways.
//! - [`api_key`]: what an API key looks like, its scopes, and how a revoked one is listed.
//!
//! [`links::v1::FILE_DESCRIPTOR_SET`] and [`auth::v1::FILE_DESCRIPTOR_SET`] feed gRPC server
//! reflection, so `grpcurl` works against every service without local copies of the protos.

/// `hop.links.v1`.
pub mod links {
    /// Version 1 of the links API.
    pub mod v1 {
        tonic::include_proto!("hop.links.v1");

        /// The encoded descriptor of `hop.links.v1`, for server reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] =
            tonic::include_file_descriptor_set!("links_descriptor");
    }
}

/// `hop.auth.v1`.
pub mod auth {
    /// Version 1 of the auth API.
    pub mod v1 {
        tonic::include_proto!("hop.auth.v1");

        /// The encoded descriptor of `hop.auth.v1`, for server reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] =
            tonic::include_file_descriptor_set!("auth_descriptor");

        /// `Refresh` answered UNAUTHENTICATED because the token had been used before: the
        /// session it belongs to is revoked. The status carries an `ErrorInfo` with this
        /// reason and the session in its metadata ([`REVOKED_SESSION`], and
        /// [`REVOKED_LISTED`]: `true` when the Redis deny-list has it), so the gateway that
        /// asked refuses the session's access tokens at once, as after a logout, without
        /// waiting for the announcement.
        pub const REFRESH_TOKEN_REUSED: &str = "refresh-token-reused";
        /// See [`REFRESH_TOKEN_REUSED`].
        pub const REVOKED_SESSION: &str = "session_id";
        /// See [`REFRESH_TOKEN_REUSED`].
        pub const REVOKED_LISTED: &str = "listed";
    }
}

pub mod api_key;
pub mod link;
pub mod token;
