//! Where a link may point, beyond being a well-formed URL ([`hop_proto::link::TargetUrl`]):
//! never back at hop itself, never at a host the operator blocked, and not at a private
//! address unless the operator allows it. Each refusal has its own problem type.
//!
//! - **Loops**, in every spelling. Names hop answers to (PUBLIC_BASE_URL's host and
//!   PUBLIC_HOSTS) are refused on any port, so an http→https redirect cannot close a loop;
//!   the url crate has already folded case, IDNA, trailing dots and decimal, octal and hex
//!   IPv4. When a public host or a listen address is loopback, every loopback spelling
//!   (`localhost`, `*.localhost`, 127.0.0.0/8, `[::1]`, `[::ffff:127.0.0.1]`, 0.0.0.0)
//!   on that port is hop too.
//! - **Blocked hosts**: BLOCKED_HOSTS and the lines of BLOCKED_HOSTS_FILE, each blocking
//!   the host and its subdomains. The file is re-read when it changes (checked at most once
//!   a second), so an operator edits it without a restart.
//! - **Private targets**: IP literals in private, loopback, link-local, CGNAT, unique-local
//!   and unspecified ranges (the cloud metadata address among them), and `localhost`
//!   names, unless ALLOW_PRIVATE_TARGETS=true.

use hop_kit::problem::FieldError;
use hop_proto::link::TargetUrl;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use url::Host;

/// How often BLOCKED_HOSTS_FILE is checked for changes at most.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// What an operator says about targets.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Link targets")]
pub struct TargetSettings {
    /// Other names hop answers to besides PUBLIC_BASE_URL's host (comma-separated, e.g.
    /// `hop.example,www.hop.example`); links to them are refused as loops.
    #[arg(
        long,
        env = "PUBLIC_HOSTS",
        value_name = "PUBLIC_HOSTS",
        value_delimiter = ','
    )]
    pub public_hosts: Vec<String>,
    /// Hosts no link may point at, with their subdomains (comma-separated).
    #[arg(
        long,
        env = "BLOCKED_HOSTS",
        value_name = "BLOCKED_HOSTS",
        value_delimiter = ','
    )]
    pub blocked_hosts: Vec<String>,
    /// A file of blocked hosts, one per line (`#` starts a comment); re-read when it
    /// changes, without a restart.
    #[arg(long, env = "BLOCKED_HOSTS_FILE", value_name = "BLOCKED_HOSTS_FILE")]
    pub blocked_hosts_file: Option<PathBuf>,
    /// Allow links to private, loopback and link-local addresses (an intranet shortener).
    #[arg(long, env = "ALLOW_PRIVATE_TARGETS", value_name = "ALLOW_PRIVATE_TARGETS", default_value = "false", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_private_targets: bool,
}

/// Why a well-formed URL may not be a link's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("must not point back at this shortener")]
    Loop,
    #[error("points at a host this shortener does not link to")]
    Blocked,
    #[error("must not point at a private, loopback or link-local address")]
    Private,
}

impl Refusal {
    /// The reason carried to the gateway, which names the problem type after it.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Loop => "redirect-loop",
            Self::Blocked => "blocked-host",
            Self::Private => "private-target",
        }
    }
}

/// One place hop answers: a name on any port, or loopback (in every spelling) on one port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Own {
    Host(Host<String>),
    Loopback(u16),
    Socket(IpAddr, u16),
}

#[derive(Debug)]
pub struct TargetPolicy {
    own: Vec<Own>,
    allow_private: bool,
    fixed: Vec<Host<String>>,
    file: Option<PathBuf>,
    from_file: Mutex<FileList>,
}

#[derive(Debug, Default)]
struct FileList {
    hosts: Vec<Host<String>>,
    modified: Option<SystemTime>,
    checked: Option<Instant>,
}

impl TargetPolicy {
    /// The policy of a deployment at `public_base_url` that also listens on `listen`.
    pub fn new(settings: &TargetSettings, public_base_url: &str, listen: &[SocketAddr]) -> Self {
        let mut own = Vec::new();
        if let Ok(base) = url::Url::parse(public_base_url)
            && let Some(host) = base.host()
        {
            let host = normalize(host.to_owned());
            match (is_loopback(&host), base.port_or_known_default()) {
                (true, Some(port)) => own.push(Own::Loopback(port)),
                _ => own.push(Own::Host(host)),
            }
        }
        own.extend(
            settings
                .public_hosts
                .iter()
                .filter_map(|h| parse_host(h))
                .map(Own::Host),
        );
        for addr in listen {
            let ip = hop_kit::net::canonical(addr.ip());
            if ip.is_loopback() || ip.is_unspecified() {
                own.push(Own::Loopback(addr.port()));
            } else {
                own.push(Own::Socket(ip, addr.port()));
            }
        }
        Self {
            own,
            allow_private: settings.allow_private_targets,
            fixed: settings
                .blocked_hosts
                .iter()
                .filter_map(|h| parse_host(h))
                .collect(),
            file: settings.blocked_hosts_file.clone(),
            from_file: Mutex::new(FileList::default()),
        }
    }

