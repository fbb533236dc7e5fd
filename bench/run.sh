#!/bin/sh
# bench/run.sh - every scenario of issue #6 against a private Redis and
# chatd, then bench/results.json and a table.  Called by `make bench`.
# Just before and just after each scenario measures, bench/cpuspeed records
# how fast each CPU was (the host throttles one vCPU or the other at times,
# docs/performance.md), and the triage bench runs pinned to each CPU too.
#
# Environment (all optional):
#   BENCH_IDLE=15000        parents held in the idle scenario, and waiting
#                           in the peak one
#   BENCH_RELAY_PARENTS=256 BENCH_RELAY_ADVISERS=32 BENCH_WINDOW=4
#   BENCH_SECONDS=10        measured seconds per throughput scenario
#   BENCH_PROFILE=1         perf record chatd under the relay load (0: skip)
#   BENCH_KEEP=1            keep the temp dir (logs, perf data)
#   PEAK_ARRIVALS=5 PEAK_ARRIVAL_GAP_S=0.5  parents joining during the
#                           peak scenario, and how often (bench/lib.sh)
#
# Every process started here is stopped on exit, by its pid.
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
IDLE=${BENCH_IDLE:-15000}
RP=${BENCH_RELAY_PARENTS:-256}
RA=${BENCH_RELAY_ADVISERS:-32}
WIN=${BENCH_WINDOW:-4}
SECS=${BENCH_SECONDS:-10}
PROFILE=${BENCH_PROFILE:-1}
PAIR_ADV=100
PAIR_PARENTS=500
LAT_RATE=5000
LG=build/bench/loadgen
ECHO=build/bench/echo
FSYNC=build/bench/fsync
CPUSPEED=build/bench/cpuspeed
RESULTS=bench/results.json
PW=pw-123456

. bench/lib.sh

say "building chatd and the bench tools"
make --no-print-directory -s all
make --no-print-directory -s -f bench/bench.mk bench-tools
bench_setup $PAIR_ADV $PW

LGARGS="--cookies $T/cookies --redis-pid $REDIS_PID --password $PW"

# add_fields NAME FILTER [jq options...]: merge fields into $T/NAME.json.
add_fields() {
    f=$1 filter=$2; shift 2
    jq -c "$@" "$filter" "$T/$f.json" >"$T/$f.tmp" && mv "$T/$f.tmp" "$T/$f.json"
}

# cpu_speed: how fast each CPU is now, as an array of giga adds/s, about
# each one's clock in GHz (bench/cpuspeed.c), or null if the probe failed;
# every one is also kept in $T/cpu-probes for the run's min and max.  It
# keeps each CPU busy in turn for a fraction of a second, so it must not
# run while anything is measured.
cpu_speed() {
    cs=$("$CPUSPEED" 2>>"$T/cpuspeed.err" | jq -c .cpu_giga_adds_per_s) || cs=""
    [ -n "$cs" ] || { say "cpuspeed failed: $(tail -1 "$T/cpuspeed.err")"; cs=null; }
    echo "$cs" >>"$T/cpu-probes"
    echo "$cs"
}

# cpu_probe NAME before|after: cpu_speed just before and just after the
# measured part of scenario NAME, as cpu_giga_adds_per_s_before and _after
# in $T/NAME.json.  Each scenario writes that file itself, after the
# "before" is taken, so the "before" is kept in CPU_BEFORE and merged with
# the "after".  The "after" is taken once the scenario's servers have
# stopped and before the wipe (its AOF rewrite and sync are not the host's).
CPU_BEFORE=null
cpu_probe() {
    cpu_now=$(cpu_speed)
    say "cpu speed $2 $1: $cpu_now giga adds/s"
    case $2 in
    before) CPU_BEFORE=$cpu_now ;;
    after)
        add_fields "$1" '. + {cpu_giga_adds_per_s_before: $b,
                              cpu_giga_adds_per_s_after: $a}' \
            --argjson b "$CPU_BEFORE" --argjson a "$cpu_now"
        CPU_BEFORE=null ;;
    *) echo "bench: cpu_probe $1 $2: before or after" >&2; exit 1 ;;
    esac
}

run_lg() { # NAME args...
    name=$1; shift
    say "scenario $name: loadgen $*"
    "$LG" "$@" $LGARGS >"$T/$name.json" 2>"$T/$name.err" || {
        echo "bench: loadgen $name failed" >&2; cat "$T/$name.err" >&2; exit 1; }
    cat "$T/$name.json" >&2
}

