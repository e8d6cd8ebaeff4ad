"""OpenTelemetry traces across gateway -> validation -> scorers -> results, off unless configured.

``OTEL_EXPORTER_OTLP_ENDPOINT`` set (the standard variable; the other ``OTEL_*`` ones apply too) turns it on:
every service exports its spans over OTLP/gRPC, the gRPC instrumentation opens a span per call on both sides
and propagates the trace context (W3C ``traceparent``) and baggage in the metadata. The gateway's runner puts
the job id in the baggage of the job's work, so every span of a job, in every service, carries ``zrc.job_id``;
RPCs that name a job (GetJob, WatchJob, Evaluate) get it from the request once it is known.

The packages come with the ``otel`` extra (installed in the image); without the variable nothing is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

JOB_ATTR = "zrc.job_id"
_enabled = False


def enabled() -> bool:
    return _enabled


def setup(service: str, env: dict[str, str]) -> bool:
    """Install the tracer provider, the OTLP exporter and the gRPC instrumentation (before any channel or
    server is made). Returns whether tracing is on."""
    global _enabled
    if not env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    try:
        from opentelemetry import baggage, trace
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer, filters
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        from zrc.common.runtime import ConfigError
        raise ConfigError("OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
                          "pip install 'zrc-service[otel]'") from None

    class JobIdFromBaggage(SpanProcessor):
        """Every span started under a job's baggage carries the job id (also in the services it reaches)."""

        def on_start(self, span, parent_context=None) -> None:
            job_id = baggage.get_baggage(JOB_ATTR, parent_context)
            if job_id:
                span.set_attribute(JOB_ATTR, str(job_id))

    name = env.get("OTEL_SERVICE_NAME") or f"zrc-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(JobIdFromBaggage())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # WatchJob is left untraced: OpenTelemetry's server wrapper knows only blocking handlers, and would make
    # every open watch hold a worker thread again (zrc.gateway.events pushes watches from no thread); a watch
    # is a wait, not work, and the job's own trace ("run job") covers what it waits for.
    GrpcInstrumentorServer(filter_=filters.negate(filters.method_name("WatchJob"))).instrument()
    GrpcInstrumentorClient().instrument()
    _enabled = True
    return True


def shutdown() -> None:
    """Flush the spans still buffered (on SIGTERM)."""
    if _enabled:
        from opentelemetry import trace
        provider = trace.get_tracer_provider()
        if hasattr(provider, "shutdown"):
            provider.shutdown()


@contextlib.contextmanager
def job_span(job_id: str) -> Iterator[None]:
    """The gateway's work on one job: a span, and the job id in the baggage every downstream call carries."""
    if not _enabled:
        yield
        return
    from opentelemetry import baggage, context, trace

    token = context.attach(baggage.set_baggage(JOB_ATTR, job_id))
    try:
        with trace.get_tracer("zrc.gateway").start_as_current_span("run job", attributes={JOB_ATTR: job_id}):
            yield
    finally:
        context.detach(token)


def tag_current_span(job_id: str | None) -> None:
    """Name the job on the current RPC's span (when the job id became known while handling it)."""
    if _enabled and job_id:
        from opentelemetry import trace
        trace.get_current_span().set_attribute(JOB_ATTR, job_id)
