"""``zrc-healthcheck [ADDR]``: exit 0 if the gRPC server at ADDR (default: 127.0.0.1 on the port of
ZRC_HEALTH_LISTEN when set, the plaintext health port of a TLS gateway, else of ZRC_LISTEN) reports SERVING
over grpc.health.v1, 1 otherwise.

Used by docker-compose healthchecks and the image's HEALTHCHECK (Kubernetes uses native gRPC probes).
A gRPC client of the health service, hence its grpc import.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        addr = args[0]
    else:
        listen = os.environ.get("ZRC_HEALTH_LISTEN") or os.environ.get("ZRC_LISTEN", "0.0.0.0:50051")
        port = listen.rpartition(":")[2]
        addr = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(addr) as ch:
            r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=3.0)
    except grpc.RpcError as exc:
        print(f"{addr}: {exc.code().name}", file=sys.stderr)
        return 1
    ok = r.status == health_pb2.HealthCheckResponse.SERVING
    print(f"{addr}: {health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
