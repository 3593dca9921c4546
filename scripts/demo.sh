#!/usr/bin/env bash
# Run the socialcare demo on a fresh machine: a .venv with the app installed, then
# `python manage.py socialcare_demo` (migrate, demo data, the support roles, the logins admin,
# maya (agent) and hannah (supervisor) with one printed password, worker + web server).
# Options go to the command: scripts/demo.sh --addrport 0.0.0.0:8000 | --no-worker | --no-serve
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv
stamp="$venv/.socialcare-demo-installed"

if [ ! -x "$venv/bin/python" ]; then
  python=""
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python=$candidate
      break
    fi
  done
  if [ -z "$python" ]; then
    echo "socialcare needs Python 3.11 or newer; none found (set PYTHON=/path/to/python3)." >&2
    exit 1
  fi
  echo "Creating $venv with $python…"
  if ! "$python" -m venv "$venv"; then
    echo "Could not create $venv (on Debian/Ubuntu: sudo apt install python3-venv)." >&2
    rm -rf "$venv"
    exit 1
  fi
fi

# Reinstall only when pyproject.toml changed since the last install into this .venv.
want=$("$venv/bin/python" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # The app and what the demo project needs beyond it (the `demo` extra: django-axes).
  echo "Installing socialcare and the demo's dependencies into $venv…"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[demo]"
  echo "$want" >"$stamp"
fi

exec "$venv/bin/python" manage.py socialcare_demo "$@"
