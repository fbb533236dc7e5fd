#!/bin/sh
# run.sh - every test suite, then one summary line "N passed, N failed".
# Called by `make test` with CHATD_BIN and UNIT_DIR set.  Each suite prints
# its own "N passed, N failed" (pytest: "N passed, N failed in ..."; node's
# test runner: "# pass N", "# fail N"); this adds them up.  Exits non-zero
# on any failure.
cd "$(dirname "$0")/.."
: "${CHATD_BIN:=bin/chatd}" "${UNIT_DIR:=build/rel/tests}"
export CHATD_BIN
PY=/usr/bin/python3   # Debian's, which has python3-websockets and pytest
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

suite() {
    name=$1; shift
    echo "== $name"
    out=$(mktemp)
    "$@" >"$out" 2>&1 || status=1
    cat "$out"
    case $name in
    browser)  # node --test (TAP): "# pass N", "# fail N", "# cancelled N"
        sed -n -e 's/^# pass \([0-9][0-9]*\)$/\1 passed/p' \
               -e 's/^# fail \([0-9][0-9]*\)$/\1 failed/p' \
               -e 's/^# cancelled \([0-9][0-9]*\)$/\1 failed/p' "$out" >>"$log" ;;
    *) cat "$out" >>"$log" ;;
    esac
    rm -f "$out"
}

# Browser tests (tests/browser/): playwright-core, pinned in package-lock.json,
# driving Debian's Chromium ($CHROMIUM, default /usr/bin/chromium).
browser() {
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
        npm ci --no-audit --no-fund || return 1
        touch node_modules
    fi
    node --test --test-reporter=tap tests/browser/*.test.js
}

for t in "$UNIT_DIR"/*; do
    [ -x "$t" ] && suite "unit $(basename "$t")" "$t"
done
if [ -f moderation/moderation.mk ]; then
    suite "triage" make --no-print-directory -s test-triage
fi
suite "integration" $PY -m pytest -q -p no:cacheprovider tests/integration
suite "browser" browser
# CI also runs the whole integration suite under ASan+UBSan and every fuzzer
# for 60 s (issue #7); locally: make test SANITIZE=1, make fuzz.
if [ -n "${CI:-}" ] && [ -x build/san/bin/chatd ]; then
    suite "integration (ASan+UBSan)" env CHATD_BIN=build/san/bin/chatd \
        $PY -m pytest -q -p no:cacheprovider tests/integration
    suite "fuzz" sh tools/fuzz-all.sh
fi

passed=0; failed=0
# pytest: "3 passed, 1 failed in 2.0s" or "4 passed in 1.2s"; ours: "N passed, N failed"
for n in $(grep -Eo '[0-9]+ passed' "$log" | cut -d' ' -f1); do passed=$((passed + n)); done
for n in $(grep -Eo '[0-9]+ (failed|error|errors)\b' "$log" | cut -d' ' -f1); do failed=$((failed + n)); done
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
