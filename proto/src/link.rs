//! The link domain's validated values, shared by the gateway (which validates at the public
//! edge), links (which validates again for internal gRPC callers) and redirect.
//!
//! Once a value has one of these types it is valid: [`ShortCode`] for any code a redirect
//! may look up, [`Alias`] for a custom code a user asks for, [`TargetUrl`] for a
//! destination, [`RedirectType`] for the status a link answers with. The read-model entry
//! that links writes to Redis and redirect reads back is `hop-read-model`'s.

use std::fmt;

/// Longest code or alias, in bytes.
pub const MAX_CODE_LEN: usize = 64;
/// Shortest custom alias.
pub const MIN_ALIAS_LEN: usize = 3;
/// Longest accepted destination URL, in bytes (before and after normalization).
pub const MAX_URL_LEN: usize = 2048;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Most tags on one link.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 50;

/// The first path segments the edge (`hop up`'s router, nginx, the Ingress) sends to the
/// gateway, as whole segments: `/health` and `/health/...`, never `/healthy`. One list:
/// `hop up` routes by it, the alias validator refuses each word (through
/// [`RESERVED_WORDS`]), and a test holds nginx's and the Ingress's locations to it. `/`
/// itself (the web app's home) is the gateway's too.
pub const EDGE_ROUTES: &[&str] = &[
    "app",
    "assets",
    "auth",
    "docs",
    "health",
    "links",
    "metrics",
    "openapi.json",
    "rest",
    "tags",
];

/// Whether the gateway answers `path`: `/`, or a first segment in [`EDGE_ROUTES`].
pub fn is_edge_route(path: &str) -> bool {
    let first = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .next()
        .unwrap_or_default();
    first.is_empty() || EDGE_ROUTES.contains(&first)
}

/// Words that name hop's own routes, or that users would mistake for them; never aliases.
/// Every [`EDGE_ROUTES`] word is one (a unit test holds them together).
pub const RESERVED_WORDS: &[&str] = &[
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "dashboard",
    "docs",
    "favicon.ico",
    "health",
    "help",
    "links",
    "login",
    "logout",
    "metrics",
    "openapi.json",
    "register",
    "rest",
    "robots.txt",
    "settings",
    "signup",
    "static",
    "stats",
    "status",
    "tags",
    "well-known",
    "www",
];

fn is_code_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A code of possible shape: 1 to 64 of `[A-Za-z0-9_-]`. Anything else cannot name a link,
/// so the redirect service answers 404 without a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortCode<'a>(&'a str);

