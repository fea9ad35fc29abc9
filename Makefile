# The two set-up commands of the README: `make demo` and `make test`.
# Each creates the virtual environment on first use; nothing else needs installing by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# One venv, two installs: `make demo` needs only the runtime dependencies (its exchange is
# simulated: no ccxt), `make test` adds the dev toolchain. A stamp per install and version of
# pyproject.toml; the dev install also stamps the demo one (it contains it), so `make demo`
# after `make test` installs nothing, and `make test` after `make demo` adds only the rest.
SUM       := $(shell cksum pyproject.toml | cut -d' ' -f1)
STAMP      = $(VENV)/.installed-dev-$(SUM)
DEMO_STAMP = $(VENV)/.installed-demo-$(SUM)
# Creates the venv if needed and forgets the stamps of other pyproject.toml versions.
VENV_READY = test -x $(BIN)/python || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet --upgrade pip; }; \
	find $(VENV) -maxdepth 1 -name '.installed-*' ! -name '*-$(SUM)' -delete

# The lowest OpenTelemetry releases we support, in a second venv: `make test` runs the type check
# and the suite there too, so both ends of pyproject.toml's OTel range are tested.
MIN_VENV        ?= .venv-otel-min
# ... on the lowest supported Python too, where this machine has it (pyenv's 3.10; else python3).
MIN_PYTHON      ?= $(or $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python3.10)),$(PYTHON))
MIN_CONSTRAINTS  = tests/constraints-otel-min.txt
MIN_SUM         := $(shell cat pyproject.toml $(MIN_CONSTRAINTS) | cksum | cut -d' ' -f1)
MIN_STAMP        = $(MIN_VENV)/.installed-dev-$(MIN_SUM)

# The heavy trading frameworks get a venv each, as their pins conflict with each other
# (nautilus_trader needs pandas < 3, freqtrade brings pandas 3): `make test` runs the tests of
# each integration (tests/frameworks/NAME) in its own venv, with otel-trading's dev toolchain.
FRAMEWORKS       = nautilus_trader freqtrade
FRAMEWORK_STAMPS = $(foreach fw,$(FRAMEWORKS),.venv-$(fw)/.installed-dev-$(SUM))

# Real Prometheus tools the alert tests run (promtool, alertmanager) and the browser the console's
# tests drive through Playwright (Debian's chromium: no browser download): Debian packages.
APT_TOOLS = prometheus prometheus-alertmanager chromium

.PHONY: demo test test-otel-min test-frameworks suite-newest suite-otel-min suite-frameworks lint typecheck unit bench clean system-packages dashboards

$(STAMP): pyproject.toml
	@$(VENV_READY)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	@$(VENV_READY)
	$(BIN)/python -m pip install --quiet -e '.[console]'
	touch $@

$(MIN_STAMP): pyproject.toml $(MIN_CONSTRAINTS)
	@test -x $(MIN_VENV)/bin/python || { $(MIN_PYTHON) -m venv $(MIN_VENV) && $(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip; }; \
	find $(MIN_VENV) -maxdepth 1 -name '.installed-*' ! -name '*-$(MIN_SUM)' -delete
	$(MIN_VENV)/bin/python -m pip install --quiet -e '.[dev]' -c $(MIN_CONSTRAINTS)
	touch $@

$(FRAMEWORK_STAMPS): .venv-%/.installed-dev-$(SUM): pyproject.toml
	@test -x .venv-$*/bin/python || { $(PYTHON) -m venv .venv-$* && .venv-$*/bin/python -m pip install --quiet --upgrade pip; }; \
	find .venv-$* -maxdepth 1 -name '.installed-*' ! -name '*-$(SUM)' -delete
	.venv-$*/bin/python -m pip install --quiet -e '.[dev,$*]'
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/otel-trading demo

system-packages:
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus-alertmanager >/dev/null 2>&1 \
		|| ! command -v chromium >/dev/null 2>&1; then \
		echo "installing Debian packages: $(APT_TOOLS)"; \
		SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_TOOLS) >/dev/null; \
	fi

