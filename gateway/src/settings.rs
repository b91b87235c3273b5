//! The gateway's settings (environment variables listed in `hop --help`).

use ipnet::IpNet;
use std::str::FromStr;
use std::time::Duration;

/// A rate limit: at most `count` events per `window`, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Off,
    Per { count: u64, window: Duration },
}

impl FromStr for Limit {
    type Err = String;

    /// `N/SECONDS` (e.g. `5/60`: five per minute), or `off`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        let (count, secs) = s
            .split_once('/')
            .ok_or_else(|| "must be N/SECONDS (e.g. 5/60) or off".to_owned())?;
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| "N must be a whole number".to_owned())?;
        let secs: u64 = secs
            .trim()
            .parse()
            .map_err(|_| "SECONDS must be a whole number".to_owned())?;
        if count == 0 || secs == 0 {
            return Err("N and SECONDS must be positive (use off to disable)".into());
        }
        Ok(Self::Per {
            count,
            window: Duration::from_secs(secs),
        })
    }
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies(pub Vec<IpNet>);

impl Proxies {
    /// Whether `ip` is a trusted proxy; an IPv4-mapped address counts as its IPv4 form.
    pub fn contains(&self, ip: &std::net::IpAddr) -> bool {
        let ip = hop_kit::net::canonical(*ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

fn parse_proxies(s: &str) -> Result<Proxies, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(canonical_net)
                .map_err(|_| format!("{p:?} is not an IP address or CIDR range"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Proxies)
}

/// An IPv4-mapped range (`::ffff:10.0.0.0/104`) as the IPv4 range it names (`10.0.0.0/8`),
/// since addresses are compared folded to IPv4.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && let Ok(v4) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(v4);
    }
    net
}

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "API")]
#[group(id = "api_settings")]
pub struct Settings {
    /// Deadline of each gRPC call from the gateway, in ms.
    #[arg(long, env = "GRPC_TIMEOUT_MS", value_name = "GRPC_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub grpc_timeout_ms: u64,
    /// Largest accepted request body, in bytes (larger ones get 413).
    #[arg(long, env = "BODY_LIMIT_BYTES", value_name = "BODY_LIMIT_BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(64..=16_777_216))]
    pub body_limit_bytes: u64,
    /// Let requests without a bearer token create links (owned by nobody).
    #[arg(long, env = "ANONYMOUS_LINKS", value_name = "ANONYMOUS_LINKS", default_value = "false", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub anonymous_links: bool,
    /// Proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs, e.g. the nginx
    /// edge). Empty: the client is the TCP peer.
    #[arg(long, env = "TRUSTED_PROXIES", value_name = "TRUSTED_PROXIES", default_value = "", value_parser = parse_proxies)]
    pub trusted_proxies: Proxies,
    /// Logins per client IP and email (N/SECONDS or off).
    #[arg(
        long,
        env = "RATE_LIMIT_LOGIN_IP_EMAIL",
        value_name = "RATE_LIMIT_LOGIN_IP_EMAIL",
        default_value = "5/60"
    )]
    pub rate_limit_login_ip_email: Limit,
    /// Logins per client IP, whatever the email.
    #[arg(
        long,
        env = "RATE_LIMIT_LOGIN_IP",
        value_name = "RATE_LIMIT_LOGIN_IP",
        default_value = "30/60"
    )]
    pub rate_limit_login_ip: Limit,
    /// Logins per account (email), whatever the client IP, so a guesser spread over many
    /// addresses is held too. A flood holds the account's own logins back for the rest of
    /// the window; its sessions keep refreshing.
    #[arg(
        long,
        env = "RATE_LIMIT_LOGIN_EMAIL",
        value_name = "RATE_LIMIT_LOGIN_EMAIL",
        default_value = "20/900"
    )]
    pub rate_limit_login_email: Limit,
    /// Token refreshes per client IP.
    #[arg(
        long,
        env = "RATE_LIMIT_REFRESH_IP",
        value_name = "RATE_LIMIT_REFRESH_IP",
        default_value = "60/60"
    )]
    pub rate_limit_refresh_ip: Limit,
    /// Registrations per client IP.
    #[arg(
        long,
        env = "RATE_LIMIT_REGISTER_IP",
        value_name = "RATE_LIMIT_REGISTER_IP",
        default_value = "10/3600"
    )]
    pub rate_limit_register_ip: Limit,
    /// Link creations per user.
    #[arg(
        long,
        env = "RATE_LIMIT_CREATE_USER",
        value_name = "RATE_LIMIT_CREATE_USER",
        default_value = "600/60"
    )]
    pub rate_limit_create_user: Limit,
    /// Link creations without a bearer token per client IP (with ANONYMOUS_LINKS on).
    #[arg(
        long,
        env = "RATE_LIMIT_CREATE_ANON_IP",
        value_name = "RATE_LIMIT_CREATE_ANON_IP",
        default_value = "60/3600"
    )]
    pub rate_limit_create_anon_ip: Limit,
    /// Requests per API key, whatever they do.
    #[arg(
        long,
        env = "RATE_LIMIT_API_KEY",
        value_name = "RATE_LIMIT_API_KEY",
        default_value = "1200/60"
    )]
    pub rate_limit_api_key: Limit,
    /// Bulk creates (`POST /links/bulk`, up to 1,000 links each) per user.
    #[arg(
        long,
        env = "RATE_LIMIT_BULK_USER",
        value_name = "RATE_LIMIT_BULK_USER",
        default_value = "10/60"
    )]
    pub rate_limit_bulk_user: Limit,
}

