# The front door. `make help` lists the targets; the README's first two commands are `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVE_ADDR ?= 127.0.0.1:8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
SYSTEM ?=
TARGET ?= lab
DATA ?=
SYSTEM_ARGS := $(foreach s,$(SYSTEM),--system $(s))
DATA_ARGS := $(if $(DATA),--data $(DATA))
JUNIT := --junitxml=test-results/junit.xml

.PHONY: help install serve build generate check-generated validate lint test check-live status publish-status publish-site lab-up system-deps lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install: $(BIN)/.installed ## Create .venv with the pinned dependencies

serve: install ## Serve the site on the bundled data, reloading as data/ changes (SERVE_ADDR, default 127.0.0.1:8000)
	$(BIN)/mkdocs serve --dev-addr $(SERVE_ADDR)

build: install ## Build the site into site/ (strict: any warning fails)
	$(BIN)/mkdocs build --strict

generate: install ## Write the generated files from data/systems.yaml
	$(BIN)/python -m labdocs.render generate

check-generated: install ## Fail with a diff if generated files differ from what data/ renders
	$(BIN)/python -m labdocs.render check

validate: install ## Validate data/systems.yaml only
	$(BIN)/python -m labdocs.render validate

lint: install ## Check that imports point down the layers (import-linter, pyproject.toml) and that ruff is clean
	$(BIN)/lint-imports --no-logo
	$(BIN)/ruff check .

system-deps: ## Install the Debian packages the tests need (jq, ...)
	bash tools/system-deps.sh

test: install system-deps ## Install everything and run the whole test suite (starts the loopback lab)
	$(BIN)/python -m pytest $(JUNIT) $(PYTEST_ARGS)

check-live: install system-deps ## Run the docs' blocks against the real hosts (SYSTEM=id, ALLOW_DISRUPTIVE=1)
	$(BIN)/python -m pytest tests/test_doc_blocks.py tests/test_doc_python.py --target live $(SYSTEM_ARGS) \
		$(if $(ALLOW_DISRUPTIVE),--allow-disruptive) $(JUNIT) $(PYTEST_ARGS)

status: install ## Probe the systems (TARGET=lab|live, SYSTEM=id, DATA=file, LAB_RUNNING=1): live writes data/status.json, STATUS.md and newer measured speeds into the data; lab only test-results/status/
	$(BIN)/python -m labdocs.probe --target $(TARGET) $(SYSTEM_ARGS) $(DATA_ARGS) $(if $(LAB_RUNNING),--lab-running) \
		$(if $(filter live,$(TARGET)),--record-measured $(or $(DATA),data/systems.yaml)); rc=$$?; \
	$(if $(filter live,$(TARGET)),$(BIN)/python -m labdocs.render generate >/dev/null || rc=2;) exit $$rc

# What a live probe changes, and all that publish-status commits: the status and its history, newer
# measured speeds in the data file, and the generated pages and examples that show them.
STATUS_FILES := data/status.json data/status-history.jsonl data/systems.yaml data/examples STATUS.md charts systems
BRANCH ?= main

publish-status: install ## Commit the live status files as the CI bot and push them to BRANCH (the scheduled CI job)
	$(BIN)/python -m labdocs.render check >/dev/null    # refuses a lab status in data/; the files match the probe
	git add -A -- $(STATUS_FILES)
	if git diff --cached --quiet; then echo "status unchanged: nothing to publish"; else \
		git commit --quiet -m "chore(status): probe of the real hosts" -m "$${LABDOCS_RUN_URL:-by hand}" && \
		git pull --quiet --rebase --autostash origin $(BRANCH) && git push --quiet origin HEAD:$(BRANCH); fi

SITE_ROOT ?= /srv/labdocs

publish-site: install ## Build the site into SITE_ROOT/releases/TIME and serve it: SITE_ROOT/site links there (the docs host)
	stamp=$$(date -u +%Y%m%dT%H%M%SZ) && mkdir -p $(SITE_ROOT)/releases && \
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(SITE_ROOT)/releases/$$stamp && \
	ln -sfn releases/$$stamp $(SITE_ROOT)/site.new && mv -T $(SITE_ROOT)/site.new $(SITE_ROOT)/site && \
	echo "serving $(SITE_ROOT)/releases/$$stamp" && \
	find $(SITE_ROOT)/releases -mindepth 1 -maxdepth 1 -type d | sort | head -n -5 | xargs -r rm -rf

lab-up: install ## Start the loopback lab (real vLLM CPU servers, one per system) until Ctrl-C
	$(BIN)/python -m labdocs.lab.spec_cli lab-spec --out .lab/specs.json $(SYSTEM_ARGS)
	$(BIN)/python -m labdocs.lab up --spec .lab/specs.json

lock: ## Re-resolve requirements.lock from pyproject.toml (pip-tools pinned here: it only resolves, nothing imports it)
	$(BIN)/pip install --quiet pip-tools==7.7.0
	$(BIN)/pip-compile --quiet --extra test --strip-extras --no-header --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

clean: ## Remove the built site and caches (keeps .venv and the lab)
	rm -rf site .pytest_cache test-results

.PHONY: bench bench-toolcalls
bench-toolcalls: install ## Tool-call parsers (the toolcalls plugin, vLLM's hermes, qwen3_coder, qwen3_xml) on the same inputs; results into docs/toolcalls-benchmark.md
	$(BIN)/python bench/toolcalls_bench.py $(BENCH_ARGS)

bench: install system-deps ## Time site builds (bundled, 20/200/400 systems), serve reloads, generator, doc-tests; results into docs/benchmarks.md
	$(BIN)/python bench/site_bench.py $(BENCH_ARGS)
