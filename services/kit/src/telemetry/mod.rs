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

use crate::config::{ConfigError, LogArgs};
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
