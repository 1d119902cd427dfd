"""A real OTLP/gRPC receiver (the OpenTelemetry project's own protobuf
service definitions, served by grpcio) that keeps every span and metric
point it is sent, for tests to read back."""

import threading
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def _value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(key_values) -> dict:
    return {kv.key: _value(kv.value) for kv in key_values}


@dataclass
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict
    status_code: int
    start: int
    end: int


@dataclass
class Point:
    service: str
    name: str
    attributes: dict
    value: float


@dataclass
class Received:
    spans: list = field(default_factory=list)
    points: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received):
        self.received = received

    def Export(self, request, context):
        spans = []
        for resource_spans in request.resource_spans:
            service = _attributes(resource_spans.resource.attributes).get("service.name", "")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    spans.append(Span(service, span.name, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(),
                                      _attributes(span.attributes), span.status.code, span.start_time_unix_nano,
                                      span.end_time_unix_nano))
        with self.received.lock:
            self.received.spans.extend(spans)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received):
        self.received = received

    def Export(self, request, context):
        points = []
        for resource_metrics in request.resource_metrics:
            service = _attributes(resource_metrics.resource.attributes).get("service.name", "")
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    data = getattr(metric, kind)
                    for point in data.data_points:
                        # A histogram's point is its count of recordings; a sum's or gauge's its value.
                        value = float(point.count) if kind in ("histogram", "exponential_histogram", "summary") \
                            else getattr(point, point.WhichOneof("value"))
                        points.append(Point(service, metric.name, _attributes(point.attributes), value))
        with self.received.lock:
            self.received.points.extend(points)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class OtlpReceiver:
    def __init__(self):
        self.received = Received()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(self.received), self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self.received), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spans(self) -> list[Span]:
        with self.received.lock:
            return list(self.received.spans)

    def points(self) -> list[Point]:
        with self.received.lock:
            return list(self.received.points)

    def stop(self):
        self.server.stop(grace=None)
