# Nocturnal developer entry points. `make run` starts everything on http://localhost:8080.
.PHONY: install run demo test lint fmt bench openapi client fuzz

UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
SYNC_FLAGS ?= --frozen
GATEWAY_URL ?= http://localhost:8080
ARGS ?=
# make bench: the original Node stack (P1's baseline) when the team folder lies beside the clone.
SEED_STACK_DIR ?= $(wildcard ../shared/bench/seed-stack)
BENCH_QUICK ?=
BENCH_ONLY ?=
BENCH_PROFILE ?=

install:
	bash tools/bootstrap.sh
	$(UV) sync $(SYNC_FLAGS)

run: install
	$(UV) run python -m tools.devstack $(ARGS)

demo:
	GATEWAY_URL=$(GATEWAY_URL) $(UV) run python -m tools.demo

test: install
	$(UV) run pytest

# docs/openapi.json from the services' route tables (tests/contracts fails when it is stale).
openapi: install
	$(UV) run python -m tools.openapi

# A Python client generated from docs/openapi.json into build/client (not checked in).
client: install
	$(UV) run python -m tools.openapi.client build/client

# The longer fuzzing run: schemathesis's coverage phase too, many more cases, a fresh seed
# (printed; FUZZ_SEED=<n> replays one). `make test` runs a bounded, derandomized pass.
FUZZ_EXAMPLES ?= 200
FUZZ_SCENARIOS ?= 100
FUZZ_SEED ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fuzz: install
	@echo "fuzz: seed $(FUZZ_SEED)"
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SCENARIOS=$(FUZZ_SCENARIOS) FUZZ_SEED=$(FUZZ_SEED) \
		FUZZ_COVERAGE=1 $(UV) run pytest tests/contracts/test_fuzz.py -p no:cacheprovider --timeout=0 $(ARGS)

# Not part of `make test`: ~15 minutes of load on this machine (BENCH_QUICK=1: ~5). See README.
bench: install
	bash tools/bootstrap.sh --bench
	SEED_STACK_DIR="$(SEED_STACK_DIR)" BENCH_QUICK="$(BENCH_QUICK)" BENCH_ONLY="$(BENCH_ONLY)" \
		BENCH_PROFILE="$(BENCH_PROFILE)" $(UV) run python -m tools.bench $(ARGS)

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy --strict -p nocturnal.shared -p nocturnal.auth -p nocturnal.api -p nocturnal.upload -p nocturnal.ratelimit
	$(UV) run lint-imports --no-cache

fmt:
	$(UV) run ruff check --fix .
	$(UV) run ruff format .
