//! The JSON line format, as a tracing layer.

use crate::metrics::LogLines;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Writes each event as one JSON object per line to `W`, and counts it by level in
/// `hop_log_lines_total`.
pub struct JsonLayer<W> {
    service: &'static str,
    logger: String,
    writer: W,
    counts: LogLines,
}

impl<W> JsonLayer<W> {
    /// A layer counting into the process's [`LogLines`].
    pub fn new(service: &'static str, logger: String, writer: W) -> Self {
        Self::counting_into(service, logger, writer, LogLines::process().clone())
    }

    /// A layer counting into `counts` (tests keep their own).
    pub fn counting_into(
        service: &'static str,
        logger: String,
        writer: W,
        counts: LogLines,
    ) -> Self {
        Self {
            service,
            logger,
            writer,
            counts,
        }
    }
}

/// A span's fields, kept in its extensions so events inside it can carry them.
struct SpanFields(Map<String, Value>);

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut Visitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut Visitor(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(span_fields) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.0.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut Visitor(&mut fields));
        let line = self.format(event, fields);
        let _ = self.writer.make_writer().write_all(line.as_bytes());
        self.counts.count(*event.metadata().level());
    }
}

impl<W> JsonLayer<W> {
    fn format(&self, event: &Event<'_>, mut fields: Map<String, Value>) -> String {
        let meta = event.metadata();
        // Lines bridged from the `log` crate carry their origin in log.* fields.
        let target = match fields.remove("log.target") {
            Some(Value::String(t)) => t,
            _ => meta.target().to_owned(),
        };
        fields.retain(|k, _| !k.starts_with("log."));
        let name = match fields.remove("event") {
            Some(explicit) => explicit,
            None => Value::String(event_name(&target, &mut fields)),
        };
        let service = fields
            .remove("service")
            .unwrap_or_else(|| Value::String(self.service.to_owned()));
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut line = String::with_capacity(256);
        line.push('{');
        push_pair(&mut line, "ts", &Value::String(ts), true);
        let level = meta.level().as_str().to_ascii_lowercase();
        push_pair(&mut line, "level", &Value::String(level), false);
        push_pair(
            &mut line,
            "logger",
            &Value::String(self.logger.clone()),
            false,
        );
        push_pair(&mut line, "service", &service, false);
        push_pair(&mut line, "event", &name, false);
        push_pair(&mut line, "target", &Value::String(target), false);
        for (key, value) in &fields {
            push_pair(&mut line, key, value, false);
        }
        line.push_str("}\n");
        line
    }
}

/// The `event` of a line whose call site set none: hop's own messages are snake_case names
/// by convention and become the event. Anything else (a dependency's sentence, such as
/// fred's or refinery's) stays in `message`, and the event is `<crate>_log`.
fn event_name(target: &str, fields: &mut Map<String, Value>) -> String {
    let own = target == "hop" || target.starts_with("hop_") || target.starts_with("hop::");
    match fields.remove("message") {
        Some(Value::String(m)) if own && is_name(&m) => m,
        Some(m) => {
            fields.insert("message".into(), m);
            crate_event(target)
        }
        None => crate_event(target),
    }
}

/// `fred::router::centralized` → `fred_log`; `refinery_core::traits` → `refinery_core_log`.
fn crate_event(target: &str) -> String {
    let krate: String = target
        .split("::")
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    match krate.trim_matches('_') {
        "" => "log".to_owned(),
        krate => format!("{krate}_log"),
    }
}

