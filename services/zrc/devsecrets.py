"""Development secrets, generated on this machine and never committed (``make k8s-dev-secrets`` / ``make compose-env``).

``python -m zrc.devsecrets k8s-dev [DIR]`` writes the env files and TLS pair the dev
kustomize overlay's secretGenerator reads (default ``deploy/k8s/overlays/dev/secrets``,
git-ignored). ``python -m zrc.devsecrets compose [.env]`` writes docker-compose's
``.env`` and the gateway's TLS pair under ``deploy/compose-secrets`` (git-ignored).
Existing files are kept: re-running never rotates a secret behind a running deployment.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
from pathlib import Path

from zrc.devcerts import write_ca_and_server


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _env(pairs: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in pairs.items())


def k8s_dev(directory: Path) -> bool:
    """The dev overlay's secrets; False if they already exist."""
    if (directory / "zrc-internal.env").exists():
        return False
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    internal = secrets.token_urlsafe(32)
    _write(directory / "zrc-s3.env", _env({"endpoint": "minio:9000", "access-key": "zrc-dev-services",
                                           "secret-key": secrets.token_urlsafe(24), "secure": "false"}))
    _write(directory / "zrc-admin.env", _env({"token": "zrcadmin_" + secrets.token_urlsafe(24)}))
    _write(directory / "zrc-internal.env", _env({"token": internal,
                                                 "token-sha256": hashlib.sha256(internal.encode()).hexdigest()}))
    _write(directory / "minio-root.env", _env({"user": "zrc-dev-root", "password": secrets.token_urlsafe(24)}))
    ca, cert, key = write_ca_and_server(directory / "tls", ("gateway", "gateway.zrc-dev.svc", "localhost",
                                                            "127.0.0.1"), days=90)
    for src, dst in ((ca, "ca.crt"), (cert, "tls.crt"), (key, "tls.key")):
        os.replace(src, directory / dst)
    (directory / "tls").rmdir()
    return True


def compose(env_file: Path, tls_dir: Path) -> bool:
    """docker-compose's .env (every secret random) and the gateway's TLS pair; False if .env exists."""
    if env_file.exists():
        return False
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)   # the key below is 0644 so that the container's user can read the bind mount
    ca, cert, key = write_ca_and_server(tls_dir, ("localhost", "127.0.0.1", "gateway"), days=365)
    os.chmod(key, 0o644)
    internal = secrets.token_urlsafe(32)
    _write(env_file, _env({
        "MINIO_ROOT_USER": "zrc-root", "MINIO_ROOT_PASSWORD": secrets.token_urlsafe(24),
        "ZRC_S3_ACCESS_KEY": "zrc-services", "ZRC_S3_SECRET_KEY": secrets.token_urlsafe(24),
        "ZRC_ADMIN_TOKEN": "zrcadmin_" + secrets.token_urlsafe(24),
        "ZRC_INTERNAL_TOKEN": internal, "ZRC_INTERNAL_TOKEN_SHA256": hashlib.sha256(internal.encode()).hexdigest(),
        "ZRC_TLS_CERT_FILE": str(cert.resolve()), "ZRC_TLS_KEY_FILE": str(key.resolve()),
        "ZRC_QUOTA_PER_DAY": "20", "ZRC_GATEWAY_PORT": "50051", "ZRC_LOG_LEVEL": "INFO"}))
    return True


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m zrc.devsecrets")
    ap.add_argument("target", choices=["k8s-dev", "compose"])
    ap.add_argument("path", nargs="?")
    a = ap.parse_args(argv)
    if a.target == "k8s-dev":
        d = Path(a.path or "deploy/k8s/overlays/dev/secrets")
        print(f"wrote {d}" if k8s_dev(d) else f"{d} already holds secrets (kept)")
    else:
        env = Path(a.path or ".env")
        made = compose(env, Path("deploy/compose-secrets"))
        print(f"wrote {env} and deploy/compose-secrets/ (client: ZRC_SERVER=grpcs://localhost:50051 "
              f"ZRC_CA_FILE={Path('deploy/compose-secrets/ca.pem').resolve()})" if made else f"{env} exists (kept)")


if __name__ == "__main__":
    main()
