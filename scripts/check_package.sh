#!/usr/bin/env bash
# Packaging acceptance: install socialcare (not editable) into a fresh, empty virtualenv, generate a
# brand-new Django project that adds only socialcare and the apps it needs, migrate it, start a
# server and use the admin over real HTTP as a logged-in superuser.
#
#   bash scripts/check_package.sh
#
# Environment: PYTHON (interpreter for the venv, default python3); SOCIALCARE_PKG_KEEP=1 keeps the
# temporary directory for inspection; SOCIALCARE_PKG_APPS overrides the apps added to INSTALLED_APPS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/socialcare-pkg.XXXXXX")"
SERVER_PID=""
START_TIME=$SECONDS
STEP=0

step() {
    STEP=$((STEP + 1))
    printf '\n\033[1m==> package check [%d] %s\033[0m\n' "$STEP" "$*"
}

note() { printf '    %s\n' "$*"; }

die() {
    printf '\n\033[1;31mPACKAGE CHECK FAILED: %s\033[0m\n' "$*" >&2
    exit 1
}

cleanup() {
    local status=$?
    set +e
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.5
        done
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [[ "${SOCIALCARE_PKG_KEEP:-0}" == 1 ]]; then
        note "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Nothing from the caller's shell or the repository may leak into the new project.
unset DJANGO_SETTINGS_MODULE PYTHONPATH VIRTUAL_ENV

# ---------------------------------------------------------------------------------------------
step "copy the sources git would ship (tracked + untracked, not ignored) to a clean directory"
mkdir -p "$TMP/src"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (
        cd "$ROOT"
        git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' file; do [[ -f "$file" ]] && printf '%s\0' "$file"; done \
            | tar --null -T - -cf -
    ) | tar -C "$TMP/src" -xf -
else
    tar -C "$ROOT" --exclude=./.venv --exclude=./.git --exclude=./var -cf - . | tar -C "$TMP/src" -xf -
fi
note "$(find "$TMP/src" -type f | wc -l) files"

# ---------------------------------------------------------------------------------------------
step "pip install . into a new empty virtualenv"
"$PYTHON" -m venv "$TMP/venv" || die "python -m venv failed"
VPY="$TMP/venv/bin/python"
if ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$VPY" -m pip install -q "$TMP/src" \
    >"$TMP/pip.log" 2>&1; then
    cat "$TMP/pip.log" >&2
    die "pip install . failed"
fi
note "$("$VPY" -m pip list --format=freeze 2>/dev/null | grep -i '^django-socialcare==')"

# ---------------------------------------------------------------------------------------------
step "the installed package ships its templates, static files and migrations"
(cd "$TMP" && "$VPY" - "$TMP/src" "$TMP/venv") <<'PY' || die "the installed package is missing files (see above)"
import pathlib
import sys

src = pathlib.Path(sys.argv[1]) / "socialcare"
venv = pathlib.Path(sys.argv[2]).resolve()

import socialcare  # noqa: E402

installed = pathlib.Path(socialcare.__file__).resolve().parent
if venv not in installed.parents:
    sys.exit(f"    socialcare was imported from {installed}, not from the new virtualenv")
print(f"    installed at {installed}")

missing = []
counts = {}
for folder in ("templates", "static", "migrations", "locale"):
    files = [
        p
        for p in (src / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]
    counts[folder] = len(files)
    missing += [p.relative_to(src) for p in files if not (installed / p.relative_to(src)).is_file()]
print("    source files:", ", ".join(f"{n} {folder}" for folder, n in counts.items()))
for path in missing:
    print(f"    MISSING from the installed package: socialcare/{path}")
if not any((installed / "templates").rglob("*.html")):
    missing.append("templates/**/*.html")
    print("    MISSING: the installed package has no templates")
if not (installed / "migrations" / "0001_initial.py").is_file():
    missing.append("migrations/0001_initial.py")
    print("    MISSING: the installed package has no migrations/0001_initial.py")
sys.exit(1 if missing else 0)
PY

# ---------------------------------------------------------------------------------------------
step "a brand-new project: django-admin startproject + socialcare"
SITE="$TMP/site"
mkdir -p "$SITE"
"$TMP/venv/bin/django-admin" startproject pkgsite "$SITE" || die "django-admin startproject failed"
KEY="$("$VPY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
# The apps socialcare requires (system check socialcare.E006): django-q2 queues its work, DRF and
# drf-spectacular (+ sidecar) serve its API and API docs.
APPS="${SOCIALCARE_PKG_APPS:-rest_framework drf_spectacular drf_spectacular_sidecar django_q socialcare}"
read -r -a APPS_ARRAY <<<"$APPS"
APPS_LIST="$(printf '"%s", ' "${APPS_ARRAY[@]}")"
cat >>"$SITE/pkgsite/settings.py" <<EOF

# --- added by socialcare's scripts/check_package.sh ---
INSTALLED_APPS += [${APPS_LIST%, }]
SOCIALCARE = {"ENCRYPTION_KEYS": ["$KEY"]}
Q_CLUSTER = {"name": "pkgsite", "orm": "default", "timeout": 60, "retry": 120}
EOF
if (cd "$SITE" && "$VPY" -c 'import importlib.util, sys
sys.exit(importlib.util.find_spec("socialcare.urls") is None)'); then
    cat >>"$SITE/pkgsite/urls.py" <<'EOF'

# --- added by socialcare's scripts/check_package.sh ---
from django.urls import include  # noqa: E402

urlpatterns += [path("socialcare/", include("socialcare.urls"))]
EOF
    note "INSTALLED_APPS += $APPS; urls: /socialcare/ -> socialcare.urls"
else
    note "INSTALLED_APPS += $APPS (the package has no socialcare.urls)"
fi

manage() { (cd "$SITE" && "$VPY" manage.py "$@"); }

step "migrate, check, createsuperuser"
manage migrate --noinput >"$TMP/migrate.log" 2>&1 \
    || { cat "$TMP/migrate.log" >&2; die "manage.py migrate failed"; }
note "$(grep -c '  Applying ' "$TMP/migrate.log") migrations applied," \
    "$(grep -c '  Applying socialcare\.' "$TMP/migrate.log") of them socialcare's"
manage check || die "manage.py check failed"
PASSWORD="pkg-$(date +%s)-$RANDOM"
DJANGO_SUPERUSER_PASSWORD="$PASSWORD" manage createsuperuser --noinput --username admin \
    --email admin@example.com >/dev/null || die "createsuperuser failed"
note "superuser admin created"
if (cd "$SITE" && "$VPY" -c 'import importlib.util, sys
sys.exit(importlib.util.find_spec("socialcare.demo") is None)'); then
    manage shell -c "from socialcare.demo import load_demo_data; load_demo_data()" \
        >"$TMP/demo.log" 2>&1 || { cat "$TMP/demo.log" >&2; die "loading the demo data failed"; }
    note "demo data loaded (socialcare.demo.load_demo_data) so the changelists have rows"
fi

# ---------------------------------------------------------------------------------------------
step "runserver on a free localhost port"
PORT="$("$VPY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')"
(cd "$SITE" && exec "$VPY" manage.py runserver "127.0.0.1:$PORT" --noreload) \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
ready=0
for _ in $(seq 1 60); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; die "runserver exited"; }
    if "$VPY" -c "import urllib.request
urllib.request.urlopen('http://127.0.0.1:$PORT/admin/login/', timeout=2)" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.5
done
[[ $ready -eq 1 ]] || { cat "$TMP/server.log" >&2; die "the server did not answer within 30 s"; }
note "serving http://127.0.0.1:$PORT/ (pid $SERVER_PID)"

step "log in to /admin/ over HTTP and open socialcare's pages"
if ! (cd "$TMP" && "$VPY" "$ROOT/scripts/admin_smoke.py" "http://127.0.0.1:$PORT" admin \
    "$PASSWORD" /admin/ /admin/socialcare/case/); then
    echo "--- last lines of the server log ---" >&2
    tail -n 40 "$TMP/server.log" >&2
    die "the admin of the installed package does not work (see above)"
fi

printf '\n\033[1;32mPackage check passed in %ds.\033[0m\n' $((SECONDS - START_TIME))
