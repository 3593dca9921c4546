#!/usr/bin/env bash
# Runs the whole socialcare test suite on a fresh machine: lint, Django checks, then pytest with
# tests.settings and tests.settings_swapped on SQLite, the browser tests (Chromium against the
# demo), the embedded-default fault test (the demo's runserver and qcluster on SQLite and the ORM
# broker, the worker SIGKILLed: tests/embedded), pytest on a real PostgreSQL server, and the
# scale-out test (two gunicorn and two qcluster processes on PostgreSQL and a private
# redis-server: tests/scaleout).
#
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -k merge        # extra arguments go to every pytest run (not the browser's)
#   bash scripts/test.sh --browser-only  # only the browser tests (after the Python environment)
#   bash scripts/test.sh tests/scaleout  # only the scale-out test (and the other stages' runs,
#                                        # which find nothing to run: a warning, not a failure)
#   bash scripts/test.sh tests/embedded  # only the embedded-default fault test (likewise)
#
# Environment (see docs/development.md):
#   SOCIALCARE_TEST_DB=postgres + PG*   use that PostgreSQL server instead of a private throwaway one
#   SOCIALCARE_SKIP_POSTGRES=1          skip the PostgreSQL runs (loudly)
#   SOCIALCARE_TEST_SETTINGS="..."      settings modules to run on SQLite (default: both; set but
#                                       empty: none, as CI's first stage, whose later stages run
#                                       them with other versions)
#   SOCIALCARE_PG_SETTINGS="..."        settings modules to run on PostgreSQL (default: tests.settings)
#   SOCIALCARE_HOST_SETTINGS="..."      host CRM shapes whose suite (tests/hosts) runs on SQLite
#                                       (default: the three in tests/hosts; "" for none)
#   SOCIALCARE_PG_HOST_SETTINGS="..."   host shapes also run on PostgreSQL (default: splitname, uuidpk)
#   SOCIALCARE_HEAVY_SETTINGS="..."     settings whose runs include the tests marked heavy, each
#                                       once: on PostgreSQL if also marked on_postgres, else on
#                                       SQLite (default: tests.settings; the others add
#                                       -m "not heavy")
#   SOCIALCARE_TEST_WORKERS=N           pytest-xdist workers (default: 2 for a full run, 0 with args)
#   SOCIALCARE_TEST_SUMMARY_FILE=path   also write the closing "tests: N passed, N failed" line there
#   SOCIALCARE_JUNIT_DIR=dir            keep every run's JUnit XML there (.ci/run totals all stages)
#   SOCIALCARE_SKIP_BROWSER=1           skip the browser tests (loudly)
#   SOCIALCARE_SKIP_SCALEOUT=1          skip the scale-out test (loudly; CI refuses it). Without
#                                       redis-server, root installs Debian's; anyone else fails
#                                       unless this is set. SOCIALCARE_SCALEOUT=0 is the same.
#   SOCIALCARE_SCALEOUT_DELIVERIES=N    deliveries the scale-out test sends (default 5000)
#   SOCIALCARE_SKIP_EMBEDDED=1          skip the embedded-default fault test (loudly; CI refuses it)
#   SOCIALCARE_ARTIFACTS_DIR=dir        where the browser tests save screenshots and server logs
#   SOCIALCARE_CHROMIUM=path            the Chromium to drive (default /usr/bin/chromium)
#   SOCIALCARE_FUZZ_SECONDS=N           seconds the atheris fuzz stage runs (default 20; full runs only)
#   PYTHON=python3.12                   interpreter used to create .venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"
SETTINGS_MODULES="${SOCIALCARE_TEST_SETTINGS-tests.settings tests.settings_swapped}"
PG_SETTINGS_MODULES="${SOCIALCARE_PG_SETTINGS:-tests.settings}"
HEAVY_SETTINGS="${SOCIALCARE_HEAVY_SETTINGS:-tests.settings}"
HOSTS_DIR=tests/hosts
BROWSER_ONLY=0
if [[ "${1:-}" == --browser-only ]]; then
    BROWSER_ONLY=1
    shift
