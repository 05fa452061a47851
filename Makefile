# The two set-up commands of the README: `make dev` (tidal dev on the embedded default) and
# `make test` (lint, types, layers and the whole suite). Both install what they need.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml operator/pyproject.toml | sha1sum | cut -c1-12)
APT    := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: dev test lint unit system-deps venv bench checkov cloudevents1 docs

# tidal (the runtime, with every extra the suite needs) and the operator's own distribution
# (operator/pyproject.toml: the operator and its data plane, with the data plane's clients), both
# editable: no PYTHONPATH needed for either
$(STAMP): pyproject.toml operator/pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -e './operator[data-plane]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

# checkov (tests/deploy scans the rendered chart and the Dockerfiles) pins many dependencies
# exactly: it gets its own virtualenv so they never constrain the dev extra. The tests find it
# there (or at $$CHECKOV).
CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV):
	python3 -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install -q 'checkov==3.3.30'

checkov: $(CHECKOV)

# the official CloudEvents SDK 1.x, the bindings' second peer (tests/conformance): the same
# distribution name as the 2.x the package depends on, so it gets a virtualenv of its own
CLOUDEVENTS1 := .venv-cloudevents1/bin/python
$(CLOUDEVENTS1):
	python3 -m venv .venv-cloudevents1
	.venv-cloudevents1/bin/python -m pip install -q 'cloudevents==1.12.0'

cloudevents1: $(CLOUDEVENTS1)

system-deps:
	@command -v redis-server >/dev/null || { $(APT) update -qq && $(APT) install -y -qq redis-server; }
	@command -v promtool >/dev/null || { $(APT) update -qq && $(APT) install -y -qq prometheus; }
	@command -v shellcheck >/dev/null || { $(APT) update -qq && $(APT) install -y -qq shellcheck; }

dev: venv
	$(BIN)/tidal dev $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy operator/tidal_operator
	$(BIN)/lint-imports

unit: venv system-deps checkov cloudevents1
	$(BIN)/pytest $(ARGS)

test: lint unit

# the documentation site into site/ (mkdocs.yml; the suite builds it strictly too)
docs: venv
	$(BIN)/mkdocs build --strict --site-dir site

bench: venv
	$(BIN)/python -m bench.http_path --rounds 5 --seconds 5 $(ARGS)
