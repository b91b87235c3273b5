//! The JSON line format, as a tracing layer.

use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Writes each event as one JSON object per line to `W`.
pub struct JsonLayer<W> {
    service: &'static str,
    logger: String,
    writer: W,
}

impl<W> JsonLayer<W> {
    pub fn new(service: &'static str, logger: String, writer: W) -> Self {
        Self {
            service,
            logger,
            writer,
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
    }
}

impl<W> JsonLayer<W> {
    fn format(&self, event: &Event<'_>, mut fields: Map<String, Value>) -> String {
        let meta = event.metadata();
        let message = fields.remove("message");
        let name = match (fields.remove("event"), &message) {
            (Some(explicit), _) => {
                if let Some(m) = message {
                    fields.insert("message".into(), m);
                }
                explicit
            }
            (None, Some(m)) => m.clone(),
            (None, None) => Value::String(meta.name().to_owned()),
        };
        // Lines bridged from the `log` crate carry their origin in log.* fields.
        let target = match fields.remove("log.target") {
            Some(Value::String(t)) => t,
            _ => meta.target().to_owned(),
        };
        fields.retain(|k, _| !k.starts_with("log."));
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
