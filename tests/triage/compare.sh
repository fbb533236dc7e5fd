#!/bin/sh
# compare.sh - `make triage-compare`: this tree's triage engine against an
# older revision's, byte for byte, on generated messages.
#
# Builds tests/triage/triage_dump.c against the engine of REV (exported with
# git archive into a temporary directory, built with its own Makefile) and
# against this tree's, feeds both the same messages from gen_messages.py
# (every corpus row, then N generated ones per seed) and compares everything
# they print: return code, severity, categories, spans, every hit, both
# normalised forms with the original span of every byte, token starts.
#
# Usage: sh tests/triage/compare.sh [REV] [N] [SEEDS]
#   REV    git revision to compare with (default c460052, before the DFAs)
#   N      generated messages per seed (default 25000)
#   SEEDS  seeds (default "1 2")
# Exit status 0 when every output is identical.
set -eu
cd "$(dirname "$0")/../.."
rev=${1:-c460052}
n=${2:-25000}
seeds=${3:-"1 2"}
tmp=$(mktemp -d /tmp/triage-compare.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

pc=$(pkg-config --cflags --libs libpcre2-8)
mkdir -p "$tmp/old"
git archive "$rev" | tar -x -C "$tmp/old"
make -s -C "$tmp/old" build/rel/libmoderation.a >/dev/null
make -s build/rel/libmoderation.a >/dev/null
# shellcheck disable=SC2086
cc -O2 -std=c11 -D_GNU_SOURCE -I"$tmp/old/moderation" \
    tests/triage/triage_dump.c "$tmp/old/build/rel/libmoderation.a" $pc \
    -o "$tmp/dump.old"
# shellcheck disable=SC2086
cc -O2 -std=c11 -D_GNU_SOURCE -Imoderation tests/triage/triage_dump.c \
    build/rel/libmoderation.a $pc -o "$tmp/dump.new"

status=0
for seed in $seeds; do
    python3 tests/triage/gen_messages.py moderation/rules \
        tests/triage/corpus.tsv "$n" "$seed" >"$tmp/msgs"
    "$tmp/dump.old" moderation/rules --forms <"$tmp/msgs" >"$tmp/out.old"
    "$tmp/dump.new" moderation/rules --forms <"$tmp/msgs" >"$tmp/out.new"
    lines=$(wc -l <"$tmp/out.new")
    if cmp -s "$tmp/out.old" "$tmp/out.new"; then
        echo "seed $seed: $lines messages, identical to $rev"
    else
        echo "seed $seed: $lines messages, DIFFERENT from $rev:"
        diff "$tmp/out.old" "$tmp/out.new" | head -20
        status=1
    fi
done
exit $status
