# shellcheck shell=bash
# A Python >= 3.12 for the Django 6 stages of scripts/test_versions.sh (sourced).
#
#   find_newer_python      sets NEWER_PY to an interpreter >= 3.12 on this machine, or fails:
#                          $SOCIALCARE_NEWER_PYTHON, else python3.14 … python3.12 and python3 on
#                          the PATH, else pyenv's installed versions (3.12 or newer)
#   ensure_rootfs DIR      a Debian 13 (trixie) root in DIR with Debian's own python3 (3.13) and
#                          python3-venv, built once with debootstrap (root only; installed with
#                          apt-get if missing) and reused while DIR exists
#   rootfs_mount DIR SRC SHARED / rootfs_umount DIR
#                          bind the repository and ../shared into the root at
#                          /srv/socialcare/src and /srv/socialcare/shared (with /proc, /dev)
#
# Needs `note` and `die` from the caller.

python_is_newer() {
    "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

find_newer_python() {
    NEWER_PY=""
    local candidate root
    if [[ -n "${SOCIALCARE_NEWER_PYTHON:-}" ]]; then
        python_is_newer "$SOCIALCARE_NEWER_PYTHON" \
            || die "SOCIALCARE_NEWER_PYTHON=$SOCIALCARE_NEWER_PYTHON is not a Python >= 3.12 with venv"
        NEWER_PY="$SOCIALCARE_NEWER_PYTHON"
        return 0
    fi
    # On the PATH (a pyenv shim of a version that is not selected fails to start: skipped).
    for candidate in python3.14 python3.13 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && python_is_newer "$candidate"; then
            NEWER_PY="$(command -v "$candidate")"
            return 0
        fi
    done
    # pyenv's versions, newest first.
    root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
    for candidate in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
        if [[ -x "$candidate/bin/python3" ]] && python_is_newer "$candidate/bin/python3"; then
            NEWER_PY="$candidate/bin/python3"
            return 0
        fi
    done
    return 1
}

ensure_rootfs() {
    local dir="$1"
    if [[ -x "$dir/usr/bin/python3" && -f "$dir/.socialcare-rootfs" ]]; then
        note "Debian 13 root: $dir (cached)"
        return 0
    fi
    [[ $EUID -eq 0 ]] || die "no Python >= 3.12 here, and building a Debian 13 root needs root.
  Install a Python 3.12+ and set SOCIALCARE_NEWER_PYTHON=/path/to/python3.12, or run as root."
    if ! command -v debootstrap >/dev/null 2>&1; then
        note "installing Debian's debootstrap (apt-get)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } \
            >"$WORK_DIR/apt-debootstrap.log" 2>&1 \
            || { tail -n 20 "$WORK_DIR/apt-debootstrap.log" >&2; die "apt-get install debootstrap failed"; }
    fi
    note "building a Debian 13 root with python3 in $dir (debootstrap, a few minutes; kept for next time)"
    rootfs_umount "$dir"
    rm -rf --one-file-system "$dir"
    mkdir -p "$(dirname "$dir")"
    if ! debootstrap --variant=minbase --include=python3,python3-venv trixie "$dir" \
        >"$WORK_DIR/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK_DIR/debootstrap.log" >&2
        rm -rf --one-file-system "$dir"
        die "debootstrap of Debian 13 failed (log above)"
    fi
    touch "$dir/.socialcare-rootfs"
}

rootfs_mount() {
    local dir="$1" src="$2" shared="$3"
    mkdir -p "$dir/srv/socialcare/src" "$dir/srv/socialcare/shared" "$dir/proc" "$dir/dev"
    mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc"
    # /dev with its submounts (/dev/shm for multiprocessing), kept from propagating back.
    if ! mountpoint -q "$dir/dev"; then
        mount --rbind /dev "$dir/dev"
        mount --make-rslave "$dir/dev"
    fi
    cp /etc/hosts "$dir/etc/hosts"
    mountpoint -q "$dir/srv/socialcare/src" || mount --bind "$src" "$dir/srv/socialcare/src"
    if [[ -d "$shared" ]] && ! mountpoint -q "$dir/srv/socialcare/shared"; then
        mount --bind "$shared" "$dir/srv/socialcare/shared"
    fi
}

rootfs_umount() {
    local dir="$1" point
    for point in srv/socialcare/shared srv/socialcare/src dev proc; do
        if mountpoint -q "$dir/$point" 2>/dev/null; then
            umount -R "$dir/$point" 2>/dev/null || umount -R -l "$dir/$point" 2>/dev/null || true
        fi
    done
}
