# Every target builds .venv from pyproject.toml first, so a fresh clone needs nothing else.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
# The local OpenID Connect provider of tests and `make dev` (oidc-provider-mock 0.4.8) needs Python >= 3.12, so it
# gets a venv of its own. pyenv machines may keep python3.12 outside PATH (or behind a shim that refuses it).
OIDC_VENV := .venv-oidc
OIDC_STAMP := $(OIDC_VENV)/.installed
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 \
	/usr/bin/python3.12; do "$$p" -c '' 2>/dev/null && { echo "$$p"; break; }; done)

.PHONY: dev test bench worker emulator clean oidc-venv prometheus chromium

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(OIDC_STAMP):
	@test -n "$(PYTHON312)" || { echo "no Python 3.12 found for $(OIDC_VENV): set PYTHON312=/path/to/python3.12" >&2; exit 1; }
	test -x $(OIDC_VENV)/bin/python || $(PYTHON312) -m venv $(OIDC_VENV)
	$(OIDC_VENV)/bin/pip install --quiet --disable-pip-version-check oidc-provider-mock==0.4.8
	touch $(OIDC_STAMP)

oidc-venv: $(OIDC_STAMP)

# Prometheus and promtool (Debian's prometheus package): the alert rules are checked with promtool and a real
# Prometheus scrapes the API and a worker in the tests. Installed without starting its service.
prometheus:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

# Chromium (Debian's chromium package) for the browser tests in tests/web, driven by Playwright through its
# executable_path: Playwright's own browser download (`playwright install`) is never used.
chromium:
	@test -x /usr/bin/chromium || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

dev: $(STAMP) $(OIDC_STAMP)
	$(VENV)/bin/comfy-platform dev

test: $(STAMP) $(OIDC_STAMP) prometheus chromium
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python -m bench.engine
	$(VENV)/bin/python -m bench.api
	$(VENV)/bin/python -m bench.drive
	$(VENV)/bin/python -m bench.images
	$(VENV)/bin/python -m bench.scale
	$(VENV)/bin/python -m bench.fleet
	$(VENV)/bin/python -m bench.billing
	$(VENV)/bin/python -m bench.cli

clean:
	rm -rf $(VENV) .venv-oidc var
