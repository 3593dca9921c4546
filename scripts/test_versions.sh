#!/usr/bin/env bash
# The SQLite suite on the other ends of the supported range (scripts/test.sh tests the newest
# dependencies on this machine's python3). CI runs all three after scripts/test.sh.
#
#   bash scripts/test_versions.sh lowest        the lowest versions pyproject.toml allows
#                                               (uv pip install --resolution lowest-direct)
#   bash scripts/test_versions.sh django 6.0    newest dependencies, Django 6.0.x, Python >= 3.12
#   bash scripts/test_versions.sh django 6.1    the same with Django 6.1.x
#   bash scripts/test_versions.sh django 6.1 --postgres  also pytest tests.settings on a private
#                                               PostgreSQL cluster (scripts/lib/postgres.sh); the
#                                               tests marked heavy then run there only, not on SQLite
#   bash scripts/test_versions.sh django 6.0 --postgres-only  tests.settings on PostgreSQL instead
#                                               of SQLite (the host shapes stay on SQLite)
#   bash scripts/test_versions.sh django 6.1 -k merge    extra arguments go to pytest
#
# Each stage has its own virtualenv under .venvs/ (reused while pyproject.toml is unchanged),
# prints the versions it tests, runs `manage.py check` and `makemigrations --check` with them,
# then pytest on SQLite (tests.settings and tests.settings_swapped; SOCIALCARE_TEST_SETTINGS
# chooses) and tests/hosts once per host CRM shape (SOCIALCARE_HOST_SETTINGS chooses; "" for
# none; skipped when the arguments name test paths). Django 6 needs Python >= 3.12: the first of $SOCIALCARE_NEWER_PYTHON, python3.14 …
# python3.12 on the PATH, pyenv's versions; on a machine with none (Debian 12) a Debian 13 root
# with Debian's Python 3.13 is built with debootstrap (root only, cached in $SOCIALCARE_ROOTFS,
# default /var/cache/socialcare/debian13-root), the wheels are downloaded by this machine's pip
# and installed in the root from that folder, and the suite runs there (chroot).
#
# Environment: SOCIALCARE_TEST_SETTINGS, SOCIALCARE_TEST_WORKERS (default 2),
# SOCIALCARE_JUNIT_DIR (keep the JUnit XML there; .ci/run totals it), SOCIALCARE_NEWER_PYTHON,
# SOCIALCARE_ROOTFS, SOCIALCARE_FORCE_ROOTFS=1 (use the Debian 13 root even when a Python >= 3.12
# is found), PYTHON (the interpreter of the lowest stage, default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODE="${1:-}"
SERIES=""
case "$MODE" in
    lowest) shift ;;
    django)
        SERIES="${2:-}"
        [[ "$SERIES" =~ ^[0-9]+\.[0-9]+$ ]] || { echo "usage: $0 django SERIES (e.g. 6.0)" >&2; exit 2; }
        shift 2
        ;;
    *)
        echo "usage: $0 lowest | django SERIES [pytest arguments]" >&2
        exit 2
        ;;
esac
WITH_PG=0  # 1: SQLite and PostgreSQL; 2: PostgreSQL instead of SQLite
case "${1:-}" in
    --postgres) WITH_PG=1 && shift ;;
    --postgres-only) WITH_PG=2 && shift ;;
esac
PYTEST_ARGS=("$@")
SETTINGS_MODULES="${SOCIALCARE_TEST_SETTINGS:-tests.settings tests.settings_swapped}"
WORKERS="${SOCIALCARE_TEST_WORKERS:-2}"
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/socialcare-versions.XXXXXX")"
JUNIT_DIR="${SOCIALCARE_JUNIT_DIR:-$WORK_DIR}"
mkdir -p "$JUNIT_DIR"
LABEL="${MODE}${SERIES:+-$SERIES}"
START_TIME=$SECONDS
ROOTFS=""

note() { printf '    %s\n' "$*"; }
die() {
    printf '\n\033[1;31mFAILED (%s): %s\033[0m\n' "$LABEL" "$*" >&2
    exit 1
}

# shellcheck source=lib/newer_python.sh
source "$ROOT/scripts/lib/newer_python.sh"
# shellcheck source=lib/venv.sh
source "$ROOT/scripts/lib/venv.sh"
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"
HOST_SETTINGS_MODULES="${SOCIALCARE_HOST_SETTINGS-$HOST_SHAPES}"
PY=python3  # postgres.sh finds a free port with it
PG_SERVER_OPTS="$PG_TEST_OPTS"

clean_up() {
    stop_private_pg
    [[ -n "$ROOTFS" ]] && rootfs_umount "$ROOTFS"
    rm -rf "$WORK_DIR"
}
trap clean_up EXIT

stamp_of() {
    python3 - "$@" <<'PY'
import hashlib, sys
print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest(), *sys.argv[1:])
PY
}

# ---------------------------------------------------------------------------------------------
# environments

