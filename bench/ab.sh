#!/bin/sh
# bench/ab.sh - two chatd binaries side by side under the relay load.
#
#   bench/ab.sh BIN_A BIN_B [ROUNDS]
#
# Runs the relay scenario of bench/run.sh (same Redis, environment and
# loadgen arguments) ROUNDS times (default 3) for each binary, alternating
# A, B, A, B, ... on one Redis, wiped between runs, and prints one line a
# run: messages/s, and chatd's and Redis's CPU per message in µs, the
# machine's busy cores (of its nproc, /proc/stat), and the
# median over the measured seconds of Redis's longest fdatasync in each
# (its latency monitor; bench/lib.sh fsync_mon_read), and the AOF
# rewrites Redis ran while the load was on.  The
# machine is shared and its throughput moves by up to a third between
# minutes, so only runs interleaved like this compare two builds
# (docs/performance.md).  BENCH_SECONDS (8), BENCH_RELAY_PARENTS,
# BENCH_RELAY_ADVISERS and BENCH_WINDOW as for run.sh; BENCH_AB_MODE=latency
# runs the 5,000 messages/s latency scenario instead.  Build the binaries
# first (e.g. `make && cp bin/chatd /tmp/chatd.new`); bench tools are built
# here.
set -eu

cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/ab.sh BIN_A BIN_B [ROUNDS]" >&2; exit 2; }
A=$1 B=$2 ROUNDS=${3:-3}
RP=${BENCH_RELAY_PARENTS:-256}
RA=${BENCH_RELAY_ADVISERS:-32}
WIN=${BENCH_WINDOW:-4}
SECS=${BENCH_SECONDS:-8}
MODE=${BENCH_AB_MODE:-relay}
LG=build/bench/loadgen
PW=pw-123456

. bench/lib.sh

make --no-print-directory -s all
make --no-print-directory -s -f bench/bench.mk bench-tools
bench_setup "$RA" $PW
P=$(free_port)

case $MODE in
relay) MARGS="--window $WIN" ;;
latency) MARGS="--window 64 --rate 5000" ;;
*) echo "bench/ab.sh: BENCH_AB_MODE is relay or latency" >&2; exit 2 ;;
esac

printf 'run\tbinary\tmsgs/s\tp50 ms\tp99 ms\tchatd us/msg\tredis us/msg\tload\tbusy cores\tfsync max ms\trewrites\n'
r=1
while [ $r -le "$ROUNDS" ]; do
    for side in A B; do
        if [ $side = A ]; then CHATD_BIN=$A; else CHATD_BIN=$B; fi
        load=$(cut -d' ' -f1 /proc/loadavg)
        start_chatd ab "$P"
        fsync_mon_start
        rw0=$(rinfo aof_rewrites)
        "$LG" --mode "$MODE" --port "$P" --parents "$RP" --advisers "$RA" \
            --capacity 8 $MARGS --duration "$SECS" --warmup 2 \
            --pid "$CHATD_PID" --cookies "$T/cookies" --redis-pid "$REDIS_PID" \
            --password $PW >"$T/ab.json" 2>"$T/ab.err" || {
            echo "bench/ab.sh: loadgen failed" >&2; cat "$T/ab.err" >&2; exit 1; }
        fm=$(fsync_mon_read "$SECS")
        rw=$(($(rinfo aof_rewrites) - rw0))
        stop_pid "$CHATD_PID"; wipe
        jq -r --arg run "$r" --arg bin "$side" --arg load "$load" --argjson fm "$fm" --arg rw "$rw" '
            def us(c): if .msgs_per_s > 0 then (c * 1e6 / .msgs_per_s | round) else null end;
            [$run, $bin, .msgs_per_s, .p50_ms, .p99_ms, us(.chatd_cpu),
             us(.redis_cpu), $load, (.machine_cpu // "-"),
             (if ($fm | length) > 0 then ($fm | sort | .[length / 2 | floor]) else "-" end),
             $rw]
            | @tsv' "$T/ab.json"
    done
    r=$((r + 1))
done
