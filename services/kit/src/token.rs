//! The access-token contract between the auth service (which signs) and the gateway (which
//! verifies): the claims, and where revoked sessions are listed.

use serde::{Deserialize, Serialize};

/// The `iss` of hop's access tokens unless AUTH_ISSUER says otherwise.
pub const DEFAULT_ISSUER: &str = "hop";
/// The `aud` of hop's access tokens unless AUTH_AUDIENCE says otherwise.
pub const DEFAULT_AUDIENCE: &str = "hop-api";

/// The session deny-list: a Redis sorted set (`<prefix>revoked_sessions`) of revoked session
/// ids, each scored with the unix time its last access token expires (after which the entry
/// is dropped). Gateways keep a replica in memory.
pub const REVOKED_SESSIONS: &str = "revoked_sessions";

/// Channel (under the key prefix) on which each revocation is announced as
/// `<session id> <until unix seconds>`, so gateway replicas learn of it at once.
pub const REVOCATION_CHANNEL: &str = "sessions:revoked";

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
