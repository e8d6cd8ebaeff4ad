"""What every zrc server shares: env config, JSON logs, error mapping, health, reflection, shutdown.

A service's ``main`` calls :func:`run_service` with ``make(storage, env)``, which returns at least
``register(server) -> list[service names]``; :func:`run_service` and :func:`serve` do the rest:

* config from the environment, validated before anything starts (exit 2 with the
  variable at fault);
* structlog JSON logs on stdout, with request ids and the job/submission ids that
  handlers bind;
* one interceptor mapping the domain errors of ``zrc.core.errors`` to canonical
  status codes and rich details (NotFound -> NOT_FOUND, InvalidArgument ->
  INVALID_ARGUMENT + BadRequest, ResourceExhausted -> RESOURCE_EXHAUSTED +
  QuotaFailure/RetryInfo, ...), anything else -> INTERNAL with the trace in the
  log, never to the client; and one that counts and times every call (metrics);
* TLS server credentials re-read when the certificate files change;
* ``grpc.health.v1`` (NOT_SERVING until storage answers) and reflection;
* SIGTERM/SIGINT -> NOT_SERVING -> ``server.stop(grace)``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent import futures

import grpc
import structlog

from zrc.common import metrics, tracing
from zrc.common.channel import GRPC_OPTIONS, TLSConfigError, channel, read_pem
from zrc.core.errors import DomainError, InvalidArgument, ResourceExhausted
from zrc.storage import Storage, s3_secure

# Servers close connections after a while so that clients re-resolve and find new (scaled-up) pods.
SERVER_OPTIONS = [*GRPC_OPTIONS, ("grpc.max_connection_age_ms", 300_000),
                  ("grpc.max_connection_age_grace_ms", 3_600_000)]

log = structlog.get_logger("zrc")


class ConfigError(SystemExit):
    """Invalid configuration: the process exits with code 2 and says which variable is wrong."""

    def __init__(self, message: str):
        print(f"configuration error: {message}", file=sys.stderr)
        super().__init__(2)


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


def base_settings(env: dict[str, str]) -> dict:
    """What every service reads from its environment (listen, grace, workers), checked at start with the storage
    and TLS variables, which are only checked here (storage.from_env and run_service read them)."""
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
                workers=env_int(env, "ZRC_WORKERS", 8))


def server_credentials(cert: str, key: str) -> grpc.ServerCredentials:
    """TLS credentials that re-read ``cert``/``key`` when either file changes.

    ``ZRC_TLS_CERT`` / ``ZRC_TLS_KEY`` name PEM files (a Kubernetes Secret volume, e.g. one cert-manager
    renews). gRPC asks for the certificate at each new handshake; the files' mtimes are compared then, so a
    renewed certificate is served without a restart and a half-written pair is kept out (the old one stays
    until both files load)."""

    def mtimes() -> tuple[float, float]:
        return os.stat(cert).st_mtime_ns, os.stat(key).st_mtime_ns

    def load():
        return grpc.ssl_server_certificate_configuration([(read_pem(key, "TLS key"),
                                                           read_pem(cert, "TLS certificate"))])

    state = {"seen": mtimes()}
    initial = load()

    def fetch():
        try:
            now = mtimes()
            if now == state["seen"]:
                return None
            config = load()
        except (OSError, TLSConfigError) as exc:
            log.warning("tls_reload_failed", error=str(exc))
            return None  # keep serving the certificate already loaded
        state["seen"] = now
        log.info("tls_reloaded", cert=cert)
        return config

    return grpc.dynamic_ssl_server_credentials(initial, fetch, require_client_authentication=False)


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
    """The status code and message of a domain error (INTERNAL, message withheld, for anything else)."""
    if isinstance(exc, DomainError):
        code = grpc.StatusCode[exc.status]
        return code, str(exc) or code.name.lower().replace("_", " ")
    return grpc.StatusCode.INTERNAL, "internal error (see the server log)"


def _rich(exc: DomainError, code: grpc.StatusCode, message: str):
    """A google.rpc.Status carrying the error's details (None when it has none)."""
    from google.protobuf import duration_pb2
    from google.rpc import error_details_pb2, status_pb2

    details = []
    if isinstance(exc, InvalidArgument) and exc.violations:
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in exc.violations]))
    if isinstance(exc, ResourceExhausted) and exc.quota_subject:
        details.append(error_details_pb2.QuotaFailure(violations=[
            error_details_pb2.QuotaFailure.Violation(subject=exc.quota_subject, description=message)]))
    if isinstance(exc, ResourceExhausted) and exc.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(exc.retry_after * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    if not details:
        return None
    st = status_pb2.Status(code=code.value[0], message=message)
    for d in details:
        st.details.add().Pack(d)
    return st


def _fail(exc: BaseException, context: grpc.ServicerContext) -> None:
    """End the call with the status that ``exc`` maps to (context.abort raises)."""
    code, msg = _status_of(exc)
    if len(msg) > 1000:   # messages may quote what a caller sent: bounded in the reply and the log
        msg = msg[:1000] + "…"
    if code == grpc.StatusCode.INTERNAL:
        log.error("rpc_failed", exc_info=exc)
    else:
        log.warning("rpc_error", code=code.name, error=msg)
    rich = _rich(exc, code, msg) if isinstance(exc, DomainError) else None
    if rich is not None:
        from grpc_status import rpc_status
        context.abort_with_status(rpc_status.to_status(rich))
    context.abort(code, msg)


def rewrap(handler, unary, streaming):
    """The same RPC handler with its behaviour wrapped: ``unary(fn)`` for calls answering one message,
    ``streaming(fn)`` for calls answering a stream. Shared by every interceptor here."""
    h = handler
    if h.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(h.unary_unary), h.request_deserializer,
                                                   h.response_serializer)
    if h.unary_stream:
        fn = h.unary_stream
        wrapped = _non_blocking(streaming, fn) if getattr(fn, "experimental_non_blocking", False) else streaming(fn)
        return grpc.unary_stream_rpc_method_handler(wrapped, h.request_deserializer, h.response_serializer)
    if h.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(h.stream_unary), h.request_deserializer,
                                                    h.response_serializer)
    return grpc.stream_stream_rpc_method_handler(streaming(h.stream_stream), h.request_deserializer,
                                                 h.response_serializer)