# --- idle ----------------------------------------------------------------------
P1=$(free_port)
start_chatd chatd1 "$P1"
sleep 1
cpu_probe idle before
run_lg idle --mode idle --port "$P1" --parents "$IDLE" --pid "$CHATD_PID" --timeout 120
stop_pid "$CHATD_PID"; cpu_probe idle after; wipe

# --- relay (and its profile) ------------------------------------------------------
start_chatd chatd1 "$P1"
cpu_probe relay before
RW0=$(rinfo aof_rewrites)
run_lg relay --mode relay --port "$P1" --parents "$RP" --advisers "$RA" \
    --capacity 8 --window "$WIN" --duration "$SECS" --warmup 2 --pid "$CHATD_PID"
RW1=$(rinfo aof_rewrites); FORK=$(rinfo latest_fork_usec)
stop_pid "$CHATD_PID"; cpu_probe relay after; wipe
# The relay's AOF passes Redis's auto-aof-rewrite-min-size (64 MB) a few
# seconds in, so a rewrite (a fork, and its child on the same two cores)
# usually runs while it measures, as one would at a busy hour.
add_fields relay '. + {aof_rewrites_during: $n, last_fork_ms: ($fork / 1000)}' \
    --argjson n $((RW1 - RW0)) --argjson fork "${FORK:-0}"

PROFILE_OK=0
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null 2>&1; then
    start_chatd chatd1 "$P1"
    say "profiling chatd under the relay load (perf, cpu-clock)"
    "$LG" --mode relay --port "$P1" --parents "$RP" --advisers "$RA" --capacity 8 \
        --window "$WIN" --duration 8 --warmup 2 --pid "$CHATD_PID" $LGARGS \
        >"$T/profile-relay.json" 2>"$T/profile-relay.err" &
    LGP=$!
    PIDS="$PIDS $LGP"
    sleep 3
    if perf record -q -e cpu-clock -F 2000 -g -p "$CHATD_PID" -o "$T/perf.data" \
        -- sleep 5 >"$T/perf.log" 2>&1; then
        PROFILE_OK=1
    fi
    wait "$LGP" || true
    stop_pid "$CHATD_PID"; wipe
    if [ $PROFILE_OK = 1 ]; then
        {
            echo "# perf record -e cpu-clock -F 2000 -g -p <chatd> -- sleep 5"
            echo "# under: loadgen --mode relay --parents $RP --advisers $RA --window $WIN"
            cat "$T/profile-relay.json"
            echo; echo "## by shared object (self)"
            perf report -i "$T/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
            echo; echo "## system calls (children: time inside each syscall)"
            perf report -i "$T/perf.data" --stdio --children --sort sym -g none 2>/dev/null | grep -E '__x64_sys_' | head -10
            echo; echo "## top symbols (self)"
            perf report -i "$T/perf.data" --stdio --no-children --sort dso,sym -g none --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
        } >bench/profile-relay.txt || true
        say "profile: bench/profile-relay.txt"
    fi
fi

# --- latency at a steady 5,000 msgs/s ----------------------------------------------
start_chatd chatd1 "$P1"
cpu_probe latency before
AOF0=$(rinfo aof_current_size); RW0=$(rinfo aof_rewrites)
fsync_mon_start
run_lg latency --mode latency --port "$P1" --parents "$RP" --advisers "$RA" \
    --capacity 8 --window 64 --rate $LAT_RATE --duration "$SECS" --warmup 2 \
    --pid "$CHATD_PID"
AOF1=$(rinfo aof_current_size); RW1=$(rinfo aof_rewrites)
FSYNC_MAX=$(fsync_mon_read "$SECS")
stop_pid "$CHATD_PID"; cpu_probe latency after; wipe
add_fields latency '. + {aof_rewrites_during: $n, redis_fsync_max_ms_per_s: $fm}' \
    --argjson n $((RW1 - RW0)) --argjson fm "$FSYNC_MAX"

# The floor under that tail: with appendfsync always nothing is acknowledged
# or delivered before the fdatasync of Redis's turn returns.  The probe plays
# only those writes and fdatasyncs, at the same rate and AOF bytes per
# message, in Redis's directory, straight after the scenario (bench/fsync.c).
SENT=$(jq .sent "$T/latency.json")
# AOF bytes per message, as measured (a rewrite in the window spoils it:
# then the figure last measured on this machine, 750).
AOF_PER_MSG=$(( (AOF1 - AOF0) / (SENT > 0 ? SENT : 1) ))
[ "$RW1" = "$RW0" ] && [ "$AOF_PER_MSG" -gt 0 ] || AOF_PER_MSG=750
say "disk floor: fdatasync probe at $LAT_RATE msgs/s, $AOF_PER_MSG AOF bytes each"
cpu_probe fsync before
"$FSYNC" "$T/redis" "$SECS" $LAT_RATE "$AOF_PER_MSG" >"$T/fsync.json"
cpu_probe fsync after
cat "$T/fsync.json" >&2

