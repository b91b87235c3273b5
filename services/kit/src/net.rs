//! Client addresses as hop compares and counts them.
//!
//! A dual-stack listener sees an IPv4 client as `::ffff:a.b.c.d`; [`canonical`] folds that
//! back to `a.b.c.d`, so rate limits, TRUSTED_PROXIES and target checks see one address
//! however it arrived. An IPv6 client usually holds a whole /64 (one customer of an ISP,
//! one cloud instance), so [`client_key`] counts it by its /64: otherwise a client could
//! change address per request and never meet a limit.

use std::net::{IpAddr, Ipv6Addr};

/// `ip`, with an IPv4-mapped IPv6 address folded to its IPv4 form.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What a per-client limit counts: an IPv4 address, or an IPv6 address's /64.
pub fn client_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_fold_and_ipv6_counts_by_its_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(canonical(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(canonical(ip("2001:db8::1")), ip("2001:db8::1"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(client_key(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            client_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            client_key(ip("2001:db8:1:2::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:3::1")),
            client_key(ip("2001:db8:1:2::1"))
        );
    }
}