_SUSPEND = object()


def _non_blocking(streaming, fn):
    """``fn`` wrapped by an interceptor's generator wrapper ``streaming``, staying non-blocking.

    A non-blocking handler (gRPC's ``experimental_non_blocking``: ``fn(request, context, send)``) returns at
    once and sends its messages later from other threads (``send(None)`` ends the stream), so an open stream
    holds no worker thread (the gateway's WatchJob). Interceptors are written once, for generators; here the
    wrapper runs up to the handler's return, is suspended while the stream is open, and finishes (metrics,
    logs) when the stream ends. Called without ``send`` (by a wrapper that knows only blocking handlers, e.g.
    the OpenTelemetry one) ``fn`` answers an iterator and the call blocks as any stream does.
    """
    def call(request, context, send=None):
        if send is None:
            return streaming(fn)(request, context)
        lock = threading.Lock()
        state = {"suspended": False, "ended": False}

        def inner(req, ctx):
            fn(req, ctx, relay)
            yield _SUSPEND

        def finish() -> None:
            try:
                next(gen, None)   # the wrapper's teardown
            except Exception:  # noqa: BLE001 - an abort: the status is on the context already
                pass
            send(None)

        def relay(message) -> None:
            if message is not None:
                send(message)
                return
            with lock:
                state["ended"] = True
                resume = state["suspended"]
            if resume:
                finish()

        gen = streaming(inner)(request, context)
        next(gen)   # setup and the handler; its exceptions go to the server as any handler's would
        with lock:
            state["suspended"] = True
            resume = state["ended"]
        if resume:   # the handler ended the stream before returning
            finish()
    call.experimental_non_blocking = True
    return call


def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()
    if code is None:
        if not failed:
            return "OK"
        # A handler that ended by an exception without a status: the client went away, or a bug.
        return "UNKNOWN" if context.is_active() else "CANCELLED"
    # ``code()`` answers the StatusCode, or its integer value after some abort paths.
    if isinstance(code, grpc.StatusCode):
        return code.name
    for c in grpc.StatusCode:
        if c.value[0] == code:
            return c.name
    return str(code)


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts and times every RPC. Installed outermost, so it sees the status the error mapping chose."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, method = metrics.split_method(handler_call_details.method)
        seconds = metrics.RPC_SECONDS.labels(service, method)

        def done(context, started: float, failed: bool) -> None:
            seconds.observe(time.perf_counter() - started)
            metrics.RPC_HANDLED.labels(service, method, _code_name(context, failed)).inc()

        def unary(fn):
            def call(request, context):
                started, failed = time.perf_counter(), True
                try:
                    out = fn(request, context)
                    failed = False
                    return out
                finally:
                    done(context, started, failed)
            return call

        def streaming(fn):
            def call(request, context):
                started, failed = time.perf_counter(), True
                try:
                    yield from fn(request, context)
                    failed = False
                finally:
                    done(context, started, failed)
            return call

        return rewrap(handler, unary, streaming)


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
    base = base_settings(env)
    interceptors: tuple = ()
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
                 health_listen: str | None = None, private: bool = False):
    """Start (without blocking): returns (server, bound port, health servicer, stop event).

    ``credentials`` makes the port TLS-only. ``health_listen`` adds a plaintext port serving only
    grpc.health.v1 (kubelet gRPC probes cannot speak TLS). Health service "" and the service names turn
    NOT_SERVING while storage is unreachable (readiness); ``zrc.liveness`` does not (liveness: an S3
    outage must not restart every pod).

    ``private`` (the embedded stack: one process, reachable only through its own 0700 Unix sockets) leaves out
    what only an operator's tools use: health (no probe or load balancer asks), reflection (no grpcurl) and
    metrics (no scrape endpoint); the health servicer returned is then None. Their imports are a third of what
    a command that scores nothing would otherwise spend before its first call."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=service),
                         interceptors=[*(() if private else (MetricsInterceptor(),)), ErrorInterceptor(),
                                       *interceptors],
                         options=SERVER_OPTIONS)
    names = register(server)
    if private:
        port = server.add_insecure_port(listen)
        if port == 0:
            raise ConfigError(f"cannot listen on {listen}")
        server.start()
        return server, port, None, threading.Event()
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

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


def wait_serving(address: str, timeout: float = 30.0, service: str = "") -> None:
    """Block until ``address`` reports SERVING (used by the stack and tests)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

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
