# shellcheck shell=bash
# The project's virtualenv for scripts/test.sh and scripts/bench.sh, and the checks
# scripts/test.sh and scripts/test_versions.sh run with an interpreter (sourced).
#
#   VENV=.venv PY=.venv/bin/python WORK_DIR=<scratch dir>; source scripts/lib/venv.sh
#   ensure_venv   # creates $VENV if needed; pip install -e ".[dev]" when pyproject.toml changed
#
# Needs `note` and `die` functions from the caller; PYTHON=python3.12 picks the interpreter.

ensure_venv() {
    local python="${PYTHON:-python3}"
    if [[ -x "$PY" ]] && ! "$PY" -c '' >/dev/null 2>&1; then
        note "$VENV is broken (its interpreter does not start): recreating it"
        "$python" -m venv --clear "$VENV" || die "could not recreate $VENV with $python"
    elif [[ ! -x "$PY" ]]; then
        command -v "$python" >/dev/null 2>&1 || die "$python not found (set PYTHON=...)"
        "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || die "socialcare needs Python >= 3.11; $python is $("$python" --version 2>&1)"
        note "creating $VENV with $("$python" --version 2>&1)"
        "$python" -m venv "$VENV" || die "python -m venv failed (Debian: apt-get install python3-venv)"
    fi

    # Reinstall only when pyproject.toml (or the interpreter) changed since the last install.
    local stamp="$VENV/.socialcare-dev-install" want
    want="$("$PY" -c 'import hashlib, sys
print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest(), sys.version.split()[0])')"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        note "dependencies up to date (pyproject.toml unchanged since the last install)"
    else
        note "installing the package and its dev dependencies: pip install -e \".[dev]\""
        if ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$PY" -m pip install -q -e ".[dev]" \
            >"$WORK_DIR/pip.log" 2>&1; then
            cat "$WORK_DIR/pip.log" >&2
            die "pip install -e \".[dev]\" failed"
        fi
        printf '%s\n' "$want" >"$stamp"
    fi
}

# print_versions PYTHON...: the versions a run tests with (CI prints them for every stage).
# PYTHON... is the interpreter, or a command that runs it (a chroot's: test_versions.sh).
print_versions() {
    note "$("$@" --version 2>&1), Django $("$@" -m django --version)"
    "$@" -m pip freeze --disable-pip-version-check 2>/dev/null \
        | grep -i -E "django|crypto|social" | sed 's/^/    /' || true
}

# The host CRM shapes of tests/hosts: a settings module each (its customer model and adapter).
HOST_SHAPES="tests.hosts.settings_splitname tests.hosts.settings_uuidpk tests.hosts.settings_owntools"

# django_checks "SETTINGS MODULES" PYTHON...: `makemigrations --check --dry-run` and `check` for
# the demo project (manage.py) and each settings module, on SQLite; fails through the caller's
# `die`, saying which. PYTHON... as for print_versions.
django_checks() {
    local modules="$1" settings
    shift
    note "python manage.py makemigrations --check --dry-run / check"
    SOCIALCARE_TEST_DB=sqlite "$@" manage.py makemigrations --check --dry-run \
        || die "makemigrations --check failed (project settings): a missing migration, or the project does not load"
    SOCIALCARE_TEST_DB=sqlite "$@" manage.py check || die "manage.py check failed"
    for settings in $modules; do
        note "django-admin makemigrations --check --dry-run / check --settings=$settings"
        SOCIALCARE_TEST_DB=sqlite "$@" -m django makemigrations --check --dry-run \
            --settings="$settings" \
            || die "makemigrations --check failed ($settings): a missing migration, or it does not load"
        SOCIALCARE_TEST_DB=sqlite "$@" -m django check --settings="$settings" \
            || die "check failed ($settings)"
    done
}
