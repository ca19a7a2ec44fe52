# Two commands on a fresh Debian-like machine: `make demo` and `make test`.
# Each does its own setup: the broker and database packages when missing, the virtual
# environment, and the package with its test extra. A second run skips what is done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.alertloop-installed
PYTEST_ARGS ?=

.PHONY: help setup system-packages venv demo test lint tox clean

help:
	@echo "make demo    run the whole alert loop with simulated boards (sets everything up first)"
	@echo "make test    run the test suite (sets everything up first)"
	@echo "make setup   only install what is missing (packages, .venv)"
	@echo "make lint    ruff and mypy"

setup: system-packages venv

# mosquitto, influxd and openssl from the distribution's packages, only when the binaries are
# missing; ejabberd (a second MQTT 5 broker for the conformance tests) when it can be installed.
system-packages:
	@missing=""; \
	{ command -v mosquitto || test -x /usr/sbin/mosquitto; } >/dev/null 2>&1 || missing="$$missing mosquitto"; \
	{ command -v mosquitto_pub; } >/dev/null 2>&1 || missing="$$missing mosquitto-clients"; \
	{ command -v influxd || test -x /usr/bin/influxd; } >/dev/null 2>&1 || missing="$$missing influxdb"; \
	{ command -v openssl; } >/dev/null 2>&1 || missing="$$missing openssl"; \
	{ command -v ejabberdctl || test -x /usr/sbin/ejabberdctl; } >/dev/null 2>&1 || optional="ejabberd"; \
	if [ -z "$$missing$$optional" ]; then exit 0; fi; \
	echo "installing system packages:$$missing $$optional"; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	elif [ -z "$$missing" ]; then echo "note: $$optional not installed (no root, no sudo); its conformance tests will be skipped"; exit 0; \
	else echo "error: need$$missing; run as root or install sudo, or install them yourself (apt-get install$$missing)" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  if [ -z "$$missing" ]; then echo "note: $$optional not installed (no apt-get); its conformance tests will be skipped"; exit 0; fi; \
	  echo "error: no apt-get here; install$$missing with your package manager" >&2; exit 1; fi; \
	$$sudo apt-get update -qq && \
	if [ -n "$$missing" ]; then \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; fi; \
	if [ -n "$$optional" ]; then \
	  echo "installing $$optional (a second MQTT 5 broker for the conformance tests; they skip without it)"; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$optional >/dev/null \
	    || echo "note: $$optional could not be installed; its conformance tests will be skipped"; fi; \
	for unit in mosquitto influxdb ejabberd; do \
	  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet $$unit 2>/dev/null; then \
	    echo "note: the system $$unit service is running; alertloop never uses it (it starts its own on free ports)"; fi; \
	done

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: setup
	$(BIN)/alertloop demo $(DEMO_ARGS)

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check sim services hil tests bench
	$(BIN)/mypy sim services hil

tox: venv
	$(BIN)/tox

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tox demo-output