# --- the same latency load with 15,000 more parents waiting (a national peak) -----
start_chatd chatd1 "$P1"
say "scenario peak: latency at $LAT_RATE msgs/s while $IDLE more parents wait and more arrive"
cpu_probe peak before # (the crowd and the warm-up come first, in run_peak)
run_peak "$T/peak.json" "$P1" $LAT_RATE "$SECS" "$RP" "$RA" "$IDLE"
cat "$T/peak.json" >&2
stop_pid "$CHATD_PID"; cpu_probe peak after; wipe

# --- pairing: 100 advisers (capacity 5), 500 parents over 1 s -------------------------
# (Redis's slowest fdatasync in each second the scenario ran, as for the
# latency scenario: a pairing is acknowledged only after its turn's sync.)
start_chatd chatd1 "$P1"
cpu_probe pairing before
fsync_mon_start
PT0=$(date +%s)
run_lg pairing --mode pairing --port "$P1" --parents $PAIR_PARENTS \
    --advisers $PAIR_ADV --capacity 5 --spread-ms 1000 --pid "$CHATD_PID"
FSYNC_MAX=$(fsync_mon_read $(($(date +%s) - PT0 + 1)))
stop_pid "$CHATD_PID"; cpu_probe pairing after; wipe
add_fields pairing '. + {redis_fsync_max_ms_per_s: $fm}' --argjson fm "$FSYNC_MAX"

# --- the echo ceiling, same load as relay -------------------------------------------
PE=$(free_port)
"$ECHO" "$PE" >"$T/echo.log" 2>&1 &
ECHO_PID=$!
PIDS="$PIDS $ECHO_PID"
sleep 0.5
cpu_probe echo before
run_lg echo --mode echo --port "$PE" --parents "$RP" --window "$WIN" \
    --duration "$SECS" --warmup 2 --pid "$ECHO_PID"
stop_pid "$ECHO_PID"; cpu_probe echo after

# --- two processes on one Redis: parents on one, advisers on the other ------------------
P2=$(free_port)
start_chatd chatd1 "$P1"; C1=$CHATD_PID
start_chatd chatd2 "$P2"; C2=$CHATD_PID
cpu_probe two before
run_lg two --mode relay --port "$P1" --adv-port "$P2" --parents "$RP" \
    --advisers "$RA" --capacity 8 --window "$WIN" --duration "$SECS" --warmup 2 \
    --pid "$C1" --pid2 "$C2"
stop_pid "$C1"; stop_pid "$C2"; cpu_probe two after; wipe

# --- triage ----------------------------------------------------------------------------
# The figure of record is `make bench-triage` as it runs, unpinned; then
# the same bench pinned to each CPU in turn (taskset), each run just after
# a probe, so each figure can be read against its CPU's speed.
triage_us() { # FILE: the median us/msg bench_triage printed, or null
    tu=$(sed -n 's/.*median \([0-9.]*\) us\/msg.*/\1/p' "$1" | tail -1)
    echo "${tu:-null}"
}
say "triage benchmark"
make --no-print-directory -s bench-triage >"$T/triage.txt" 2>&1 || true
TRIAGE=$(triage_us "$T/triage.txt")
TRIAGE_BY_CPU=null
if command -v taskset >/dev/null 2>&1; then
    TRIAGE_BY_CPU="[]"
    cpu=0
    while [ $cpu -lt "$(getconf _NPROCESSORS_ONLN)" ]; do
        sp=$(cpu_speed | jq ".[$cpu]")
        # make and the bench it runs inherit the pinning
        taskset -c $cpu make --no-print-directory -s bench-triage \
            >"$T/triage-cpu$cpu.txt" 2>&1 || true
        us=$(triage_us "$T/triage-cpu$cpu.txt")
        say "triage pinned to CPU $cpu: $us us/msg (CPU at $sp giga adds/s)"
        TRIAGE_BY_CPU=$(echo "$TRIAGE_BY_CPU" | jq -c --argjson c $cpu \
            --argjson us "$us" --argjson sp "$sp" \
            '. + [{cpu: $c, us_per_msg: $us, cpu_giga_adds_per_s: $sp}]')
        cpu=$((cpu + 1))
    done
else
    say "no taskset: the triage bench is not run pinned (triage_by_cpu null)"
fi