    /// Whether `target` may be a link's destination.
    pub fn check(&self, target: &TargetUrl) -> Result<(), Refusal> {
        let url = url::Url::parse(target.as_str()).map_err(|_| Refusal::Blocked)?;
        let host = normalize(url.host().ok_or(Refusal::Blocked)?.to_owned());
        let port = url.port_or_known_default().unwrap_or(0);
        if self.own.iter().any(|own| is_own(own, &host, port)) {
            return Err(Refusal::Loop);
        }
        if self.fixed.iter().any(|b| covers(b, &host)) || self.file_blocks(&host) {
            return Err(Refusal::Blocked);
        }
        if !self.allow_private && is_private(&host) {
            return Err(Refusal::Private);
        }
        Ok(())
    }

    fn file_blocks(&self, host: &Host<String>) -> bool {
        let Some(path) = &self.file else {
            return false;
        };
        let mut list = self.from_file.lock().unwrap_or_else(|p| p.into_inner());
        if list.checked.is_none_or(|at| at.elapsed() >= RELOAD_EVERY) {
            list.checked = Some(Instant::now());
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified != list.modified {
                match std::fs::read_to_string(path) {
                    Ok(text) => {
                        list.hosts = parse_list(&text);
                        list.modified = modified;
                        tracing::info!(path = %path.display(), hosts = list.hosts.len(), "blocklist_loaded");
                    }
                    // Keep the last good list: a file being rewritten must not open the gate.
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "blocklist_unreadable")
                    }
                }
            }
        }
        list.hosts.iter().any(|b| covers(b, host))
    }
}

/// A destination's shape, then the policy's word on it: the URL when both accept it, and
/// the policy's refusal of a well-formed one. Shape errors go into `errors`.
pub fn checked_url(
    raw: &str,
    policy: &TargetPolicy,
    errors: &mut Vec<FieldError>,
) -> (Option<TargetUrl>, Option<Refusal>) {
    match TargetUrl::parse(raw) {
        Ok(url) => match policy.check(&url) {
            Ok(()) => (Some(url), None),
            Err(refusal) => (None, Some(refusal)),
        },
        Err(e) => {
            errors.push(FieldError::new("url", e.to_string()));
            (None, None)
        }
    }
}

/// The hosts of a blocklist file's text: one per line, `#` comments, blank lines skipped.
fn parse_list(text: &str) -> Vec<Host<String>> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .filter_map(parse_host)
        .collect()
}

/// A host as a URL's host would parse (IDNA, IPv4 in any notation), without a trailing dot.
fn parse_host(raw: &str) -> Option<Host<String>> {
    let raw = raw.trim();
    let url = url::Url::parse(&format!("http://{raw}/")).ok()?;
    Some(normalize(url.host()?.to_owned()))
}

fn normalize(host: Host<String>) -> Host<String> {
    match host {
        Host::Domain(d) => Host::Domain(d.trim_end_matches('.').to_ascii_lowercase()),
        Host::Ipv6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => Host::Ipv4(v4),
            None => Host::Ipv6(ip),
        },
        other => other,
    }
}

fn is_own(own: &Own, host: &Host<String>, port: u16) -> bool {
    match own {
        Own::Host(h) => h == host,
        Own::Loopback(p) => *p == port && is_loopback(host),
        Own::Socket(ip, p) => *p == port && ip_of(host) == Some(*ip),
    }
}

