# closeloop: `make run` starts the whole system on this machine, `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export AWS_DEFAULT_REGION ?= eu-west-1

.PHONY: help install browser run test lint typecheck cfn pytest bench build deploy requirements clean

help: ## What each target does
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras
	@touch $@

install: $(VENV)/.synced ## Create .venv from the lock file

browser: ## Make sure a Chromium is there for the browser tests
	@if [ -n "$$CHROMIUM_PATH" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "no system Chromium: using Playwright's own"; $(BIN)/playwright install chromium; \
	fi

run: install ## Start the whole system locally (gateway on http://127.0.0.1:3000)
	$(BIN)/closeloop local

test: install browser lint typecheck cfn pytest ## Every check: ruff, mypy, cfn-lint, pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

cfn: install
	$(BIN)/cfn-lint template.yaml

pytest: install
	$(BIN)/pytest

bench: install ## Print the benchmark figures
	@for script in bench/*.py; do [ -e "$$script" ] && $(BIN)/python "$$script"; done; true

requirements: install ## Export the layer's runtime requirements from the lock file
	$(UV) export --frozen --no-dev --no-hashes --no-emit-project --no-header --no-annotate \
		--format requirements-txt -o layers/closeloop/requirements.txt >/dev/null

SAM := SAM_CLI_TELEMETRY=0 UV="$(abspath $(UV))" $(UV) tool run --from "aws-sam-cli" sam

BUILD_DIR ?= .aws-sam/build

build: install ## sam build, without Docker (makefile build method)
	$(SAM) build --template template.yaml --build-dir $(BUILD_DIR)

deploy: build ## sam deploy --guided
	$(SAM) deploy --guided

clean:
	rm -rf .aws-sam .local .pytest_cache .ruff_cache .mypy_cache test-artifacts
