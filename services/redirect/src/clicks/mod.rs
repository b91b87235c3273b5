//! Click recording, off the hot path.
//!
//! A redirect only pushes a [`Click`] (the link id, the time and three header values, each
//! copied and cut to [`MAX_HEADER_KEPT`] bytes into one allocation, nothing parsed; of the
//! Referer only its origin) into a channel bounded in
//! clicks and in bytes, and moves on; when either bound is reached the click is dropped
//! and counted, never waited for. A copy, not a slice of the request: a slice would keep
//! the whole request head it came from alive until the click is written. A background
//! [`writer::ClickWriter`] drains the buffer as it fills, has `hop-clicks` classify the
//! clicks (referrer host, agent class, country) and fold them, and writes what it drained
//! at least once a second, one transaction per interval, through `hop_clicks::store`: the raw rows (identical clicks in the same
//! second folded into one row with a count), the hourly rollup per link and agent class,
//! and the daily rollup per referrer. `hop_clicks::partitions` keeps the raw table's daily
//! partitions ahead of time and drops old ones; the server runs it hourly.
//!
//! What a click is and how it is stored belong to `hop-clicks`; this module is the
//! redirect service's pipeline: the bounded buffer, its settings and metrics, the writer.

pub mod writer;

pub use hop_clicks::Click;
#[cfg(any(test, doc))]
use hop_clicks::MAX_HEADER_KEPT;
use ipnet::IpNet;
use prometheus::{IntCounter, IntGauge, Registry};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// The click pipeline's settings (environment variables listed in `hop --help`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Clicks")]
pub struct ClickSettings {
    /// Record a click for every successful redirect.
    #[arg(long, env = "CLICKS_ENABLED", value_name = "CLICKS_ENABLED", default_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub clicks_enabled: bool,
    /// Clicks held in memory before new ones are dropped (and counted).
    #[arg(long, env = "CLICK_BUFFER_SIZE", value_name = "CLICK_BUFFER_SIZE", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub click_buffer_size: u64,
    /// Bytes of clicks held in memory before new ones are dropped (and counted), whatever
    /// their number: long headers cannot grow the buffer past this.
    #[arg(long, env = "CLICK_BUFFER_BYTES", value_name = "CLICK_BUFFER_BYTES", default_value_t = 32 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(4096..=4_294_967_296))]
    pub click_buffer_bytes: u64,
    /// Most clicks written in one batch (one transaction). Everything drained within a
    /// flush interval is one batch unless it reaches this; larger batches fold more
    /// clicks into each raw row and each rollup row.
    #[arg(long, env = "CLICK_BATCH_MAX", value_name = "CLICK_BATCH_MAX", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub click_batch_max: u64,
    /// Longest a click waits in memory before its batch is written, in ms.
    #[arg(long, env = "CLICK_FLUSH_MS", value_name = "CLICK_FLUSH_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub click_flush_ms: u64,
    /// Header carrying the client's country (e.g. CF-IPCountry), believed only from
    /// CLICK_TRUSTED_PROXIES. Unset: no country is recorded.
    #[arg(
        long,
        env = "CLICK_COUNTRY_HEADER",
        value_name = "CLICK_COUNTRY_HEADER"
    )]
    pub click_country_header: Option<http::HeaderName>,
    /// Proxies (comma-separated IPs or CIDRs) whose country header is believed.
    #[arg(long, env = "CLICK_TRUSTED_PROXIES", value_name = "CLICK_TRUSTED_PROXIES", default_value = "", value_parser = parse_nets)]
    pub click_trusted_proxies: Nets,
    /// Days of raw clicks kept; older daily partitions are dropped (the rollups stay).
    #[arg(long, env = "CLICK_RETENTION_DAYS", value_name = "CLICK_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub click_retention_days: u32,
}

impl Default for ClickSettings {
    fn default() -> Self {
        Self {
            clicks_enabled: true,
            click_buffer_size: 100_000,
            click_buffer_bytes: 32 * 1024 * 1024,
            click_batch_max: 200_000,
            click_flush_ms: 1000,
            click_country_header: None,
            click_trusted_proxies: Nets::default(),
            click_retention_days: 90,
        }
    }
}

/// A list of networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nets(pub Vec<IpNet>);

impl Nets {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }
}

fn parse_nets(s: &str) -> Result<Nets, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{p:?} is not an IP address or CIDR range"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Nets)
}

/// Bytes of clicks between the recorder and the writer.
#[derive(Clone, Debug, Default)]
pub struct Held(Arc<AtomicUsize>);

