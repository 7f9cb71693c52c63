# Nocturnal developer entry points. `make run` starts everything on http://localhost:8080.
.PHONY: install run demo test lint fmt bench openapi client fuzz asyncapi ops dlq dlq-show dlq-replay dlq-purge reconcile-uploads

UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
SYNC_FLAGS ?= --frozen
GATEWAY_URL ?= http://localhost:8080
ARGS ?=
# The operator tools read AMQP_URL and EVENTS_EXCHANGE like the services; locally, the dev broker.
OPS := AMQP_URL=$${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/} $(UV) run python -m nocturnal.ops
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
	$(UV) run mypy --strict -p nocturnal.shared -p nocturnal.auth -p nocturnal.api -p nocturnal.upload -p nocturnal.ratelimit -p nocturnal.ops -p tools
	$(UV) run lint-imports --no-cache

asyncapi: install
	$(UV) run python -m tools.asyncapi

ops:  # any operator command: make ops ARGS="dlq show api --limit 5"
	$(OPS) $(ARGS)

dlq:  # every dead-letter queue with its depth
	$(OPS) dlq list

dlq-show:  # make dlq-show QUEUE=api [ARGS="--limit 5 --body"]
	$(OPS) dlq show $(QUEUE) $(ARGS)

dlq-replay:  # make dlq-replay QUEUE=api ID=<event id>, or ALL=1 for every message
	$(OPS) dlq replay $(QUEUE) $(if $(ID),--id $(ID)) $(if $(ALL),--all)

dlq-purge:  # make dlq-purge QUEUE=api [ID=<event id>] (asks first; ARGS=--yes to confirm)
	$(OPS) dlq purge $(QUEUE) $(if $(ID),--id $(ID)) $(ARGS)

reconcile-uploads:  # make reconcile-uploads [ARGS="--dry-run | --yes | --older-than 6h --grace 30m"]
	$(UV) run python -m nocturnal.ops uploads reconcile $(ARGS)

fmt:
	$(UV) run ruff check --fix .
	$(UV) run ruff format .
