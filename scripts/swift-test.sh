#!/usr/bin/env bash
# `swift test` with a deadline. A test that never ends (one has: a query PostgresNIO waits on for
# ever once its connection is gone) would otherwise hold `make test` until CI's limit; here the run
# stops after KASSA_SWIFT_TEST_SECONDS (default 900; a whole run takes about a minute) and names the
# tests that started and never finished. The test runner ignores SIGTERM, hence SIGKILL.
set -uo pipefail
cd "$(dirname "$0")/.."
log=.data/swift-test.log
limit="${KASSA_SWIFT_TEST_SECONDS:-900}"
timeout --signal=KILL "$limit" swift test --skip-build "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" = 137 ]; then
    pkill -KILL -f 'kassaPackageTests.xctest' 2>/dev/null || true
    echo "swift-test: stopped after ${limit} s; started and never finished:" >&2
    comm -23 \
        <(grep -oE '◇ Test [^ (]+' "$log" | sed 's/◇ Test //' | sort -u) \
        <(grep -oE '[✔✘] Test [^ (]+' "$log" | sed -E 's/^[^ ]+ Test //' | sort -u) | sed 's/^/  /' >&2
fi
exit "$rc"
