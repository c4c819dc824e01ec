# flaskops.stack: the two commands are `make demo` and `make test`.
# Everything they need is installed by the targets below (run as root: the
# test bed uses rootful podman and builds images with mmdebstrap).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
STATE := $(CURDIR)/.testbed
SUITES ?= bookworm trixie
# Scenarios joined by "+" assert no request's latency: they run side by side;
# those joined by "/" one after the other, beside the rest of their group
# (gunicorn and site bound a request's time: they run alone). "sanity" is
# ansible-test sanity on both cores (make sanity alone).
SCENARIOS ?= flask_app+multihost gunicorn site cores/acme/nginx_proxy+workers/sanity+runs
DEMO_SUITE ?= bookworm
DEMO_SSH_PORT ?= 2222
DEMO_HTTP_PORT ?= 8080

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(STATE)/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(STATE)/collections
export ANSIBLE_HOME := $(STATE)/ansible-home
export ANSIBLE_LOCAL_TEMP := $(STATE)/ansible-home/tmp
export XDG_CACHE_HOME := $(STATE)/cache
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export DEMO_SSH_PORT DEMO_HTTP_PORT DEMO_SUITE

.PHONY: help venv oldest collection testbed lint unit sanity molecule test bench bench-before-after demo demo-down clean docs

help:
	@echo "make demo       deploy the example app to a local container and show it through nginx"
	@echo "make test       lint and run every test (Molecule scenarios in real containers)"
	@echo "make demo-down  remove the demo container"
	@echo "make bench      measure serving, static files, converge and deploy times (docs/benchmarks.md)"
	@echo "make bench-before-after BEFORE=<commit>   run times at that commit and now, side by side"
	@echo "make docs       write each role's README variable section from its meta/argument_specs.yml"
	@echo "make lint | unit | sanity | molecule SCENARIOS='site'   parts of make test"

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# The oldest supported ansible-core, beside the toolchain's (see
# requirements-oldest.txt).
OLDEST := $(STATE)/ansible-oldest
$(OLDEST)/.installed: requirements-oldest.txt
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/pip install --quiet --upgrade pip
	$(OLDEST)/bin/pip install --quiet -r requirements-oldest.txt
	touch $@

oldest: $(OLDEST)/.installed

# The benchmarks' drawing library, in the toolchain's virtualenv.
$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(VENV)/bin/pip install --quiet -r requirements-bench.txt
	touch $@

# The checkout is importable as the collection flaskops.stack.
collection:
	mkdir -p $(STATE)/collections/ansible_collections/flaskops
	ln -sfn $(CURDIR) $(STATE)/collections/ansible_collections/flaskops/stack

testbed: collection
	testbed/host-setup.sh
	testbed/build-image.sh $(SUITES)

lint: venv collection
	yamllint --strict .
	ansible-lint --profile production

unit: venv collection
	pytest -q -n auto tests/unit

# The variable section of each role's README, between its two marker lines,
# rendered from the role's meta/argument_specs.yml (a unit test fails when
# a README is stale).
docs: venv
	$(VENV)/bin/python testbed/role-docs.py

# ansible-test sanity with the oldest and the newest ansible-core of
# meta/runtime.yml (the newest in the Debian 13 controller container).
sanity: venv oldest testbed
	testbed/run-scenarios.sh sanity

molecule: venv oldest testbed
	testbed/run-scenarios.sh $(SCENARIOS)

# The sanity tests run beside the last scenarios (SCENARIOS).
test: lint unit molecule

# Figures into docs/benchmarks.md and docs/deploy-latency.png, from a fresh
# Debian 12 host (BENCH_VARIANTS=gthread,... adds tuning variants).
bench: venv $(VENV)/.bench-installed collection
	$(MAKE) --no-print-directory testbed SUITES=bookworm
	$(VENV)/bin/python bench/bench.py
	$(VENV)/bin/python bench/report.py $(STATE)/bench/results.json docs

# No-op and code-only run times of the collection at BEFORE and of this
# checkout, turn by turn on one fresh Debian 12 host.
bench-before-after: venv collection
	@test -n "$(BEFORE)" || { echo "usage: make bench-before-after BEFORE=<commit>" >&2; exit 2; }
	$(MAKE) --no-print-directory testbed SUITES=bookworm
	$(VENV)/bin/python bench/before_after.py $(BEFORE)

demo: venv
	$(MAKE) --no-print-directory testbed SUITES=$(DEMO_SUITE)
	testbed/demo.sh

demo-down:
	testbed/instance.sh down flaskops-demo

clean: demo-down
	rm -rf $(STATE) $(VENV)
