# Kassa: the two commands are `make run` and `make test`.
SHELL := /bin/bash
export PATH := $(PATH):/opt/swift/usr/bin

ENV_FILE := .data/kassa.env
KASSA := .build/debug/kassa
# The local services' ports; scripts/services.sh and the test scripts read the same variables.
KASSA_PG_PORT ?= 5433
KASSA_REDIS_PORT ?= 6380
export KASSA_PG_PORT KASSA_REDIS_PORT
PG_PORT := $(KASSA_PG_PORT)
REDIS_PORT := $(KASSA_REDIS_PORT)
export KASSA_TEST_DATABASE_URL ?= postgres://kassa@127.0.0.1:$(PG_PORT)/postgres
export KASSA_TEST_REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0

.PHONY: format format-check bench drills isolation backup restore restore-drill failover-drill cluster cluster-stop cluster-release cluster-drills cluster-bench test-clone test-drills run test services stop status env build build-tests test-swift test-blackbox test-ops test-api test-webhooks test-browser clean

## make run: install what is missing, start PostgreSQL and Redis, migrate, load demo data, serve on :8080
run: services env build
	@set -a; . $(ENV_FILE); set +a; \
	  $(KASSA) migrate && KASSA_DEMO_PASSWORD="$$(cat .data/demo-password)" $(KASSA) seed-demo && \
	  echo "Kassa: open $${KASSA_BASE_URL}/login and sign in as the demo merchant above (Ctrl-C stops)" && \
	  exec $(KASSA) serve --migrate

## make test: the same services, then every test
test: format-check services build-tests test-swift test-clone test-blackbox test-ops test-api test-webhooks test-browser test-drills

services:
	@scripts/services.sh start

stop:
	@scripts/services.sh stop

status:
	@scripts/services.sh status

# Development configuration with fresh secrets, written once and kept in .data/.
env: $(ENV_FILE)
$(ENV_FILE):
	@mkdir -p .data
	@{ \
	  echo "KASSA_HOST=127.0.0.1"; \
	  echo "KASSA_PORT=8080"; \
	  echo "KASSA_BASE_URL=http://127.0.0.1:8080"; \
	  echo "KASSA_DATABASE_URL=postgres://kassa@127.0.0.1:$(PG_PORT)/kassa"; \
	  echo "KASSA_REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0"; \
	  echo "KASSA_LINK_KEYS=k1:$$(head -c 32 /dev/urandom | base64 -w0)"; \
	  echo "KASSA_SECRET_KEY=$$(head -c 32 /dev/urandom | base64 -w0)"; \
	} > $@.tmp && mv $@.tmp $@
	@echo "wrote $@ (development configuration)"

# The demo merchant's password, generated once (never a constant every clone shares).
env: .data/demo-password
.data/demo-password:
	@mkdir -p .data
	@(umask 077; LC_ALL=C tr -dc 'abcdefghjkmnpqrstuvwxyz23456789' </dev/urandom | head -c 20 | sed 's/.\{5\}/&-/g; s/-$$//' > $@.tmp) && mv $@.tmp $@

build:
	swift build --product kassa

## make format: format the Swift sources as .swift-format says (the toolchain's swift-format)
format:
	swift format --in-place --recursive Package.swift Sources Tests

format-check:
	@swift format lint --strict --recursive Package.swift Sources Tests || \
	  { echo "format-check: the tree is not formatted; run make format" >&2; exit 1; }

build-tests:
	swift build --build-tests

test-swift:
	@scripts/swift-test.sh

test-blackbox:
	scripts/blackbox.sh

## the first command from a clone inside a 0700 folder (as under /root)
test-clone:
	scripts/clone-test.sh

## alert rules (promtool check + unit tests), the Grafana dashboard's series, the operator console end to end
test-ops:
	scripts/ops.sh

## schemathesis against /openapi.yaml on the real binary
test-api:
	scripts/schemathesis.sh

## webhook drill: Standard Webhooks signatures, retries, SIGKILL with deliveries pending
test-webhooks:
	scripts/webhooks.sh

## make bench: ceilings and Kassa's numbers, release build; writes bench/results.json
bench: services
	scripts/bench.sh

## make drills: SIGKILL the server, crash PostgreSQL, stop Redis for 10 s, all under checkout load;
## reports sent / succeeded / failed / lost / doubled and fails unless nothing was lost or doubled
drills: services build
	scripts/drills.sh

## make cluster: HAProxy on :8080, three Kassa processes, a PostgreSQL primary and replica, Redis with
## two replicas and three Sentinels, under .data/cluster/ (release build)
cluster:
	scripts/cluster.sh start

cluster-stop:
	scripts/cluster.sh stop

## migrations, then each process in turn: drain (SIGTERM), stop, start the new binary, wait for /ready
cluster-release:
	swift build -c release --product kassa 2>&1 | tail -1
	scripts/cluster.sh release

## SIGKILL a process, a rolling release, a Redis failover, the replica stopped: lost and doubled per fault
cluster-drills:
	scripts/cluster-drills.sh

## checkouts/s through HAProxy and three processes against one process alone; bench/cluster.json
cluster-bench:
	scripts/cluster-bench.sh

## a base backup of the cluster's primary (WAL is archived continuously), under KASSA_BACKUP_DIR
backup:
	scripts/cluster.sh backup

## point-in-time recovery of the cluster's primary: make restore TO="2026-12-01 14:03:00+00" (no TO: all archived WAL)
restore:
	scripts/cluster.sh restore "$(TO)"

## the restore drill: base backup under load, keep paying, destroy the primary, restore, count
restore-drill:
	scripts/restore-drill.sh

## the failover drill: the primary lost under load, the README's step (promote the replica), count
failover-drill:
	scripts/failover-drill.sh

## make isolation: one merchant at 10x its API limit beside another; writes bench/isolation.json
isolation: services
	scripts/isolation.sh

## the same drills, smaller, as part of make test (they restart the local PostgreSQL and Redis)
test-drills:
	DRILL_WORKERS=8 DRILL_PHASE_SECONDS=6 scripts/drills.sh

## the browser test: Chromium + Selenium; screenshots in .data/artifacts/
test-browser:
	scripts/browser.sh

clean:
	rm -rf .build
