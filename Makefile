# Two entry points on a fresh machine (see README): `make quickstart` and `make test`.
# `make test` is the default tier (unit and component tests, offline, a few minutes on 2 cores);
# `make test-integration` the end-to-end tier (accelerate launch, quickstart, README, Hub round trips, browser).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: quickstart test test-integration test-all browser-deps check-copies bench dist

quickstart: $(VENV)/.installed
	$(BIN)/eeg2img quickstart $(ARGS)

test: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

test-integration: $(VENV)/.installed-test $(VENV)/.installed-braindecode
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

test-all: test test-integration

# Debian's Chromium for the browser test of the Space (needs root and apt-get; tests never install anything).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)

# Model folders hold verbatim copies of shared sources (remote code); restore them after editing a canonical file.
check-copies: $(VENV)/.installed
	$(BIN)/python scripts/check_copies.py --fix

# Release artefacts: an sdist and a wheel (built from that sdist) in dist/, version eeg2img_hf.__version__,
# checked by twine. Only this package's earlier artefacts in dist/ are removed first.
dist: $(VENV)/.installed-test
	rm -f dist/eeg2img_hf-*.tar.gz dist/eeg2img_hf-*.whl
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/eeg2img_hf-*

bench: $(VENV)/.installed
	$(BIN)/python scripts/bench_encoder.py

# The quickstart's environment includes the Space's extra (gradio, mne): the command it prints at the end
# starts the Space on its models, and mne writes its sample .fif file.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e ".[space]"
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# The integration tier's braindecode towers (tests/test_braindecode.py); the default tier runs without it.
$(VENV)/.installed-braindecode: pyproject.toml $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e ".[braindecode]"
	touch $@
