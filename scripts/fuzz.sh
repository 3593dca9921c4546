#!/usr/bin/env bash
# Coverage-guided fuzzing of every platform adapter (atheris/libFuzzer), seeded from the real
# fixtures. Fails (exit 1) on any crash, hang or out-of-memory; prints runs and coverage.
#
#   bash scripts/fuzz.sh                # 20 s in all (CI), split across the five adapters
#   bash scripts/fuzz.sh --seconds 600  # a longer hunt
#
# The corpus is generated at run time into a scratch directory (kept only when
# SOCIALCARE_FUZZ_CORPUS=dir names one); a crashing input is copied to artifacts/fuzz/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
SECONDS_TOTAL=20
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) SECONDS_TOTAL="$2"; shift 2 ;;
        --seconds=*) SECONDS_TOTAL="${1#*=}"; shift ;;
        *) echo "fuzz.sh: unknown argument $1 (use --seconds N)" >&2; exit 2 ;;
    esac
done
[[ "$SECONDS_TOTAL" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --seconds needs a number" >&2; exit 2; }
if ! "$PY" -c "import atheris" 2>/dev/null; then
    echo "fuzz.sh: atheris is not installed (pip install -e '.[dev]')" >&2
    exit 1
fi

PLATFORMS=(x facebook instagram mastodon bluesky)
PER=$(( SECONDS_TOTAL / ${#PLATFORMS[@]} ))
(( PER >= 2 )) || PER=2
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/socialcare-fuzz.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
ARTIFACTS="$ROOT/artifacts/fuzz"
FAILED=0
"$PY" "$ROOT/fuzz/fuzz_adapters.py" --make-dict "$SCRATCH/keys.dict" >/dev/null 2>&1

for platform in "${PLATFORMS[@]}"; do
    corpus="${SOCIALCARE_FUZZ_CORPUS:-$SCRATCH/corpus}/$platform"
    export SOCIALCARE_FUZZ_PLATFORM="$platform"
    "$PY" "$ROOT/fuzz/fuzz_adapters.py" --make-corpus "$corpus" >/dev/null 2>&1
    log="$SCRATCH/$platform.log"
    set +e
    (cd "$SCRATCH" && "$PY" "$ROOT/fuzz/fuzz_adapters.py" "$corpus" \
        -max_total_time="$PER" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -dict="$SCRATCH/keys.dict" -artifact_prefix="$SCRATCH/$platform-") >"$log" 2>&1
    status=$?
    set -e
    runs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    if (( status != 0 )); then
        FAILED=1
        mkdir -p "$ARTIFACTS"
        cp "$SCRATCH/$platform-"* "$ARTIFACTS/" 2>/dev/null || true
        echo "fuzz: $platform CRASHED after ${runs:-?} runs (${cov:-no coverage line}); log:"
        grep -v '^INFO: Instrumenting' "$log" | tail -40
        echo "fuzz: crashing input(s) copied to $ARTIFACTS/"
    else
        echo "fuzz: $platform ok, ${runs:-?} runs in ${PER}s, ${cov:-coverage n/a}"
    fi
done
unset SOCIALCARE_FUZZ_PLATFORM
if (( FAILED )); then
    echo "fuzz: FAILED" >&2
    exit 1
fi
echo "fuzz: no crash in ${SECONDS_TOTAL}s over ${#PLATFORMS[@]} adapters"
