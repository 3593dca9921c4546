#!/usr/bin/env bash
# Issue #24's acceptance run: a sync with a generated client against the demo under traffic misses
# nothing. Serves the demo (server and worker, `manage.py socialcare_demo`) on a free port against
# a fresh SQLite database in a temporary directory, creates an API key with only `cases:read`,
# generates the openapi-python-client client from the schema, then with that client:
#   1. a full sync of GET cases/ by cursor (passing `next`'s `cursor` to cases_list, docs/api.md),
#      small pages read slowly while `manage.py socialcare_simulate` posts new traffic (new cases,
#      follow-ups) and another process adds notes to random cases;
#   2. once the traffic has stopped and the worker is idle, an incremental pass with
#      `changed_after=<the largest change_seq seen>`;
# and asserts that the client holds every case in the database with its final change_seq, none
# missing, and that each pass saw change_seq strictly increasing. Prints counts and time.
#
#   bash scripts/check_client_sync.sh        (about 60 s; SOCIALCARE_SYNC_KEEP=1 keeps the logs)
#
# Environment: PYTHON, CLIENT_VENVS as scripts/check_clients.sh (the openapi-python-client venv is
# the one it makes); SOCIALCARE_SYNC_SECONDS (default 20): how long traffic runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEFAULT_PYTHON=python3
[[ -x "$ROOT/.venv/bin/python" ]] && DEFAULT_PYTHON="$ROOT/.venv/bin/python"
PYTHON="${PYTHON:-$DEFAULT_PYTHON}"
VENVS="${CLIENT_VENVS:-/tmp/socialcare-client-venvs}"
OPC="openapi-python-client==0.29.1" # as scripts/check_clients.sh
SECONDS_OF_TRAFFIC="${SOCIALCARE_SYNC_SECONDS:-20}"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/socialcare-client-sync.XXXXXX")"
START_TIME=$SECONDS
DEMO_PID="" SIM_PID="" NOTES_PID=""

# The demo project on a database of its own; nothing of the caller's settings.
export SOCIALCARE_VAR_DIR="$TMP/var" DJANGO_SETTINGS_MODULE=project.settings PYTHONPATH="$ROOT"
export SOCIALCARE_DEMO_PASSWORD="sync-check-$RANDOM$RANDOM"
unset DJANGO_DEBUG

step() { printf '\n\033[1m==> client sync [%ds] %s\033[0m\n' $((SECONDS - START_TIME)) "$*"; }
die() {
    printf '\n\033[1;31mCLIENT SYNC CHECK FAILED: %s\033[0m\n' "$*" >&2
    if [[ -f "$TMP/demo.log" ]]; then
        echo "--- the last 30 lines of the demo's output ---" >&2
        tail -n 30 "$TMP/demo.log" >&2
    fi
    exit 1
}