impl Held {
    /// Takes `bytes` if that stays within `max`.
    fn reserve(&self, bytes: usize, max: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + bytes <= max).then_some(held + bytes)
            })
            .is_ok()
    }

    /// Gives back what `clicks` held, once the writer has them.
    pub fn release(&self, clicks: &[Click]) {
        self.release_bytes(clicks.iter().map(Click::size).sum());
    }

    fn release_bytes(&self, bytes: usize) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(bytes))
            });
    }

    pub fn bytes(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// The click pipeline's metrics.
#[derive(Clone)]
pub struct ClickMetrics {
    pub recorded: IntCounter,
    pub dropped: IntCounter,
    pub written: IntCounter,
    pub rows_written: IntCounter,
    pub write_failures: IntCounter,
    pub buffered: IntGauge,
    /// Bytes held in the buffer (shared by the recorder and the writer).
    pub held: Held,
}

impl ClickMetrics {
    pub fn new(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            hop_kit::metrics::register(registry, &c);
            c
        };
        let buffered = IntGauge::new("hop_click_buffer_depth", "Clicks waiting to be written")
            .expect("valid metric");
        hop_kit::metrics::register(registry, &buffered);
        Self {
            recorded: counter(
                "hop_clicks_recorded_total",
                "Clicks accepted into the buffer",
            ),
            dropped: counter(
                "hop_clicks_dropped_total",
                "Clicks dropped because the buffer was full or recording had stopped",
            ),
            written: counter("hop_clicks_written_total", "Clicks written to Postgres"),
            rows_written: counter(
                "hop_click_rows_written_total",
                "Raw click rows written to Postgres (identical clicks in the same second share a row)",
            ),
            write_failures: counter(
                "hop_click_write_failures_total",
                "Batches that could not be written (retried)",
            ),
            buffered,
            held: Held::default(),
        }
    }
}

/// The hot path's end of the pipeline.
pub struct Recorder {
    sender: Option<mpsc::Sender<Click>>,
    country_header: Option<http::HeaderName>,
    trusted_proxies: Nets,
    max_bytes: usize,
    metrics: ClickMetrics,
}

impl Recorder {
    /// A recorder and the receiving end for the writer; no receiver when recording is off.
    pub fn new(
        settings: &ClickSettings,
        metrics: ClickMetrics,
    ) -> (Self, Option<mpsc::Receiver<Click>>) {
        let (sender, receiver) = if settings.clicks_enabled {
            let (tx, rx) = mpsc::channel(settings.click_buffer_size as usize);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let recorder = Self {
            sender,
            country_header: settings.click_country_header.clone(),
            trusted_proxies: settings.click_trusted_proxies.clone(),
            max_bytes: usize::try_from(settings.click_buffer_bytes).unwrap_or(usize::MAX),
            metrics,
        };
        (recorder, receiver)
    }

    /// Records a redirect of `link_id` for the request with `headers` from `peer`. Never
    /// waits: a full buffer drops the click.
    pub fn record(&self, link_id: i64, headers: &http::HeaderMap, peer: Option<IpAddr>) {
        let Some(sender) = &self.sender else {
            return;
        };
        let country = match (&self.country_header, peer) {
            (Some(header), Some(peer)) if self.trusted_proxies.contains(&peer) => {
                headers.get(header)
            }
            _ => None,
        };
        let click = Click::new(
            link_id,
            headers.get(http::header::REFERER),
            headers.get(http::header::USER_AGENT),
            country,
        );
        let size = click.size();
        if !self.metrics.held.reserve(size, self.max_bytes) {
            self.metrics.dropped.inc();
            return;
        }
        match sender.try_send(click) {
            Ok(()) => hop_kit::metrics::inc(&self.metrics.recorded),
            Err(_) => {
                self.metrics.held.release_bytes(size);
                self.metrics.dropped.inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(user_agent: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::USER_AGENT, user_agent.parse().unwrap());
        headers.insert(
            http::header::REFERER,
            "https://example.com/a".parse().unwrap(),
        );
        headers
    }

    #[test]
    fn a_click_keeps_a_bounded_copy_of_its_headers() {
        let settings = ClickSettings::default();
        let (recorder, receiver) = Recorder::new(
            &settings,
            ClickMetrics::new(&hop_kit::metrics::registry("t")),
        );
        let mut receiver = receiver.unwrap();
        let huge = "Mozilla/5.0 ".repeat(2_000);
        let request = headers(&huge);
        recorder.record(7, &request, None);
        let click = receiver.try_recv().unwrap();
        let agent = click.user_agent().unwrap();
        assert_eq!(agent.len(), MAX_HEADER_KEPT);
        assert_eq!(agent, &huge.as_bytes()[..MAX_HEADER_KEPT]);
        // Its own allocation, not a view into the request's.
        let original = request[http::header::USER_AGENT].as_bytes().as_ptr();
        assert_ne!(agent.as_ptr(), original);
        // Of the Referer, only what its host is read from.
        assert_eq!(click.referer(), Some(&b"https://example.com"[..]));
        assert_eq!(click.country(), None);
        assert!(click.size() < std::mem::size_of::<Click>() + MAX_HEADER_KEPT + 20);
    }

    #[test]
    fn the_buffer_is_bounded_in_bytes_too() {
        let settings = ClickSettings {
            click_buffer_bytes: 8_192,
            ..ClickSettings::default()
        };
        let metrics = ClickMetrics::new(&hop_kit::metrics::registry("t"));
        let (recorder, receiver) = Recorder::new(&settings, metrics.clone());
        let mut receiver = receiver.unwrap();
        let request = headers(&"a".repeat(600));
        for _ in 0..100 {
            recorder.record(1, &request, None);
        }
        let kept = metrics.recorded.get();
        assert!(kept > 0 && kept < 100, "{kept} of 100 kept within 8 KiB");
        assert_eq!(metrics.dropped.get() + kept, 100);
        assert!(metrics.held.bytes() <= 8_192);
        // The writer taking them frees the room again.
        let mut taken = Vec::new();
        while let Ok(click) = receiver.try_recv() {
            taken.push(click);
        }
        metrics.held.release(&taken);
        assert_eq!(metrics.held.bytes(), 0);
        recorder.record(1, &request, None);
        assert_eq!(metrics.recorded.get(), kept + 1);
    }
}
