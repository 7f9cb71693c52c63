# Nocturnal developer entry points. `make run` starts everything on http://localhost:8080.
.PHONY: install run demo test lint fmt asyncapi

UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
SYNC_FLAGS ?= --frozen
GATEWAY_URL ?= http://localhost:8080
ARGS ?=

install:
	bash tools/bootstrap.sh
	$(UV) sync $(SYNC_FLAGS)

run: install
	$(UV) run python -m tools.devstack $(ARGS)

demo:
	GATEWAY_URL=$(GATEWAY_URL) $(UV) run python -m tools.demo

test: install
	$(UV) run pytest

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy --strict -p nocturnal.shared -p nocturnal.auth -p nocturnal.api -p nocturnal.upload -p nocturnal.ratelimit

asyncapi: install
	$(UV) run python -m tools.asyncapi

fmt:
	$(UV) run ruff check --fix .
	$(UV) run ruff format .
