# shellcheck shell=bash
# A private, throwaway PostgreSQL cluster for scripts/test.sh and scripts/bench.sh (sourced).
#
#   source scripts/lib/postgres.sh
#   PG_SERVER_OPTS="-c fsync=off"   # extra server settings (optional)
#   PG_PORT=55450                   # a fixed port (optional; default: a free one)
#   start_private_pg || die "..."   # exports PGHOST PGPORT PGUSER PGDATABASE
#   ...
#   stop_private_pg                 # in the caller's EXIT trap: stops it and removes its files
#
# Needs: a `note` function (one is defined if the caller has none) and $PY (a Python, to find a
# free port). As root, initdb and postgres run as the postgres system user (created if missing);
# without server binaries, root installs Debian's postgresql package.

PG_DIR="${PG_DIR:-}"
PG_BIN="${PG_BIN:-}"
PG_STARTED=0
PG_SERVER_OPTS="${PG_SERVER_OPTS:-}"
# The test suites' throwaway cluster (scripts/test.sh, scripts/test_versions.sh): durability off
# for speed, no autovacuum (no background ANALYZE changing query plans halfway through a suite).
PG_TEST_OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off"
PG_PORT="${PG_PORT:-}"

if ! declare -F note >/dev/null; then
    note() { printf '    %s\n' "$*"; }
fi

as_pg_user() {
    # initdb and postgres refuse to run as root: run them as the postgres system user.
    if [[ $EUID -eq 0 ]]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su -s /bin/sh postgres -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

find_pg_bin() {
    local dir candidates=()
    if command -v pg_config >/dev/null 2>&1; then
        candidates+=("$(pg_config --bindir 2>/dev/null || true)")
    fi
    # newest version first
    while IFS= read -r dir; do candidates+=("$dir"); done < <(
        printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r
    )
    if command -v initdb >/dev/null 2>&1; then
        candidates+=("$(dirname "$(readlink -f "$(command -v initdb)")")")
    fi
    for dir in "${candidates[@]}"; do
        if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            PG_BIN="$dir"
            return 0
        fi
    done
    return 1
}

install_pg() {
    note "PostgreSQL server binaries not found: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || return 1
    apt-get install -y -qq postgresql >/dev/null || return 1
}

free_port() {
    "${PY:-python3}" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

start_private_pg() {
    if ! find_pg_bin; then
        if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            install_pg || return 1
            find_pg_bin || return 1
        else
            return 1
        fi
    fi
    note "server binaries: $PG_BIN ($("$PG_BIN/postgres" --version))"

    if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        note "creating the postgres system user (initdb and postgres refuse to run as root)"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin postgres || return 1
    fi

    PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/socialcare-pg.XXXXXX")"
    mkdir -p "$PG_DIR/sock"
    [[ $EUID -eq 0 ]] && chown -R postgres: "$PG_DIR"
    chmod 700 "$PG_DIR"

    (cd "$PG_DIR" && as_pg_user "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust \
        -E UTF8 --no-locale --no-sync) >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }

    local port attempt
    for attempt in 1 2 3; do
        port="${PG_PORT:-$(free_port)}"
        # Loopback only, trust auth; the caller's PG_SERVER_OPTS on top.
        # shellcheck disable=SC2086
        if (cd "$PG_DIR" && as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
            -w -t 60 start -o "-c listen_addresses=127.0.0.1 -p $port \
-c unix_socket_directories=$PG_DIR/sock $PG_SERVER_OPTS") >/dev/null 2>&1; then
            PG_STARTED=1
            break
        fi
        note "could not start on port $port (attempt $attempt)"
        [[ -n "$PG_PORT" ]] && break
    done
    if [[ $PG_STARTED -ne 1 ]]; then
        tail -n 30 "$PG_DIR/server.log" >&2 || true
        return 1
    fi

    export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE=socialcare
    unset PGPASSWORD
    "$PG_BIN/createdb" "$PGDATABASE" || return 1
    note "private PostgreSQL cluster on 127.0.0.1:$port in $PG_DIR (removed on exit)"
}

stop_private_pg() {
    if [[ $PG_STARTED -eq 1 ]]; then
        (cd "$PG_DIR" && as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop) \
            >/dev/null 2>&1
        PG_STARTED=0
    fi
    [[ -n "$PG_DIR" ]] && rm -rf "$PG_DIR"
    PG_DIR=""
}

# On exit (also Ctrl-C and TERM): stop the private cluster and remove the script's $WORK_DIR.
clean_up_on_exit() {
    trap _clean_up EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

_clean_up() {
    local status=$?
    set +e
    stop_private_pg
    rm -rf "$WORK_DIR"
    exit "$status"
}
