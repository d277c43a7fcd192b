# The two commands: `make run` and `make test`. See README.md.
.PHONY: run test test-readme test-e2e test-cluster emails bench bench-jobs bench-api pristine migrate schema check-schema lint fmt ci db-stop help

run: ## Start PostgreSQL if needed, migrate, seed, serve GraphQL on :4000
	@scripts/dev.sh run

test: ## Run the whole test suite against a private PostgreSQL cluster
	@scripts/dev.sh test

test-readme: ## Run every shell example of README.md in a fresh clone (part of make test; needs port 4000)
	@scripts/dev.sh test-readme

test-e2e: ## The dashboard in headless Chromium (screenshots in target/e2e/); part of make test
	@scripts/dev.sh test-e2e

test-cluster: ## The multi-host deployment (namespaces, replica, haproxy) under five faults; root, ~10 min
	@python3 tests/cluster/run.py

emails: ## Send the due emails once (without SMTP_URL: .eml files in .data/outbox/)
	@scripts/dev.sh jobs email

bench: ## Benchmark the email drainer (10 000 emails into a local SMTP sink); see docs/benchmarks.md
	@scripts/dev.sh bench

bench-api: ## The frontend's pages, session and login beside the Node backend (NODE_BACKEND=checkout); see docs/benchmarks.md
	@scripts/bench-api.sh

bench-jobs: ## Job engine throughput and latency beside graphile-worker (npm) and graphile_worker (Rust); see docs/benchmarks.md
	@scripts/bench-jobs.sh

pristine: ## DROP and recreate the development database, migrate and seed (destroys data!)
	@scripts/dev.sh pristine

migrate: ## Apply pending migrations to the development database
	@scripts/dev.sh migrate

schema: ## Write migration/schema.sql (the schema the migrations make) and engine/.sqlx (checked SQL)
	@scripts/schema.sh write

check-schema: ## Fail when migration/schema.sql or engine/.sqlx is not what the code makes (CI)
	@scripts/schema.sh check

lint: ## rustfmt check, clippy with warnings as errors, unused dependencies (cargo-machete)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@command -v cargo-machete >/dev/null 2>&1 || cargo install --locked cargo-machete
	cargo machete

fmt: ## Format the code
	cargo fmt --all

ci: lint test ## What CI runs

db-stop: ## Stop the private PostgreSQL clusters (data is kept)
	@scripts/pg.sh stop dev
	@scripts/pg.sh stop test

help:
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
