# Two commands do everything on a fresh machine: `make run` and `make test`.
# Set-up steps are stamped, so a second run skips what is already there.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RATINGS := $(VENV)/bin/ratings
STATE := .local
INSTALLED := $(VENV)/.installed
JARS := $(STATE)/jars/.resolved
SPARK_CLASSES := $(STATE)/jars/.spark-classes

.PHONY: setup run test unit integration chaos cluster stop status clean

setup: $(INSTALLED) $(JARS) $(SPARK_CLASSES)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (the first time builds pyspark: several minutes)..."
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	@touch $@

$(JARS): $(INSTALLED) $(wildcard ratings_assets/localstack/maven/*.xml)
	$(PY) -m ratings_assets.localstack resolve
	@mkdir -p $(dir $@) && touch $@

# The Spark driver's class archive (localstack/spark_classes.py): recorded again when Spark or its jars change.
$(SPARK_CLASSES): $(INSTALLED) $(JARS)
	$(PY) -m ratings_assets.localstack spark-classes
	@touch $@

# Debian's Chromium for the browser test (ratings_assets_tests/test_ui_browser.py), driven by the playwright
# package of the test extra; Playwright's own browser download is never used. apt-get runs only when
# /usr/bin/chromium is missing (also after the stamp was made: then the stamp is redone).
BROWSER := $(STATE)/.browser-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: browser browser-missing
browser: $(BROWSER)
$(BROWSER): $(if $(wildcard /usr/bin/chromium),,browser-missing)
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the browser test..."; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@mkdir -p $(dir $@) && touch $@
test integration: $(BROWSER)

run: setup
	$(RATINGS) demo

# CI's layers. Not in them, each with its own target: the ten-kill soak of the supervisor (make chaos: 10 minutes,
# and slower than its limits when the machine is shared) and the node faults of a six-server cluster (make cluster:
# over 20 minutes on 2 shared cores, which alone would take CI past its time budget).
CI_INTEGRATION := integration and not soak and not cluster

test: setup
	$(PY) -m pytest -m "not integration" -q
	$(PY) -m pytest -m "$(CI_INTEGRATION)" -q --durations=15

unit: $(INSTALLED)
	$(PY) -m pytest -m "not integration" -q

integration: setup
	$(PY) -m pytest -m "$(CI_INTEGRATION)" -q --durations=15

chaos: setup
	$(PY) -m pytest -m chaos -q

cluster: setup
	$(PY) -m pytest -m cluster -q -s

status: $(INSTALLED)
	$(PY) -m ratings_assets.localstack status

stop: $(INSTALLED)
	$(PY) -m ratings_assets.localstack down

clean: stop
	rm -rf $(STATE)

# The Compose deployment (docker/, README "Docker"): engine, base image and images made when missing, then the
# stack up until ratings arrive. Host ports: DOCKER_UI_PORT, DOCKER_KAFKA_PORT, DOCKER_CASSANDRA_PORT; base image:
# DOCKER_BASE_IMAGE (default: debian:bookworm-slim when it can be pulled, else one made here with debootstrap).
.PHONY: docker-up docker-down docker-clean
docker-up: $(INSTALLED)
	$(PY) -m ratings_assets.compose up

docker-down: $(INSTALLED)
	$(PY) -m ratings_assets.compose down

docker-clean: $(INSTALLED)
	$(PY) -m ratings_assets.compose clean

.PHONY: bench bench-smoke
# Throughput, latency, aggregation time and memory on this machine (docs/benchmarks; the full run is slow).
bench: setup
	$(PY) -m bench

bench-smoke: setup
	$(PY) -m bench --smoke