/// A snake_case name: `link_created`, `redis_breaker_opened`.
fn is_name(text: &str) -> bool {
    text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn push_pair(line: &mut String, key: &str, value: &Value, first: bool) {
    if !first {
        line.push(',');
    }
    let _ = write!(line, "{}:{}", Value::String(key.to_owned()), value);
}

struct Visitor<'a>(&'a mut Map<String, Value>);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole cause chain: "connecting to postgres: connection refused".
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.0.insert(field.name().to_owned(), Value::String(text));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines(captured: &Captured) -> Vec<Value> {
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_carry_the_required_fields_and_span_context() {
        let captured = Captured::default();
        let layer = JsonLayer::new("links", "links-1".into(), captured.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1", method = "POST");
            let _g = span.enter();
            tracing::info!(code = "abc1234", "link_created");
            tracing::warn!(
                event = "redis_unavailable",
                error = "refused",
                "redis is down"
            );
        });
        let lines = lines(&captured);
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        for key in ["ts", "level", "logger", "service", "event"] {
            assert!(first.get(key).is_some(), "missing {key} in {first}");
        }
        assert_eq!(first["event"], "link_created");
        assert_eq!(first["level"], "info");
        assert_eq!(first["service"], "links");
        assert_eq!(first["logger"], "links-1");
        assert_eq!(first["request_id"], "r-1");
        assert_eq!(first["code"], "abc1234");
        assert_eq!(lines[1]["event"], "redis_unavailable");
        assert_eq!(lines[1]["message"], "redis is down");
        assert_eq!(lines[1]["level"], "warn");
    }

    #[test]
    fn a_dependency_message_goes_in_message_and_the_event_stays_a_name() {
        let captured = Captured::default();
        let layer = JsonLayer::new("hop", "box".into(), captured.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            // How tracing-log bridges a `log` record: target "log", origin in log.* fields.
            tracing::event!(
                target: "log",
                tracing::Level::WARN,
                log.target = "fred::router::responses",
                log.module_path = "fred::router::responses",
                "Broadcasting error Some(IO: Connection refused) from 127.0.0.1:6379"
            );
            tracing::info!(target: "refinery_core::traits::r#async", "applying migration: V6__sessions_revoked_idx");
            tracing::info!(target: "h2::proto::connection", "connection_closed");
            tracing::info!("link_created");
            tracing::info!("Link created");
            tracing::info!(count = 3);
        });
        let lines = lines(&captured);
        assert_eq!(lines[0]["event"], "fred_log");
        assert_eq!(lines[0]["target"], "fred::router::responses");
        assert!(
            lines[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("Broadcasting error")
        );
        assert!(lines[0].get("log.module_path").is_none());
        assert_eq!(lines[1]["event"], "refinery_core_log");
        assert_eq!(
            lines[1]["message"],
            "applying migration: V6__sessions_revoked_idx"
        );
        assert_eq!(
            lines[2]["event"], "h2_log",
            "a dependency's name-like message too"
        );
        assert_eq!(lines[2]["message"], "connection_closed");
        assert_eq!(lines[3]["event"], "link_created");
        assert!(lines[3].get("message").is_none());
        assert_eq!(
            lines[4]["event"], "hop_kit_log",
            "hop's own sentences are kept as well"
        );
        assert_eq!(lines[4]["message"], "Link created");
        assert_eq!(lines[5]["event"], "hop_kit_log");
        for line in &lines {
            assert!(is_name(line["event"].as_str().unwrap()), "{line}");
        }
    }

    #[test]
    fn every_line_written_is_counted_by_its_level() {
        let captured = Captured::default();
        let counts = LogLines::new();
        let layer = JsonLayer::counting_into("hop", "box".into(), captured.clone(), counts.clone());
        let filter = tracing_subscriber::filter::LevelFilter::INFO;
        let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter));
        assert_eq!(counts.get("error"), 0, "the series exist before any line");
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!("write_failed");
            tracing::error!(error = "disk full", "write_failed");
            tracing::warn!("redis_unavailable");
            tracing::info!("link_created");
            tracing::debug!("filtered_out");
        });
        let written = lines(&captured);
        for level in ["error", "warn", "info", "debug"] {
            let shown = written.iter().filter(|l| l["level"] == level).count() as u64;
            assert_eq!(
                counts.get(level),
                shown,
                "{level}: the count matches the lines"
            );
        }
        assert_eq!(counts.get("error"), 2);
        assert_eq!(
            counts.get("debug"),
            0,
            "a filtered line is not written, nor counted"
        );
    }

    #[test]
    fn a_span_can_name_the_service() {
        let captured = Captured::default();
        let layer = JsonLayer::new("hop", "box".into(), captured.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let _g = tracing::info_span!("svc", service = "redirect").entered();
            tracing::error!("lookup_failed");
        });
        assert_eq!(lines(&captured)[0]["service"], "redirect");
    }
}
