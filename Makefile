# The verbs of the project. Everything needs only python3 (3.11) on the PATH; uv is
# installed into .tools/ from PyPI, the project's dependencies into .venv/ from uv.lock.
UV_VERSION := 0.13.9
PYTHON ?= python3
UV := .tools/bin/uv
RUN := $(UV) run --frozen --no-sync
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: help sync bytecode run up migrate test test-unit test-fast fuzz bench drill lint

help:
	@echo "make run      standalone network with demo data (one process, SQLite)"
	@echo "make up       distributed network on this machine (PostgreSQL, RabbitMQ, one process a part)"
	@echo "make migrate  create the PostgreSQL databases and run every migration (distributed)"
	@echo "make test     the full test suite (needs PostgreSQL, RabbitMQ and Redis on localhost)"
	@echo "make test-unit the tests that need no server and start no process (servers may be stopped)"
	@echo "make lint     ruff and strict mypy over every part"
	@echo "make fuzz     Schemathesis against the standalone network, deeper than in the tests"
	@echo "make bench    benchmarks; results go into docs/benchmarks.md"
	@echo "make drill    the fault drill (replicas killed, servers restarted); report in docs/reliability.md"

$(UV):
	@$(PYTHON) -m venv .tools || { echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"; exit 1; }
	@.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced-with-bytecode: $(UV) uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml libs/*/pyproject.toml web/pyproject.toml
	$(UV) sync --frozen --compile-bytecode
	@touch $@

sync: .venv/.synced-with-bytecode

# Every module compiled ahead, for a Python told not to write bytecode (PYTHONDONTWRITEBYTECODE):
# otherwise each process compiles every module it imports again, over half of its start-up.
bytecode: sync
	@$(RUN) python -m compileall -q libs services gateway web cli tests benchmarks drill conftest.py

run: bytecode
	$(RUN) waymark run

up: bytecode
	$(RUN) waymark up

migrate: bytecode
	$(RUN) waymark migrate

# Three workers (xdist) on two cores: a third fills the time the others wait on a network or a
# timer (10 min 50 s against 12 min 25 s on two, Intel Xeon); a group of tests sharing one
# network runs on one worker (conftest.py).
test: bytecode
	$(RUN) pytest -n 3 --dist loadgroup

# The tests whose fixtures start nothing; the root conftest.py fails any that reaches a server.
test-unit: bytecode
	$(RUN) pytest -m unit -q -n 2

test-fast: bytecode
	$(RUN) pytest -x -q --ignore=tests

# FUZZ_EXAMPLES per operation (the suite runs 10) and FUZZ_SEED (a new one each run).
fuzz: bytecode
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} $(RUN) pytest gateway/tests/api -q

bench: bytecode
	$(RUN) python -m benchmarks.run $(SECTIONS)

# Ruff over everything; mypy (strict, see pyproject.toml) over the parts' packages, then over the
# tests, the end-to-end tests, the benchmarks and the fault drill.
PACKAGES := waymark_kernel waymark_registry waymark_referrals waymark_notifications waymark_gateway waymark_cli waymark_web
lint: sync
	$(RUN) ruff check .
	$(RUN) mypy $(addprefix -p ,$(PACKAGES))
	$(RUN) mypy conftest.py libs/kernel/tests services/*/tests gateway/tests cli/tests web/tests tests benchmarks drill

# The fault drill on this machine (its own PostgreSQL, RabbitMQ and Redis), within 15 minutes;
# DRILL_SECONDS of load (default 300, at most 600, less when the start-up took long); the
# report goes into docs/reliability.md.
drill: bytecode
	$(RUN) python -m drill.run