# fresh_venv PYTHON DIR STAMP: 0 when DIR is a working venv installed for STAMP (nothing to do);
# else recreates DIR empty with PYTHON and returns 1 (the caller installs, then writes STAMP).
fresh_venv() {
    local python="$1" dir="$2" want="$3"
    if [[ "$(cat "$dir/.socialcare-stamp" 2>/dev/null)" == "$want" ]] && "$dir/bin/python" -c '' 2>/dev/null; then
        note "$dir is up to date (pyproject.toml unchanged)"
        return 0
    fi
    note "creating $dir with $python ($("$python" --version 2>&1))"
    rm -rf "$dir"
    "$python" -m venv "$dir" || die "python -m venv failed"
    return 1
}

lowest_env() {
    VENV_DIR="$ROOT/.venvs/lowest"
    RUN_PY="$VENV_DIR/bin/python"
    local python="${PYTHON:-python3}" want
    want="$(stamp_of lowest "$("$python" --version 2>&1)")"
    fresh_venv "$python" "$VENV_DIR" "$want" && return 0
    note "uv pip install --resolution lowest-direct -e \".[dev,demo]\""
    # uv resolves; it installs into the venv and is not itself a dependency of the project.
    "$RUN_PY" -m pip install -q --disable-pip-version-check "uv>=0.5" >"$WORK_DIR/pip-uv.log" 2>&1 \
        || { cat "$WORK_DIR/pip-uv.log" >&2; die "pip install uv failed"; }
    # uv reads the index from its own settings, not pip's: it is PyPI unless UV_INDEX_URL says
    # otherwise, with the system's certificates (a proxy's TLS chain).
    if ! SSL_CERT_FILE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" UV_NATIVE_TLS=1 \
        "$VENV_DIR/bin/uv" pip install --python "$RUN_PY" --resolution lowest-direct \
        -e ".[dev,demo]" >"$WORK_DIR/uv.log" 2>&1; then
        cat "$WORK_DIR/uv.log" >&2
        die "uv pip install --resolution lowest-direct failed"
    fi
    printf '%s\n' "$want" >"$VENV_DIR/.socialcare-stamp"
}

newer_env() {
    local reqs="$WORK_DIR/requirements.txt" want
    python3 "$ROOT/scripts/lib/requirements.py" --extras dev,demo --django "$SERIES" >"$reqs"
    if [[ "${SOCIALCARE_FORCE_ROOTFS:-0}" != 1 ]] && find_newer_python; then
        VENV_DIR="$ROOT/.venvs/django-$SERIES"
        RUN_PY="$VENV_DIR/bin/python"
        want="$(stamp_of "django-$SERIES" "$("$NEWER_PY" --version 2>&1)")"
        fresh_venv "$NEWER_PY" "$VENV_DIR" "$want" && return 0
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$RUN_PY" -m pip install -q -r "$reqs" >"$WORK_DIR/pip.log" 2>&1 \
            || { cat "$WORK_DIR/pip.log" >&2; die "pip install of the dependencies failed"; }
        printf '%s\n' "$want" >"$VENV_DIR/.socialcare-stamp"
        return 0
    fi
    # No Python >= 3.12 on this machine: Debian 13's, in a root of its own.
    ROOTFS="${SOCIALCARE_ROOTFS:-/var/cache/socialcare/debian13-root}"
    ensure_rootfs "$ROOTFS"
    local inside="/srv/socialcare/venv-django-$SERIES" version wheels="$ROOTFS/srv/socialcare/wheels"
    VENV_DIR="$ROOTFS$inside"
    version="$(chroot "$ROOTFS" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    want="$(stamp_of "django-$SERIES" "rootfs python $version")"
    rootfs_mount "$ROOTFS" "$ROOT" "$(dirname "$ROOT")/shared"
    RUN_PY="$inside/bin/python"
    if [[ "$(cat "$VENV_DIR/.socialcare-stamp" 2>/dev/null)" == "$want" ]]; then
        note "$VENV_DIR is up to date (pyproject.toml unchanged)"
        return 0
    fi
    # Python inside the root may not trust this network's TLS chain: this machine's pip fetches.
    note "downloading wheels for Python $version ($(uname -m)) with this machine's pip"
    mkdir -p "$wheels"
    local arch
    arch="$(uname -m)"
    if ! python3 -m pip download -q --disable-pip-version-check --dest "$wheels" \
        --python-version "$version" --only-binary=:all: --platform "manylinux_2_28_$arch" \
        --platform "manylinux_2_17_$arch" --platform "manylinux2014_$arch" \
        --platform "linux_$arch" -r "$reqs" >"$WORK_DIR/download.log" 2>&1; then
        cat "$WORK_DIR/download.log" >&2
        die "pip download of the wheels failed"
    fi
    cp "$reqs" "$ROOTFS/srv/socialcare/requirements.txt"
    note "installing them in $inside (no index)"
    rm -rf "$VENV_DIR"
    chroot "$ROOTFS" python3 -m venv "$inside" || die "python3 -m venv in the root failed"
    chroot "$ROOTFS" "$RUN_PY" -m pip install -q --disable-pip-version-check --no-index \
        --find-links /srv/socialcare/wheels -r /srv/socialcare/requirements.txt \
        >"$WORK_DIR/pip.log" 2>&1 || { cat "$WORK_DIR/pip.log" >&2; die "pip install in the root failed"; }
    printf '%s\n' "$want" >"$VENV_DIR/.socialcare-stamp"
}

