//! Every Flight call in one span (a child of the client's `traceparent`, if
//! it sent one) and counted in `floe.rpc.*` by its final gRPC code. A call
//! that answers with a stream ends when the stream does, so its span and
//! code cover the rows sent, not just the first response.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use opentelemetry::KeyValue;
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

use crate::telemetry::metrics::metrics;

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The span of one call.
pub fn call_span<T>(method: &'static str, request: &Request<T>) -> tracing::Span {
    let span = tracing::info_span!(
        target: "floe::flight",
        "flight",
        otel.name = method,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = "arrow.flight.protocol.FlightService",
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        client.address = request.remote_addr().map(|a| a.to_string()).unwrap_or_default().as_str(),
    );
    crate::telemetry::continue_trace(&span, request.metadata().as_ref());
    span
}

/// A unary call, traced and counted.
pub async fn unary<R>(span: tracing::Span, method: &'static str, call: impl std::future::Future<Output = Result<R, Status>>) -> Result<R, Status> {
    let outcome = call.instrument(span.clone()).await;
    finish(&span, method, outcome.as_ref().err().map_or(Code::Ok, Status::code));
    outcome
}

/// A call answering with a stream: the span stays open, and the code is
/// recorded, when the stream ends or the client drops it.
pub async fn streaming<T: Send + 'static>(
    span: tracing::Span,
    method: &'static str,
    call: impl std::future::Future<Output = Result<Response<Boxed<T>>, Status>>,
) -> Result<Response<Boxed<T>>, Status> {
    match call.instrument(span.clone()).await {
        Ok(response) => Ok(response.map(|inner| Box::pin(Traced { inner: Some(inner), span, method, code: None }) as Boxed<T>)),
        Err(status) => {
            finish(&span, method, status.code());
            Err(status)
        }
    }
}

fn finish(span: &tracing::Span, method: &'static str, code: Code) {
    span.record("rpc.grpc.status_code", code as i64);
    if code != Code::Ok {
        span.record("otel.status_code", "ERROR");
    }
    let attributes = [KeyValue::new("rpc.method", method), KeyValue::new("rpc.grpc.status_code", code as i64)];
    metrics().rpc_requests.add(1, &attributes);
    if code != Code::Ok {
        metrics().rpc_failures.add(1, &attributes);
    }
}

struct Traced<T> {
    inner: Option<Boxed<T>>,
    span: tracing::Span,
    method: &'static str,
    code: Option<Code>,
}

impl<T> Stream for Traced<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let span = self.span.clone();
        let _entered = span.enter();
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Err(status))) => self.code = Some(status.code()),
            Poll::Ready(None) => {
                self.code.get_or_insert(Code::Ok);
            }
            _ => {}
        }
        polled
    }
}

impl<T> Drop for Traced<T> {
    fn drop(&mut self) {
        // The inner stream's own drop (the statement line) logs inside the span.
        let _entered = self.span.enter();
        drop(self.inner.take());
        finish(&self.span, self.method, self.code.unwrap_or(Code::Cancelled));
    }
}
