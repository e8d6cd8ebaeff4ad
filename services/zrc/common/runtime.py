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

from zrc.storage import NotFound, Storage, StorageUnavailable

MAX_MESSAGE = 32 << 20           # score files of a whole set fit; uploads are chunked far below this
CHUNK = 1 << 20                  # upload chunk size
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
    host, _, port = v.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{name} must be host:port, got {v!r}")
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
        else:
            env_str(env, "ZRC_STORAGE_DIR")
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
    from zrc.core.dataset import DatasetError
    from zrc.core.pipeline import SelectionError
    from zrc.core.sources import SourceError

    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc.args[0]) if exc.args else "not found"
    if isinstance(exc, StorageUnavailable):
        return grpc.StatusCode.UNAVAILABLE, str(exc)
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

        def unary(fn):
            def call(request, context):
                bind()
                try:
                    return fn(request, context)
                except grpc.RpcError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the one place that maps them
                    _fail(exc, context)
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
            return call

        return rewrap(handler, unary, streaming)


def serve(service: str, register: Callable[[grpc.Server], list[str]], listen: str, grace: float, workers: int,
          storage: Storage | None, *, started: Callable[[int], None] | None = None,
          on_stop: Callable[[], None] | None = None, interceptors: tuple = ()) -> None:
    """Run a server until SIGTERM/SIGINT."""
    server, port, health_servicer, stop = start_server(service, register, listen, workers, storage, interceptors)
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
        done.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    while not done.wait(0.5):
        pass
    log.info("stopped")


def run_service(service: str, make: Callable[[Storage, dict[str, str]], dict], env: dict[str, str] | None = None) -> None:
    """A service's ``main``: env config (fail fast), JSON logs, storage, then :func:`serve`.

    ``make(storage, env)`` returns the keyword arguments of :func:`serve` that differ per service
    (at least ``register``).
    """
    from zrc.core import limits
    from zrc.storage import from_env

    env = dict(os.environ if env is None else env)
    configure_logging(service)
    base = BaseSettings.base(env)
    try:   # the input limits are checked at start, not at the first request
        limits.set_current(limits.Limits.from_env(env))
    except limits.LimitConfigError as exc:
        raise ConfigError(str(exc)) from None
    storage = from_env(env)
    kw = make(storage, env)
    serve(service, kw.pop("register"), base["listen"], base["grace"], base["workers"], storage, **kw)


def start_server(service: str, register: Callable[[grpc.Server], list[str]], listen: str, workers: int,
                 storage: Storage | None, interceptors: tuple = ()):
    """Start (without blocking): returns (server, bound port, health servicer, stop event)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=service),
                         interceptors=[ErrorInterceptor(), *interceptors], options=SERVER_OPTIONS)
    names = register(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port(listen)
    if port == 0:
        raise ConfigError(f"cannot listen on {listen}")
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