/// `blocked` is `host`, or `host` is a subdomain of it.
fn covers(blocked: &Host<String>, host: &Host<String>) -> bool {
    match (blocked, host) {
        (Host::Domain(b), Host::Domain(h)) => {
            h == b
                || h.strip_suffix(b.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        }
        _ => blocked == host,
    }
}

fn ip_of(host: &Host<String>) -> Option<IpAddr> {
    match host {
        Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        Host::Domain(_) => None,
    }
}

fn is_loopback(host: &Host<String>) -> bool {
    match host {
        Host::Domain(d) => d == "localhost" || d.ends_with(".localhost"),
        Host::Ipv4(ip) => ip.is_loopback() || ip.is_unspecified(),
        Host::Ipv6(ip) => ip.is_loopback() || ip.is_unspecified(),
    }
}

fn is_private(host: &Host<String>) -> bool {
    match host {
        Host::Domain(_) => is_loopback(host),
        Host::Ipv4(ip) => private_v4(*ip),
        Host::Ipv6(ip) => private_v6(*ip),
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT, 100.64.0.0/10
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18.0.0/15
}

fn private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || ip.to_ipv4_mapped().is_some_and(private_v4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> TargetUrl {
        TargetUrl::parse(s).unwrap()
    }

    fn policy(base: &str, settings: TargetSettings, listen: &[&str]) -> TargetPolicy {
        let listen: Vec<SocketAddr> = listen.iter().map(|a| a.parse().unwrap()).collect();
        TargetPolicy::new(&settings, base, &listen)
    }

    #[test]
    fn every_spelling_of_a_loopback_deployment_is_a_loop() {
        let p = policy(
            "http://localhost:8080",
            TargetSettings::default(),
            &["127.0.0.1:8080"],
        );
        for spelling in [
            "http://localhost:8080/x",
            "http://LOCALHOST:8080/x",
            "http://localhost.:8080/x",
            "http://app.localhost:8080/x",
            "http://127.0.0.1:8080/x",
            "http://127.1:8080/x",
            "http://127.0.0.2:8080/x",
            "http://2130706433:8080/x",
            "http://0x7f000001:8080/x",
            "http://0177.0.0.1:8080/x",
            "http://[::1]:8080/x",
            "http://[::ffff:127.0.0.1]:8080/x",
            "http://0.0.0.0:8080/x",
        ] {
            assert_eq!(p.check(&target(spelling)), Err(Refusal::Loop), "{spelling}");
        }
        // Another port on loopback is another program: private, not a loop.
        assert_eq!(
            p.check(&target("http://localhost:3000/")),
            Err(Refusal::Private)
        );
        assert_eq!(p.check(&target("https://example.com/")), Ok(()));
    }

    #[test]
    fn a_named_deployment_is_a_loop_on_any_port_and_under_every_name() {
        let settings = TargetSettings {
            public_hosts: vec!["www.hop.example".into(), "HOP.example.net.".into()],
            ..TargetSettings::default()
        };
        let p = policy("https://hop.example", settings, &["203.0.113.7:443"]);
        for spelling in [
            "https://hop.example/x",
            "https://HOP.EXAMPLE./x",
            "http://hop.example/x",
            "https://hop.example:443/x",
            "http://hop.example:8080/x",
            "https://www.hop.example/x",
            "https://hop.example.net/x",
            "https://203.0.113.7/x",
        ] {
            assert_eq!(p.check(&target(spelling)), Err(Refusal::Loop), "{spelling}");
        }
        assert_eq!(p.check(&target("https://sub.hop.example/x")), Ok(()));
        assert_eq!(p.check(&target("http://203.0.113.7:8080/")), Ok(()));
    }

    #[test]
    fn blocked_hosts_cover_their_subdomains_and_the_file_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blocked.txt");
        std::fs::write(
            &file,
            "# phishing\nphish.example\n\n198.51.100.9 # a bad box\n",
        )
        .unwrap();
        let settings = TargetSettings {
            blocked_hosts: vec!["Evil.Example".into()],
            blocked_hosts_file: Some(file.clone()),
            ..TargetSettings::default()
        };
        let p = policy("https://hop.example", settings, &[]);
        for blocked in [
            "https://evil.example/",
            "https://www.EVIL.example./x",
            "https://phish.example/login",
            "https://a.b.phish.example/",
            "http://198.51.100.9/",
            "http://3325256713/",
        ] {
            assert_eq!(
                p.check(&target(blocked)),
                Err(Refusal::Blocked),
                "{blocked}"
            );
        }
        assert_eq!(p.check(&target("https://notevil.example/")), Ok(()));
        assert_eq!(p.check(&target("https://fresh.example/")), Ok(()));
        std::fs::write(&file, "fresh.example\n").unwrap();
        let modified = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        std::thread::sleep(RELOAD_EVERY);
        assert_eq!(
            p.check(&target("https://fresh.example/")),
            Err(Refusal::Blocked)
        );
        assert_eq!(
            p.check(&target("https://phish.example/")),
            Ok(()),
            "the old list is gone"
        );
    }

    #[test]
    fn private_targets_are_refused_unless_allowed() {
        let strict = policy("https://hop.example", TargetSettings::default(), &[]);
        let open = policy(
            "https://hop.example",
            TargetSettings {
                allow_private_targets: true,
                ..TargetSettings::default()
            },
            &[],
        );
        for private in [
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[::1]/",
            "http://0xa000001/",
        ] {
            assert_eq!(
                strict.check(&target(private)),
                Err(Refusal::Private),
                "{private}"
            );
            assert_eq!(open.check(&target(private)), Ok(()), "{private}");
        }
        for public in [
            "http://8.8.8.8/",
            "http://[2001:db8::1]/",
            "https://example.com/",
        ] {
            assert_eq!(strict.check(&target(public)), Ok(()), "{public}");
        }
    }
}
