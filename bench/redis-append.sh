#!/bin/sh
# bench/redis-append.sh - Redis's own cost of storing messages, without
# chatd or the network: what bounds relay_msgs_per_s (docs/performance.md).
#
#   bench/redis-append.sh [SCRIPTS_DIR] [MESSAGES] [BATCH]
#
# Starts a private Redis as bench/run.sh does (unix socket, appendonly,
# appendfsync always), loads SCRIPTS_DIR/lib.lua + append.lua (default
# chatd/scripts, as tools/embed-lua.sh joins them), opens 256 chatting
# conversations and pipes MESSAGES (default 80,000) parent messages into
# it, BATCH (default 40, about what one chatd loop turn sends under the
# relay load) to an EVALSHA, round robin over the conversations, each
# with a 141-byte sealed text and no triage finding, as chatd sends most.  Prints Redis's CPU per
# message (from /proc, user + system: the script, the protocol, the AOF
# write and fdatasync), the scripts' own time per message (commandstats),
# AOF bytes per message and the commands Redis ran per message.  Run it for two versions of the
# scripts, alternately, to compare them; no wall clock is involved, but a
# busy machine still adds some CPU time (cache, steal).
set -eu

cd "$(dirname "$0")/.."
DIR=${1:-chatd/scripts}
N=${2:-80000}
BATCH=${3:-40}
T=$(mktemp -d /tmp/chatd-redis-append.XXXXXX)
RPID=""
cleanup() {
    [ -z "$RPID" ] || kill "$RPID" 2>/dev/null || true
    rm -rf "${T:?}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

(cd "$T" && exec redis-server --port 0 --unixsocket "$T/s" --dir "$T" \
    --appendonly yes --appendfsync always --save '' >"$T/log" 2>&1) &
RPID=$!
i=0
until redis-cli -s "$T/s" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "redis did not start" >&2; exit 1; }
    sleep 0.1
done
r() { redis-cli -s "$T/s" "$@"; }

cat "$DIR/lib.lua" "$DIR/append.lua" >"$T/append.lua"
SHA=$(r -x SCRIPT LOAD <"$T/append.lua")
python3 - "$N" "$BATCH" "$SHA" "$T" <<'PY'
import os, sys
n, batch, sha, t = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def cmd(args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)
with open(t + '/setup.resp', 'wb') as w:
    for c in range(256):
        w.write(cmd(['HSET', 'conv:c%03d' % c, 'state', 'chatting', 'sev', '0',
                     'adviser', 'a1', 'queued_at', '1',
                     'created', '1', 'paired_at', '1', 'topic', '',
                     'area', '', 'key', 'k' * 96]))
ct = os.urandom(141)  # a ~100-byte text sealed: raw, as conv_seal_entry gives
tri = ''  # what chatd stores when triage found nothing (wire_triage_stored)
now = 1795400000000
with open(t + '/load.resp', 'wb') as w:
    for j in range(0, n, batch):
        args = ['EVALSHA', sha, '0']
        for i in range(j, min(n, j + batch)):
            args += [str(now + i), 'c%03d' % (i % 256), 'parent',
                     'p%d-%d' % (i % 256, i // 256), ct, tri, '0', '']
        w.write(cmd(args))
PY
r --pipe <"$T/setup.resp" >/dev/null
r CONFIG RESETSTAT >/dev/null
AOF0=$(r INFO persistence | sed -n 's/^aof_current_size:\([0-9]*\).*/\1/p')
CPU0=$(awk '{print $14 + $15}' "/proc/$RPID/stat")
r --pipe <"$T/load.resp" >"$T/pipe.out"
CPU1=$(awk '{print $14 + $15}' "/proc/$RPID/stat")
AOF1=$(r INFO persistence | sed -n 's/^aof_current_size:\([0-9]*\).*/\1/p')
grep -q 'errors: 0' "$T/pipe.out" || { cat "$T/pipe.out" >&2; exit 1; }
[ "$(r XLEN conv:c000:log)" -eq $(( (N + 255) / 256 )) ] ||
    { echo "bench/redis-append.sh: not every message was stored" >&2; exit 1; }
HZ=$(getconf CLK_TCK)
EVUS=$(r INFO commandstats | sed -n 's/^cmdstat_evalsha:calls=[0-9]*,usec=\([0-9]*\),.*/\1/p')
CMDS=$(r INFO commandstats | awk -F'[=,:]' '/^cmdstat_/ && !/evalsha|config/ {n += $3} END {print n}')
jq -n --argjson n "$N" --argjson b "$BATCH" --argjson cpu "$((CPU1 - CPU0))" \
    --argjson hz "$HZ" --argjson aof "$((AOF1 - AOF0))" --argjson cmds "$CMDS" --argjson evus "$EVUS" '{
    messages: $n, batch: $b,
    redis_cpu_us_per_msg: (($cpu / $hz) * 1e6 / $n * 100 | round / 100),
    script_us_per_msg: ($evus / $n * 100 | round / 100),
    aof_bytes_per_msg: ($aof / $n | round),
    redis_commands_per_msg: ($cmds / $n * 100 | round / 100)}'
