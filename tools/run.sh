#!/bin/sh
# run.sh - `make run`: start chatd on http://localhost:8080 with the
# embedded Redis under ./var, creating a demo adviser and a demo lead on
# the first run and printing how to log in.
set -e
cd "$(dirname "$0")/.."
BIN=bin/chatd
: "${CHATD_DATA_DIR:=./var}"
export CHATD_DATA_DIR
CREDS="$CHATD_DATA_DIR/demo-logins.txt"

mkdir -p "$CHATD_DATA_DIR" && chmod 700 "$CHATD_DATA_DIR"
if ! $BIN user list | grep -q .; then
    umask 077
    : > "$CREDS"
    for pair in demo-adviser:adviser demo-lead:lead; do
        name=${pair%%:*} role=${pair#*:}
        pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
        printf '%s\n' "$pw" | $BIN user add "$name" --role "$role"
        printf '%-13s %-8s password: %s\n' "$name" "$role" "$pw" >> "$CREDS"
    done
fi
port=${CHATD_PORT:-8080}
cat <<MSG

  chatd is starting.
    Parent view (demo host site):  http://localhost:$port/
    Staff console:                 http://localhost:$port/console/
  Demo logins (also in $CREDS):
$(sed 's/^/    /' "$CREDS" 2>/dev/null || echo "    (none: add one with bin/chatd user add NAME --role adviser)")
  Stop with Ctrl-C.

MSG
exec $BIN
