//! Traces: the OTLP exporter, the sampler, and W3C trace context across gRPC.
//!
//! With OTEL_EXPORTER_OTLP_ENDPOINT unset there is no tracer at all: spans stay plain
//! `tracing` spans (their fields still reach the log lines) and nothing is exported. With
//! it set, every `tracing` span becomes an OpenTelemetry span, batched and sent over
//! OTLP/gRPC by a background thread; a collector that is down costs dropped spans, never
//! a slower request.
//!
//! Context crosses services as the W3C `traceparent` header: the gateway reads it from the
//! caller ([`extract_headers`]) and writes it into each gRPC call's metadata
//! ([`inject_metadata`]); links and auth read it back ([`extract_metadata`]), so one
//! request is one trace. [`adopt`] joins a span to it and gives the id that log lines carry.

use crate::telemetry::TraceArgs;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::sync::OnceLock;
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process exports traces. Hot paths check it before making a span they
/// would otherwise not need.
pub fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The configured sampler.
pub fn sampler(args: &TraceArgs) -> Sampler {
    let ratio = Sampler::TraceIdRatioBased(args.sampler_arg);
    match args.sampler.as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => ratio,
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        _ => Sampler::ParentBased(Box::new(ratio)),
    }
}

/// The tracer provider for `service`, or `None` when no endpoint is configured. Must be
/// called inside the Tokio runtime (the gRPC channel lives on it).
pub fn provider(service: &str, args: &TraceArgs) -> anyhow::Result<Option<SdkTracerProvider>> {
    let Some(endpoint) = &args.otlp_endpoint else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| anyhow::anyhow!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
    let name = args.service_name.clone().unwrap_or_else(|| match service {
        "hop" => "hop".to_owned(),
        one => format!("hop-{one}"),
    });
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(name)
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            crate::VERSION,
        ))
        .build();
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler(args))
            .with_resource(resource)
            .build(),
    ))
}

/// The tracing layer that turns spans into OpenTelemetry spans of `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("hop"))
        .with_location(false)
        .with_threads(false)
}

fn propagator() -> &'static TraceContextPropagator {
    static PROPAGATOR: OnceLock<TraceContextPropagator> = OnceLock::new();
    PROPAGATOR.get_or_init(TraceContextPropagator::new)
}

/// The caller's trace context from HTTP headers (empty when none or malformed).
/// No caller context: the request starts a trace of its own.
pub fn no_parent() -> opentelemetry::Context {
    opentelemetry::Context::new()
}

pub fn extract_headers(headers: &http::HeaderMap) -> opentelemetry::Context {
    propagator().extract(&HeaderExtractor(headers))
}

/// The caller's trace context from gRPC metadata.
pub fn extract_metadata(metadata: &tonic::metadata::MetadataMap) -> opentelemetry::Context {
    propagator().extract(&MetadataExtractor(metadata))
}

/// Makes `span` a child of the caller's context and returns the trace id to log. Without
/// a tracer the id still comes from the caller's `traceparent`, so logs correlate.
pub fn adopt(span: &tracing::Span, parent: opentelemetry::Context) -> Option<String> {
    let from_caller = valid_trace_id(&parent);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    valid_trace_id(&span.context()).or(from_caller)
}

/// Writes the current span's context into outgoing gRPC metadata.
pub fn inject_metadata(metadata: &mut tonic::metadata::MetadataMap) {
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        propagator().inject_context(&cx, &mut MetadataInjector(metadata));
    }
}

/// The trace id of `cx` as 32 hex digits, if it has one.
pub fn valid_trace_id(cx: &opentelemetry::Context) -> Option<String> {
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| context.trace_id().to_string())
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataExtractor<'a>(&'a tonic::metadata::MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => Some(k.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_callers_traceparent_gives_the_trace_id_even_without_a_tracer() {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", PARENT.parse().unwrap());
        let span = tracing::info_span!("request");
        assert_eq!(
            adopt(&span, extract_headers(&headers)).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let mut garbage = http::HeaderMap::new();
        garbage.insert("traceparent", "00-nonsense".parse().unwrap());
        assert_eq!(adopt(&span, extract_headers(&garbage)), None);
    }

    #[test]
    fn metadata_round_trips_a_context() {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", PARENT.parse().unwrap());
        let cx = extract_headers(&headers);
        let mut metadata = tonic::metadata::MetadataMap::new();
        propagator().inject_context(&cx, &mut MetadataInjector(&mut metadata));
        assert_eq!(metadata.get("traceparent").unwrap(), PARENT);
        assert_eq!(
            valid_trace_id(&extract_metadata(&metadata)),
            valid_trace_id(&cx)
        );
    }

    #[test]
    fn samplers_parse_from_their_otel_names() {
        let mut args = TraceArgs {
            otlp_endpoint: None,
            sampler: "always_on".into(),
            sampler_arg: 0.5,
            service_name: None,
        };
        assert!(matches!(sampler(&args), Sampler::AlwaysOn));
        args.sampler = "parentbased_traceidratio".into();
        assert!(matches!(sampler(&args), Sampler::ParentBased(_)));
        assert!(provider("links", &args).unwrap().is_none());
    }
}