# Runs a command with the stage's interpreter in the repository (in the root when there is one).
in_env() {
    if [[ -n "$ROOTFS" ]]; then
        chroot "$ROOTFS" /usr/bin/env -C /srv/socialcare/src HOME=/root TMPDIR=/tmp \
            SOCIALCARE_FIXTURES=/srv/socialcare/shared/fixtures "$@"
    else
        "$@"
    fi
}

# ---------------------------------------------------------------------------------------------

printf '\n\033[1m==> %s: environment\033[0m\n' "$LABEL"
unset DJANGO_SETTINGS_MODULE PYTHONPATH
if [[ "$MODE" == lowest ]]; then
    lowest_env
else
    newer_env
fi
print_versions in_env "$RUN_PY"
if [[ "$MODE" == django ]]; then
    got="$(in_env "$RUN_PY" -m django --version)"
    [[ "$got" == "$SERIES".* ]] || die "Django $got installed where $SERIES.x was asked for"
fi
note "environment ready in $((SECONDS - START_TIME))s"

printf '\n\033[1m==> %s: Django checks\033[0m\n' "$LABEL"
django_checks "$SETTINGS_MODULES $HOST_SETTINGS_MODULES" in_env "$RUN_PY"

# run_suite SETTINGS DB [PYTEST ARGS...]: pytest on that database (the extra arguments, or
# "$@" after SETTINGS DB), its JUnit XML kept for the totals.
index=0
run_suite() {
    local settings="$1" db="$2" junit junit_path status=0 began=$SECONDS xdist=() args=()
    shift 2
    args=("$@" "${PYTEST_ARGS[@]}")
    index=$((index + 1))
    printf '\n\033[1m==> %s: pytest %s on %s\033[0m\n' "$LABEL" "$settings" "$db"
    [[ "$WORKERS" != 0 && " ${args[*]} " != *" -p no:xdist "* ]] && xdist=(-n "$WORKERS")
    junit="junit-$LABEL-$index.xml"
    junit_path="$WORK_DIR/own/$junit"
    [[ -n "$ROOTFS" ]] && junit_path="/tmp/$junit"
    mkdir -p "$WORK_DIR/own"
    in_env env SOCIALCARE_TEST_DB="$db" "$RUN_PY" -m pytest --ds="$settings" \
        --ignore=tests/browser --ignore=tests/scaleout --junitxml="$junit_path" "${xdist[@]}" \
        "${args[@]}" || status=$?
    [[ -n "$ROOTFS" ]] && mv "$ROOTFS/tmp/$junit" "$WORK_DIR/own/$junit" 2>/dev/null
    if [[ "$JUNIT_DIR" != "$WORK_DIR" ]]; then
        cp "$WORK_DIR/own/$junit" "$JUNIT_DIR/$junit" 2>/dev/null || true
    fi
    note "took $((SECONDS - began))s"
    case $status in
        0) ;;
        5) [[ ${#PYTEST_ARGS[@]} -gt 0 ]] || die "pytest collected no tests ($settings on $db)" ;;
        *) die "pytest failed ($settings on $db, exit $status)" ;;
    esac
}

# With PostgreSQL the heavy tests (minutes each: pyproject's markers) run there, once.
sqlite_args=()
[[ $WITH_PG -eq 1 ]] && sqlite_args=(-m "not heavy")
if [[ $WITH_PG -ne 2 ]]; then
    for settings in $SETTINGS_MODULES; do
        run_suite "$settings" sqlite "${sqlite_args[@]}"
    done
fi
names_paths=0
for arg in "${PYTEST_ARGS[@]}"; do
    [[ -e "${arg%%::*}" ]] && names_paths=1
done
if [[ $names_paths -eq 0 ]]; then
    for settings in $HOST_SETTINGS_MODULES; do
        run_suite "$settings" sqlite -p no:xdist tests/hosts
    done
fi
if [[ $WITH_PG -ne 0 ]]; then
    printf '\n\033[1m==> %s: PostgreSQL\033[0m\n' "$LABEL"
    start_private_pg || die "could not install or start a private PostgreSQL cluster (see above)"
    # Over TCP on 127.0.0.1, which a chroot shares with this machine.
    run_suite tests.settings postgres
fi

printf '\n\033[1;32m%s passed in %ds.\033[0m\n' "$LABEL" $((SECONDS - START_TIME))
python3 "$ROOT/scripts/lib/junit_totals.py" "$WORK_DIR/own" | tail -n 1
