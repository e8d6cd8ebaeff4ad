"""What every zrc server shares: env config, JSON logs, error mapping, health, reflection, shutdown.

A service module provides ``register(server, settings) -> list[service names]``;
:func:`serve` does the rest:

* config from the environment, validated before anything starts (exit 2 with the
  variable at fault);
* structlog JSON logs on stdout, with request ids and the job/submission ids that
  handlers bind;
* one interceptor mapping exceptions to canonical status codes (NotFound ->
  NOT_FOUND, StorageUnavailable -> UNAVAILABLE, bad input -> INVALID_ARGUMENT,
  anything else -> INTERNAL with the trace in the log, never to the client);
* ``grpc.health.v1`` (NOT_SERVING until storage answers) and reflection;
* SIGTERM/SIGINT -> NOT_SERVING -> ``server.stop(grace)``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from zrc.common import tracing
from zrc.storage import NotFound, PreconditionFailed, Storage, StorageUnavailable, s3_secure

MAX_MESSAGE = 32 << 20           # score files of a whole set fit; uploads are chunked far below this
CHUNK = 4 << 20                  # upload chunk size: 4 MiB messages move ~30% more bytes per second than 1 MiB
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
]
# Clients spread calls over every address a name resolves to (Kubernetes headless Services give one per pod).
CLIENT_OPTIONS = [*GRPC_OPTIONS,
                  ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
                  ("grpc.dns_min_time_between_resolutions_ms", 10_000)]
# Servers close connections after a while so that clients re-resolve and find new (scaled-up) pods.
SERVER_OPTIONS = [*GRPC_OPTIONS, ("grpc.max_connection_age_ms", 300_000),
                  ("grpc.max_connection_age_grace_ms", 3_600_000)]

log = structlog.get_logger("zrc")


class ConfigError(SystemExit):
    """Invalid configuration: the process exits with code 2 and says which variable is wrong."""

    def __init__(self, message: str):
        print(f"configuration error: {message}", file=sys.stderr)
        super().__init__(2)


class Abort(Exception):
    """Raise in a handler to end the call with ``code`` and ``message`` (and optional rich status)."""

    def __init__(self, code: grpc.StatusCode, message: str, rich=None):
        super().__init__(message)
        self.code, self.message, self.rich = code, message, rich


def env_str(env: dict[str, str], name: str, default: str | None = None) -> str:
    v = env.get(name, default)
    if v is None or v == "":
        raise ConfigError(f"{name} is required")
    return v


def env_int(env: dict[str, str], name: str, default: int) -> int:
    v = env.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {v!r}") from None


def env_float(env: dict[str, str], name: str, default: float) -> float:
    v = env.get(name)
    if v is None or v == "":
        return default
    try:
        return float(v)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {v!r}") from None


def env_addr(env: dict[str, str], name: str, default: str | None = None) -> str:
    v = env_str(env, name, default)
    if v.startswith("unix:") and len(v) > 5:   # a Unix socket (the embedded mode)
        return v
    # "ipv4:h1:p1,h2:p2" lists replicas for the client's round-robin (the local stack's topology)
    for one in (v.removeprefix("ipv4:").split(",") if v.startswith("ipv4:") else [v]):
        host, _, port = one.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"{name} must be host:port (or ipv4:host:port,host:port,...), got {v!r}")
    return v


@dataclass
class BaseSettings:
    listen: str
    grace: float
    workers: int
    storage_kind: str

    @classmethod
    def base(cls, env: dict[str, str]) -> dict:
        kind = env.get("ZRC_STORAGE", "s3")
        if kind not in ("s3", "local"):
            raise ConfigError(f"ZRC_STORAGE must be s3 or local, got {kind!r}")
        if kind == "s3":
            for k in ("ZRC_S3_ENDPOINT", "ZRC_S3_ACCESS_KEY", "ZRC_S3_SECRET_KEY"):
                env_str(env, k)
            s3_secure(env)  # fail fast on anything but true/false/1/0/yes/no
        else:
            env_str(env, "ZRC_STORAGE_DIR")
        if bool(env.get("ZRC_TLS_CERT")) != bool(env.get("ZRC_TLS_KEY")):
            raise ConfigError("ZRC_TLS_CERT and ZRC_TLS_KEY go together (PEM certificate chain and its key)")
        return dict(listen=env_addr(env, "ZRC_LISTEN", "127.0.0.1:50051"),
                    grace=env_float(env, "ZRC_GRACE_SECONDS", 5.0),
                    workers=env_int(env, "ZRC_WORKERS", 8), storage_kind=kind)


def configure_logging(service: str) -> None:
    level = getattr(logging, os.environ.get("ZRC_LOG_LEVEL", "INFO").upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def _status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    from zrc.common.data import BadRequest
    from zrc.core.analysis import AnalysisError
    from zrc.core.dataset import DatasetError
    from zrc.core.jobs import JobConflict
    from zrc.core.pipeline import SelectionError
    from zrc.core.sources import SourceError

    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc.args[0]) if exc.args else "not found"
    if isinstance(exc, StorageUnavailable):
        return grpc.StatusCode.UNAVAILABLE, str(exc)
    if isinstance(exc, JobConflict):
        return grpc.StatusCode.ABORTED, str(exc)
    if isinstance(exc, PreconditionFailed):  # a concurrent writer won: the caller may retry
        return grpc.StatusCode.ABORTED, f"concurrent update, try again ({exc})"
    if isinstance(exc, AnalysisError):  # two evaluations that cannot be compared (other gold, bad files)
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, SelectionError | DatasetError | SourceError | BadRequest):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    return grpc.StatusCode.INTERNAL, "internal error (see the server log)"


def _fail(exc: BaseException, context: grpc.ServicerContext) -> None:
    """End the call with the status that ``exc`` maps to (context.abort raises)."""
    if isinstance(exc, Abort):
        if exc.rich is not None:
            from grpc_status import rpc_status
            context.abort_with_status(rpc_status.to_status(exc.rich))
        context.abort(exc.code, exc.message)
    code, msg = _status_of(exc)
    if len(msg) > 1000:   # messages may quote what a caller sent: bounded in the reply and the log
        msg = msg[:1000] + "…"
    if code == grpc.StatusCode.INTERNAL:
        log.error("rpc_failed", exc_info=exc)
    else:
        log.warning("rpc_error", code=code.name, error=msg)
    context.abort(code, msg)


def rewrap(handler, unary, streaming):
    """The same RPC handler with its behaviour wrapped: ``unary(fn)`` for calls answering one message,
    ``streaming(fn)`` for calls answering a stream. Shared by every interceptor here."""
    h = handler
    if h.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(h.unary_unary), h.request_deserializer,
                                                   h.response_serializer)
    if h.unary_stream:
        return grpc.unary_stream_rpc_method_handler(streaming(h.unary_stream), h.request_deserializer,
                                                    h.response_serializer)
    if h.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(h.stream_unary), h.request_deserializer,
                                                    h.response_serializer)
    return grpc.stream_stream_rpc_method_handler(streaming(h.stream_stream), h.request_deserializer,
                                                 h.response_serializer)


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps exceptions to status codes in one place, and binds a request id for the logs."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        def bind() -> None:
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(rpc=method, request_id=uuid.uuid4().hex[:12])

        def tag() -> None:   # traces: the job a handler bound (once known) names its span
            if tracing.enabled():
                tracing.tag_current_span(structlog.contextvars.get_contextvars().get("job_id"))

        def unary(fn):
            def call(request, context):
                bind()
                try:
                    return fn(request, context)
                except grpc.RpcError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the one place that maps them
                    _fail(exc, context)
                finally:
                    tag()
            return call

        def streaming(fn):
            def call(request, context):
                bind()
                try:
                    yield from fn(request, context)
                except grpc.RpcError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    _fail(exc, context)
                finally:
                    tag()
            return call

        return rewrap(handler, unary, streaming)


def serve(service: str, register: Callable[[grpc.Server], list[str]], listen: str, grace: float, workers: int,
          storage: Storage | None, *, started: Callable[[int], None] | None = None,
          on_stop: Callable[[], None] | None = None, interceptors: tuple = (), credentials=None,
          health_listen: str | None = None) -> None:
    """Run a server until SIGTERM/SIGINT."""
    server, port, health_servicer, stop = start_server(service, register, listen, workers, storage, interceptors,
                                                       credentials=credentials, health_listen=health_listen)
    log.info("serving", address=f"{listen.rpartition(':')[0]}:{port}")
    if started:
        started(port)
    done = threading.Event()

    def shutdown(signum, _frame):
        log.info("shutting_down", signal=signum, grace=grace)
        stop.set()
        health_servicer.enter_graceful_shutdown()
        if on_stop:
            on_stop()
        server.stop(grace).wait()
        if getattr(server, "zrc_health_server", None) is not None:
            server.zrc_health_server.stop(0)
        tracing.shutdown()   # export the spans still buffered
        done.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    while not done.wait(0.5):
        pass
    log.info("stopped")


def run_service(service: str, make: Callable[[Storage, dict[str, str]], dict], env: dict[str, str] | None = None,
                *, internal: bool = False) -> None:
    """A service's ``main``: env config (fail fast), JSON logs, storage, then :func:`serve`.

    ``make(storage, env)`` returns the keyword arguments of :func:`serve` that differ per service
    (at least ``register``).
    """
    from zrc.common.malloc import limit_arenas
    from zrc.common.metrics import serve_metrics
    from zrc.core import limits
    from zrc.storage import from_env

    env = dict(os.environ if env is None else env)
    limit_arenas()   # before any thread: see zrc.common.malloc
    configure_logging(service)
    base = BaseSettings.base(env)
    interceptors = ()
    if internal:  # only the gateway may call it (zrc.common.internal)
        from zrc.common.internal import server_interceptor
        interceptors = (server_interceptor(env),)
    try:   # the input limits are checked at start, not at the first request
        limits.set_current(limits.Limits.from_env(env))
    except limits.LimitConfigError as exc:
        raise ConfigError(str(exc)) from None
    metrics_port = serve_metrics(env)
    if metrics_port is not None:
        log.info("metrics", port=metrics_port)
    if tracing.setup(service, env):   # before any server or channel exists: the instrumentation wraps them
        log.info("tracing", endpoint=env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    storage = from_env(env)
    kw = make(storage, env)
    kw["interceptors"] = (*interceptors, *kw.get("interceptors", ()))
    if env.get("ZRC_TLS_CERT"):  # TLS only: no plaintext port next to it
        from zrc.common.tls import TLSConfigError, server_credentials
        try:
            kw["credentials"] = server_credentials(env["ZRC_TLS_CERT"], env["ZRC_TLS_KEY"])
        except TLSConfigError as exc:
            raise ConfigError(str(exc)) from None
    if env.get("ZRC_HEALTH_LISTEN"):
        kw["health_listen"] = env_addr(env, "ZRC_HEALTH_LISTEN")
    serve(service, kw.pop("register"), base["listen"], base["grace"], base["workers"], storage, **kw)


LIVENESS = "zrc.liveness"   # health service name that stays SERVING while the process works (storage down or not)


def start_server(service: str, register: Callable[[grpc.Server], list[str]], listen: str, workers: int,
                 storage: Storage | None, interceptors: tuple = (), *, credentials=None,
                 health_listen: str | None = None):
    """Start (without blocking): returns (server, bound port, health servicer, stop event).

    ``credentials`` makes the port TLS-only. ``health_listen`` adds a plaintext port serving only
    grpc.health.v1 (kubelet gRPC probes cannot speak TLS). Health service "" and the service names turn
    NOT_SERVING while storage is unreachable (readiness); ``zrc.liveness`` does not (liveness: an S3
    outage must not restart every pod)."""
    from zrc.common.metrics import MetricsInterceptor

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=service),
                         interceptors=[MetricsInterceptor(), ErrorInterceptor(), *interceptors],
                         options=SERVER_OPTIONS)
    names = register(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_secure_port(listen, credentials) if credentials else server.add_insecure_port(listen)
    if port == 0:
        raise ConfigError(f"cannot listen on {listen}")
    server.zrc_health_server = None
    if health_listen:
        hs = grpc.server(futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{service}-probe"))
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, hs)
        if hs.add_insecure_port(health_listen) == 0:
            raise ConfigError(f"cannot listen on {health_listen} (ZRC_HEALTH_LISTEN)")
        hs.start()
        server.zrc_health_server = hs
    server.start()
    stop = threading.Event()

    def set_all(status) -> None:
        for n in ("", *names):
            health_servicer.set(n, status)

    def watch_dependencies() -> None:
        serving = None
        while not stop.is_set():
            ok = True
            if storage is not None:
                try:
                    storage.ping()
                    storage.ensure_buckets()
                except Exception as exc:  # noqa: BLE001 - any failure means not ready
                    ok = False
                    log.warning("storage_unreachable", error=str(exc)[:200])
            if ok != serving:
                set_all(health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING)
                serving = ok
            stop.wait(2.0 if ok else 0.5)

    set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
    health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    threading.Thread(target=watch_dependencies, daemon=True, name=f"{service}-health").start()
    return server, port, health_servicer, stop


def channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=CLIENT_OPTIONS)


def wait_serving(address: str, timeout: float = 30.0, service: str = "") -> None:
    """Block until ``address`` reports SERVING (used by the stack and tests)."""
    deadline = time.monotonic() + timeout
    ch = channel(address)
    stub = health_pb2_grpc.HealthStub(ch)
    last = None
    try:
        while time.monotonic() < deadline:
            try:
                r = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2.0)
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = r.status
            except grpc.RpcError as exc:
                last = exc.code()
            time.sleep(0.2)
    finally:
        ch.close()
    raise TimeoutError(f"{address} not SERVING after {timeout:.0f} s (last: {last})")
