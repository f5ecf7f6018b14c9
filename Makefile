# Two commands on a fresh machine: `make run` and `make test`. Everything else is here too.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_ACCOUNT_ID_ENDPOINT_MODE := disabled

.PHONY: install run test lint format unit integration e2e infra docs security fuzz synth bench openapi shopify-app clean checkov-install chaos

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# Debian's Chromium for the browser tests of the customer pages (Playwright drives it; `playwright install` would
# download a browser build of its own, which these machines cannot). Installed with apt when missing, as root.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "note: no $(CHROMIUM): the browser tests need Debian's chromium (apt-get install chromium, as root)"; \
	fi

install: $(STAMP) $(CHROMIUM)

# checkov (the template scanner tests/infra/test_checkov.py runs) pins boto3 and others apart from requirements.lock:
# it gets its own environment, pinned by requirements-checkov.lock.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements-checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --no-deps -r requirements-checkov.lock
	touch $(CHECKOV_STAMP)

checkov-install: $(CHECKOV_STAMP)

# The local run's two ports: `make run PORT=5280 AWS_PORT=5281` when another program holds one of them.
PORT ?= 4280
AWS_PORT ?= 4281

run: install ## start the whole API locally: moto as AWS, no account, no Docker; a demo history in the background
	$(VENV)/bin/backinstock serve --port $(PORT) --aws-port $(AWS_PORT) --info-file .local/server.json \
		--log-file .local/server.log --seed-signups 50 --seed-preorders 10 --email-rate 14 --sms-rate 20

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

unit: install
	$(PY) -m pytest tests/unit -q

integration: install
	$(PY) -m pytest tests/integration -q

e2e: install
	$(PY) -m pytest tests/e2e -q

infra: install checkov-install
	$(PY) -m pytest tests/infra -q

docs: install ## every shell block of README.md and docs/*.md, run as written against a fresh local server
	$(PY) -m pytest tests/docs -q

security: install ## the security suite, over HTTP against a local run (tests/security/)
	$(PY) -m pytest tests/security -q

fuzz: install ## the contract fuzzer alone (tests/contract/), with more examples: FUZZ_MAX_EXAMPLES, FUZZ_MAX_TIME, FUZZ_SEED, FUZZ_ARGS
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-30} FUZZ_MAX_TIME=$${FUZZ_MAX_TIME:-3600} $(PY) -m pytest tests/contract -q -rA -s

test: install checkov-install lint ## lint and every test layer: one full validated CDK synth, checkov, the security suite, the docs
	# Two workers (pytest-xdist) for a 2-core machine: about 7 minutes instead of 15. Each worker has its own moto
	# and, for the HTTP layers, its own local server.
	$(PY) -m pytest -q -n 2

synth: install ## full synth: validation and cdk-nag on, dependency layer bundled locally with pip (no Docker)
	$(PY) app.py
	@echo "Cloud assembly: $(CURDIR)/cdk.out (deploy: npx aws-cdk@2 deploy, see docs/DEPLOY.md)"

shopify-app: install ## regenerate shopify.app.toml (the app's webhook subscriptions, from the intake's topics; a test fails when it drifts)
	$(PY) -m backinstock_tools.shopify_app > shopify.app.toml

openapi: install ## regenerate docs/openapi.json from the registry (a test fails when it drifts)
	$(PY) -m backinstock.services.openapi > docs/openapi.json

bench: install ## cold starts, warm latency, bulk notify, the send worker, webhook intake, a 10,000-signup restock, reports verify and rebuild, the send path's keys and a big restock at the provider's pace; then reports and exports; then the preorder reports
	$(PY) bench/run.py
	$(PY) bench/reports.py
	$(PY) bench/preorders.py

chaos: install ## the whole pipeline under seeded faults, then its invariants (CHAOS_SEED=<n> replays a run; docs/RELIABILITY.md)
	PYTHONHASHSEED=$${PYTHONHASHSEED:-0} $(PY) -m backinstock_tools.chaos --seed $${CHAOS_SEED:-1}

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
