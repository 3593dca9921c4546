# shellcheck shell=bash
# The project's virtualenv for scripts/test.sh and scripts/bench.sh (sourced).
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

# The versions a run tests with (CI prints them for every stage).
print_versions() {
    local py="$1"
    note "$("$py" --version 2>&1), Django $("$py" -m django --version)"
    "$py" -m pip freeze --disable-pip-version-check 2>/dev/null \
        | grep -i -E "django|crypto|social" | sed 's/^/    /' || true
}