fi
PYTEST_ARGS=("$@")
BROWSER_DIR=tests/browser
SCALEOUT_DIR=tests/scaleout
EMBEDDED_DIR=tests/embedded
ARTIFACTS_DIR="${SOCIALCARE_ARTIFACTS_DIR:-$ROOT/artifacts/browser}"
START_TIME=$SECONDS
STAGE=0
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/socialcare-test.XXXXXX")"
# Every pytest run's JUnit XML (junit-<label>-N.xml): the closing totals are read from them.
# .ci/run points this at a folder of its own to total the version stages' runs with these.
JUNIT_DIR="${SOCIALCARE_JUNIT_DIR:-$WORK_DIR}"
mkdir -p "$JUNIT_DIR"

# ---------------------------------------------------------------------------------------------
# output helpers

STAGE_START=$SECONDS
stage_time() {
    # The time of the stage that just ended (each stage's time, for a CI budget of 30 minutes).
    if [[ $STAGE -gt 0 ]]; then
        printf '    stage [%d] took %ds\n' "$STAGE" $((SECONDS - STAGE_START))
    fi
    STAGE_START=$SECONDS
}

header() {
    stage_time
    STAGE=$((STAGE + 1))
    printf '\n\033[1m==> [%d] %s\033[0m\n' "$STAGE" "$*"
}

note() { printf '    %s\n' "$*"; }

die() {
    printf '\n\033[1;31mFAILED: %s\033[0m\n' "$*" >&2
    exit 1
}

loud() {
    printf '\n\033[1;33m!!! %s !!!\033[0m\n' "$*" >&2
}

# ---------------------------------------------------------------------------------------------
# the virtualenv (ensure_venv) and the private PostgreSQL cluster (start_private_pg,
# stop_private_pg), shared with scripts/bench.sh

# shellcheck source=lib/venv.sh
source "$ROOT/scripts/lib/venv.sh"
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"
HOST_SETTINGS_MODULES="${SOCIALCARE_HOST_SETTINGS-$HOST_SHAPES}"
# On PostgreSQL: the split-name host and the UUID primary key (its columns change type there).
PG_HOST_SETTINGS_MODULES="${SOCIALCARE_PG_HOST_SETTINGS-tests.hosts.settings_splitname tests.hosts.settings_uuidpk}"
# The throwaway cluster's settings for the suites (scripts/lib/postgres.sh).
PG_SERVER_OPTS="$PG_TEST_OPTS"

# ---------------------------------------------------------------------------------------------
# clean-up: the private PostgreSQL cluster and the scratch directory

clean_up_on_exit

# ---------------------------------------------------------------------------------------------
# PostgreSQL: an existing server (or a private throwaway cluster: scripts/lib/postgres.sh)

check_existing_pg() {
    note "using the PostgreSQL server from the environment:" \
        "PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}" \
        "PGDATABASE=${PGDATABASE:-socialcare}"
    "$PY" - <<'PY' || die "cannot connect to that PostgreSQL server (check PGHOST, PGPORT, PGUSER, PGPASSWORD)"
import os
import sys

import psycopg

params = {
    "host": os.environ.get("PGHOST", "127.0.0.1"),
    "port": os.environ.get("PGPORT", "5432"),
    "user": os.environ.get("PGUSER", "postgres"),
    "password": os.environ.get("PGPASSWORD", ""),
    "connect_timeout": 10,
}
error = None
for dbname in (os.environ.get("PGDATABASE", "socialcare"), "postgres"):
    try:
        with psycopg.connect(dbname=dbname, **params) as conn:
            print("    server version:", conn.execute("show server_version").fetchone()[0])
            sys.exit(0)
    except psycopg.Error as exc:
        error = exc
print("   ", error, file=sys.stderr)
sys.exit(1)
PY
}

# ---------------------------------------------------------------------------------------------
# pytest

