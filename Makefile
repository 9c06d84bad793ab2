# Relay: every target is a one-liner around the `relay` CLI or a tool. `make` alone lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv from PATH if present, else bootstrapped from PyPI into .uv/ (no root, no curl|sh).
UV := $(shell command -v uv 2>/dev/null || echo .uv/bin/uv)
# The tools' environment (telemetry off, quiet logs) is set in one place, pipelines/core/settings.py (TOOL_ENV):
# every target below runs the tools through `relay`, or through pytest, whose conftest applies it too.

.uv/bin/uv:
	$(PYTHON) -m venv .uv && .uv/bin/pip install --quiet --disable-pip-version-check uv

# Python writes each module's bytecode into .venv/ on its first import, for the modules actually used. With
# PYTHONDONTWRITEBYTECODE set (common in CI and containers) nothing would be written and every process would
# compile scikit-learn and SciPy again, seconds per DVC stage; compiling all 330 packages at install instead
# took 44 s on 2 cores (41,000 files, a third of them plotly's validators, which Relay hardly imports). So the
# commands make runs write it: the setting is left out of their environment.
unexport PYTHONDONTWRITEBYTECODE
# The runtime alone for the demo and the CLI; --inexact keeps the dev tools if `make test` put them there.
$(BIN)/relay: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --no-dev --inexact --python $(PYTHON)
	@touch $@

# The runtime plus the dev group (pytest, ruff, mypy, the linters and test servers).
$(VENV)/.dev-installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra cluster --python $(PYTHON)
	@touch $(BIN)/relay $@

## Install what the demo and the CLI run into .venv/ (uv sync --frozen --no-dev)
install: $(BIN)/relay

## Install the runtime and the dev tools the tests and linters need (uv sync --frozen)
install-dev: $(VENV)/.dev-installed

# part:teaching:begin
## Run the whole story: ingest → validate → version → train → track → register → serve → monitor → retrain
demo: install
	$(BIN)/relay demo
# part:teaching:end

# `make test` runs two lines at once: lint and type-check on one core, and on the other the tools the tests
# drive and the images (about two minutes on a fresh machine, which would otherwise fall inside the test run;
# the tests then reuse them by content hash), then the tests. The tools come one after another: each may call
# apt-get. A project made without the containers part has no images to prepare. Lint no longer comes first:
# with the tools in place it was the only thing running for 35 s, while the tests' first minute (servers
# starting, imports) had room for it. Its output is not held back, so a lint error shows while tests run.
TEST_TOOLS := browser postgres-server
# part:containers:begin
TEST_TOOLS += prometheus containers test-images
# part:containers:end

# Three test processes per core: most tests spend part of their time waiting (on a server starting, a subprocess,
# a container), and the other processes use the core meanwhile (2-core Xeon: pytest 13.1 min with 2 workers,
# 11.1 with 4; on another day 11.2-11.6 min with 4, 9.4-10.1 with 6, the machine 98% busy throughout).
TEST_WORKERS ?= $(shell echo $$(( 3 * $$(nproc 2>/dev/null || sysctl -n hw.ncpu) )))

## Lint and type-check beside every test on all cores (unit, contracts, integration, end to end, images): ~12 min
test: install-dev
	@$(MAKE) --no-print-directory -j2 lint test-run

test-run: test-tools $(VENV)/.bytecode
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Once after an install, one process collects the tests, which writes the bytecode of everything they import;
# otherwise each of the workers compiles the same modules at once (a fresh clone on 2 cores: a cold collection
# 22 s and 32 CPU-s, a warm one 9 s and 7 CPU-s). It runs while lint has the other core. A test file that
# cannot be collected is reported by the test run itself; the warm-up ignores it.
$(VENV)/.bytecode: $(VENV)/.dev-installed
	@$(BIN)/pytest --collect-only -q -p no:cacheprovider > /dev/null 2>&1 || true
	@touch $@

test-tools:
	@for tool in $(TEST_TOOLS); do $(MAKE) --no-print-directory $$tool || exit; done

# A real browser for the tests that look at pages as a person would. Installed with apt where that is
# possible (root on Debian/Ubuntu, as in CI); elsewhere those tests are skipped and say why.
CHROMIUM ?= $(shell command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null)
## Install Debian's chromium for the browser tests, if it is missing and apt is there
browser:
	@if [ -n "$(CHROMIUM)" ]; then echo "browser: $(CHROMIUM)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && echo "browser: installed chromium"; \
	else echo "browser: no chromium and no root apt-get; the browser tests will be skipped"; fi

# PostgreSQL's server programs for the test that restarts the prediction log's database under load, on a
# throwaway cluster of its own. Debian's package would also create and start a cluster; that is turned off.
## Install Debian's PostgreSQL server (initdb, pg_ctl) for the database-restart test, if missing and apt is there
postgres-server:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then echo "postgres-server: $$(ls /usr/lib/postgresql/*/bin/initdb | tail -1)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		mkdir -p /etc/postgresql-common/createcluster.d \
		&& echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/relay-tests.conf \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
		&& echo "postgres-server: installed"; \
	else echo "postgres-server: no initdb and no root apt-get; the database-restart test will be skipped"; fi

# part:containers:begin
# Debian's Prometheus (with promtool) and Alertmanager (prometheus-alertmanager, with amtool): the checks of
# infra/prometheus/ and infra/alertmanager/, and the test that runs both on the alerting rules. The tests start
# their own on free ports; a daemon the package may start (where the init system lets it) is not used.
## Install Debian's Prometheus and Alertmanager (promtool, amtool) for the alert checks and tests, if missing and apt is there
prometheus:
	@if command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null; then \
		echo "prometheus: $$(command -v prometheus), $$(command -v prometheus-alertmanager)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			prometheus prometheus-alertmanager >/dev/null && echo "prometheus: installed prometheus, prometheus-alertmanager"; \
	else echo "prometheus: missing and no root apt-get; the Prometheus checks and alert tests will be skipped"; fi

