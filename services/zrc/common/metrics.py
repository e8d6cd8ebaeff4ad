"""Prometheus metrics of every zrc service, served in the text format on ``ZRC_METRICS_PORT``.

One interceptor (``zrc.common.runtime.MetricsInterceptor``) counts every RPC by
service, method and status code and times it (the ``grpc_server_*`` names of
go-grpc-prometheus, so existing dashboards and alerts apply). The gateway adds what an organiser watches: jobs by state, the
queue, lease takeovers, upload bytes and storage errors; each scorer counts the
parts it actually computed (``zrc_scoring_parts_total``), the gateway the parts
answered from the result cache (``zrc_scoring_cache_hits_total``).

Metrics live in the default registry of the process, registered on first use
(all of them when the scrape endpoint starts). The embedded stack's servers are
private (``runtime.start_server(private=True)``): nothing can scrape the CLI's
process, so they count nothing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

# name -> (kind, metric name, help, labels, extra arguments). Created on first use (module __getattr__ below):
# importing prometheus_client costs a command that scores nothing a fifth of its time, and the embedded stack
# (no scrape endpoint) never touches most of them.
_SPECS: dict[str, tuple[str, str, str, tuple[str, ...], dict[str, Any]]] = {
    "RPC_HANDLED": ("Counter", "grpc_server_handled_total", "RPCs completed on the server, by status code",
                    ("grpc_service", "grpc_method", "grpc_code"), {}),
    "RPC_SECONDS": ("Histogram", "grpc_server_handling_seconds",
                    "Time to handle an RPC (streams: until the last message)", ("grpc_service", "grpc_method"),
                    {"buckets": (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)}),
    "JOBS": ("Gauge", "zrc_jobs", "Unfinished jobs by state, as the gateway's reaper last listed them", ("state",), {}),
    "JOBS_FINISHED": ("Counter", "zrc_jobs_finished_total", "Jobs this gateway moved to a final state", ("state",),
                      {}),
    "QUEUE_DEPTH": ("Gauge", "zrc_job_queue_depth", "Job ids waiting for one of this gateway's workers", (), {}),
    "LEASE_TAKEOVERS": ("Counter", "zrc_lease_takeovers_total",
                        "Jobs taken over from another gateway whose lease had expired", (), {}),
    "UPLOAD_BYTES": ("Counter", "zrc_upload_bytes_total", "Submission bytes received by the gateway", (), {}),
    "STORAGE_ERRORS": ("Counter", "zrc_storage_errors_total", "Object-storage requests that failed as unavailable",
                       ("operation",), {}),
    "SCORED_PARTS": ("Counter", "zrc_scoring_parts_total",
                     "(task, set) parts this scorer computed (cache hits are not)", ("task", "set"), {}),
    "ABANDONED_PARTS": ("Counter", "zrc_scoring_abandoned_parts_total",
                        "(task, set) parts computed twice: another call stored the same part first, or the "
                        "caller went away", ("task", "set"), {}),
    "CACHE_HITS": ("Counter", "zrc_scoring_cache_hits_total",
                   "(task, set) parts the gateway answered from the result cache", ("task", "set"), {}),
}

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

    RPC_HANDLED: Counter
    RPC_SECONDS: Histogram
    JOBS: Gauge
    JOBS_FINISHED: Counter
    QUEUE_DEPTH: Gauge
    LEASE_TAKEOVERS: Counter
    UPLOAD_BYTES: Counter
    STORAGE_ERRORS: Counter
    SCORED_PARTS: Counter
    ABANDONED_PARTS: Counter
    CACHE_HITS: Counter


def __getattr__(name: str) -> Any:
    """``metrics.JOBS`` and the others: registered in the process's default registry when first used."""
    spec = _SPECS.get(name)
    if spec is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import prometheus_client

    kind, metric, doc, labels, kw = spec
    with _LOCK:   # two threads' first use must not register the same name twice (ValueError: Duplicated)
        if name not in globals():
            globals()[name] = getattr(prometheus_client, kind)(metric, doc, labels, **kw)
    return globals()[name]


_LOCK = threading.Lock()


def split_method(full: str) -> tuple[str, str]:
    """``/zrc.gateway.v1.GatewayService/Evaluate`` -> (``zrc.gateway.v1.GatewayService``, ``Evaluate``)."""
    service, _, method = full.lstrip("/").rpartition("/")
    return service or "unknown", method or full


def serve_metrics(env: dict[str, str]) -> int | None:
    """Start the scrape endpoint if ``ZRC_METRICS_PORT`` is set (``ZRC_METRICS_ADDR`` binds it, default all
    interfaces as a container needs). Returns the bound port, or None when metrics are off."""
    from zrc.common.runtime import ConfigError, env_int

    port = env_int(env, "ZRC_METRICS_PORT", -1)
    if port < 0:
        return None
    if port > 65535:
        raise ConfigError(f"ZRC_METRICS_PORT must be a port number, got {port}")
    from prometheus_client import start_http_server

    for name in _SPECS:   # a scrape lists every metric from the start, at zero, as dashboards expect
        __getattr__(name)
    server, _thread = start_http_server(port, addr=env.get("ZRC_METRICS_ADDR") or "0.0.0.0")
    return server.server_port
