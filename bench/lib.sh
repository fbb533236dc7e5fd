# bench/lib.sh - what bench/run.sh and bench/ab.sh share: a private Redis
# (as the integration tests run it), the chatd environment the load needs,
# the adviser accounts, starting and stopping chatd, and the wipe between
# scenarios.  Sourced from the project's top directory; defines functions
# only.  bench_setup ACCOUNTS PASSWORD makes the temp dir $T, starts Redis
# ($SOCK, $REDIS_PID), exports the chatd environment and creates the
# adviser accounts bench1..benchN.  Every process started here is recorded
# in PIDS and stopped on exit, by its pid.
#
# CHATD_BIN (default bin/chatd) is the chatd that start_chatd runs;
# BENCH_APPENDFSYNC (default always) is Redis's appendfsync, "no" to see
# what the disk adds (docs/performance.md): chatd is never run so.
# BENCH_AOF_REWRITE_PCT (default 100, Redis's) is Redis's
# auto-aof-rewrite-percentage, 0 to see what its rewrites take from the
# relay (docs/performance.md); the figures of record keep the default.

say() { printf '== %s\n' "$*" >&2; }

CHATD_BIN=${CHATD_BIN:-bin/chatd}
PIDS=""

cleanup() {
    for p in $PIDS; do
        kill "$p" 2>/dev/null || true
    done
    sleep 0.3
    for p in $PIDS; do
        kill -9 "$p" 2>/dev/null || true
    done
    [ -n "${T:-}" ] || return 0
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench: kept $T" >&2
    else
        rm -rf "${T:?}"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

rcli() { redis-cli -s "$SOCK" "$@"; }

bench_setup() { # ACCOUNTS PASSWORD
    T=$(mktemp -d /tmp/chatd-bench.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    # Redis, as the integration tests run it.
    mkdir -p "$T/redis" "$T/data"
    SOCK="$T/redis/redis.sock"
    (cd "$T/redis" && exec redis-server --port 0 --unixsocket "$SOCK" \
        --unixsocketperm 700 --dir "$T/redis" --appendonly yes \
        --appendfsync "${BENCH_APPENDFSYNC:-always}" \
        --auto-aof-rewrite-percentage "${BENCH_AOF_REWRITE_PCT:-100}" \
        --save '' >"$T/redis/redis.log" 2>&1) &
    REDIS_PID=$!
    PIDS="$PIDS $REDIS_PID"
    i=0
    until redis-cli -s "$SOCK" ping >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "bench: redis did not start" >&2; exit 1; }
        sleep 0.1
    done

    # The load comes from a few loopback addresses, so the per-address and
    # per-connection abuse limits are raised (docs/performance.md says why).
    export CHATD_REDIS_URL="unix://$SOCK" CHATD_DATA_DIR="$T/data" \
        CHATD_BIND=127.0.0.1 CHATD_LOG_LEVEL=warn CHATD_MAX_CAPACITY=8 \
        CHATD_MAX_CONNECTIONS_PER_ADDRESS=100000 \
        CHATD_CLIENT_FRAMES_PER_S=10000 CHATD_CLIENT_FRAMES_BURST=100000 \
        CHATD_ADDRESS_FRAMES_PER_S=100000 CHATD_ADDRESS_FRAMES_BURST=1000000

    say "creating $1 adviser accounts"
    seq 1 "$1" | xargs -P 4 -I{} sh -c \
        "printf '$2\n' | bin/chatd user add bench{} --role adviser" >/dev/null
}

rinfo() { rcli INFO | sed -n "s/^$1:\\([0-9]*\\).*/\\1/p"; }

# Everything but the accounts and their sessions goes between scenarios,
# and the AOF is rewritten then, not in the next scenario's measured
# seconds: the relay scenario leaves hundreds of MB of AOF, and Redis's
# automatic rewrite (a fork, and a second writer on the disk) would
# otherwise land at a time set by the previous scenario.  The latency
# scenario reports whether one ran while it measured all the same.
rewrite_aof() {
    rcli BGREWRITEAOF >/dev/null 2>&1 || true
    i=0
    while [ "$(rinfo aof_rewrite_in_progress)$(rinfo aof_rewrite_scheduled)" != 00 ] &&
        [ $i -lt 300 ]; do
        sleep 0.1; i=$((i + 1))
    done
}

# Redis's own view of the disk: its latency monitor records, for each
# second, the longest fdatasync of that second (with appendfsync always
# one per event-loop turn, and nothing in that turn is acknowledged or
# delivered before it returns).  fsync_mon_start before a scenario;
# fsync_mon_read SECS after it prints those per-second maxima (ms) of its
# last SECS seconds, the measured ones, as a JSON array.
fsync_mon_start() {
    rcli CONFIG SET latency-monitor-threshold 1 >/dev/null
    rcli LATENCY RESET >/dev/null
}
fsync_mon_read() { # SECS
    now=$(date +%s)
    rcli LATENCY HISTORY aof-fsync-always | paste - - |
        awk -v from=$((now - $1)) '$1 > from { print $2 }' | jq -sc .
}

wipe() {
    rcli EVAL "local n=0 for _,k in ipairs(redis.call('KEYS','*')) do
      if not (k=='users' or k:find('^user:') or k:find('^sess:') or k:find('^usess:')) then
        redis.call('DEL',k) n=n+1 end end return n" 0 >/dev/null
    rewrite_aof
    # The rewrite leaves the old AOF's pages to write back and its blocks
    # to discard; that is the previous scenario's disk work, not the next
    # one's (Redis's fdatasync waits behind it).
    sync
}

# start_chatd NAME PORT: sets CHATD_PID
start_chatd() {
    (ulimit -n "$(ulimit -Hn)"; CHATD_PORT=$2 exec "$CHATD_BIN" >"$T/$1.log" 2>&1) &
    CHATD_PID=$!
    PIDS="$PIDS $CHATD_PID"
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/readyz")" = 200 ]; do
        i=$((i + 1))
        if [ $i -ge 100 ] || ! kill -0 "$CHATD_PID" 2>/dev/null; then
            echo "bench: chatd $1 did not become ready" >&2
            tail -20 "$T/$1.log" >&2
            exit 1
        fi
        sleep 0.1
    done
}

