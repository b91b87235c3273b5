//! Logs: one JSON object per line to stdout and, when LOG_FILE_PATH is set, to a file
//! rotated by size.
//!
//! Every line carries `ts`, `level`, `logger` (the instance), `service` and `event`; the
//! fields of the spans around an event (a request's `request_id`, `method`, …) are merged
//! in. `event` is the `event` field when a call site sets one, else the message, which by
//! convention is already a snake_case name: `info!(code = %code, "link_created")`. A
//! dependency's line (fred, refinery, h2, …) keeps its text in `message` and gets the
//! event `<crate>_log` (`fred_log`), so `event` is always a name to group by.
//!
//! [`init_telemetry`] installs the subscriber once per process and returns a guard that
//! flushes both writers when dropped; tests that do not call it log nothing.

mod json;
pub mod otel;
mod rotate;

pub use json::JsonLayer;
pub use rotate::RotatingFile;

use crate::config::ConfigError;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{EnvFilter, Layer, fmt::writer::MakeWriterExt, prelude::*};

/// Flushes buffered log lines and spans when dropped; keep it alive for the life of `main`.
#[must_use = "dropping the guard stops log output"]
pub struct TelemetryGuard {
    _writers: Vec<WorkerGuard>,
    tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer.take()
            && let Err(e) = provider.shutdown_with_timeout(std::time::Duration::from_secs(3))
        {
            eprintln!("hop: flushing traces at exit failed: {e}");
        }
    }
}

/// Installs the process-wide subscriber for `service` ("gateway", "redirect", … or "hop"
/// for `hop up`): JSON logs, and OTLP traces when an endpoint is configured. Call it
/// inside the Tokio runtime.
pub fn init_telemetry(service: &'static str, args: &LogArgs) -> anyhow::Result<TelemetryGuard> {
    let filter = parse_filter(&args.log_level)?;
    crate::metrics::set_enabled(args.metrics_enabled);
    let logger = args.instance_id.clone().unwrap_or_else(hostname);
    let (stdout, stdout_guard) = NonBlockingBuilder::default()
        .lossy(true)
        .thread_name("hop-log-stdout")
        .finish(std::io::stdout());
    let mut guards = vec![stdout_guard];
    let layer = match &args.log_file_path {
        Some(path) => {
            let file =
                RotatingFile::open(path, args.log_file_max_bytes, args.log_file_backup_count)
                    .map_err(|e| {
                        ConfigError::new(
                            "LOG_FILE_PATH",
                            format!("cannot be opened ({}): {e}", path.display()),
                        )
                    })?;
            let (file, file_guard) = NonBlockingBuilder::default()
                .lossy(true)
                .thread_name("hop-log-file")
                .finish(file);
            guards.push(file_guard);
            JsonLayer::new(service, logger, stdout.and(file)).boxed()
        }
        None => JsonLayer::new(service, logger, stdout).boxed(),
    };
    let tracer = otel::provider(service, &args.trace)?;
    // Spans of hop's own crates become OpenTelemetry spans whatever LOG_LEVEL says; the
    // libraries' internals stay out of traces.
    let traces = tracer.as_ref().map(|provider| {
        otel::layer(provider).with_filter(
            tracing_subscriber::filter::Targets::new().with_target("hop", tracing::Level::INFO),
        )
    });
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .with(traces)
        .try_init()
        .map_err(|e| anyhow::anyhow!("telemetry already initialised: {e}"))?;
    Ok(TelemetryGuard {
        _writers: guards,
        tracer,
    })
}

/// LOG_LEVEL as an env-filter; a bare level applies to everything, and the chatty HTTP/2
/// internals stay at warn unless named.
pub fn parse_filter(level: &str) -> Result<EnvFilter, ConfigError> {
    let directives = match level.trim().to_ascii_lowercase().as_str() {
        l @ ("error" | "warn" | "info" | "debug" | "trace") => {
            format!("{l},h2=warn,hyper=warn,tower=warn,tonic=warn,fred=warn,tokio_postgres=warn")
        }
        _ => level.to_owned(),
    };
    EnvFilter::try_new(&directives)
        .map_err(|e| ConfigError::new("LOG_LEVEL", format!("is not a level or filter: {e}")))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "hop".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_filters_parse_and_garbage_names_the_variable() {
        assert!(parse_filter("INFO").is_ok());
        assert!(parse_filter("info,hop_links=debug").is_ok());
        assert_eq!(parse_filter("loud=[").unwrap_err().variable, "LOG_LEVEL");
    }
}

/// Logging.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Level (error, warn, info, debug, trace) or a full filter such as `info,hop_links=debug`.
    #[arg(
        long,
        env = "LOG_LEVEL",
        value_name = "LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: String,
    /// Also write logs to this file, rotated by size. Unset: stdout only.
    #[arg(long, env = "LOG_FILE_PATH", value_name = "LOG_FILE_PATH")]
    pub log_file_path: Option<std::path::PathBuf>,
    /// Rotate the log file when it would grow past this many bytes.
    #[arg(long, env = "LOG_FILE_MAX_BYTES", value_name = "LOG_FILE_MAX_BYTES", default_value_t = 10 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub log_file_max_bytes: u64,
    /// Rotated files to keep (app.log.1 … app.log.N); 0 truncates instead.
    #[arg(
        long,
        env = "LOG_FILE_BACKUP_COUNT",
        value_name = "LOG_FILE_BACKUP_COUNT",
        default_value_t = 5
    )]
    pub log_file_backup_count: u32,
    /// Name of this instance in every log line's `logger` field. Default: hostname.
    #[arg(long, env = "INSTANCE_ID", value_name = "INSTANCE_ID")]
    pub instance_id: Option<String>,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Count requests, cache lookups, RPCs and recorded clicks for /metrics. Off only to
    /// measure what that costs: those series then stand still (drops, writes and gauges
    /// still move).
    #[arg(long, env = "METRICS_ENABLED", value_name = "METRICS_ENABLED", default_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), help_heading = "Metrics")]
    pub metrics_enabled: bool,
}

/// Traces, exported by OTLP/gRPC. The names are OpenTelemetry's own.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Traces")]
pub struct TraceArgs {
    /// OTLP/gRPC collector to send spans to, e.g. http://otel-collector:4317. Unset: no traces.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_parser = parse_otlp_endpoint
    )]
    pub otlp_endpoint: Option<String>,
    /// Which traces to keep: always_on, always_off, traceidratio, parentbased_always_on,
    /// parentbased_always_off or parentbased_traceidratio (a caller's sampled flag wins).
    #[arg(
        long,
        env = "OTEL_TRACES_SAMPLER",
        value_name = "OTEL_TRACES_SAMPLER",
        default_value = "parentbased_traceidratio",
        value_parser = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"]
    )]
    pub sampler: String,
    /// The ratio of new traces kept by the *traceidratio samplers, 0 to 1.
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", value_name = "OTEL_TRACES_SAMPLER_ARG", default_value_t = 0.05, value_parser = parse_ratio)]
    pub sampler_arg: f64,
    /// The `service.name` resource of every span. Default: `hop-<service>` (`hop` for `hop up`).
    #[arg(long, env = "OTEL_SERVICE_NAME", value_name = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
}

fn parse_otlp_endpoint(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(s.trim_end_matches('/').to_owned()),
        _ => Err("must be an http:// or https:// URL with a host".into()),
    }
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("must be a number from 0 to 1".into()),
    }
}