# The name this target had before Alertmanager joined it.
promtool: prometheus

## Bring up the production-like stack with Docker Compose (settings in infra/.env; see docs/deploy.md)
stack-up:
	@test -f infra/.env || { echo "copy infra/.env.example to infra/.env and set its passwords first"; exit 2; }
	RELAY_UID=$$(id -u) docker compose -f infra/compose.yaml --env-file infra/.env up -d --build

## Stop the stack (volumes are kept; add -v to docker compose down to drop them)
stack-down:
	docker compose -f infra/compose.yaml --env-file infra/.env down

## Set up buildah and podman (apt, as root) and the local base image for building and running the images
containers:
	@infra/scripts/containers.sh setup || echo "containers: cannot be set up here; the image tests will be skipped"

## Build the images with buildah: localhost/relay-api:dev and localhost/relay-pipeline:dev (docker: see docs/deploy.md)
images: containers
	infra/scripts/containers.sh build

# The images, built ahead of the tests; a failed build is left for the container tests to repeat and report.
test-images:
	@if infra/scripts/containers.sh setup 2>/dev/null; then \
		infra/scripts/containers.sh build || echo "images: not built now; the container tests build them again and report why"; fi

## Build and smoke-test the images only
test-containers: install-dev containers
	$(BIN)/pytest -m containers -q
# part:containers:end

## Run the unit and contract tests that need no server, process or trained model (under 30 s)
test-fast: install-dev
	$(BIN)/pytest -n auto -m "not slow and not integration and not e2e and not containers" -q

# part:audit:begin
# The lock exported as pinned requirements (every group: CI runs the dev tools too), checked by pip-audit against
# PyPI's advisories, then judged against the allowlist (pipelines/core/audit.py). pip-audit exits 1 when it finds
# anything; the verdict, not that, decides. Where PyPI's per-version JSON API is not reachable, pip-audit checks
# nothing, and the last line says so.
AUDIT_DIR := local/audit
## Audit uv.lock for known vulnerabilities (pip-audit via PyPI); fails on any not accepted in .ci/audit-allow.toml
audit: install-dev
	@mkdir -p $(AUDIT_DIR) && rm -f $(AUDIT_DIR)/pip-audit.json
	$(UV) export --frozen --no-hashes --no-emit-project --all-groups --quiet -o $(AUDIT_DIR)/requirements.txt
	-$(BIN)/pip-audit --vulnerability-service pypi --no-deps --disable-pip --progress-spinner off \
		-r $(AUDIT_DIR)/requirements.txt -f json -o $(AUDIT_DIR)/pip-audit.json
	$(BIN)/python -m pipelines.core.audit $(AUDIT_DIR)/pip-audit.json .ci/audit-allow.toml
# part:audit:end

## Lint and type-check
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Start the prediction service on 127.0.0.1:8000 with the champion model
serve: install
	$(BIN)/relay serve

## Run the training flow: dvc repro, push, MLflow tracking, promotion gate
pipeline: install
	$(BIN)/relay pipeline

## Run the monitor (drift, model quality on new labels) and retrain when its decision calls for it
monitor: install
	$(BIN)/relay monitor

# part:prefect-server:begin
## Start a local Prefect server on 127.0.0.1:4200 and serve the deployments (monitoring hourly); Ctrl-C stops serving
deploy: install
	$(BIN)/relay prefect up
	PREFECT_API_URL=http://127.0.0.1:4200/api $(BIN)/relay deploy --cron "$${CRON:-0 * * * *}"

## Stop the Prefect server `make deploy` started
prefect-down: install
	$(BIN)/relay prefect down
# part:prefect-server:end

## Print the stage/owner table and check roles.md, CODEOWNERS and dvc.yaml agree with it
roles: install
	$(BIN)/relay roles --check && $(BIN)/relay roles

## Open the MLflow UI on http://127.0.0.1:5000 over the tracking store the settings name (relay mlflow-ui)
mlflow-ui: install
	$(BIN)/relay mlflow-ui

# part:evidently-ui:begin
## Open Evidently's UI on http://127.0.0.1:8001 over the monitor's workspace, Relay's dashboard provisioned (relay monitor ui)
monitoring-ui: install
	$(BIN)/relay monitor ui
# part:evidently-ui:end

# part:template-only:begin
## Time each stage of the demo and record the table in docs/benchmarks.md
bench-demo: install
	$(BIN)/python benchmarks/demo.py --record docs/benchmarks.md

## Time train, evaluate and sweeps on processes, Dask and Ray at 100k and 1M rows (prints a table; ~15 min)
bench-training: install-dev
	$(BIN)/python benchmarks/training.py
# part:template-only:end

## Remove generated data, models, embedded stores and reports, by the paths settings name (keeps DVC's cache)
clean: install
	$(BIN)/relay clean --yes

## List the targets
help:
	@awk '/^## /{doc=substr($$0,4); next} /^[a-zA-Z_-]+:/{if(doc){split($$0,t,":"); printf "  \033[36m%-12s\033[0m %s\n", t[1], doc}; doc=""}' $(MAKEFILE_LIST)

.PHONY: install install-dev browser postgres-server test test-setup test-tools test-fast audit lint serve pipeline monitor roles mlflow-ui clean help
.PHONY: demo  # part:teaching
.PHONY: monitoring-ui  # part:evidently-ui
.PHONY: bench-demo bench-training  # part:template-only
.PHONY: prometheus promtool stack-up stack-down containers images test-images test-containers  # part:containers
.PHONY: deploy prefect-down  # part:prefect-server
