# Salesync: `make run` (everything on http://127.0.0.1:8000) and `make test` (what CI runs).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
REQS   := requirements-dev.txt common/requirements.txt common/pyproject.toml $(wildcard */requirements.txt)

.PHONY: run test up down status bench images lint typecheck format venv clean

$(VENV)/.installed: $(REQS)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

run: venv  ## the whole system in one process (SQLite, in-process events), nothing to install
	$(PY) -m devstack.embedded

test: venv  ## installs what is missing, starts PostgreSQL, Redis and Kafka, runs every test
	$(PY) -m devstack.testrun

up: venv  ## distributed local stack: nginx on :8000, PostgreSQL, Redis, Kafka, one gunicorn per service
	$(PY) -m devstack.stack up

down: venv
	$(PY) -m devstack.stack down

status: venv
	$(PY) -m devstack.stack status

images: venv  ## the seven images from Dockerfile-<svc> (docker, else podman), tagged like CI
	$(PY) -m devstack.images build

bench: venv  ## load scenarios through nginx on the distributed stack -> benchmarks/report.md
	$(PY) -m benchmarks.run

lint: venv
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck: venv  ## mypy over common/, the services, devstack/ and benchmarks/ (pyproject.toml)
	$(PY) -m mypy

format: venv
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) var