# stop PID: SIGTERM to the process group PID leads, SIGKILL after 20 s.
stop() {
    [[ -n "$1" ]] || return 0
    kill -TERM -- "-$1" 2>/dev/null || return 0
    for _ in $(seq 1 40); do
        kill -0 -- "-$1" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL -- "-$1" 2>/dev/null || true
}
cleanup() {
    stop "$NOTES_PID"
    stop "$SIM_PID"
    stop "$DEMO_PID"
    if [[ "${SOCIALCARE_SYNC_KEEP:-}" == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# django SCRIPT ARGS...: run Python with the demo project set up.
django() {
    local code="$1"
    shift
    (cd "$ROOT" && "$PYTHON" -c "import django; django.setup()
$code" "$@")
}

step "schema and the openapi-python-client client"
django "
import json
from socialcare.api.schema import schema_document
json.dump(schema_document(), open('$TMP/schema.json', 'w'))
" 2>"$TMP/schema.log" || { cat "$TMP/schema.log" >&2; die "schema generation failed"; }
if [[ ! -f "$VENVS/opc/.installed" || "$(cat "$VENVS/opc/.installed")" != "$OPC" ]]; then
    rm -rf "$VENVS/opc"
    "$PYTHON" -m venv "$VENVS/opc"
    "$VENVS/opc/bin/pip" install -q --disable-pip-version-check "$OPC"
    echo "$OPC" >"$VENVS/opc/.installed"
fi
(cd "$TMP" && PATH="$VENVS/opc/bin:$PATH" openapi-python-client generate --path schema.json \
    --output-path opc --meta none) >"$TMP/opc.log" 2>&1 || { cat "$TMP/opc.log"; die "openapi-python-client failed"; }

step "the demo on a temporary SQLite database ($SOCIALCARE_VAR_DIR)"
port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
(cd "$ROOT" && exec setsid "$PYTHON" manage.py socialcare_demo --addrport "127.0.0.1:$port") \
    >"$TMP/demo.log" 2>&1 </dev/null &
DEMO_PID=$!
served=0
for _ in $(seq 1 120); do
    if "$PYTHON" -c "import urllib.request as u; u.urlopen('$base/admin/login/', timeout=2)" >/dev/null 2>&1; then
        served=1
        break
    fi
    kill -0 "$DEMO_PID" 2>/dev/null || die "the demo exited before it served"
    sleep 0.5
done
[[ $served -eq 1 ]] || die "the demo did not answer on $base within 60 s"
echo "    serving on $base"

key="$(django "
from django.contrib.auth import get_user_model
from socialcare.services.apikeys import create_api_key
admin = get_user_model().objects.get(username='admin')
print(create_api_key(admin, 'client sync check', read_only=True, scopes=['cases:read'])[1])
")" || die "could not create the API key"
echo "    API key with scopes [cases:read] (acting as admin)"

# The sync client: one pass of cases_list, following `next` by its `cursor`. Keeps
# {case id: change_seq} in STORE (a JSON file), the high-water mark with it.
cat >"$TMP/sync_client.py" <<'EOF'
import json
import sys
import time

from opc import AuthenticatedClient
from opc.api.cases import cases_list
from opc.types import UNSET

base, key, store_path, mode = sys.argv[1:5]
page_size, pause = int(sys.argv[5]), float(sys.argv[6])
try:
    with open(store_path) as file:
        store = json.load(file)
except FileNotFoundError:
    store = {"cases": {}, "mark": 0, "passes": []}
client = AuthenticatedClient(base_url=base, token=key, prefix="Api-Key", raise_on_unexpected_status=True)
client.__enter__()  # one connection for the pass (closed at the end)
changed_after = store["mark"] if mode == "incremental" else UNSET
began, cursor, pages, items, again, last = time.monotonic(), UNSET, 0, 0, 0, None
seen = set()
while True:
    page = cases_list.sync(client=client, cursor=cursor, page_size=page_size, changed_after=changed_after)
    pages += 1
    for case in page.results:
        items += 1
        again += case.id in seen  # changed behind the cursor: it comes again later in the pass
        seen.add(case.id)
        assert last is None or case.change_seq > last, f"change_seq not increasing: {last} then {case.change_seq}"
        last = case.change_seq
        held = store["cases"].get(str(case.id))
        assert held is None or case.change_seq >= held, f"case {case.id} went back: {held} -> {case.change_seq}"
        store["cases"][str(case.id)] = case.change_seq
        store["mark"] = max(store["mark"], case.change_seq)
    cursor = page.next_cursor  # the `cursor` of `next`, as the list operation takes it
    if not cursor:
        break
    time.sleep(pause)
client.__exit__(None, None, None)
store["passes"].append({"mode": mode, "pages": pages, "items": items, "seconds": round(time.monotonic() - began, 1)})
with open(store_path, "w") as file:
    json.dump(store, file)
print(
    f"    {mode} pass: {items} cases in {pages} pages ({again} of them again, changed while paging), "
    f"{store['passes'][-1]['seconds']} s; high-water mark {store['mark']}"
)
EOF
sync_pass() {
    (cd "$TMP" && "$VENVS/opc/bin/python" -W error sync_client.py "$base" "$key" "$TMP/store.json" "$@")
}

before="$(django "from socialcare.models import Case; print(Case.objects.count())")"
step "traffic for ${SECONDS_OF_TRAFFIC}s (simulator + notes) while the client syncs ($before cases)"
(cd "$ROOT" && exec setsid "$PYTHON" manage.py socialcare_simulate --url "$base" --rate 4 \
    --duration "$SECONDS_OF_TRAFFIC" --poll-interval 1 --seed 24 -v 0) \
    >"$TMP/simulate.log" 2>&1 </dev/null &
SIM_PID=$!
(cd "$ROOT" && exec setsid "$PYTHON" -c "
import random, sys, time, django
django.setup()
from socialcare.models import Case
from socialcare.services.cases import add_note
rng, end, added = random.Random(24), time.monotonic() + float(sys.argv[1]), 0
while time.monotonic() < end:
    ids = list(Case.objects.values_list('pk', flat=True))
    add_note(Case.objects.get(pk=rng.choice(ids)), f'sync check note {added}')
    added += 1
    time.sleep(0.1)
print(added)
" "$SECONDS_OF_TRAFFIC") >"$TMP/notes.log" 2>&1 </dev/null &
NOTES_PID=$!
sleep 2
# Small pages, read slowly: the traffic lands between them, and cases changed behind the cursor
# come again, so the pass runs about as long as the traffic.
sync_pass full 10 1 || die "the full sync failed"
full_done=$((SECONDS - START_TIME))
wait "$NOTES_PID" || { cat "$TMP/notes.log" >&2; die "adding notes failed"; }
notes="$(tail -n 1 "$TMP/notes.log")"
NOTES_PID=""
wait "$SIM_PID" || { cat "$TMP/simulate.log" >&2; die "the simulator failed"; }
SIM_PID=""
grep -E "sent|posts" "$TMP/simulate.log" | tail -n 3 | sed 's/^/    simulator: /'

step "waiting for the worker to finish the traffic"
django "
import time
from django_q.models import OrmQ
from socialcare.models import ChangeCounter
def state():
    return OrmQ.objects.count(), list(ChangeCounter.objects.values_list('value', flat=True))
last, quiet, end = None, 0, time.monotonic() + 60
while time.monotonic() < end and quiet < 3:
    now = state()
    quiet = quiet + 1 if now == last and now[0] == 0 else 0
    last = now
    time.sleep(1)
assert quiet >= 3, f'the worker is still busy after 60 s: {last}'
" || die "the worker did not go idle"

# compare: exit 0 when the client holds every case with its database change_seq; 3 when the
# database has changes after the client's high-water mark (the worker's SLA scan keeps changing
# cases: another incremental pass is due); 1 when the client missed anything.
compare() {
    django "
import json, sys
from socialcare.models import Case, ChangeCounter
with open('$TMP/store.json') as file:
    store = json.load(file)
held, mark = store['cases'], store['mark']
db = {str(pk): seq for pk, seq in Case.objects.values_list('pk', 'change_seq')}
newest = ChangeCounter.objects.get(name='case').value
if newest > mark:
    print(f'    the database has changes after {mark} (up to {newest}): one more incremental pass')
    sys.exit(3)
missing = sorted(set(db) - set(held), key=int)
stale = sorted((pk for pk in db if pk in held and held[pk] != db[pk]), key=int)
unknown = sorted(set(held) - set(db), key=int)
print(f'    database: {len(db)} cases ({len(db) - $before} new during the run, $notes notes added), '
      f'last change {newest}; client: {len(held)} cases, high-water mark {mark}')
for name, ids in (('missing', missing), ('stale (an older change_seq)', stale), ('not in the database', unknown)):
    if ids:
        print(f'    {name}: {len(ids)}: ' + ', '.join(f'{pk} (db {db.get(pk)}, client {held.get(pk)})' for pk in ids[:10]))
sys.exit(1 if missing or stale or unknown else 0)
"
}

for pass in 1 2 3 4 5; do
    step "incremental pass $pass (changed_after = the high-water mark), then the database"
    sync_pass incremental 200 0 || die "the incremental sync failed"
    status=0
    compare || status=$?
    [[ $status -eq 3 ]] || break
done
[[ $status -eq 0 ]] || die "the client's copy differs from the database"
if grep -n "Traceback" "$TMP/demo.log" >&2; then
    die "the demo's log has a traceback (SOCIALCARE_SYNC_KEEP=1 keeps it)"
fi
[[ "$((SECONDS - START_TIME))" -le 120 ]] || die "took $((SECONDS - START_TIME)) s (over 2 minutes)"

step "done: every case synced with its final change_seq (full pass over by ${full_done} s; $((SECONDS - START_TIME)) s in all)"