impl<'a> ShortCode<'a> {
    /// `None` when `s` cannot be a code.
    pub fn parse(s: &'a str) -> Option<Self> {
        let ok = !s.is_empty() && s.len() <= MAX_CODE_LEN && s.bytes().all(is_code_byte);
        ok.then_some(Self(s))
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// Why an alias was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("must be at least {MIN_ALIAS_LEN} characters")]
    TooShort,
    #[error("must be at most {MAX_CODE_LEN} characters")]
    TooLong,
    #[error("may contain only letters, digits, '_' and '-'")]
    BadCharacter,
    #[error("is a reserved word")]
    Reserved,
}

/// A custom code a user asked for: `[A-Za-z0-9_-]{3,64}`, case-sensitive, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Alias(String);

impl Alias {
    pub fn parse(s: &str) -> Result<Self, AliasError> {
        if s.len() < MIN_ALIAS_LEN {
            return Err(AliasError::TooShort);
        }
        if s.len() > MAX_CODE_LEN {
            return Err(AliasError::TooLong);
        }
        if !s.bytes().all(is_code_byte) {
            return Err(AliasError::BadCharacter);
        }
        if RESERVED_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) {
            return Err(AliasError::Reserved);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Why a destination URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("is required")]
    Empty,
    #[error("must be at most {MAX_URL_LEN} bytes")]
    TooLong,
    #[error("is not a valid absolute URL")]
    Malformed,
    #[error("must use http or https")]
    Scheme,
    #[error("must have a host")]
    NoHost,
    #[error("must not contain credentials")]
    Credentials,
}

/// A destination: an absolute http(s) URL with a host, at most 2048 bytes, no embedded
/// credentials. Stored in its normalized form (the url crate's: lower-case host, IDNA,
/// IPv4 in dotted decimal). Where it may point (not back at hop, not at a blocked or
/// private host) is the links service's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl(String);

impl TargetUrl {
    /// Validates `raw`'s shape.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::Empty);
        }
        if raw.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let url = url::Url::parse(raw).map_err(|e| match e {
            url::ParseError::EmptyHost => UrlError::NoHost,
            _ => UrlError::Malformed,
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::Scheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(UrlError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let normalized = String::from(url);
        if normalized.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The status a link redirects with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RedirectType {
    MovedPermanently,
    #[default]
    Found,
    TemporaryRedirect,
    PermanentRedirect,
}

impl RedirectType {
    /// Accepts exactly 301, 302, 307 and 308.
    pub fn from_status(status: i64) -> Option<Self> {
        match status {
            301 => Some(Self::MovedPermanently),
            302 => Some(Self::Found),
            307 => Some(Self::TemporaryRedirect),
            308 => Some(Self::PermanentRedirect),
            _ => None,
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::MovedPermanently => 301,
            Self::Found => 302,
            Self::TemporaryRedirect => 307,
            Self::PermanentRedirect => 308,
        }
    }
}

/// A tag as it is stored: trimmed, inner whitespace collapsed to one space, lower-case,
/// 1 to [`MAX_TAG_CHARS`] characters, no control or invisible format characters.
pub fn parse_tag(raw: &str) -> Result<String, String> {
    let tag = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if tag.is_empty() {
        return Err("a tag must not be empty".into());
    }
    if tag.chars().count() > MAX_TAG_CHARS {
        return Err(format!("a tag must be at most {MAX_TAG_CHARS} characters"));
    }
    if tag.chars().any(|c| c.is_control() || is_format_char(c)) {
        return Err("a tag must not contain control or invisible characters".into());
    }
    Ok(tag)
}

/// A link's tags: each as [`parse_tag`] makes it, at most [`MAX_TAGS`], duplicates
/// dropped, sorted.
pub fn parse_tags<S: AsRef<str>>(raw: &[S]) -> Result<Vec<String>, String> {
    let mut tags = raw
        .iter()
        .map(|t| parse_tag(t.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    tags.sort();
    tags.dedup();
    if tags.len() > MAX_TAGS {
        return Err(format!("a link has at most {MAX_TAGS} tags"));
    }
    Ok(tags)
}

fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

/// Validates a title: trimmed, at most [`MAX_TITLE_CHARS`] characters, no control or
/// invisible format characters ([`hop_kit::text`]). An empty title is no title.
pub fn parse_title(raw: &str) -> Result<Option<String>, &'static str> {
    let title = raw.trim();
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err("must be at most 200 characters");
    }
    if title.chars().any(hop_kit::text::is_hidden) {
        return Err(hop_kit::text::HIDDEN_MESSAGE);
    }
    Ok((!title.is_empty()).then(|| title.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_codes_have_a_possible_shape() {
        assert!(ShortCode::parse("aZ09_-").is_some());
        assert!(ShortCode::parse("").is_none());
        assert!(ShortCode::parse("a/b").is_none());
        assert!(ShortCode::parse("favicon.ico").is_none());
        assert!(ShortCode::parse("ünï").is_none());
        assert!(ShortCode::parse(&"a".repeat(65)).is_none());
    }

    #[test]
    fn aliases_follow_the_rules() {
        assert!(Alias::parse("my-link_1").is_ok());
        assert_eq!(Alias::parse("ab"), Err(AliasError::TooShort));
        assert_eq!(Alias::parse(&"a".repeat(65)), Err(AliasError::TooLong));
        assert_eq!(Alias::parse("a b c"), Err(AliasError::BadCharacter));
        assert_eq!(Alias::parse("../etc"), Err(AliasError::BadCharacter));
        assert_eq!(Alias::parse("Links"), Err(AliasError::Reserved));
        assert_eq!(Alias::parse("health"), Err(AliasError::Reserved));
        // Starting like a route is fine: the edge routes whole segments.
        assert!(Alias::parse("healthy").is_ok());
        assert!(Alias::parse("health-check").is_ok());
        for route in EDGE_ROUTES {
            // `openapi.json` cannot be a code at all; the others are reserved words.
            let refusal = match route.bytes().all(is_code_byte) {
                true => AliasError::Reserved,
                false => AliasError::BadCharacter,
            };
            assert_eq!(Alias::parse(route), Err(refusal.clone()), "{route}");
            assert_eq!(Alias::parse(&route.to_uppercase()), Err(refusal));
        }
    }

    #[test]
    fn urls_follow_the_rules() {
        let ok = TargetUrl::parse(" https://Example.com/a?b=c ").unwrap();
        assert_eq!(ok.as_str(), "https://example.com/a?b=c");
        let bad = |s: &str| TargetUrl::parse(s).unwrap_err();
        assert_eq!(bad(""), UrlError::Empty);
        assert_eq!(bad("javascript:alert(1)"), UrlError::Scheme);
        assert_eq!(bad("data:text/html,<script>"), UrlError::Scheme);
        assert_eq!(bad("ftp://example.com/file"), UrlError::Scheme);
        assert_eq!(bad("http://"), UrlError::NoHost);
        assert_eq!(bad("example.com/no-scheme"), UrlError::Malformed);
        assert_eq!(bad("https://user:pw@example.com/"), UrlError::Credentials);
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(bad(&long), UrlError::TooLong);
        // Percent-encoding may push a URL over the limit after normalization.
        let expands = format!("https://example.com/{}", " x".repeat(1000));
        assert_eq!(bad(&expands), UrlError::TooLong);
    }

    #[test]
    fn tags_are_normalised_and_bounded() {
        assert_eq!(
            parse_tags(&["  Rust ", "web  dev", "rust"]).unwrap(),
            ["rust", "web dev"]
        );
        assert!(parse_tags(&[""]).is_err());
        assert!(parse_tags(&["x".repeat(51)]).is_err());
        assert!(parse_tags(&["a\u{202e}b"]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(parse_tags(&many).is_err());
        assert_eq!(parse_tags(&many[..20]).unwrap().len(), 20);
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(parse_title("  hi "), Ok(Some("hi".to_owned())));
        assert_eq!(parse_title("   "), Ok(None));
        assert!(parse_title(&"é".repeat(201)).is_err());
        assert!(parse_title("a\u{0}b").is_err());
        assert!(parse_title("invoice \u{202E}fdp.exe").is_err());
        assert!(parse_title("zero\u{200B}width").is_err());
        assert_eq!(parse_title("café ☕"), Ok(Some("café ☕".to_owned())));
    }

    #[test]
    fn redirect_types_are_the_four_redirects() {
        for s in [301, 302, 307, 308] {
            assert_eq!(RedirectType::from_status(s).unwrap().status() as i64, s);
        }
        assert_eq!(RedirectType::from_status(200), None);
        assert_eq!(RedirectType::from_status(303), None);
    }

    proptest! {
        #[test]
        fn parsed_urls_never_contain_spaces(raw in "https://example\\.com/[ -~]{0,80}") {
            if let Ok(url) = TargetUrl::parse(&raw) {
                prop_assert!(!url.as_str().contains(' '));
            }
        }
    }
}