stop_pid() {
    kill "$1" 2>/dev/null || true
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}


# run_peak OUT PORT RATE SECS PARENTS ADVISERS WAITING: the latency load
# (PARENTS chatting with ADVISERS, RATE messages/s in total, SECS measured)
# while WAITING more parents wait in the queue, as at a national peak.
# The chats are paired first, so the crowd queues behind them; the
# crowd's connection burst falls in the latency run's warm-up
# (PEAK_WARMUP_S), and OUT gets waiting_ready_s: when every one of them
# was queued and the AOF rewritten after them, from the crowd's start (it
# must be below the warm-up), and aof_rewrites_during: rewrites from then
# to the end.  From then on, too, PEAK_ARRIVALS parents at a time join the
# queue every PEAK_ARRIVAL_GAP_S and leave again, as a flood after a news
# story does, so the queue moves while the latency is measured (a queue
# that stood still hid the cost of its refreshes, docs/performance.md);
# OUT gets arrivals: how many joined, last_fork_ms: how long Redis's
# last fork (for an AOF rewrite) held it, and redis_fsync_max_ms_per_s
# (fsync_mon_read) over the measured seconds.
PEAK_WARMUP_S=${PEAK_WARMUP_S:-25}
PEAK_ARRIVALS=${PEAK_ARRIVALS:-5}
PEAK_ARRIVAL_GAP_S=${PEAK_ARRIVAL_GAP_S:-0.5}
peak_arrivals() { # PORT: until $T/peak-done exists; prints how many joined
    k=0
    while [ ! -e "$T/peak-done" ]; do
        build/bench/loadgen --mode idle --port "$1" --parents "$PEAK_ARRIVALS" \
            --prefix "arrive$k" --timeout 20 >/dev/null 2>&1 || true
        k=$((k + 1))
        sleep "$PEAK_ARRIVAL_GAP_S"
    done
    echo $((k * PEAK_ARRIVALS))
}
run_peak() {
    lg=build/bench/loadgen
    "$lg" --mode latency --port "$2" --parents "$5" --advisers "$6" \
        --capacity 8 --window 64 --rate "$3" --duration "$4" \
        --warmup "$PEAK_WARMUP_S" --pid "$CHATD_PID" --cookies "$T/cookies" \
        --redis-pid "$REDIS_PID" --password "$PW" >"$T/peak-lat.json" \
        2>"$T/peak-lat.err" &
    lat_pid=$!
    PIDS="$PIDS $lat_pid"
    i=0
    until grep -q 'chatting)' "$T/peak-lat.err" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -ge 600 ] || ! kill -0 "$lat_pid" 2>/dev/null; then
            echo "bench: the peak's chats did not start" >&2
            cat "$T/peak-lat.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    t0=$(date +%s.%N)
    rm -f "$T/peak-idle.json"
    "$lg" --mode idle --port "$2" --parents "$7" --prefix wait \
        --hold $((PEAK_WARMUP_S + $4 + 30)) --timeout 120 \
        >"$T/peak-idle.json" 2>"$T/peak-idle.err" &
    idle_pid=$!
    PIDS="$PIDS $idle_pid"
    until [ -s "$T/peak-idle.json" ] || ! kill -0 "$idle_pid" 2>/dev/null; do
        sleep 0.1
    done
    # The crowd's arrival grows the AOF past Redis's automatic rewrite
    # size; rewrite it now rather than at a moment of Redis's choosing
    # inside the measured seconds (see wipe).
    rewrite_aof
    ready=$(echo "$(date +%s.%N) - $t0" | bc)
    rw0=$(rinfo aof_rewrites)
    fsync_mon_start
    rm -f "$T/peak-done"
    peak_arrivals "$2" >"$T/peak-arrivals" &
    arr_pid=$!
    wait "$lat_pid" || { echo "bench: the peak's latency run failed" >&2; exit 1; }
    rw1=$(rinfo aof_rewrites)
    fork_us=$(rinfo latest_fork_usec)
    fm=$(fsync_mon_read "$4")
    touch "$T/peak-done"
    wait "$arr_pid" || true
    stop_pid "$idle_pid"
    jq -c --slurpfile idle "$T/peak-idle.json" --argjson ready "$ready" \
        --argjson rw $((rw1 - rw0)) --argjson arr "$(cat "$T/peak-arrivals")" \
        --argjson fork "${fork_us:-0}" --argjson fm "$fm" \
        '. + {waiting: $idle[0].idle_connections, waiting_ready_s: $ready,
              aof_rewrites_during: $rw, arrivals: $arr,
              last_fork_ms: ($fork / 1000), redis_fsync_max_ms_per_s: $fm}' \
        "$T/peak-lat.json" >"$1"
}
