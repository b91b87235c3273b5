//! The API-key contract between the auth service (which issues and checks keys) and the
//! gateway (which accepts them): what a key looks like and what it may do.
//!
//! A key is `hop_` and 43 characters of URL-safe base64 (256 random bits). Only its SHA-256
//! is stored, so the database holds no usable key; the first [`DISPLAY_PREFIX_LEN`]
//! characters after `hop_` are kept in the clear to tell keys apart in a list.

use std::fmt;

/// What every key starts with, so a leaked one is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "hop_";
/// Characters after [`KEY_PREFIX`]: 32 bytes as unpadded URL-safe base64.
pub const KEY_BODY_LEN: usize = 43;
/// Characters of the body kept in the clear.
pub const DISPLAY_PREFIX_LEN: usize = 8;
/// The deny-list names a revoked key `apikey:<id>` beside the revoked sessions.
pub const REVOCATION_PREFIX: &str = "apikey:";

/// Whether `s` has the shape of a hop API key (says nothing of whether it is valid).
pub fn is_key(s: &str) -> bool {
    s.strip_prefix(KEY_PREFIX).is_some_and(|body| {
        body.len() == KEY_BODY_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The deny-list entry of key `id`.
pub fn revocation_id(id: i64) -> String {
    format!("{REVOCATION_PREFIX}{id}")
}

/// What a key may do. A session's access token may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read links: get and list.
    LinksRead,
    /// Create, change and delete links.
    LinksWrite,
    /// Read click statistics.
    StatsRead,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::LinksRead, Scope::LinksWrite, Scope::StatsRead];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LinksRead => "links:read",
            Self::LinksWrite => "links:write",
            Self::StatsRead => "stats:read",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, as a key holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Self::ALL_BITS
    }

    const ALL_BITS: Scopes = Scopes(0b111);

    fn bit(scope: Scope) -> u8 {
        1 << (scope as u8)
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Scopes named by strings; the first unknown one is the error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = Self::default();
        for name in names {
            let scope = Scope::parse(name.trim()).ok_or_else(|| name.to_owned())?;
            set.0 |= Self::bit(scope);
        }
        Ok(set)
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Space-separated, as stored.
    pub fn to_text(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_one_shape() {
        let body = "a".repeat(KEY_BODY_LEN);
        assert!(is_key(&format!("hop_{body}")));
        assert!(!is_key(&format!("hop_{body}a")));
        assert!(!is_key(&format!("hip_{body}")));
        assert!(!is_key(&format!("hop_{}!", "a".repeat(KEY_BODY_LEN - 1))));
        assert!(!is_key("eyJhbGciOiJFZERTQSJ9.e30.sig"));
    }

    #[test]
    fn scopes_parse_and_print() {
        let scopes = Scopes::parse(["stats:read", "links:read"]).unwrap();
        assert!(scopes.contains(Scope::LinksRead) && scopes.contains(Scope::StatsRead));
        assert!(!scopes.contains(Scope::LinksWrite));
        assert_eq!(scopes.to_text(), "links:read stats:read");
        assert_eq!(Scopes::parse(scopes.to_text().split(' ')).unwrap(), scopes);
        assert_eq!(Scopes::parse(["links:admin"]).unwrap_err(), "links:admin");
        assert_eq!(Scopes::all().iter().count(), 3);
        assert!(Scopes::parse([]).unwrap().is_empty());
    }
}
