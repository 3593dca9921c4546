#!/usr/bin/env bash
# Run the socialcare demo on a fresh machine: a .venv with the app installed, then
# `python manage.py socialcare_demo` (migrate, demo data, the support roles, the logins admin,
# maya (agent) and hannah (supervisor) with one printed password, worker + web server).
# Options go to the command: scripts/demo.sh --addrport 127.0.0.1:8001 | --no-worker | --no-serve;
# --public is this script's own (below).
#
# DEBUG is on unless DJANGO_DEBUG=0: its error pages show code, settings and the URL patterns. So
# the demo serves on a loopback address (default 127.0.0.1:8000), and this script refuses any other
# --addrport while DEBUG is on unless --public (its own option) says that is what you want.
# SOCIALCARE_DEMO_DRY_RUN=1 stops after that check and prints the command it would run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Is $1 the option $2, or an abbreviation of it that Django's argument parser takes (the first $3
# characters at least, enough to tell it from the command's other options)?
is_option() { [ "${#1}" -ge "$3" ] && [ "${2#"$1"}" != "$2" ]; }

# Is the runserver address $1 (port, or address:port) on the loopback interface?
is_loopback() {
  local addrport=$1
  [[ $addrport =~ ^[0-9]+$ ]] && return 0 # a port alone: 127.0.0.1
  local host=${addrport%:*}
  [[ $host =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] && return 0
  case $host in localhost | "[::1]" | "[0:0:0:0:0:0:0:1]") return 0 ;; esac
  return 1
}

# What the command will see: the last --addrport and --settings, whether it serves; --public is
# this script's, and goes no further.
addrport=127.0.0.1:8000
settings_module=${DJANGO_SETTINGS_MODULE:-project.settings}
public=0
serve=1
args=()
while [ $# -gt 0 ]; do
  arg=$1
  shift
  case $arg in
    --public)
      public=1
      continue
      ;;
    --*=*)
      name=${arg%%=*} value=${arg#*=}
      is_option "$name" --addrport 3 && addrport=$value
      is_option "$name" --settings 4 && settings_module=$value
      ;;
    *)
      if [ $# -gt 0 ] && is_option "$arg" --addrport 3; then
        addrport=$1
      elif [ $# -gt 0 ] && is_option "$arg" --settings 4; then
        settings_module=$1
      fi
      is_option "$arg" --no-serve 6 && serve=0
      ;;
  esac
  args+=("$arg")
done

# As project/settings.py reads it (DJANGO_DEBUG="1" or unset); the production profile never debugs.
debug=0
if [ "$settings_module" != project.settings_production ] && [ "${DJANGO_DEBUG-1}" = 1 ]; then
  debug=1
fi

# Before anything is created or installed.
if [ "$serve" = 1 ] && [ "$debug" = 1 ] && [ "$public" = 0 ] && ! is_loopback "$addrport"; then
  cat >&2 <<EOT
scripts/demo.sh: not serving the demo on $addrport: DEBUG is on, and that address is reachable
from other machines. DEBUG error pages show source code, settings and every URL pattern.
  - keep it on this machine: scripts/demo.sh (127.0.0.1:8000) or --addrport 127.0.0.1:PORT
  - or turn DEBUG off: DJANGO_DEBUG=0 DJANGO_ALLOWED_HOSTS=<its host name> scripts/demo.sh --addrport $addrport
  - or, knowing what it exposes: scripts/demo.sh --addrport $addrport --public
See docs/demo.md, "DEBUG and who can reach the demo".
EOT
  exit 2
fi

# The console's counterpart of the admin's red banner.
warn_debug() {
  [ "$serve" = 1 ] && [ "$debug" = 1 ] || return 0
  local where=$addrport
  [[ $where =~ ^[0-9]+$ ]] && where=127.0.0.1:$where
  if is_loopback "$addrport"; then
    echo "WARNING: DEBUG is on (this is a demo): error pages show code and settings. It listens on $where only; do not expose it (DJANGO_DEBUG=0 turns DEBUG off)." >&2
  else
    echo "WARNING: DEBUG is on and --public serves the demo on $where: anyone who can reach it sees error pages with code and settings. Do not leave it running." >&2
  fi
}

if [ "${SOCIALCARE_DEMO_DRY_RUN:-}" = 1 ]; then
  warn_debug
  echo "would run: manage.py socialcare_demo${args[*]+ ${args[*]}}"
  exit 0
fi

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

warn_debug
exec "$venv/bin/python" manage.py socialcare_demo ${args[@]+"${args[@]}"}
