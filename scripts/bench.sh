#!/usr/bin/env bash
# Builds the benchmark data set and runs every benchmark (bench/), then prints one table: figure,
# value, target, reference measured in the same run, ratio, pass/fail; also as JSON.
#
#   bash scripts/bench.sh                      # full size: 1M posts / 100k cases / 200k identities
#   bash scripts/bench.sh --quick              # 1/20th of the data, short runs (a smoke run)
#   bash scripts/bench.sh --only queries,ingest
#   bash scripts/bench.sh --json /tmp/bench.json   # default: bench/results/latest.json
#
# PostgreSQL: a private cluster started for the run and removed after (port SOCIALCARE_BENCH_PORT,
# default a free one), configured like a production server (durable: fsync and synchronous
# commit on; see docs/performance.md). SOCIALCARE_BENCH_DB=existing uses the server in PG*
# instead (an empty database: the run migrates it and builds the data).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/socialcare-bench.XXXXXX")"

note() { printf '    %s\n' "$*"; }
die() {
    printf '\n\033[1;31mFAILED: %s\033[0m\n' "$*" >&2
    exit 1
}

# shellcheck source=lib/venv.sh
source "$ROOT/scripts/lib/venv.sh"
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"

clean_up_on_exit

for arg in "$@"; do
    case "$arg" in
        -h | --help)
            sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
    esac
done

printf '\033[1m==> Python environment (%s)\033[0m\n' "$VENV"
ensure_venv
unset DJANGO_SETTINGS_MODULE PYTHONPATH
export PATH="$VENV/bin:$PATH"

printf '\033[1m==> PostgreSQL\033[0m\n'
if [[ "${SOCIALCARE_BENCH_DB:-}" == existing ]]; then
    note "using PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGDATABASE=${PGDATABASE:-socialcare}"
else
    # Production-like: durable commits (fsync, synchronous_commit and full_page_writes stay on),
    # memory for a small dedicated server, SSD costs, no JIT (it costs milliseconds on short OLTP
    # queries), checkpoints spread for the bulk build. docs/performance.md explains each.
    PG_PORT="${SOCIALCARE_BENCH_PORT:-}"
    PG_SERVER_OPTS="-c shared_buffers=1GB -c effective_cache_size=4GB -c work_mem=16MB \
-c maintenance_work_mem=512MB -c max_wal_size=8GB -c checkpoint_timeout=15min \
-c random_page_cost=1.1 -c effective_io_concurrency=200 -c jit=off -c max_connections=200"
    start_private_pg || die "could not start a private PostgreSQL cluster (server binaries: Debian
  package postgresql; or SOCIALCARE_BENCH_DB=existing with PG* pointing at an empty database)"
fi

printf '\033[1m==> Benchmarks\033[0m\n'
DJANGO_SETTINGS_MODULE=bench.settings "$PY" -m bench.run "$@"
