//! Credentials as the edge receives them, validated into newtypes.

use crate::error::AuthError;
use hop_kit::problem::FieldError;
use std::fmt;

/// An email address, trimmed and lower-cased: `Alice@Example.com` and `alice@example.com`
/// are one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required");
        }
        if email.chars().count() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("is not an email address");
        };
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && !local.contains('@')
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>');
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(email))
        } else {
            Err("is not an email address")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shortest and longest accepted password, in characters.
pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 128;

/// A password of 8 to 128 characters. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        // Bytes first: a multi-megabyte "password" is refused without counting characters.
        if raw.len() > MAX_PASSWORD * 4 || raw.chars().count() > MAX_PASSWORD {
            return Err("must be at most 128 characters");
        }
        if raw.chars().count() < MIN_PASSWORD {
            return Err("must be at least 8 characters");
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password that only needs to be compared, not stored: anything up to the maximum
    /// (too short can never match, and saying so would leak the policy per account).
    pub fn for_login(raw: &str) -> Result<Self, &'static str> {
        if raw.len() > MAX_PASSWORD * 4 || raw.chars().count() > MAX_PASSWORD {
            return Err("must be at most 128 characters");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// An optional display name: 1 to 64 characters, no control or invisible format
/// characters (a bidi override would make one user's name read as another's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err("must be 1 to 64 characters");
        }
        if name.chars().any(hop_kit::text::is_hidden) {
            return Err(hop_kit::text::HIDDEN_MESSAGE);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A registration, validated: every failure is reported at once.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub username: Option<Username>,
}

impl Registration {
    pub fn parse(email: &str, password: &str, username: Option<&str>) -> Result<Self, AuthError> {
        let mut errors = Vec::new();
        let email = Email::parse(email)
            .map_err(|e| errors.push(FieldError::new("email", e)))
            .ok();
        let password = Password::parse(password)
            .map_err(|e| errors.push(FieldError::new("password", e)))
            .ok();
        let username = match username.filter(|u| !u.trim().is_empty()) {
            Some(raw) => Username::parse(raw)
                .map_err(|e| errors.push(FieldError::new("username", e)))
                .ok(),
            None => None,
        };
        match (email, password) {
            (Some(email), Some(password)) if errors.is_empty() => Ok(Self {
                email,
                password,
                username,
            }),
            _ => Err(AuthError::Invalid(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "a@b@c.com",
            "alice@-x.com",
            "<a>@x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn passwords_are_8_to_128_characters_and_never_printed() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(
            Password::parse(&"é".repeat(128)).is_ok(),
            "characters, not bytes"
        );
        assert!(Password::parse(&"x".repeat(100_000)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("correct horse").unwrap()),
            "Password(..)"
        );
    }

    #[test]
    fn usernames_refuse_bidi_overrides_and_invisibles() {
        assert!(Username::parse("Ada Lovelace").is_ok());
        assert!(Username::parse("admin\u{202E}nimda").is_err());
        assert!(Username::parse("a\u{2066}b\u{2069}").is_err());
        assert!(Username::parse("zero\u{200B}width").is_err());
    }

    #[test]
    fn registration_reports_every_field() {
        match Registration::parse("nope", "short", Some("\u{7}")) {
            Err(AuthError::Invalid(errors)) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["email", "password", "username"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
