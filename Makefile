# The two set-up commands of the README: `make quickstart` (the main job) and `make test`.
# Both create .venv on first use. Override the interpreter with `make PY=python3.12 ...`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The pinned set was resolved on Python 3.11; other Pythons install from pyproject's ranges.
CONSTRAINTS := $(shell $(PY) -c 'import sys; print("-c requirements/constraints.txt" if sys.version_info[:2] == (3, 11) else "")')
export RAY_USAGE_STATS_ENABLED ?= 0
export MLFLOW_DISABLE_TELEMETRY ?= true
export TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S ?= 0

.PHONY: install quickstart test test-fast clean

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(CONSTRAINTS) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/study run search_spaces/quickstart.yaml

# The whole suite, slow tests included (what CI runs). `test-fast` skips the slow ones.
test: $(STAMP)
	$(BIN)/python -m pytest -m '' -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) studies .pytest_cache
