//! The log lines: readable text on stderr, or one JSON object per line on
//! stdout carrying the trace and span ids of the span it was logged in.

use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt;
use tracing::dispatcher::WeakDispatch;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The installed subscriber, to read a span's OpenTelemetry ids from inside
/// formatting (where `dispatcher::get_default` answers with no subscriber).
static DISPATCH: OnceLock<WeakDispatch> = OnceLock::new();

pub(super) fn remember(dispatch: &tracing::Dispatch) {
    let _ = DISPATCH.set(dispatch.downgrade());
}

pub(super) fn text<S>() -> tracing_subscriber::fmt::Layer<S, format::DefaultFields, Format, fn() -> std::io::Stderr>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().with_writer(std::io::stderr as fn() -> std::io::Stderr)
}

pub(super) fn json<S>() -> tracing_subscriber::fmt::Layer<S, JsonFields, WithTraceIds<Format<Json>>, fn() -> std::io::Stdout>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let format = tracing_subscriber::fmt::format().json().flatten_event(true).with_current_span(true).with_span_list(false);
    tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(WithTraceIds(format))
        .with_writer(std::io::stdout as fn() -> std::io::Stdout)
}

/// A JSON line with `trace_id` and `span_id` appended when the event
/// happened inside a span.
pub(super) struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let ids = ctx.lookup_current().and_then(|span| ids_of(&span.id()));
        let object = line.trim_end();
        match ids {
            Some((trace_id, span_id)) if object.ends_with('}') => {
                let open = &object[..object.len() - 1];
                writeln!(writer, "{open},\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}")
            }
            _ => writer.write_str(&line),
        }
    }
}

fn ids_of(span: &tracing::span::Id) -> Option<(String, String)> {
    let dispatch = DISPATCH.get()?.upgrade()?;
    let context = tracing_opentelemetry::get_otel_context(span, &dispatch)?;
    let span = context.span();
    let ids = span.span_context();
    ids.is_valid().then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
}