# Lint and type-check, then three independent suites at once (their output is printed whole as
# each one ends): the newest OTel, the lowest supported OTel, and the framework integrations.
test: $(STAMP) $(MIN_STAMP) $(FRAMEWORK_STAMPS) system-packages
	$(BIN)/ruff check otel_trading tests examples benchmarks collector-config
	$(BIN)/mypy --strict otel_trading collector-config/grafana/generate_dashboards.py
	@$(MAKE) --no-print-directory -j3 --output-sync=target suite-newest suite-otel-min suite-frameworks

# The lowest supported OTel releases alone.
test-otel-min: $(MIN_STAMP) system-packages
	@$(MAKE) --no-print-directory suite-otel-min

# Each framework integration's tests in that framework's venv (OTEL_TRADING_TEST_FRAMEWORK lets
# tests/conftest.py collect tests/frameworks/NAME there; the main run leaves those folders out).
test-frameworks: $(FRAMEWORK_STAMPS) system-packages
	@$(MAKE) --no-print-directory suite-frameworks

# The suites themselves, without their installs (the targets above and `test` make those first).
suite-newest:
	@echo "== suite: newest OTel ($(BIN))"
	$(BIN)/pytest

suite-otel-min:
	@echo "== suite: lowest supported OTel ($(MIN_VENV))"
	$(MIN_VENV)/bin/python -c 'import sys; from importlib.metadata import version as v; print("Python", sys.version.split()[0], "/ OTel", v("opentelemetry-sdk"), "/ contrib", v("opentelemetry-instrumentation"))'
	$(MIN_VENV)/bin/mypy --strict --cache-dir $(MIN_VENV)/.mypy_cache otel_trading
	$(MIN_VENV)/bin/pytest -p no:cacheprovider

suite-frameworks:
	@set -e; for fw in $(FRAMEWORKS); do \
		echo "== suite: $$fw $$(.venv-$$fw/bin/python -c "from importlib.metadata import version; print(version('$$fw'))")"; \
		OTEL_TRADING_TEST_FRAMEWORK=$$fw .venv-$$fw/bin/pytest -p no:cacheprovider tests/frameworks/$$fw; \
	done

# The Grafana dashboards are generated: edit collector-config/grafana/generate_dashboards.py, run this.
dashboards:
	$(PYTHON) collector-config/grafana/generate_dashboards.py

# The peers of the benchmark (ddtrace, logfire: the `bench` extra) get a venv of their own:
# ddtrace brings a pytest plugin and patches on import, which the test venv must not carry.
BENCH_VENV  ?= .venv-bench
BENCH_STAMP  = $(BENCH_VENV)/.installed-bench-$(SUM)

$(BENCH_STAMP): pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || { $(PYTHON) -m venv $(BENCH_VENV) && $(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip; }; \
	find $(BENCH_VENV) -maxdepth 1 -name '.installed-*' ! -name '*-$(SUM)' -delete
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	touch $@

# The hot paths against the raw OTel SDK and peers (ddtrace and logfire run in a subprocess of
# the bench venv), then each framework's backtest with the instrumentation on vs off (in that
# framework's venv; backtrader is in the main one).
bench: $(STAMP) $(BENCH_STAMP) $(FRAMEWORK_STAMPS)
	$(BIN)/python benchmarks/run.py --peers-python $(BENCH_VENV)/bin/python
	-$(BIN)/python benchmarks/frameworks/bench_backtrader.py
	-@for fw in $(FRAMEWORKS); do .venv-$$fw/bin/python benchmarks/frameworks/bench_$$fw.py; done

clean:
	rm -rf $(VENV) $(MIN_VENV) $(BENCH_VENV) $(foreach fw,$(FRAMEWORKS),.venv-$(fw)) .mypy_cache .ruff_cache .pytest_cache .otel-trading
