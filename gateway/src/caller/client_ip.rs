//! The client's IP, for rate limits: [`ClientIp`] believes `X-Forwarded-For` only from
//! TRUSTED_PROXIES.

use crate::settings::{Proxies, Settings};
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use http::request::Parts;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
/// untrusted address in `X-Forwarded-For`. IPv4-mapped addresses (how a dual-stack listener
/// sees an IPv4 client) are folded to IPv4 first, for TRUSTED_PROXIES as for the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// What a per-client rate limit counts: the IPv4 address, or an IPv6 address's /64 (a
    /// client holds a whole /64 and could change address on every request).
    pub fn limit_key(&self) -> String {
        hop_kit::net::client_key(self.0)
    }

    fn resolve<'a>(
        peer: IpAddr,
        forwarded: impl Iterator<Item = &'a str>,
        proxies: &Proxies,
    ) -> Self {
        let peer = hop_kit::net::canonical(peer);
        if !proxies.contains(&peer) {
            return Self(peer);
        }
        let forwarded = forwarded
            .flat_map(|v| v.split(','))
            .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
            .map(hop_kit::net::canonical)
            .collect::<Vec<_>>();
        let client = forwarded.into_iter().rev().find(|ip| !proxies.contains(ip));
        Self(client.unwrap_or(peer))
    }
}

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    Arc<Settings>: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let settings = Arc::<Settings>::from_ref(state);
        Ok(Self::resolve(peer, forwarded, &settings.trusted_proxies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(peer: &str, forwarded: &[&str]) -> ClientIp {
        let proxies = Proxies(vec!["127.0.0.1/32".parse().unwrap()]);
        ClientIp::resolve(ip(peer), forwarded.iter().copied(), &proxies)
    }

    #[test]
    fn ipv4_mapped_peers_and_forwarded_addresses_are_ipv4() {
        assert_eq!(
            client("::ffff:127.0.0.1", &["203.0.113.7"]).0,
            ip("203.0.113.7")
        );
        assert_eq!(
            client("::ffff:198.51.100.4", &["203.0.113.7"]).0,
            ip("198.51.100.4")
        );
        assert_eq!(
            client("127.0.0.1", &["::ffff:203.0.113.9, ::ffff:127.0.0.1"]).0,
            ip("203.0.113.9"),
            "a mapped proxy in the chain is still a proxy"
        );
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let one = client("127.0.0.1", &["2001:db8:1:2::a"]);
        let same = client("127.0.0.1", &["2001:db8:1:2:ffff::b"]);
        let other = client("127.0.0.1", &["2001:db8:1:3::a"]);
        assert_eq!(one.limit_key(), same.limit_key());
        assert_ne!(one.limit_key(), other.limit_key());
        assert_eq!(client("::ffff:192.0.2.1", &[]).limit_key(), "192.0.2.1");
    }
}
