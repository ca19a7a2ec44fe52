# Two commands on a fresh Debian-like machine: `make demo` and `make test`.
# Each does its own setup: the broker and database packages when missing, the virtual
# environment, and the package with its test extra. A second run skips what is done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.alertloop-installed
PYTEST_ARGS ?=
# Test processes: most tests wait on servers and boards, so a few run side by side on 2 cores.
# Each process starts its own stack; a test file stays in one process (--dist loadfile).
PYTEST_WORKERS ?= 3

.PHONY: help setup system-packages container-engine venv firmware demo test test-docker typecheck-tree lint tox image-platforms clean

help:
	@echo "make demo    run the whole alert loop with simulated boards (sets everything up first)"
	@echo "make test    run the test suite (sets everything up first)"
	@echo "make test-docker  only the docker-backend and end-to-end tests on containers"
	@echo "make setup   only install what is missing (packages, .venv)"
	@echo "make firmware  build the sketches for this machine (firmware/host/build/)"
	@echo "make lint    ruff and mypy"
	@echo "make image-platforms  the wheel the service image installs for each package on amd64, arm64, armv7"

setup: system-packages venv

# Installs the Debian packages named in $$missing (as root, or with sudo), or says how.
APT_INSTALL = \
	echo "installing system packages:$$missing"; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	else echo "error: need$$missing; run as root or install sudo, or install them yourself (apt-get install$$missing)" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "error: no apt-get here; install$$missing with your package manager" >&2; exit 1; fi; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null

# From the distribution's packages, only when missing: mosquitto and influxd (the native stack),
# openssl (the test CA of the TLS broker), ejabberd (a second MQTT 5 broker for the conformance
# tests), a C++ compiler, pkg-config and libmosquitto-dev (the host build of the sketches).
system-packages:
	@missing=""; \
	{ command -v mosquitto || test -x /usr/sbin/mosquitto; } >/dev/null 2>&1 || missing="$$missing mosquitto"; \
	{ command -v mosquitto_pub; } >/dev/null 2>&1 || missing="$$missing mosquitto-clients"; \
	{ command -v influxd || test -x /usr/bin/influxd; } >/dev/null 2>&1 || missing="$$missing influxdb"; \
	{ command -v openssl; } >/dev/null 2>&1 || missing="$$missing openssl"; \
	{ command -v ejabberdctl || test -x /usr/sbin/ejabberdctl; } >/dev/null 2>&1 || missing="$$missing ejabberd"; \
	{ command -v g++; } >/dev/null 2>&1 || missing="$$missing g++"; \
	{ command -v pkg-config; } >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	{ pkg-config --exists libmosquitto; } >/dev/null 2>&1 || missing="$$missing libmosquitto-dev"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	$(APT_INSTALL); \
	for unit in mosquitto influxdb ejabberd; do \
	  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet $$unit 2>/dev/null; then \
	    echo "note: the system $$unit service is running; alertloop never uses it (it starts its own on free ports)"; fi; \
	done

# A container engine for the docker backend: Docker if one answers, else Podman (installed with
# runc, and debootstrap for the local images, when missing).
container-engine: venv
	@if $(BIN)/alertloop stack engine status >/dev/null 2>&1; then exit 0; fi; \
	missing=""; \
	for p in podman runc debootstrap; do \
	  { command -v $$p || test -x /usr/sbin/$$p; } >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	$(APT_INSTALL)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# The sketches built for this machine (firmware/host/README.md); incremental.
firmware: system-packages
	$(MAKE) -C firmware host

demo: setup
	$(BIN)/alertloop demo $(DEMO_ARGS)

# The alert-loop e2e tests that run again on the docker stack (the demo tests choose their own).
DOCKER_E2E = tests/e2e/test_alert_loop.py tests/e2e/test_foreign_notifications.py

# The suite on the native stack, then the end-to-end tests again on the docker stack, with a
# container engine (and the local images) set up for the run and the engine stopped after it.
test: setup firmware container-engine
	@engine=$$($(BIN)/alertloop stack engine start --print-env) || exit 1; eval "$$engine"; \
	trap 'status=$$?; $(BIN)/alertloop stack engine stop --check-clean || status=1; exit $$status' EXIT; \
	$(BIN)/alertloop stack images && \
	$(BIN)/pytest --alertloop-stack native -n $(PYTEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS) && \
	$(BIN)/pytest --alertloop-stack docker -n 2 --dist loadfile -m e2e $(DOCKER_E2E)

# Only the docker-backend tests and the end-to-end suite on the docker stack.
test-docker: setup firmware container-engine
	@engine=$$($(BIN)/alertloop stack engine start --print-env) || exit 1; eval "$$engine"; \
	trap 'status=$$?; $(BIN)/alertloop stack engine stop --check-clean || status=1; exit $$status' EXIT; \
	$(BIN)/alertloop stack images && \
	$(BIN)/pytest --alertloop-stack docker tests/integration/test_stack_docker.py $(DOCKER_E2E)

# mypy reads packages by their import names: build/typecheck/alertloop/{sim,services,hil} are
# links to the folders ([tool.mypy] in pyproject.toml points there).
typecheck-tree:
	@mkdir -p build/typecheck/alertloop && for p in sim services hil; do \
		ln -sfn ../../../$$p build/typecheck/alertloop/$$p; done

lint: venv typecheck-tree
	$(BIN)/ruff check sim services hil tests bench
	$(BIN)/ruff format --check sim services hil tests bench
	$(BIN)/mypy

tox: venv
	$(BIN)/tox

# The file deploy/Dockerfile installs for every package on linux/amd64, linux/arm64 and
# linux/arm/v7 (asks the package index; nothing is installed). BUILD_SDISTS=1 also builds here
# each sdist the image builds from source.
image-platforms: $(BIN)/python
	$(BIN)/python deploy/check_platform_wheels.py $(if $(BUILD_SDISTS),--build-sdists)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tox demo-output build
	$(MAKE) -C firmware clean
