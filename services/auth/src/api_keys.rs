//! API keys: long-lived credentials for programs (CMS plugins, bots, CI jobs), with scopes,
//! a name, an optional expiry and a last-used time.
//!
//! - A key is `hop_` + 256 random bits (URL-safe base64). It is returned once, by
//!   [`Accounts::create_api_key`](crate::accounts::Accounts::create_api_key), and stored
//!   only as SHA-256 with its first characters in the clear ([`NewSecret`]): the table
//!   holds nothing a caller could present. A random 256-bit secret needs no slow hash.
//! - Checking a key ([`crate::accounts::Accounts::check_api_key`]) finds it by hash; a
//!   revoked or expired key is refused like an unknown one. Its last use is written at
//!   most once a minute.
//! - Revoking one lists `apikey:<id>` on the session deny-list, so every gateway stops
//!   accepting it at once (`hop_proto::api_key`).

use crate::error::AuthError;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hop_kit::problem::FieldError;
use hop_proto::api_key::{DISPLAY_PREFIX_LEN, KEY_PREFIX, Scopes};
use sha2::{Digest, Sha256};

/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Live keys one account may hold.
pub const MAX_KEYS_PER_USER: i64 = 100;

/// A key as it is listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// A key asked for, validated.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewKey {
    /// No scopes named means all of them.
    pub fn parse(
        name: &str,
        scopes: &[String],
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, AuthError> {
        let mut errors = Vec::new();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        } else if name.chars().any(hop_kit::text::is_hidden) {
            errors.push(FieldError::new("name", hop_kit::text::HIDDEN_MESSAGE));
        }
        let scopes = if scopes.is_empty() {
            Scopes::all()
        } else {
            match Scopes::parse(scopes.iter().map(String::as_str)) {
                Ok(scopes) => scopes,
                Err(unknown) => {
                    errors.push(FieldError::new(
                        "scopes",
                        format!("{unknown:?} is not a scope (links:read, links:write, stats:read)"),
                    ));
                    Scopes::default()
                }
            }
        };
        if expires_at.is_some_and(|t| t <= now) {
            errors.push(FieldError::new("expires_at", "must be in the future"));
        }
        if !errors.is_empty() {
            return Err(AuthError::Invalid(errors));
        }
        Ok(Self {
            name: name.to_owned(),
            scopes,
            expires_at,
        })
    }
}

/// A new key's secret, the prefix shown for it, and the hash that is stored.
pub struct NewSecret {
    pub secret: String,
    pub prefix: String,
    pub hash: Vec<u8>,
}

impl NewSecret {
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let secret = format!("{KEY_PREFIX}{body}");
        Self {
            prefix: body[..DISPLAY_PREFIX_LEN].to_owned(),
            hash: hash(&secret),
            secret,
        }
    }
}

/// What is stored for (and looked up by) a key.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_keys_and_differ() {
        let (a, b) = (NewSecret::generate(), NewSecret::generate());
        assert!(hop_proto::api_key::is_key(&a.secret), "{}", a.secret);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash(&a.secret));
        assert!(a.secret[KEY_PREFIX.len()..].starts_with(&a.prefix));
        assert_eq!(a.prefix.len(), DISPLAY_PREFIX_LEN);
    }

    #[test]
    fn names_scopes_and_expiry_are_checked() {
        let now = Utc::now();
        let ok = NewKey::parse(" ci ", &[], None, now).unwrap();
        assert_eq!((ok.name.as_str(), ok.scopes), ("ci", Scopes::all()));
        let fields = |e: AuthError| match e {
            AuthError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let bad = NewKey::parse(
            "",
            &["links:admin".into()],
            Some(now - chrono::Duration::seconds(1)),
            now,
        )
        .unwrap_err();
        assert_eq!(fields(bad), ["name", "scopes", "expires_at"]);
        let long = NewKey::parse(&"x".repeat(101), &[], None, now).unwrap_err();
        assert_eq!(fields(long), ["name"]);
    }
}
