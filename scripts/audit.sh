#!/usr/bin/env bash
# Known vulnerabilities in the installed dependencies (pip-audit against PyPI's advisory data).
# Installs pip-audit into the project's venv if needed; exits non-zero, listing each package,
# version, advisory and fixed version, when any installed dependency has a known vulnerability.
# A package it could not audit (the advisory data unreachable, or a version PyPI does not know)
# fails the run too: "no known vulnerabilities" is said only of an environment really audited.
# It needs PyPI's JSON API (pypi.org/pypi/NAME/VERSION/json); CI's network reaches only the
# package index, so CI does not run it (docs/security.md).
# Usage: scripts/audit.sh            (uses .venv, or $VENV)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "audit: no virtualenv at $VENV (run: python -m venv .venv && .venv/bin/pip install -e '.[dev]')" >&2; exit 2; }
if ! "$PY" -m pip_audit --version >/dev/null 2>&1; then
    "$PY" -m pip install --quiet pip-audit >/dev/null
fi
# -l: the packages installed in this environment; the project itself (editable, not on PyPI)
# is skipped. --vulnerability-service pypi: PyPI's JSON API (OSV may be unreachable here).
echo "audit: checking the packages installed in $VENV for known vulnerabilities"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
"$PY" -m pip_audit -l --skip-editable --vulnerability-service pypi --progress-spinner off \
    --desc off >"$out" 2>&1 || status=$?
grep -v "could not be audited" "$out" || true
unaudited="$(grep -c "could not be audited" "$out" || true)"
if [ "$status" -ne 0 ] && grep -qE "^Found [0-9]+ known vulnerabilit" "$out"; then
    echo "audit: FAILED — upgrade the packages listed above (raise their minimum in pyproject.toml)" >&2
    exit 1
fi
if [ "$unaudited" != "0" ]; then
    # No advisory data for them: nothing can be said of their vulnerabilities.
    echo "audit: FAILED — $unaudited package(s) could not be audited (PyPI's JSON API unreachable," >&2
    echo "       or versions PyPI does not know):" >&2
    grep "could not be audited" "$out" | awk '{print "  " $1}' | tr '\n' ' ' >&2
    echo >&2
    exit 3
fi
if [ "$status" -ne 0 ]; then
    echo "audit: FAILED — pip-audit could not run (exit $status), see above" >&2
    exit "$status"
fi
echo "audit: no known vulnerabilities in the installed packages"
