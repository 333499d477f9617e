# augur: `make demo` and `make test` do all set-up on a fresh Debian machine as root, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# MLflow (tracking server and client for the model-registry tests and evals) in its own environment:
# it needs cachetools>=5, drain3 pins cachetools==4.2.1 (see requirements-mlflow.lock).
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed-stamp
APT_PACKAGES := prometheus prometheus-alertmanager chromium chromium-driver fonts-dejavu-core
# The binaries those packages provide; apt runs only when one is missing.
APT_BINARIES := prometheus promtool amtool prometheus-alertmanager chromium

.PHONY: setup system venv test lint typecheck pytest demo demo-stop lock clean bench

# pip installs with --no-compile, then compileall writes the bytecode of both environments once,
# in parallel (~30 s + ~16 s on 2 cores). Python would cache what it imports on first use, but not
# where PYTHONDONTWRITEBYTECODE is set (it is on this project's build machines): there every
# process compiled its imports again, ~1.5 s for each `augur` command and ~5.6 s for each MLflow
# server the tests start. The project's own sources are compiled before each test run and demo.
COMPILE = $(PY) -m compileall -q -j 0
SOURCES := agent tools rules evals server tests
setup: system venv

system:
	@missing=""; for b in $(APT_BINARIES); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages (missing:$$missing)"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: run as root (or install: $(APT_PACKAGES))" >&2; exit 1; fi; \
	  apt-get -o DPkg::Lock::Timeout=900 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

# The two environments are independent: build them side by side (pip waits on the network and disk).
venv:
	@$(MAKE) --no-print-directory -j2 $(STAMP) $(MLFLOW_STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade 'pip>=24' 'setuptools==84.2.1' 'wheel==0.48.0'
	$(PY) -m pip install -q --no-compile -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@# A few third-party files may not compile (other Python versions' syntax): they are skipped.
	@$(COMPILE) $(VENV)/lib >/dev/null 2>&1 || true
	@touch $@

# The already-migrated empty registry lets each test server skip MLflow's ~60 migrations.
$(MLFLOW_STAMP): requirements-mlflow.lock
	@test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install -q --upgrade 'pip>=24'
	$(MLFLOW_VENV)/bin/python -m pip install -q --no-compile -r requirements-mlflow.lock
	rm -f $(MLFLOW_VENV)/empty-registry.db
	$(MLFLOW_VENV)/bin/mlflow db upgrade sqlite:///$(abspath $(MLFLOW_VENV))/empty-registry.db >/dev/null 2>&1
	@$(MLFLOW_VENV)/bin/python -m compileall -q -j 0 $(MLFLOW_VENV)/lib >/dev/null 2>&1 || true
	@touch $@

lint: venv
	$(VENV)/bin/ruff check agent tools rules evals server tests

# mypy cannot follow setuptools' editable import hook, so it sees the package through a symlink.
typecheck: venv
	@mkdir -p .typecheck && ln -sfn .. .typecheck/augur
	MYPYPATH=.typecheck $(VENV)/bin/mypy -p augur.agent -p augur.tools -p augur.rules -p augur.evals -p augur.server

pytest: setup
	@$(COMPILE) $(SOURCES) >/dev/null
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: setup lint typecheck pytest

demo: setup
	@$(COMPILE) $(SOURCES) >/dev/null
	$(VENV)/bin/augur demo

demo-stop:
	@test -x $(VENV)/bin/augur && $(VENV)/bin/augur demo --stop || true

# The benchmarks whose figures are in the README (a few minutes; run on a quiet machine).
BENCHES := bench_webhook bench_drift bench_onset bench_investigation bench_backtest bench_logs bench_startup
bench: setup
	@for b in $(BENCHES); do echo ">> python -m augur.evals.$$b"; $(PY) -m augur.evals.$$b || exit 1; done

# Re-resolve the pinned versions (only when you mean to change dependencies).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install -q --upgrade pip
	.lockenv/bin/pip install -q -e '.[dev]' && .lockenv/bin/pip freeze --exclude-editable | grep -v '^augur-agent' > requirements.lock
	rm -rf .lockenv
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install -q --upgrade pip
	.lockenv/bin/pip install -q "$$(grep '^mlflow==' requirements-mlflow.lock)" && { sed -n '1,3p' requirements-mlflow.lock; \
	  .lockenv/bin/pip freeze; } > requirements-mlflow.lock.new && mv requirements-mlflow.lock.new requirements-mlflow.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) .typecheck build *.egg-info .pytest_cache .mypy_cache .ruff_cache
