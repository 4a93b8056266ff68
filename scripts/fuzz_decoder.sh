#!/usr/bin/env bash
# Fuzz the audio decoder (devtools/fuzz_decoder.py, atheris) for SECONDS, at the lowest CPU
# priority, seeded with tests/fuzz_corpus. Each input has 10 s and 2 GB; one that raises
# anything but AudioDecodeError, hangs or takes more lands in WORKDIR/findings/ and the run goes on;
# libFuzzer's log is WORKDIR/fuzz.log.
# Every finding, once fixed, goes to tests/fuzz_crashes/ (tests/test_fuzz_decoder.py replays them).
#
#   scripts/fuzz_decoder.sh [SECONDS=1800] [WORKDIR=fuzz-decoder]    # the long run
# Prints one JSON line: inputs tried, findings, coverage (libFuzzer's cov: Python edges of
# src/data reached; ft: features), the corpus grown.
set -euo pipefail
seconds=${1:-1800}
work=${2:-fuzz-decoder}
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python}
mkdir -p "$work/corpus" "$work/findings"
cd "$work"
export PYTHONPATH="$repo/devtools${PYTHONPATH:+:$PYTHONPATH}"
# atheris cannot run libFuzzer's -fork mode (it re-executes the script), so a finding ends a
# session and the loop starts the next one on the grown corpus, until the time is spent.
end=$((SECONDS + seconds))
: > fuzz.log
while (( SECONDS < end )); do
    nice -n 19 "$python" "$repo/devtools/fuzz_decoder.py" corpus "$repo/tests/fuzz_corpus" \
        -max_total_time=$((end - SECONDS)) -timeout=10 -rss_limit_mb=2048 -artifact_prefix=findings/ \
        >> fuzz.log 2>&1 || true
done
"$python" "$repo/devtools/fuzz_decoder.py" --summary fuzz.log findings "$seconds"
