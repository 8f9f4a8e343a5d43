# landrec: the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
BIN       := $(VENV)/bin
LANDREC   := $(BIN)/landrec
STAMP     := $(VENV)/.installed
OUT       ?= out
# Debian packages: what the demo needs, and what the tests need on top of it.
DEMO_DEB  := tesseract-ocr gdal-bin fonts-dejavu-core fonts-dejavu-extra fonts-liberation
TEST_DEB  := $(DEMO_DEB) postgresql-15 postgresql-15-postgis-3 chromium chromium-driver python3-qgis qgis-providers

.PHONY: help demo test bench lint sample deb-demo deb-test venv web clean

help:
	@echo "make demo        digitize the sample district into $(OUT)/landrec.gpkg and serve it (NO_SERVE=1 to stop after the batch)"
	@echo "make test        run the unit, integration, CLI and browser tests (starts its own PostGIS)"
	@echo "make bench       measure landrec against its peer tools"
	@echo "make sample      regenerate sample_data/district from its seed"

# Install whatever Debian packages are missing (root, or sudo when not root).
deb-demo deb-test: deb-%:
	@pkgs="$(if $(filter test,$*),$(TEST_DEB),$(DEMO_DEB))"; missing=""; \
	for p in $$pkgs; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	fi

$(STAMP): setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(STAMP)

# The web map's JavaScript (MapLibre) from the npm registry, installed, never committed.
web: venv
	$(BIN)/python -c "from api.web import ensure_assets; ensure_assets()"

demo: deb-demo venv web
	$(LANDREC) demo --out $(OUT) $(if $(NO_SERVE),--no-serve,)

test: deb-test venv web
	$(BIN)/lint-imports --config setup.cfg
	$(BIN)/pytest tests

bench: deb-test venv
	$(BIN)/python -m bench $(BENCH_ARGS)

sample: venv
	$(BIN)/python -m sample_data.generate --out sample_data/district --overwrite

lint: venv
	$(BIN)/ruff check gis digitize cadastre api styles sample_data tests bench
	$(BIN)/lint-imports --config setup.cfg

clean:
	rm -rf $(OUT) .pytest_cache
