//! The read model's entry: what the redirect service needs to answer for a code, as links
//! writes it to Redis and redirect reads it back, in one text format both sides share.

use hop_proto::link::RedirectType;

/// What the redirect service needs to answer for a live code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedLink {
    /// The link's id, which its clicks are recorded under.
    pub id: i64,
    pub url: String,
    pub redirect_type: RedirectType,
    pub is_active: bool,
    /// Unix seconds.
    pub expires_at: Option<i64>,
}

/// A read-model entry as links writes it to Redis and redirect reads it back: a live link,
/// or a tombstone for a deleted one, stamped with the link's version (its `updated_at` in
/// microseconds) so an older write can never replace a newer one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEntry {
    Live { version: i64, link: CachedLink },
    Deleted { version: i64 },
}

impl ReadEntry {
    pub fn version(&self) -> i64 {
        match self {
            Self::Live { version, .. } | Self::Deleted { version } => *version,
        }
    }

    /// The Redis value:
    /// `v3 <version> <id> <status> <active 0|1> <expires unix seconds or -> <url>` for a live
    /// link, `v3 <version> deleted` for a deleted one.
    ///
    /// A normalized URL never contains a space, so the URL is simply the rest of the line.
    /// Plain text keeps the L1-off path (Redis on every request) free of a JSON parser, and
    /// lets the Redis-side version check (a Lua pattern) read the version.
    pub fn encode(&self) -> String {
        match self {
            Self::Deleted { version } => format!("v3 {version} deleted"),
            Self::Live { version, link } => {
                let expires = link
                    .expires_at
                    .map_or_else(|| "-".to_owned(), |t| t.to_string());
                format!(
                    "v3 {version} {} {} {} {expires} {}",
                    link.id,
                    link.redirect_type.status(),
                    u8::from(link.is_active),
                    link.url
                )
            }
        }
    }

    /// `None` for anything [`Self::encode`] did not produce (a foreign or older format is
    /// treated as a cache miss, never as an error).
    pub fn decode(value: &str) -> Option<Self> {
        let mut parts = value.splitn(7, ' ');
        if parts.next()? != "v3" {
            return None;
        }
        let version = parts.next()?.parse().ok()?;
        let id = parts.next()?;
        if id == "deleted" {
            return parts.next().is_none().then_some(Self::Deleted { version });
        }
        let id = id.parse().ok()?;
        let redirect_type = RedirectType::from_status(parts.next()?.parse().ok()?)?;
        let is_active = match parts.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let expires_at = match parts.next()? {
            "-" => None,
            t => Some(t.parse().ok()?),
        };
        let url = parts.next().filter(|u| !u.is_empty())?.to_owned();
        Some(Self::Live {
            version,
            link: CachedLink {
                id,
                url,
                redirect_type,
                is_active,
                expires_at,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hop_proto::link::TargetUrl;
    use proptest::prelude::*;

    #[test]
    fn foreign_cache_values_are_misses() {
        assert_eq!(ReadEntry::decode(""), None);
        assert_eq!(ReadEntry::decode("v2 7 302 1 - https://a.b"), None);
        assert_eq!(ReadEntry::decode("v3 7 9 200 1 - https://a.b"), None);
        assert_eq!(ReadEntry::decode("v3 7 9 302 1 -"), None);
        assert_eq!(ReadEntry::decode("v3 7 x 302 1 - https://a.b"), None);
        assert_eq!(ReadEntry::decode("v3 x deleted"), None);
        assert_eq!(ReadEntry::decode("v3 7 deleted extra"), None);
        assert_eq!(
            ReadEntry::decode("v3 7 deleted"),
            Some(ReadEntry::Deleted { version: 7 })
        );
    }

    proptest! {
        #[test]
        fn cached_links_round_trip(
            path in "[a-zA-Z0-9/%?=&._~-]{0,100}",
            status in prop::sample::select(vec![301i64, 302, 307, 308]),
            is_active in any::<bool>(),
            expires_at in proptest::option::of(any::<i64>()),
            version in 0..i64::MAX,
            id in 1..i64::MAX,
        ) {
            let url = TargetUrl::parse(&format!("https://example.com/{path}")).unwrap();
            let link = CachedLink {
                id,
                url: url.into_string(),
                redirect_type: RedirectType::from_status(status).unwrap(),
                is_active,
                expires_at,
            };
            let entry = ReadEntry::Live { version, link };
            prop_assert_eq!(ReadEntry::decode(&entry.encode()), Some(entry));
        }
    }
}
