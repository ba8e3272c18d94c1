# `make demo` and `make test` each create .venv if missing, install everything, then run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_DATA := $(abspath ../shared/data)
# `make test` reads the shared data folder when it exists (tests find data the way users do).
export DLP_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)

.PHONY: catalogue demo test install clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: a bare requirement would pull a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q numpy
	# visdom's sdist imports pkg_resources at build time: build it against setuptools<81
	$(BIN)/pip install -q "setuptools<81" wheel
	$(BIN)/pip install -q --no-build-isolation visdom==0.2.4
	$(BIN)/pip install -q -e '.[dev]'
	# visdom's page scripts from the npm registry (pinned, sha512-checked) so `dlp board --visdom` works offline
	$(BIN)/python -m dlpractice.track.visdom_assets
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dlp demo

# No root needed. Besides python3 (venv) and npm, the Fashion-MNIST and browser tests need the Debian
# packages dataset-fashion-mnist and chromium (else they are skipped; .ci/run installs both): README.md
# The suite runs on up to 4 worker processes (pytest-xdist), one torch thread each; a test file stays on
# one worker, so its module fixtures are built once. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= $(shell $(PY) -c "import os; print(min(4, len(os.sched_getaffinity(0))))")
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# dlp models / dlp datasets read dlpractice/cli/catalogue.json; rewrite it after registering a model or data set
catalogue: $(STAMP)
	$(BIN)/python -m dlpractice.cli.catalogue

clean:
	rm -rf $(VENV) runs .pytest_cache
