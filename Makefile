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

# Real Prometheus tools the alert tests run (promtool, alertmanager): Debian packages.
APT_TOOLS = prometheus prometheus-alertmanager

.PHONY: demo test lint typecheck unit bench clean system-packages dashboards

$(STAMP): pyproject.toml
	@$(VENV_READY)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	@$(VENV_READY)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/otel-trading demo

system-packages:
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus-alertmanager >/dev/null 2>&1; then \
		echo "installing Debian packages: $(APT_TOOLS)"; \
		SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_TOOLS) >/dev/null; \
	fi

test: $(STAMP) system-packages
	$(BIN)/ruff check otel_trading tests examples benchmarks collector-config
	$(BIN)/mypy --strict otel_trading collector-config/grafana/generate_dashboards.py
	$(BIN)/pytest

# The Grafana dashboards are generated: edit collector-config/grafana/generate_dashboards.py, run this.
dashboards:
	$(PYTHON) collector-config/grafana/generate_dashboards.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .otel-trading
