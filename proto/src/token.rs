//! The access-token contract between the auth service (which signs) and the gateway (which
//! verifies): the claims. Where revoked sessions are listed is `hop-revocations`'.

use serde::{Deserialize, Serialize};

/// The `iss` of hop's access tokens unless AUTH_ISSUER says otherwise.
pub const DEFAULT_ISSUER: &str = "hop";
/// The `aud` of hop's access tokens unless AUTH_AUDIENCE says otherwise.
pub const DEFAULT_AUDIENCE: &str = "hop-api";

/// The claims of an access token (a JWT signed with EdDSA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user's id.
    pub sub: String,
    /// The session's id.
    pub sid: String,
    /// This token's id.
    pub jti: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// Not valid before, unix seconds. hop's own tokens leave it out; verifiers check it
    /// when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}
