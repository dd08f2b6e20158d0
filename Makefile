# The two set-up commands of the README: `make quickstart` (the main job) and `make test`.
# Both create .venv on first use. Override the interpreter with `make PY=python3.12 ...`.
# `make help` lists the targets and the variables they take.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The quickstart study: its spec, its name and workspace, and extra `study run` options (e.g. ARGS=--smoke).
# The quickstart's workspace is WORKSPACE=DIR if given, else $STUDY_WORKSPACE (as for every `study` command), else
# studies; `make clean` deletes WORKSPACE only (studies unless given), never a $STUDY_WORKSPACE set for other work.
SPEC ?= search_spaces/quickstart.yaml
NAME ?= quickstart
WORKSPACE ?= studies
RUN_WORKSPACE := $(if $(filter file,$(origin WORKSPACE)),$(or $(STUDY_WORKSPACE),$(WORKSPACE)),$(WORKSPACE))
ARGS ?=
# The pinned set was resolved on Python 3.11; other Pythons install from pyproject's ranges.
CONSTRAINTS := $(shell $(PY) -c 'import sys; print("-c requirements/constraints.txt" if sys.version_info[:2] == (3, 11) else "")')
export RAY_USAGE_STATS_ENABLED ?= 0
export MLFLOW_DISABLE_TELEMETRY ?= true
export TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S ?= 0

.PHONY: help install quickstart test test-fast device-bundle clean clean-studies clean-venv

help:
	@echo "make quickstart [NAME=quickstart] [WORKSPACE=studies, else \$$STUDY_WORKSPACE] [SPEC=...] [ARGS=...]"
	@echo "                     install (first time), then run the study NAME; again: continue it if interrupted,"
	@echo "                     show it if finished; a new study needs another NAME"
	@echo "make test            the whole test suite, slow tests included (what CI runs); make test-fast skips those"
	@echo "make install         only install into $(VENV) (about 6.5 GB: the Linux torch wheels bring CUDA libraries)"
	@echo "make device-bundle   wheels + CIFAR-10 for bench/device_check.py on a bare GPU machine, in $(DEVICE_BUNDLE)/"
	@echo "                     (needs PyPI and STUDY_DATA_DIR or ../shared/data; prints the size that travels)"
	@echo "make clean           delete the studies in $(WORKSPACE)/ and test caches (keeps $(VENV))"
	@echo "make clean-venv      delete $(VENV) (the next make installs again)"

$(STAMP): pyproject.toml requirements/constraints.txt
	@echo "installing der-study and its stack into $(VENV): about 6.5 GB (the Linux torch wheels bring CUDA libraries)"
	@start=$$(date +%s) && \
	$(PY) -m venv $(VENV) && \
	$(BIN)/python -m pip install -q $(CONSTRAINTS) -e '.[test]' && \
	echo "installed in $$(( $$(date +%s) - start )) s; $(VENV) holds $$(du -sh $(VENV) | cut -f1)"
	@touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	@echo "make quickstart: study '$(NAME)' ($(SPEC)) in $(RUN_WORKSPACE)/ - runs it, or continues it if it was" \
	      "interrupted, or shows it if it finished (a new study: make quickstart NAME=other)"
	$(BIN)/study run $(SPEC) --name $(NAME) --workspace $(RUN_WORKSPACE) --if-exists continue $(ARGS)

# The whole suite, slow tests included (what CI runs). `test-fast` skips the slow ones.
test: $(STAMP)
	$(BIN)/python -m pytest -m '' -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q

# What bench/device_check.py needs on a GPU machine that has no network and lacks part of the stack: wheels
# for its python3 (3.12) and the CIFAR-10 data, in one git-ignored folder carried with the checkout (<= 64 MiB).
DEVICE_BUNDLE ?= .devbundle
DEVICE_PY ?= 3.12
DEVICE_TRAIN_PER_CLASS ?= 5000
DEVICE_TEST ?= 1000
device-bundle: $(STAMP)
	$(BIN)/python bench/device_bundle.py --dest $(DEVICE_BUNDLE) --python-version $(DEVICE_PY) \
	    --train-per-class $(DEVICE_TRAIN_PER_CLASS) --test-first $(DEVICE_TEST)

clean: clean-studies
	rm -rf .pytest_cache

clean-studies:
	rm -rf $(WORKSPACE)

clean-venv:
	rm -rf $(VENV)
