//! What a click keeps of its redirect: the link, the time and a bounded copy of three
//! headers, nothing parsed. The redirect service builds one per redirect on its hot path;
//! everything that reads the headers ([`crate::classify`]) runs later, in the writer.

use crate::classify;
use http::HeaderValue;
use std::time::SystemTime;

/// The most of a `Referer`, `User-Agent` or country header a click keeps: enough for the
/// referrer's host and the agent's class, and it bounds a click's size.
pub const MAX_HEADER_KEPT: usize = 512;

/// One redirect, as the hot path hands it over: nothing parsed yet. The headers it keeps
/// (the Referer's origin, the User-Agent and the country, each cut to [`MAX_HEADER_KEPT`]
/// bytes) sit end to end in one allocation of the click's own: one allocation per
/// redirect, and about 50 bytes besides the headers themselves.
#[derive(Debug, Clone)]
pub struct Click {
    pub at: SystemTime,
    pub link_id: i64,
    headers: Box<[u8]>,
    /// Where each kept header ends in `headers`, in the order of [`Kept`].
    ends: [u16; 3],
    /// Which headers the request had, a bit per [`Kept`].
    present: u8,
}

/// The headers a click keeps, in the order they are stored.
#[derive(Clone, Copy)]
enum Kept {
    Referer = 0,
    UserAgent = 1,
    Country = 2,
}

impl Click {
    /// A click of `link_id` now, keeping a bounded copy of each header that is there.
    pub fn new(
        link_id: i64,
        referer: Option<&HeaderValue>,
        user_agent: Option<&HeaderValue>,
        country: Option<&HeaderValue>,
    ) -> Self {
        let cut = |bytes: &[u8]| bytes.len().min(MAX_HEADER_KEPT);
        let parts = [
            referer.map(|v| classify::referrer_origin(v.as_bytes())),
            user_agent.map(HeaderValue::as_bytes),
            country.map(HeaderValue::as_bytes),
        ];
        let total = parts.iter().flatten().map(|p| cut(p)).sum();
        let mut headers = Vec::with_capacity(total);
        let mut ends = [0; 3];
        let mut present = 0;
        for (i, part) in parts.iter().enumerate() {
            if let Some(part) = part {
                headers.extend_from_slice(&part[..cut(part)]);
                present |= 1 << i;
            }
            // At most 3 × MAX_HEADER_KEPT bytes: fits.
            ends[i] = headers.len() as u16;
        }
        Self {
            at: SystemTime::now(),
            link_id,
            headers: headers.into_boxed_slice(),
            ends,
            present,
        }
    }

    fn get(&self, which: Kept) -> Option<&[u8]> {
        let i = which as usize;
        if self.present & (1 << i) == 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.headers[start..self.ends[i] as usize])
    }

    /// The Referer up to the end of its authority (see [`classify::referrer_origin`]).
    pub fn referer(&self) -> Option<&[u8]> {
        self.get(Kept::Referer)
    }

    pub fn user_agent(&self) -> Option<&[u8]> {
        self.get(Kept::UserAgent)
    }

    pub fn country(&self) -> Option<&[u8]> {
        self.get(Kept::Country)
    }

    /// What the click holds in memory, in bytes.
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.headers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kept_header_is_found_where_it_was_put() {
        let value = |s: &str| HeaderValue::from_str(s).unwrap();
        let click = Click::new(1, None, Some(&value("curl/8")), Some(&value("de")));
        assert_eq!(click.referer(), None);
        assert_eq!(click.user_agent(), Some(&b"curl/8"[..]));
        assert_eq!(click.country(), Some(&b"de"[..]));
        let click = Click::new(1, Some(&value("https://a.example/x")), None, None);
        assert_eq!(click.referer(), Some(&b"https://a.example"[..]));
        assert_eq!((click.user_agent(), click.country()), (None, None));
        // Present but empty is not absent.
        let click = Click::new(1, None, Some(&value("")), None);
        assert_eq!(click.user_agent(), Some(&b""[..]));
    }

    #[test]
    fn a_long_header_is_cut() {
        let long = HeaderValue::from_str(&"a".repeat(2 * MAX_HEADER_KEPT)).unwrap();
        let click = Click::new(1, None, Some(&long), None);
        assert_eq!(click.user_agent().unwrap().len(), MAX_HEADER_KEPT);
        assert!(click.size() <= std::mem::size_of::<Click>() + MAX_HEADER_KEPT);
    }
}
