#!/bin/sh
# fuzz-all.sh - `make fuzz`: every libFuzzer target for FUZZ_SECONDS each
# (frames, config, msg events, rule files, service directory, triage
# normaliser), then "N passed, N failed" (a target that finds a crash, leak
# or UB fails).
cd "$(dirname "$0")/.."
: "${FUZZ_SECONDS:=60}"
passed=0; failed=0
: "${FUZZ_TARGETS:=fuzz-frame fuzz-config fuzz-event fuzz-rules fuzz-services fuzz-triage}"
for t in $FUZZ_TARGETS; do
    echo "== $t ($FUZZ_SECONDS s)"
    if make --no-print-directory -s "$t" FUZZ_SECONDS="$FUZZ_SECONDS" >"/tmp/$t.$$" 2>&1; then
        passed=$((passed + 1))
        grep -E "^#[0-9]+ +DONE|Done [0-9]+ runs" "/tmp/$t.$$" | tail -1
    else
        failed=$((failed + 1))
        tail -30 "/tmp/$t.$$"
    fi
    rm -f "/tmp/$t.$$"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
