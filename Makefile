# Quick start: `make demo` runs the end-to-end demo, `make test` runs the test suite.
# Each creates .venv when missing, installs the pinned requirements, builds the compiled core.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test test-all build bench peers gpu-check clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall whenever the pinned requirements change.
$(VENV)/.requirements: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# Rebuild the extensions whenever a kernel or the build script changes.
$(VENV)/.built: $(VENV)/.requirements setup.py pyproject.toml $(wildcard secured/_kernels/*.pyx)
	$(PY) setup.py -q build_ext --inplace -j 2
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

build: $(VENV)/.built

demo: build
	$(VENV)/bin/secured demo

test: build
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: build
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: build
	$(PY) benchmarks/bench_ring.py
	$(PY) benchmarks/bench_mpc.py
	$(PY) benchmarks/bench_anonymize.py
	$(PY) benchmarks/bench_attacks.py

# Peer tools used only as side-by-side baselines, in their own environment: CrypTen pins an
# older stack and installs top-level packages (test, benchmarks, configs).
peers:
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/pip install -q torch==2.13.0 numpy omegaconf onnx pyyaml scikit-learn
	SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True .venv-peers/bin/pip install -q --no-deps crypten==0.4.1
	# Anonymeter 1.1.0 pins numpy < 1.27 and pyarrow < 22: its own environment too
	$(PYTHON) -m venv .venv-anon
	.venv-anon/bin/pip install -q numpy==1.26.4 pandas==2.3.3 pyarrow==21.0.0 scikit-learn scipy polars numba joblib
	.venv-anon/bin/pip install -q --no-deps anonymeter==1.1.0
	# smartnoise-synth 1.0.8 (MST baseline for the DP generator): --no-deps, its SQL companion pins opendp<0.15
	$(PYTHON) -m venv .venv-synthpeers
	.venv-synthpeers/bin/pip install -q --no-deps smartnoise-synth==1.0.8 smartnoise-sql==1.0.10
	.venv-synthpeers/bin/pip install -q "numpy>=2,<3" "pandas>=2.2,<3" scipy pyarrow opendp==0.16.0 mbi==1.1.0 \
		"disjoint-set>=0.9,<0.10" networkx Faker antlr4-python3-runtime==4.9.3 "PyYAML>=6.0.1,<7" "sqlalchemy>=2,<3"

gpu-check:
	bash benchmarks/gpu_check.sh

clean:
	rm -rf build $(VENV) .venv-peers .venv-anon .venv-synthpeers secured/_kernels/*.c secured/_kernels/*.so *.egg-info
