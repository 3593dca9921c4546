#!/usr/bin/env bash
# Proves the README's demo command from scratch: in a fresh clone of this repository (what is
# committed; no .venv), runs `bash scripts/demo.sh --no-serve` exactly as README.md says, then
# `bash scripts/demo.sh --addrport 127.0.0.1:<free port>` (server and worker), logs in over HTTP
# as the agent maya with the password the demo printed, and checks that the inbox, a case page and
# the dashboard answer 200 (scripts/admin_smoke.py), that the worker runs, and that the demo's log
# holds no traceback and no polling error. Then stops the demo (SIGTERM) and checks that its server
# and worker are gone. CI runs it.
#
#   bash scripts/check_demo.sh          SOCIALCARE_DEMO_KEEP=1 keeps the clone and its logs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
START=$SECONDS
TMP="$(mktemp -d "${TMPDIR:-/tmp}/socialcare-demo-check.XXXXXX")"
CLONE="$TMP/socialcare"
LOG="$TMP/demo.log"
DEMO_PID=""

say() { printf '    %s\n' "$*"; }
fail() {
    printf '\n\033[1;31mFAILED (demo check): %s\033[0m\n' "$*" >&2
    if [[ -f "$LOG" ]]; then
        echo "--- the last 40 lines of the demo's output ---" >&2
        tail -n 40 "$LOG" >&2
    fi
    exit 1
}

stop_demo() {
    [[ -n "$DEMO_PID" ]] || return 0
    # SIGTERM to the demo command (its documented stop, like Ctrl-C in its terminal: a job started
    # with & ignores SIGINT); it stops its server and worker. Anything of its process group still
    # alive afterwards is killed, and counts as a failure to stop.
    kill -TERM "$DEMO_PID" 2>/dev/null || true
    local waited=0 stopped=0
    while [[ $waited -lt 30 ]]; do
        if ! kill -0 -- "-$DEMO_PID" 2>/dev/null; then
            stopped=1
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    if [[ $stopped -eq 0 ]]; then
        say "the demo (or its server or worker) did not stop within 30 s of SIGTERM: killing it"
        kill -KILL -- "-$DEMO_PID" 2>/dev/null || true
        DEMO_PID=""
        return 1
    fi
    DEMO_PID=""
}

clean_up() {
    stop_demo || true
    if [[ "${SOCIALCARE_DEMO_KEEP:-0}" == 1 ]]; then
        echo "kept: $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap clean_up EXIT

say "fresh clone of $(git -C "$ROOT" rev-parse --short HEAD) in $CLONE (no .venv)"
git clone --quiet "$ROOT" "$CLONE" || fail "git clone failed"
[[ ! -e "$CLONE/.venv" ]] || fail "the clone has a .venv"
cd "$CLONE"

# 1. The README's command, as a user types it (the password is the one it prints).
say "bash scripts/demo.sh --no-serve"
step=$SECONDS
if ! env -u SOCIALCARE_DEMO_PASSWORD -u DJANGO_SETTINGS_MODULE -u SOCIALCARE_VAR_DIR \
    bash scripts/demo.sh --no-serve >"$TMP/setup.log" 2>&1; then
    LOG="$TMP/setup.log"
    fail "bash scripts/demo.sh --no-serve exited non-zero"
fi
say "set up in $((SECONDS - step))s"
password="$(sed -n 's/^ *password  *\([^ ]*\).*/\1/p' "$TMP/setup.log" | tail -n 1)"
[[ -n "$password" ]] || { LOG="$TMP/setup.log"; fail "the demo printed no password"; }

# 2. The demo served: server and worker on a free port, in a process group of their own.
port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
say "bash scripts/demo.sh --addrport 127.0.0.1:$port"
setsid env -u SOCIALCARE_DEMO_PASSWORD -u DJANGO_SETTINGS_MODULE -u SOCIALCARE_VAR_DIR \
    SOCIALCARE_DEMO_PASSWORD="$password" \
    bash scripts/demo.sh --addrport "127.0.0.1:$port" >"$LOG" 2>&1 </dev/null &
DEMO_PID=$!
served=0
for _ in $(seq 1 120); do
    if .venv/bin/python -c "import urllib.request as u; u.urlopen('$base/admin/login/', timeout=2)" \
        >/dev/null 2>&1; then
        served=1
        break
    fi
    kill -0 "$DEMO_PID" 2>/dev/null || fail "the demo exited before it served"
    sleep 0.5
done
[[ $served -eq 1 ]] || fail "the demo did not answer on $base within 60 s"
say "serving on $base"

# 3. The agent's pages over HTTP.
.venv/bin/python "$ROOT/scripts/admin_smoke.py" "$base" maya "$password" \
    --need-rows=/admin/socialcare/case/ /admin/socialcare/supportdashboard/ \
    >"$TMP/smoke.log" 2>&1 || { cat "$TMP/smoke.log" >&2; fail "maya's pages did not all answer 200"; }
grep -E "^200 +GET /admin/socialcare/(case/|case/[0-9]+/change/|supportdashboard/)$" "$TMP/smoke.log" \
    | sed 's/^/    /'
[[ "$(grep -cE "^200 +GET /admin/socialcare/case/[0-9]+/change/$" "$TMP/smoke.log")" -ge 1 ]] \
    || fail "no case page was opened"
say "$(tail -n 1 "$TMP/smoke.log")"

# 4. The worker runs (django-q2 logs "Q Cluster … running." and each task it processed: the
#    schedules are due at start), and the log is clean.
for _ in $(seq 1 60); do
    grep -q "Q Cluster .* running" "$LOG" && grep -q "Processed '" "$LOG" && break
    sleep 1
done
grep -q "Q Cluster .* running" "$LOG" || fail "the worker (qcluster) did not report running"
grep -q "Processed '" "$LOG" || fail "the worker processed no task within 60 s"
say "the worker runs: $(grep -c "Processed '" "$LOG") task(s) processed"
stop_demo || fail "the demo did not stop on SIGTERM"
say "stopped on SIGTERM: server and worker gone"
if grep -n -E "Traceback|Polling .*(Error|error)|ConnectError|Name or service not known" "$LOG"; then
    fail "the demo's log has errors (above)"
fi
say "the demo's log has no traceback and no polling error"
printf '\033[1;32mdemo check passed in %ds\033[0m\n' $((SECONDS - START))
