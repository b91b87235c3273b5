//! Turning a click's raw headers into what is stored: the referrer's host, the agent class
//! and a country code. Runs in the writer, never on the redirect path.

use http::HeaderValue;

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
    pub fn agent_class(&self, user_agent: Option<&HeaderValue>) -> &'static str {
        let Some(ua) = user_agent
            .and_then(|v| v.to_str().ok())
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
pub fn referrer_host(referer: Option<&HeaderValue>) -> Option<String> {
    let url = url::Url::parse(referer?.to_str().ok()?).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty() && host.len() <= 255).then_some(host)
}

/// A two-letter country code (upper-case); anything else is dropped.
pub fn country(value: Option<&HeaderValue>) -> Option<String> {
    let code = value?.to_str().ok()?.trim();
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn agents_are_classified() {
        let c = Classifier::default();
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(c.agent_class(Some(&hv(iphone))), "mobile");
        assert_eq!(c.agent_class(Some(&hv(windows))), "desktop");
        assert_eq!(
            c.agent_class(Some(&hv("Googlebot/2.1 (+http://www.google.com/bot.html)"))),
            "bot"
        );
        assert_eq!(c.agent_class(Some(&hv("curl/8.5.0"))), "bot");
        assert_eq!(c.agent_class(Some(&hv("Something/1.0"))), "other");
        assert_eq!(c.agent_class(None), "other");
    }

    #[test]
    fn referrers_keep_only_the_host() {
        assert_eq!(
            referrer_host(Some(&hv("https://News.Example.com/a?b=c"))),
            Some("news.example.com".into())
        );
        assert_eq!(referrer_host(Some(&hv("android-app://com.x"))), None);
        assert_eq!(referrer_host(Some(&hv("not a url"))), None);
        assert_eq!(referrer_host(None), None);
    }

    #[test]
    fn countries_are_two_letters() {
        assert_eq!(country(Some(&hv("de"))), Some("DE".into()));
        assert_eq!(country(Some(&hv("XX1"))), None);
        assert_eq!(country(None), None);
    }
}
