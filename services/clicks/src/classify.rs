//! Turning a click's raw headers into what is stored: the referrer's host, the agent class
//! and a country code. Runs in the writer, never on the redirect path.

/// bot, mobile, desktop or other, from the User-Agent. Bots are recognised by `isbot`'s
/// maintained pattern list and by woothee's crawler category; devices by woothee.
pub struct Classifier {
    bots: isbot::Bots,
    parser: woothee::parser::Parser,
}

impl Default for Classifier {
    fn default() -> Self {
        Self {
            bots: isbot::Bots::default(),
            parser: woothee::parser::Parser::new(),
        }
    }
}

impl Classifier {
    pub fn agent_class(&self, user_agent: Option<&[u8]>) -> &'static str {
        let Some(ua) = user_agent
            .and_then(visible_ascii)
            .filter(|ua| !ua.is_empty())
        else {
            return "other";
        };
        if self.bots.is_bot(ua) {
            return "bot";
        }
        match self.parser.parse(ua).map(|r| r.category) {
            Some("crawler") => "bot",
            Some("smartphone" | "mobilephone") => "mobile",
            Some("pc") => "desktop",
            _ => "other",
        }
    }
}

/// The lower-case host of a Referer URL; `None` when absent or not an http(s) URL.
pub fn referrer_host(referer: Option<&[u8]>) -> Option<String> {
    let url = url::Url::parse(visible_ascii(referer?)?).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty() && host.len() <= 255).then_some(host)
}

/// A two-letter country code (upper-case); anything else is dropped.
pub fn country(value: Option<&[u8]>) -> Option<String> {
    let code = visible_ascii(value?)?.trim();
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

/// The part of a Referer that [`referrer_host`] reads: up to the end of its authority
/// (`https://news.example.com` of `https://news.example.com/a?b=c`). A click keeps only
/// this, so it holds neither the path nor a query that may carry someone's token.
pub fn referrer_origin(referer: &[u8]) -> &[u8] {
    let Some(scheme_end) = referer.windows(3).position(|w| w == b"://") else {
        return referer;
    };
    let authority = scheme_end + 3;
    let end = referer[authority..]
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .map_or(referer.len(), |at| authority + at);
    &referer[..end]
}

/// The value as text, when it is what `HeaderValue::to_str` accepts (visible ASCII and
/// tabs); anything else is not classified.
fn visible_ascii(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> &[u8] {
        s.as_bytes()
    }

    #[test]
    fn agents_are_classified() {
        let c = Classifier::default();
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(c.agent_class(Some(hv(iphone))), "mobile");
        assert_eq!(c.agent_class(Some(hv(windows))), "desktop");
        assert_eq!(
            c.agent_class(Some(hv("Googlebot/2.1 (+http://www.google.com/bot.html)"))),
            "bot"
        );
        assert_eq!(c.agent_class(Some(hv("curl/8.5.0"))), "bot");
        // hop's own monitors (infra/blackbox/blackbox.yml, scripts/canary.py): their hits
        // on the canary link are bot clicks.
        for monitor in [
            "hop-probe-bot/1 (prometheus-blackbox-exporter)",
            "hop-canary-bot/1 (scripts/canary.py)",
        ] {
            assert_eq!(c.agent_class(Some(hv(monitor))), "bot", "{monitor}");
        }
        assert_eq!(c.agent_class(Some(hv("Something/1.0"))), "other");
        assert_eq!(c.agent_class(None), "other");
    }

    #[test]
    fn referrers_keep_only_the_host() {
        assert_eq!(
            referrer_host(Some(hv("https://News.Example.com/a?b=c"))),
            Some("news.example.com".into())
        );
        assert_eq!(referrer_host(Some(hv("android-app://com.x"))), None);
        assert_eq!(referrer_host(Some(hv("not a url"))), None);
        assert_eq!(referrer_host(None), None);
        assert_eq!(referrer_host(Some(b"https://ex\xffample.com/")), None);
    }

    #[test]
    fn the_origin_of_a_referer_is_what_its_host_is_read_from() {
        for (referer, origin) in [
            ("https://News.Example.com/a?b=c", "https://News.Example.com"),
            ("https://example.com?token=secret", "https://example.com"),
            ("https://example.com#top", "https://example.com"),
            (
                "http://user@example.com:8080/x",
                "http://user@example.com:8080",
            ),
            ("https://example.com", "https://example.com"),
            ("android-app://com.x/y", "android-app://com.x"),
            ("not a url", "not a url"),
        ] {
            let kept = referrer_origin(referer.as_bytes());
            assert_eq!(kept, origin.as_bytes(), "{referer}");
            assert_eq!(
                referrer_host(Some(kept)),
                referrer_host(Some(referer.as_bytes())),
                "{referer}"
            );
        }
    }

    #[test]
    fn countries_are_two_letters() {
        assert_eq!(country(Some(hv("de"))), Some("DE".into()));
        assert_eq!(country(Some(hv("XX1"))), None);
        assert_eq!(country(None), None);
    }
}