xdist_args() {
    local workers="${SOCIALCARE_TEST_WORKERS:-}"
    if [[ -z "$workers" ]]; then
        # A targeted run (extra args) is faster without worker start-up; a full run uses 2 cores.
        if [[ ${#PYTEST_ARGS[@]} -gt 0 ]] || [[ "$(nproc 2>/dev/null || echo 1)" -lt 2 ]]; then
            workers=0
        else
            workers=2
        fi
    fi
    local arg
    for arg in "${PYTEST_ARGS[@]}"; do
        # the caller chose the workers, turned xdist off, or wants a debugger: add nothing
        case "$arg" in -n | -n[0-9]* | --numprocesses* | no:xdist | --pdb | --trace) return 0 ;; esac
    done
    if [[ "$workers" != 0 ]]; then
        printf '%s\n' -n "$workers"
    fi
}

suite_args() {
    # The extra arguments without those naming browser, scale-out or embedded-default tests,
    # which run once each in their own stages (pytest collects a path named on its command line
    # despite --ignore). Fails when they named only such tests: then this run has nothing of its
    # own to run.
    local arg named=0 others=0
    for arg in "${PYTEST_ARGS[@]}"; do
        case "$arg" in
            "$BROWSER_DIR" | "$BROWSER_DIR"/* | "$SCALEOUT_DIR" | "$SCALEOUT_DIR"/* | \
                "$EMBEDDED_DIR" | "$EMBEDDED_DIR"/*)
                named=1
                continue
                ;;
        esac
        [[ -e "${arg%%::*}" ]] && others=1
        printf '%s\n' "$arg"
    done
    [[ $named -eq 0 || $others -eq 1 ]]
}

heavy_args() {
    # Which heavy tests run with settings $1 on database $2, unless the caller chose markers:
    # none outside $HEAVY_SETTINGS; inside, each once: those marked on_postgres on PostgreSQL,
    # the others on SQLite (all of them on SQLite when the PostgreSQL runs are skipped).
    local arg
    for arg in "${PYTEST_ARGS[@]}"; do
        [[ "$arg" == -m || "$arg" == -m* ]] && return 0
    done
    if [[ " $HEAVY_SETTINGS " != *" $1 "* ]]; then
        printf '%s\n' -m "not heavy"
    elif [[ "$2" == postgres ]]; then
        printf '%s\n' -m "not heavy or on_postgres"
    elif [[ "${SOCIALCARE_SKIP_POSTGRES:-0}" != 1 ]]; then
        printf '%s\n' -m "not (heavy and on_postgres)"
    fi
}

RUN_INDEX=0
run_pytest() {
    local settings="$1" db="$2" status=0 xdist=() args=() heavy=()
    if ! mapfile -t args < <(suite_args) || ! suite_args >/dev/null; then
        note "skipped: the extra arguments name only browser, scale-out or embedded-default tests" \
            "(their own stages)"
        return 0
    fi
    RUN_INDEX=$((RUN_INDEX + 1))
    mapfile -t xdist < <(xdist_args)
    mapfile -t heavy < <(heavy_args "$settings" "$db")
    args=("${heavy[@]}" "${args[@]}")
    note "pytest --ds=$settings${xdist[*]:+ ${xdist[*]}}${args[*]:+ ${args[*]}}"
    # The browser tests, the scale-out test and the embedded-default fault test run once each,
    # in their own stages (run_browser, run_scaleout, run_embedded).
    SOCIALCARE_TEST_DB="$db" "$PY" -m pytest --ds="$settings" --ignore="$BROWSER_DIR" \
        --ignore="$SCALEOUT_DIR" --ignore="$EMBEDDED_DIR" \
        --junitxml="$JUNIT_DIR/junit-main-$RUN_INDEX.xml" "${xdist[@]}" "${args[@]}" || status=$?
    case $status in
        0) ;;
        5)
            if [[ ${#PYTEST_ARGS[@]} -gt 0 ]]; then
                loud "no test matched the arguments in this run ($settings on $db)"
            else
                die "pytest collected no tests ($settings on $db): the suite is broken"
            fi
            ;;
        *) die "pytest failed ($settings on $db, exit $status)" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# the host CRM shapes: tests/hosts once per shape (each its own customer model, adapter and admin)

hosts_args() {
    # Full run: the directory. With extra arguments, only when they name tests/hosts.
    local arg named=0
    if [[ ${#PYTEST_ARGS[@]} -eq 0 ]]; then
        printf '%s\n' "$HOSTS_DIR"
        return 0
    fi
    for arg in "${PYTEST_ARGS[@]}"; do
        [[ "$arg" == "$HOSTS_DIR" || "$arg" == "$HOSTS_DIR"/* ]] && named=1
    done
    [[ $named -eq 1 ]] && printf '%s\n' "${PYTEST_ARGS[@]}"
    return 0
}

run_hosts() {
    local db="$1" modules="$2" settings status args=()
    mapfile -t args < <(hosts_args)
    if [[ ${#args[@]} -eq 0 ]]; then
        note "skipped: the extra arguments name no host test (add $HOSTS_DIR to run them)"
        return 0
    fi
    for settings in $modules; do
        status=0
        RUN_INDEX=$((RUN_INDEX + 1))
        note "pytest --ds=$settings ${args[*]} ($db)"
        SOCIALCARE_TEST_DB="$db" "$PY" -m pytest --ds="$settings" -p no:xdist \
            --junitxml="$JUNIT_DIR/junit-main-$RUN_INDEX.xml" "${args[@]}" || status=$?
        case $status in
            0) ;;
            5) [[ ${#PYTEST_ARGS[@]} -gt 0 ]] || die "pytest collected no host tests ($settings)" ;;
            *) die "the host suite failed ($settings on $db, exit $status)" ;;
        esac
    done
}

# ---------------------------------------------------------------------------------------------
# the browser tests: Debian's Chromium driven by Playwright against the demo (tests/browser)

in_ci() { [[ "${CI:-}" == true || "${CI:-}" == 1 || "${CI:-}" == yes ]]; }

find_chromium() {
    local candidate
    for candidate in "${SOCIALCARE_CHROMIUM:-}" /usr/bin/chromium chromium chromium-browser; do
        if [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null 2>&1; then
            CHROMIUM="$(command -v "$candidate")"
            return 0
        fi
    done
    return 1
}

has_fonts() {
    # CJK and emoji glyphs, so screenshots of the demo's customers show their names, not boxes.
    # (grep without -q: an early exit would fail fc-list with SIGPIPE under pipefail)
    local families
    command -v fc-list >/dev/null 2>&1 || return 1
    families="$(fc-list : family)"
    grep -i 'Noto Sans CJK' <<<"$families" >/dev/null && grep -i 'Noto Color Emoji' <<<"$families" >/dev/null
}

ensure_chromium() {
    CHROMIUM=""
    local packages=()
    find_chromium || packages+=(chromium)
    has_fonts || packages+=(fonts-noto-cjk fonts-noto-color-emoji)
    if [[ ${#packages[@]} -gt 0 && $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        note "installing Debian's ${packages[*]} (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        if ! { apt-get update -qq >/dev/null && apt-get install -y -qq "${packages[@]}" \
            >"$WORK_DIR/apt-browser.log" 2>&1; }; then
            tail -n 20 "$WORK_DIR/apt-browser.log" >&2 || true
            note "apt-get install ${packages[*]} failed"
        fi
        find_chromium || true
    elif ! has_fonts; then
        note "no CJK/emoji fonts (Debian: fonts-noto-cjk fonts-noto-color-emoji): some names in" \
            "the screenshots show as boxes"
    fi
    if [[ -z "$CHROMIUM" ]]; then
        if [[ $EUID -ne 0 ]]; then
            die "Chromium not found and not root, so it cannot be installed.
  Install it (Debian: sudo apt-get install chromium), point SOCIALCARE_CHROMIUM at one, or skip
  the browser tests with SOCIALCARE_SKIP_BROWSER=1."
        fi
        die "Chromium could not be installed (see above); SOCIALCARE_SKIP_BROWSER=1 skips the browser tests"
    fi
    note "browser: $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n 1))"
    export SOCIALCARE_CHROMIUM="$CHROMIUM"
}

browser_args() {
    # Full run or --browser-only: the whole directory. With extra arguments, only when they name
    # browser tests (e.g. tests/browser/test_agent_day.py -x): then they are the selection.
    local arg named=0
    if [[ ${#PYTEST_ARGS[@]} -eq 0 ]]; then
        printf '%s\n' "$BROWSER_DIR"
        return 0
    fi
    for arg in "${PYTEST_ARGS[@]}"; do
        [[ "$arg" == "$BROWSER_DIR" || "$arg" == "$BROWSER_DIR"/* ]] && named=1
    done
    if [[ $named -eq 1 ]]; then
        printf '%s\n' "${PYTEST_ARGS[@]}"
    elif [[ $BROWSER_ONLY -eq 1 ]]; then
        printf '%s\n' "$BROWSER_DIR" "${PYTEST_ARGS[@]}"
    fi
}

run_browser() {
    local status=0 args=()
    mapfile -t args < <(browser_args)
    if [[ ${#args[@]} -eq 0 ]]; then
        note "skipped: the extra arguments name no browser test (add $BROWSER_DIR to run them)"
        return 0
    fi
    ensure_chromium
    BROWSER_RAN=1
    RUN_INDEX=$((RUN_INDEX + 1))
    note "pytest ${args[*]} (screenshots and logs: $ARTIFACTS_DIR)"
    # One run, default settings: the tests start the SQLite demo (socialcare_demo, runserver,
    # qcluster) themselves. In CI a missing browser fails the tests instead of skipping them.
    SOCIALCARE_ARTIFACTS_DIR="$ARTIFACTS_DIR" SOCIALCARE_BROWSER_TESTS=1 "$PY" -m pytest \
        -p no:xdist --junitxml="$JUNIT_DIR/junit-main-$RUN_INDEX.xml" "${args[@]}" || status=$?
    note "screenshots: $ARTIFACTS_DIR"
    case $status in
        0) ;;
        5)
            if [[ ${#PYTEST_ARGS[@]} -gt 0 ]]; then
                loud "no browser test matched the arguments"
            else
                die "pytest collected no browser tests: the suite is broken"
            fi
            ;;
        *) die "the browser tests failed (exit $status); screenshots and server logs: $ARTIFACTS_DIR" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# the embedded-default fault test: the demo's runserver and qcluster on SQLite and the ORM broker

embedded_args() {
    # Full run: the whole directory. With extra arguments, only when they name the embedded
    # tests (e.g. tests/embedded -x): then they are the selection.
    local arg named=0
    if [[ ${#PYTEST_ARGS[@]} -eq 0 ]]; then
        printf '%s\n' "$EMBEDDED_DIR"
        return 0
    fi
    for arg in "${PYTEST_ARGS[@]}"; do
        [[ "$arg" == "$EMBEDDED_DIR" || "$arg" == "$EMBEDDED_DIR"/* ]] && named=1
    done
    if [[ $named -eq 1 ]]; then
        printf '%s\n' "${PYTEST_ARGS[@]}"
    fi
}

run_embedded() {
    local status=0 args=()
    mapfile -t args < <(embedded_args)
    if [[ ${#args[@]} -eq 0 ]]; then
        note "skipped: the extra arguments name no embedded-default test (add $EMBEDDED_DIR to run it)"
        return 0
    fi
    RUN_INDEX=$((RUN_INDEX + 1))
    # Once, alone on the machine (no xdist): it builds the demo's SQLite database, starts
    # runserver and one qcluster on it and kills the qcluster's process group (tests/embedded).
    note "pytest -p no:xdist ${args[*]} (logs of a failed test: artifacts/embedded/)"
    SOCIALCARE_TEST_DB=sqlite SOCIALCARE_EMBEDDED_TESTS=1 "$PY" -m pytest --ds=tests.settings \
        -p no:xdist --junitxml="$JUNIT_DIR/junit-main-$RUN_INDEX.xml" "${args[@]}" || status=$?
    case $status in
        0) ;;
        5)
            if [[ ${#PYTEST_ARGS[@]} -gt 0 ]]; then
                loud "no embedded-default test matched the arguments"
            else
                die "pytest collected no embedded-default test: the suite is broken"
            fi
            ;;
        *) die "the embedded-default fault test failed (exit $status); the failure above shows what was missing, the processes' logs are in artifacts/embedded/" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# the scale-out test: gunicorn and qcluster processes on PostgreSQL and Debian's redis-server

scaleout_skipped() {
    [[ "${SOCIALCARE_SKIP_SCALEOUT:-0}" == 1 || "${SOCIALCARE_SCALEOUT:-}" == 0 ]]
}

find_redis() {
    REDIS_SERVER="$(command -v redis-server 2>/dev/null || true)"
    [[ -n "$REDIS_SERVER" ]]
}

ensure_redis() {
    # The test starts its own redis-server on a free port of 127.0.0.1; only the binary is needed.
    if ! find_redis && [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        note "redis-server not found: installing Debian's redis-server (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        if ! { apt-get update -qq >/dev/null && apt-get install -y -qq redis-server \
            >"$WORK_DIR/apt-redis.log" 2>&1; }; then
            tail -n 20 "$WORK_DIR/apt-redis.log" >&2 || true
            note "apt-get install redis-server failed"
        fi
        find_redis || true
    fi
    if [[ -z "$REDIS_SERVER" ]]; then
        if [[ $EUID -ne 0 ]]; then
            die "redis-server not found and not root, so it cannot be installed.
  Install it (Debian: sudo apt-get install redis-server), or skip the scale-out test with
  SOCIALCARE_SKIP_SCALEOUT=1."
        fi
        die "redis-server could not be installed (see above); SOCIALCARE_SKIP_SCALEOUT=1 skips the scale-out test"
    fi
    note "redis: $REDIS_SERVER ($("$REDIS_SERVER" --version 2>/dev/null | head -n 1))"
}

scaleout_args() {
    # Full run: the whole directory. With extra arguments, only when they name the scale-out
    # tests (e.g. tests/scaleout -x): then they are the selection.
    local arg named=0
    if [[ ${#PYTEST_ARGS[@]} -eq 0 ]]; then
        printf '%s\n' "$SCALEOUT_DIR"
        return 0
    fi
    for arg in "${PYTEST_ARGS[@]}"; do
        [[ "$arg" == "$SCALEOUT_DIR" || "$arg" == "$SCALEOUT_DIR"/* ]] && named=1
    done
    if [[ $named -eq 1 ]]; then
        printf '%s\n' "${PYTEST_ARGS[@]}"
    fi
}

run_scaleout() {
    local status=0 args=()
    mapfile -t args < <(scaleout_args)
    if [[ ${#args[@]} -eq 0 ]]; then
        note "skipped: the extra arguments name no scale-out test (add $SCALEOUT_DIR to run it)"
        return 0
    fi
    ensure_redis
    RUN_INDEX=$((RUN_INDEX + 1))
    # Once, with the default settings, alone on the machine (no xdist, nothing beside it): it
    # starts two gunicorn and two qcluster processes on the PostgreSQL test database.
    note "pytest --ds=tests.settings -p no:xdist ${args[*]}"
    SOCIALCARE_TEST_DB=postgres "$PY" -m pytest --ds=tests.settings -p no:xdist \
        --junitxml="$JUNIT_DIR/junit-main-$RUN_INDEX.xml" "${args[@]}" || status=$?
    case $status in
        0) ;;
        5)
            if [[ ${#PYTEST_ARGS[@]} -gt 0 ]]; then
                loud "no scale-out test matched the arguments"
            else
                die "pytest collected no scale-out test: the suite is broken"
            fi
            ;;
        *) die "the scale-out test failed (exit $status); the failure above shows what was missing and the processes' logs" ;;
    esac
}

summary() {
    "$PY" "$ROOT/scripts/lib/junit_totals.py" "$JUNIT_DIR"
}

# ---------------------------------------------------------------------------------------------

header "Python environment ($VENV)"
ensure_venv
print_versions "$PY"
# Settings come from --ds / manage.py, never from the caller's shell.
unset DJANGO_SETTINGS_MODULE PYTHONPATH
export PATH="$VENV/bin:$PATH"

browser_skipped=0
BROWSER_RAN=0
if [[ "${SOCIALCARE_SKIP_BROWSER:-0}" == 1 ]]; then
    browser_skipped=1
fi

if [[ $BROWSER_ONLY -eq 1 ]]; then
    header "Browser tests (--browser-only)"
    [[ $browser_skipped -eq 1 ]] && die "--browser-only with SOCIALCARE_SKIP_BROWSER=1: nothing to run"
    run_browser
    stage_time
    printf '\n\033[1;32mThe browser tests passed in %ds.\033[0m\n' $((SECONDS - START_TIME))
    line="$(summary)"
    if [[ -n "${SOCIALCARE_TEST_SUMMARY_FILE:-}" ]]; then
        printf '%s\n' "$line" >"$SOCIALCARE_TEST_SUMMARY_FILE"
    fi
    printf '%s\n' "$line"
    exit 0
fi

header "Lint: ruff check + ruff format --check"
"$PY" -m ruff check . || die "ruff check found problems (fix: .venv/bin/ruff check --fix .)"
"$PY" -m ruff format --check . || die "ruff format would change files (fix: .venv/bin/ruff format .)"

header "Django: makemigrations --check and check"
# each settings module once, whichever database it runs on
CHECK_MODULES="$(printf '%s\n' $SETTINGS_MODULES $PG_SETTINGS_MODULES $HOST_SETTINGS_MODULES \
    | awk 'NF && !seen[$0]++' | tr '\n' ' ')"
django_checks "$CHECK_MODULES" "$PY"

if [[ -z "${SETTINGS_MODULES// /}" ]]; then
    header "pytest on SQLite: none (SOCIALCARE_TEST_SETTINGS is empty)"
fi
for settings in $SETTINGS_MODULES; do
    header "pytest: $settings on SQLite"
    run_pytest "$settings" sqlite
done

# The embedded-default fault test mostly waits for its processes (about 100 s, little CPU): it
# runs in the background beside the host shapes and the browser tests, its output shown after.
embedded_skip=0
EMBEDDED_PID=""
if [[ "${SOCIALCARE_SKIP_EMBEDDED:-0}" == 1 ]]; then
    embedded_skip=1
    header "Embedded-default fault test: SKIPPED"
    loud "SOCIALCARE_SKIP_EMBEDDED=1: the embedded-default fault test is SKIPPED"
else
    header "Embedded-default fault test: runserver + qcluster on SQLite and the ORM broker, kill -9"
    note "started in the background; its output follows the browser tests"
    EMBEDDED_LOG="$WORK_DIR/embedded.log"
    run_embedded >"$EMBEDDED_LOG" 2>&1 &
    EMBEDDED_PID=$!
    RUN_INDEX=$((RUN_INDEX + 1))  # the index run_embedded took in its subshell
fi

if [[ -n "${HOST_SETTINGS_MODULES// /}" ]]; then
    header "Host CRM shapes on SQLite: $HOSTS_DIR with each host's customer model and adapter"
    run_hosts sqlite "$HOST_SETTINGS_MODULES"
fi

if [[ $browser_skipped -eq 1 ]]; then
    header "Browser tests: SKIPPED"
    loud "SOCIALCARE_SKIP_BROWSER=1: the browser tests are SKIPPED"
else
    header "Browser tests: Chromium against the demo (SQLite)"
    run_browser
fi

if [[ -n "$EMBEDDED_PID" ]]; then
    header "Embedded-default fault test: its output"
    embedded_status=0
    wait "$EMBEDDED_PID" || embedded_status=$?
    cat "$EMBEDDED_LOG"
    [[ $embedded_status -eq 0 ]] || die "the embedded-default fault test failed (exit $embedded_status)"
fi


pg_skipped=0
if [[ "${SOCIALCARE_SKIP_POSTGRES:-0}" == 1 ]]; then
    pg_skipped=1
    header "PostgreSQL: SKIPPED"
    loud "SOCIALCARE_SKIP_POSTGRES=1: the PostgreSQL runs are SKIPPED"
elif [[ "${SOCIALCARE_TEST_DB:-}" == postgres ]]; then
    header "PostgreSQL: existing server"
    check_existing_pg
else
    header "PostgreSQL: private throwaway cluster"
    if ! start_private_pg; then
        if [[ $EUID -ne 0 ]]; then
            die "PostgreSQL server binaries not found and not root, so they cannot be installed.
  Install them (Debian: sudo apt-get install postgresql), or point the tests at a server with
  SOCIALCARE_TEST_DB=postgres PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=..., or skip the
  PostgreSQL runs with SOCIALCARE_SKIP_POSTGRES=1."
        fi
        die "could not install or start a private PostgreSQL cluster (see above);
  set SOCIALCARE_SKIP_POSTGRES=1 to skip the PostgreSQL runs"
    fi
fi

if [[ $pg_skipped -eq 0 ]]; then
    for settings in $PG_SETTINGS_MODULES; do
        header "pytest: $settings on PostgreSQL"
        run_pytest "$settings" postgres
    done
    if [[ -n "${PG_HOST_SETTINGS_MODULES// /}" ]]; then
        header "Host CRM shapes on PostgreSQL: $PG_HOST_SETTINGS_MODULES"
        run_hosts postgres "$PG_HOST_SETTINGS_MODULES"
    fi
fi

scaleout_skip=0
if scaleout_skipped; then
    scaleout_skip=1
    header "Scale-out test: SKIPPED"
    loud "SOCIALCARE_SKIP_SCALEOUT=1 (or SOCIALCARE_SCALEOUT=0): the scale-out test is SKIPPED"
elif [[ $pg_skipped -eq 1 ]]; then
    scaleout_skip=1
    header "Scale-out test: SKIPPED"
    loud "the scale-out test needs PostgreSQL (SOCIALCARE_SKIP_POSTGRES=1): SKIPPED"
else
    header "Scale-out test: 2 gunicorn + 2 qcluster processes on PostgreSQL and Redis"
    run_scaleout
fi

if [[ ${#PYTEST_ARGS[@]} -eq 0 ]]; then
    header "Fuzz: atheris on every platform adapter (${SOCIALCARE_FUZZ_SECONDS:-20} s)"
    bash scripts/fuzz.sh --seconds "${SOCIALCARE_FUZZ_SECONDS:-20}" \
        || die "the fuzzer found a crash (input copied to artifacts/fuzz/)"
fi

stage_time
printf '\n\033[1;32mAll stages passed in %ds.\033[0m\n' $((SECONDS - START_TIME))
if [[ $pg_skipped -eq 1 ]]; then
    loud "PostgreSQL runs were SKIPPED (SOCIALCARE_SKIP_POSTGRES=1): not a full test run"
fi
if [[ $scaleout_skip -eq 1 ]]; then
    loud "The scale-out test was SKIPPED: not a full test run"
fi
if [[ $embedded_skip -eq 1 ]]; then
    loud "The embedded-default fault test was SKIPPED (SOCIALCARE_SKIP_EMBEDDED=1): not a full test run"
fi
if [[ $browser_skipped -eq 1 ]]; then
    loud "The browser tests were SKIPPED (SOCIALCARE_SKIP_BROWSER=1): not a full test run"
elif [[ $BROWSER_RAN -eq 1 ]]; then
    note "browser test screenshots: $ARTIFACTS_DIR"
fi
line="$(summary)"
if [[ -n "${SOCIALCARE_TEST_SUMMARY_FILE:-}" ]]; then
    printf '%s\n' "$line" >"$SOCIALCARE_TEST_SUMMARY_FILE"
fi
printf '%s\n' "$line"
