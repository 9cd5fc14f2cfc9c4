#!/usr/bin/env bash
# `swift test` with a deadline. A test that never ends (one has: a query PostgresNIO waits on for
# ever once its connection is gone) would otherwise hold `make test` until CI's limit; here the run
# stops after KASSA_SWIFT_TEST_SECONDS (default 480; a whole run takes one to two minutes) and names
# the tests that started and never finished. The test runner ignores SIGTERM, hence SIGKILL.
#
# A run that hangs is run once more, and says so: on 2026-12-02 a clean clone's run stopped about a
# minute in with every test task suspended, no database connection open and every thread idle
# (gdb), once in five full runs that day; the cause is not found yet (see the stop's note). A
# second hang, or any failure, fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
log=.data/swift-test.log
limit="${KASSA_SWIFT_TEST_SECONDS:-480}"
mkdir -p .data

# ReplicaTests' own primary and replica (:5434, :5435), the replica held 10 s behind on purpose.
KASSA_CLUSTER_DIR="$PWD/.data/replica-pair" KASSA_CLUSTER_PG_PORTS=5434:5435 KASSA_CLUSTER_ARCHIVE=off KASSA_REPLICA_APPLY_DELAY=10s \
    scripts/cluster.sh pg-pair >&2 || { echo "swift-test: the replica pair did not start" >&2; exit 1; }
export KASSA_TEST_REPLICA_PRIMARY_URL="${KASSA_TEST_REPLICA_PRIMARY_URL:-postgres://kassa@127.0.0.1:5434/postgres}"
export KASSA_TEST_REPLICA_URL="${KASSA_TEST_REPLICA_URL:-postgres://kassa@127.0.0.1:5435/postgres}"

run() {
    timeout --signal=KILL "$limit" swift test --skip-build "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 137 ]; then
        pkill -KILL -f 'kassaPackageTests.xctest' 2>/dev/null || true
        echo "swift-test: stopped after ${limit} s; started and never finished:" >&2
        comm -23 \
            <(grep -oE '◇ Test [^ (]+' "$log" | sed 's/◇ Test //' | sort -u) \
            <(grep -oE '[✔✘] Test [^ (]+' "$log" | sed -E 's/^[^ ]+ Test //' | sort -u) | sed 's/^/  /' >&2
    fi
    return "$rc"
}

# Each test leaves its database behind (dropping one during the run holds every other test's event
# consumers back; see Tests/Support/TestServices.swift): dropped here, before and after.
scripts/services.sh prune
run "$@"
rc=$?
if [ "$rc" = 137 ]; then
    echo "swift-test: the run hung (the tests above); running it once more" >&2
    run "$@"
    rc=$?
fi
scripts/services.sh prune
exit "$rc"
