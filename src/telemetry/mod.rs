//! Logs, traces and metrics. `init` installs one `tracing` subscriber: the
//! log lines (text on stderr or JSON on stdout) and an OpenTelemetry layer
//! that turns Floe's own spans into OTLP traces when an endpoint is set.
//! Spans always carry trace ids (JSON lines print them, a worker joins its
//! coordinator's trace) even with no exporter: an unexported span is a few
//! hundred nanoseconds, and Floe opens a handful per request, never per row.

mod logs;
pub mod metrics;
mod propagation;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

pub use propagation::{continue_trace, current_trace_id, http_span, traceparent, HeaderExtractor};

/// Where logs go and whether traces and metrics leave the process.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub json_logs: bool,
    /// The OTLP/gRPC collector; `None` also looks at `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` unless `OTEL_SERVICE_NAME` says otherwise.
    pub service_name: &'static str,
}

/// Flushes and stops the exporters when dropped (on shutdown).
pub struct Telemetry {
    tracer: SdkTracerProvider,
    meter: Option<SdkMeterProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(meter) = self.meter.take() {
            let _ = meter.shutdown();
        }
        let _ = self.tracer.shutdown();
    }
}

/// Installs the process-wide subscriber, propagator and providers. Call it
/// inside the Tokio runtime: the OTLP exporters' channels live on it.
pub fn init(options: &Options) -> anyhow::Result<Telemetry> {
    let endpoint = options.otlp_endpoint.clone().or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()).filter(|e| !e.is_empty());
    let resource = resource(options.service_name);
    let mut tracer = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut meter = None;
    if let Some(endpoint) = &endpoint {
        let spans = opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint).build()?;
        tracer = tracer.with_batch_exporter(spans);
        let exporter = opentelemetry_otlp::MetricExporter::builder().with_tonic().with_endpoint(endpoint).build()?;
        // The reader's interval honours OTEL_METRIC_EXPORT_INTERVAL.
        let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter).build();
        let provider = SdkMeterProvider::builder().with_resource(resource).with_reader(reader).build();
        opentelemetry::global::set_meter_provider(provider.clone());
        meter = Some(provider);
    }
    let tracer = tracer.build();
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    // Only Floe's spans become traces: the exporter's own gRPC client
    // (h2, hyper, tonic, tower) would otherwise trace itself.
    // Parents come from tracing's span tree, not OpenTelemetry's
    // thread-local context, which async tasks sharing a thread can leave stale.
    let traced = tracing_opentelemetry::layer()
        .with_tracer(tracer.tracer("floe"))
        .with_context_activation(false)
        .with_filter(Targets::new().with_target("floe", tracing::Level::INFO));
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLOE_LOG").unwrap_or_else(|_| "info".into());
    let registry = tracing_subscriber::registry().with(traced);
    let dispatch = if options.json_logs {
        tracing::Dispatch::new(registry.with(logs::json().with_filter(filter)))
    } else {
        tracing::Dispatch::new(registry.with(logs::text().with_filter(filter)))
    };
    logs::remember(&dispatch);
    // A second init (tests, `floe setup`) keeps the first subscriber.
    let _ = tracing::dispatcher::set_global_default(dispatch);
    if let Some(endpoint) = endpoint {
        tracing::info!(endpoint = endpoint.as_str(), "exporting traces and metrics over OTLP");
    }
    Ok(Telemetry { tracer, meter })
}

fn resource(service_name: &'static str) -> Resource {
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    let named_by_environment = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|name| !name.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|attributes| attributes.contains("service.name="));
    if named_by_environment {
        builder.build()
    } else {
        builder.with_service_name(service_name).build()
    }
}
