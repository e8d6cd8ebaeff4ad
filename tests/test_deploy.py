"""Deployment files: rendered, schema-validated, and consistent with the local stack.

docker-compose and Kubernetes cannot run here, so CI checks what can be checked:
every kustomize overlay renders and validates against the Kubernetes schemas,
docker-compose.yml validates against the compose specification, YAML is lint
clean, and compose, Kubernetes and ``make stack-up`` agree on the set of
services and the environment variables each one gets.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from zrc.core.benchmarks import SCORERS
from zrc.stack import SERVICES, service_env

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ["dev", "prod"]
K8S_VERSION = "1.32.0"
BIN = Path(sys.executable).parent


def render(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if not kubectl:  # a contributor without kubectl still gets a green `make test`; CI has it
        pytest.skip("kubectl not on PATH: the Kubernetes manifests cannot be rendered here (install kubectl)")
    if overlay == "dev":  # its secrets are generated on the machine, never committed (make k8s-dev-secrets)
        from zrc.devsecrets import k8s_dev
        k8s_dev(ROOT / "deploy/k8s/overlays/dev/secrets")
    out = subprocess.run([kubectl, "kustomize", str(ROOT / "deploy/k8s/overlays" / overlay)],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_render_skips_with_a_reason_without_kubectl(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="kubectl not on PATH"):
        render("dev")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay):
    docs = render(overlay)
    assert len(docs) > 20
    for d in docs:
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_locked_down(overlay):
    for d in render(overlay):
        if d["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        spec = d["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, d["metadata"]["name"]
        assert spec.get("automountServiceAccountToken") is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]
            if d["kind"] == "Deployment":
                # the TLS gateway is probed on its plaintext health port; liveness ignores storage outages
                port = 8081 if d["metadata"]["name"] == "gateway" else 50051
                assert c["readinessProbe"]["grpc"]["port"] == port
                assert "service" not in c["readinessProbe"]["grpc"], "readiness follows storage"
                assert c["livenessProbe"]["grpc"] == {"port": port, "service": "zrc.liveness"}


def test_scorers_scale_and_spread():
    docs = render("prod")
    hpas = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert hpas == {f"scoring-{t}" for t in SCORERS}   # one deployment per scorer of the catalogue
    for d in docs:
        if d["kind"] == "Service" and d["metadata"]["name"].startswith("scoring-"):
            assert d["spec"]["clusterIP"] == "None", "headless: the gateway's round-robin channel sees every pod"
    pdbs = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert set(pdbs) == set(SERVICES)
    gw = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "gateway")
    assert gw["spec"]["type"] == "LoadBalancer"


def test_only_gateway_is_reachable():
    docs = render("dev")
    pols = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    assert pols["default-deny-ingress"]["spec"]["podSelector"] == {}
    assert pols["gateway-public"]["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "gateway"}
    internal = pols["internal-from-gateway"]["spec"]
    assert internal["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "gateway"}
    minio = pols["minio-from-services"]["spec"]
    assert minio["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {"zrc.io/storage-client": "true"}
    for d in docs:  # every internal service carries the label the internal policy selects
        if d["kind"] == "Deployment" and d["metadata"]["name"] != "gateway":
            assert d["spec"]["template"]["metadata"]["labels"]["zrc.io/tier"] == "internal"
    c = compose()
    published = [n for n, s in c["services"].items() if s.get("ports")]
    assert published == ["gateway"]
    assert c["networks"]["backend"]["internal"] is True


def test_compose_validates_against_the_compose_spec():
    r = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                        str(ROOT / "docker-compose.yml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_yaml_is_lint_clean():
    r = subprocess.run([str(BIN / "yamllint"), "-s", "-c", str(ROOT / ".yamllint.yaml"), "docker-compose.yml",
                        "deploy", "protos/buf.yaml"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout


def test_compose_healthchecks_gate_the_gateway():
    c = compose()["services"]
    for name in SERVICES:
        assert c[name]["healthcheck"]["test"] == ["CMD", "zrc-healthcheck"]
        assert c[name]["read_only"] is True and c[name]["user"] == "10001:10001"
    deps = c["gateway"]["depends_on"]
    assert {n for n, d in deps.items() if d["condition"] == "service_healthy"} == set(SERVICES) - {"gateway"}
    assert c["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def _stack_env_names() -> dict[str, set[str]]:
    s3 = {"endpoint": "x", "access_key": "x", "secret_key": "x", "bucket_prefix": "x", "spool": "x", "admin_token": "x",
          "internal_token": "x", "tls_cert": "x", "tls_key": "x", "health_listen": "h:2", "ca_file": "x"}
    addrs = {n: "h:1" for n in SERVICES}
    return {n: set(service_env(n, "h:1", s3, addrs, metrics_port=1)) for n in SERVICES}


def _compose_env_names() -> dict[str, set[str]]:
    return {n: set((s.get("environment") or {}).keys()) for n, s in compose()["services"].items()
            if n not in ("minio", "minio-init")}


def _k8s_env_names(overlay: str) -> dict[str, set[str]]:
    out = {}
    for d in render(overlay):
        if d["kind"] == "Deployment":
            (c,) = d["spec"]["template"]["spec"]["containers"]
            out[d["metadata"]["name"]] = {e["name"] for e in c["env"]}
    return out


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_compose_k8s_and_stack_agree(overlay):
    stack, comp, k8s = _stack_env_names(), _compose_env_names(), _k8s_env_names(overlay)
    assert set(stack) == set(comp) == set(k8s) == set(SERVICES)
    for name in SERVICES:
        assert stack[name] == comp[name] == k8s[name], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_is_scrapable(overlay):
    docs = render(overlay)
    deployments = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] in SERVICES]
    assert {d["metadata"]["name"] for d in deployments} == set(SERVICES)
    for d in deployments:
        ann = d["spec"]["template"]["metadata"]["annotations"]
        assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "9090"
        (c,) = d["spec"]["template"]["spec"]["containers"]
        assert {"name": "metrics", "containerPort": 9090} in c["ports"]
        assert {"name": "ZRC_METRICS_PORT", "value": "9090"} in c["env"]
    pols = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    assert pols["metrics-from-monitoring"]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9090}]


def test_servicemonitor_component_renders(tmp_path):
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is required to render the Kubernetes manifests"
    overlay = tmp_path / "with-monitor"
    overlay.mkdir()
    import os

    rel = os.path.relpath(ROOT / "deploy/k8s", overlay)   # kustomize refuses absolute roots
    (overlay / "kustomization.yaml").write_text(
        f"resources: [{rel}/overlays/prod]\ncomponents: [{rel}/components/servicemonitor]\n")
    out = subprocess.run([kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(overlay)],
                         capture_output=True, text=True, check=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    sm = next(d for d in docs if d["kind"] == "ServiceMonitor")
    svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "zrc-metrics")
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"] == "metrics"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()


def test_grafana_dashboard_uses_the_exported_metrics():
    import json

    from zrc.common import metrics

    dash = json.loads((ROOT / "deploy/grafana/zrc-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))
    names = {m.describe()[0].name for m in (metrics.RPC_HANDLED, metrics.RPC_SECONDS, metrics.JOBS,
                                           metrics.QUEUE_DEPTH, metrics.LEASE_TAKEOVERS, metrics.UPLOAD_BYTES,
                                           metrics.STORAGE_ERRORS, metrics.SCORED_PARTS, metrics.CACHE_HITS)}
    for name in names:
        assert name in exprs, f"the dashboard shows no panel for {name}"


def test_images_and_entrypoints_exist():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "HEALTHCHECK" in dockerfile and "AS build" in dockerfile
    commands = {n: s["command"][0] for n, s in compose()["services"].items() if n not in ("minio", "minio-init")}
    import importlib.util
    for name, module in commands.items():
        assert importlib.util.find_spec(module + ".__main__") is not None, (name, module)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruptions_and_autoscaling_do_not_fight(overlay):
    docs = render(overlay)
    for d in docs:
        if d["kind"] == "PodDisruptionBudget":  # minAvailable: 1 on a single replica blocks node drains
            assert d["spec"] == {**d["spec"], "maxUnavailable": 1} and "minAvailable" not in d["spec"]
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert scaled
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["name"] in scaled:
            assert "replicas" not in d["spec"], f"{d['metadata']['name']}: the HPA owns the replica count"


def test_scorer_task_is_set_by_name_not_position():
    for t in SCORERS:
        text = (ROOT / f"deploy/k8s/base/scorers/{t}/kustomization.yaml").read_text()
        assert "/env/" not in text, "env entries are addressed by name (strategic merge)"
    for d in render("prod"):
        if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("scoring-"):
            (c,) = d["spec"]["template"]["spec"]["containers"]
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert env["ZRC_SCORER_TASK"] == d["metadata"]["name"].removeprefix("scoring-")


def test_minio_starts_with_a_read_only_root():
    docs = render("dev")
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "minio"]
    spec = sts["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    writable = {m["mountPath"] for m in c["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in c["env"]}
    certs = c["args"][c["args"].index("--certs-dir") + 1]
    assert env["HOME"] in writable and any(certs.startswith(w + "/") for w in writable), "HOME and certs writable"
    images = [c["image"] for d in docs if d["kind"] in ("StatefulSet", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]]
    images += [s["image"] for n, s in compose()["services"].items() if n.startswith("minio")]
    for image in images:
        assert image.startswith("quay.io/minio/") and ":RELEASE." in image, image


def test_gateway_is_tls_only_with_a_mounted_certificate():
    for overlay in OVERLAYS:
        (gw,) = [d for d in render(overlay) if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway"]
        spec = gw["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        vols = {v["name"]: v for v in spec["volumes"]}
        assert mounts["tls"]["readOnly"] is True and vols["tls"]["secret"]["secretName"].startswith("zrc-gateway-tls")
        for var in ("ZRC_TLS_CERT", "ZRC_TLS_KEY"):
            assert env[var].startswith(mounts["tls"]["mountPath"] + "/")
    gw = compose()["services"]["gateway"]
    assert set(gw["secrets"]) == {"gateway_tls_cert", "gateway_tls_key"}
    assert gw["environment"]["ZRC_TLS_CERT"] == "/run/secrets/gateway_tls_cert"


def test_no_secret_is_committed():
    for overlay in OVERLAYS:
        text = (ROOT / f"deploy/k8s/overlays/{overlay}/kustomization.yaml").read_text()
        assert "literals:" not in text, "secrets come from generated, git-ignored files"
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/k8s/overlays/dev/secrets/zrc-admin.env"],
                             cwd=ROOT).returncode
    assert ignored == 0, "generated dev secrets are git-ignored"
    c = compose()
    for name, svc in c["services"].items():
        for var, value in (svc.get("environment") or {}).items():
            if any(w in var for w in ("TOKEN", "SECRET", "PASSWORD", "ACCESS_KEY", "ROOT_USER")):
                assert str(value).startswith("${"), f"{name}.{var} is not taken from the generated .env"
    for s in c["secrets"].values():
        assert s["file"].startswith("${") and ":?" in s["file"]


def test_image_creates_the_spool_for_its_user():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "mkdir -p /spool" in dockerfile and "chown 10001:10001 /spool" in dockerfile
    assert compose()["services"]["gateway"]["environment"]["ZRC_TMPDIR"] == "/spool"


@pytest.mark.parametrize("value,secure", [("true", True), ("1", True), ("YES", True), ("false", False),
                                          ("0", False), ("no", False), ("ture", None), ("on", None)])
def test_s3_secure_is_parsed_strictly(value, secure):
    from zrc.storage import s3_secure
    if secure is None:
        with pytest.raises(SystemExit):
            s3_secure({"ZRC_S3_SECURE": value})
    else:
        assert s3_secure({"ZRC_S3_SECURE": value}) is secure