impl Settings {
    pub fn grpc_timeout(&self) -> Duration {
        Duration::from_millis(self.grpc_timeout_ms)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grpc_timeout_ms: 5000,
            body_limit_bytes: 65_536,
            anonymous_links: false,
            trusted_proxies: Proxies::default(),
            rate_limit_login_ip_email: Limit::Per {
                count: 5,
                window: Duration::from_secs(60),
            },
            rate_limit_login_ip: Limit::Per {
                count: 30,
                window: Duration::from_secs(60),
            },
            rate_limit_login_email: Limit::Per {
                count: 20,
                window: Duration::from_secs(900),
            },
            rate_limit_refresh_ip: Limit::Per {
                count: 60,
                window: Duration::from_secs(60),
            },
            rate_limit_register_ip: Limit::Per {
                count: 10,
                window: Duration::from_secs(3600),
            },
            rate_limit_create_user: Limit::Per {
                count: 600,
                window: Duration::from_secs(60),
            },
            rate_limit_create_anon_ip: Limit::Per {
                count: 60,
                window: Duration::from_secs(3600),
            },
            rate_limit_api_key: Limit::Per {
                count: 1200,
                window: Duration::from_secs(60),
            },
            rate_limit_bulk_user: Limit::Per {
                count: 10,
                window: Duration::from_secs(60),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!("off".parse::<Limit>(), Ok(Limit::Off));
        assert_eq!(
            "5/60".parse::<Limit>(),
            Ok(Limit::Per {
                count: 5,
                window: Duration::from_secs(60)
            })
        );
        for bad in ["5", "0/60", "5/0", "five/60", ""] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn proxies_parse() {
        let proxies = parse_proxies("10.0.0.0/8, 127.0.0.1,::1").unwrap();
        assert_eq!(proxies.0.len(), 3);
        assert!(proxies.contains(&"10.1.2.3".parse().unwrap()));
        assert!(proxies.contains(&"127.0.0.1".parse().unwrap()));
        assert!(!proxies.contains(&"192.168.1.1".parse().unwrap()));
        assert!(parse_proxies("nonsense").is_err());
        assert!(parse_proxies("").unwrap().0.is_empty());
    }

    #[test]
    fn mapped_proxies_and_peers_match_as_ipv4() {
        let proxies = parse_proxies("::ffff:10.0.0.0/104, ::ffff:192.0.2.1").unwrap();
        for ip in [
            "10.1.2.3",
            "::ffff:10.1.2.3",
            "192.0.2.1",
            "::ffff:192.0.2.1",
        ] {
            assert!(proxies.contains(&ip.parse().unwrap()), "{ip}");
        }
        let edge = parse_proxies("127.0.0.1").unwrap();
        assert!(edge.contains(&"::ffff:127.0.0.1".parse().unwrap()));
        assert!(!edge.contains(&"::1".parse().unwrap()));
    }
}