# --- results ---------------------------------------------------------------------------
CMD="make bench (bench/run.sh; BENCH_IDLE=$IDLE BENCH_RELAY_PARENTS=$RP BENCH_RELAY_ADVISERS=$RA BENCH_WINDOW=$WIN BENCH_SECONDS=$SECS)"
jq -n \
    --slurpfile idle "$T/idle.json" --slurpfile relay "$T/relay.json" \
    --slurpfile lat "$T/latency.json" --slurpfile pair "$T/pairing.json" \
    --slurpfile echo "$T/echo.json" --slurpfile two "$T/two.json" \
    --slurpfile fsync "$T/fsync.json" --slurpfile peak "$T/peak.json" \
    --argjson triage "$TRIAGE" --argjson triage_by_cpu "$TRIAGE_BY_CPU" \
    --slurpfile probes "$T/cpu-probes" --arg cmd "$CMD" \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg host "$(uname -srm); $(nproc) cores; $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)" \
    --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" '
    def med: if length > 0 then sort | .[length / 2 | floor] else null end;
    [$probes[] | arrays | .[] | numbers] as $speeds |
    ($idle[0]) as $i | ($relay[0]) as $r | ($lat[0]) as $l | ($pair[0]) as $p |
    ($echo[0]) as $e | ($two[0]) as $t | ($fsync[0]) as $f | ($peak[0]) as $k |
    {
      idle_connections: $i.idle_connections,
      rss_per_idle_connection_bytes: $i.rss_per_idle_connection_bytes,
      relay_msgs_per_s: $r.msgs_per_s,
      relay_machine_cpu: $r.machine_cpu,
      p50_ms_at_5k_msgs_per_s: $l.p50_ms,
      p99_ms_at_5k_msgs_per_s: $l.p99_ms,
      p99_ms_at_5k_msgs_per_s_15k_waiting: $k.p99_ms,
      echo_msgs_per_s: $e.msgs_per_s,
      echo_ratio: (if $e.msgs_per_s > 0 then (($r.msgs_per_s / $e.msgs_per_s) * 1000 | round) / 1000 else null end),
      pairing_p99_ms: $p.pairing_p99_ms,
      triage_us_per_msg: $triage,
      triage_by_cpu: $triage_by_cpu,
      two_process_relay_msgs_per_s: $t.msgs_per_s,
      disk_floor_p99_ms_at_5k_msgs_per_s: $f.msg_p99_ms,
      redis_fsync_max_ms_per_s_median: ($l.redis_fsync_max_ms_per_s | med),
      disk_floor_fsync_max_ms_per_s_median: ($f.fdatasync_max_ms_per_s | med),
      cpu_giga_adds_per_s_min: ($speeds | min),
      cpu_giga_adds_per_s_max: ($speeds | max),
      command: $cmd, date: $date, machine: $host, commit: $commit,
      scenarios: {idle: $i, relay: $r, latency: $l, disk_floor: $f, peak: $k,
                  pairing: $p, echo: $e, two_process: $t}
    }' >"$RESULTS"

jq -r '
  def row(k; target): [k, (.[k] | tostring), target] | @tsv;
  "figure\tmeasured\ttarget (#6)",
  row("idle_connections"; ">= 15000"),
  row("rss_per_idle_connection_bytes"; "<= 2048"),
  row("relay_msgs_per_s"; ">= 30000"),
  row("relay_machine_cpu"; "(of \(.scenarios.relay.machine_cores) cores)"),
  row("p50_ms_at_5k_msgs_per_s"; "-"),
  row("p99_ms_at_5k_msgs_per_s"; "<= 5"),
  row("p99_ms_at_5k_msgs_per_s_15k_waiting"; "-"),
  row("echo_msgs_per_s"; "-"),
  row("echo_ratio"; ">= 0.5"),
  row("pairing_p99_ms"; "<= 10"),
  row("triage_us_per_msg"; "<= 1.5"),
  (if .triage_by_cpu == null then ["triage_by_cpu", "null", "(no taskset)"] | @tsv
   else .triage_by_cpu[] | ["triage_us_per_msg_cpu\(.cpu)", (.us_per_msg | tostring),
     "(pinned; CPU at \(.cpu_giga_adds_per_s) G adds/s)"] | @tsv end),
  row("two_process_relay_msgs_per_s"; "-"),
  row("disk_floor_p99_ms_at_5k_msgs_per_s"; "(bound)"),
  row("redis_fsync_max_ms_per_s_median"; "(bound)"),
  row("disk_floor_fsync_max_ms_per_s_median"; "(bound)"),
  row("cpu_giga_adds_per_s_min"; "-"),
  row("cpu_giga_adds_per_s_max"; "-")' "$RESULTS" | column -t -s "$(printf '\t')"
echo "written: $RESULTS"
