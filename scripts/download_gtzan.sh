#!/usr/bin/env bash
# Download GTZAN (genres.tar.gz, 1.2 GB) into DEST (default data/gtzan), safely:
#   - tries each mirror in order, checking the archive against that mirror's own sha256 (the
#     mirrors serve different archives); a mirror whose archive fails is deleted and skipped;
#   - resumes a partial download (curl -C -), keeping one partial file per mirror, so a resume
#     only ever continues the same URL's bytes;
#   - extracts into a staging folder, finds the genre folder whatever the archive's layout and
#     checks it with the project's own loader (python -m data.gtzan_check); only a copy that
#     passes is renamed into place, so a failed run never leaves something like a data set;
#   - does nothing when DEST already holds a complete copy.
# Usage: download_gtzan.sh [DEST]
#        download_gtzan.sh --list-mirrors    prints the mirrors in effect, "URL sha256" a line
# Environment overrides (tests serve archives from 127.0.0.1 with these):
#   GTZAN_MIRRORS          whitespace-separated URL#sha256=HEX entries, tried in order
#   GTZAN_EXPECTED_CLIPS   clip count a complete copy has, readable or not (1000)
#   PYTHON                 the project environment's Python, which runs the check (python)
set -euo pipefail

DEFAULT_MIRRORS=(
    # The original host; torchaudio and TFDS record this checksum. Often down.
    "http://opihi.cs.uvic.ca/sound/genres.tar.gz#sha256=24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6"
    # Hugging Face's marsyas/gtzan, a different archive, pinned to a revision so its bytes cannot change.
    "https://huggingface.co/datasets/marsyas/gtzan/resolve/d2146561ecc7df707d9e6b8318885fe6a39668a2/data/genres.tar.gz#sha256=b28cc067ff6199bd826f5d1a6931458586d64acae7f44b2e882b7a97af057531"
    # The Wayback Machine's snapshot of the original; id_ serves the original bytes unmodified.
    "https://web.archive.org/web/20220328223413id_/http://opihi.cs.uvic.ca/sound/genres.tar.gz#sha256=24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6"
)
EXPECTED_CLIPS="${GTZAN_EXPECTED_CLIPS:-1000}"
PY="${PYTHON:-python}"

say() { printf '%s\n' "$*" >&2; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# URLS[i] and SHAS[i] from GTZAN_MIRRORS or the defaults. read -d '' splits on any whitespace,
# newlines included, without expanding the ? or * a URL may hold as globs.
URLS=()
SHAS=()
read -r -d '' -a entries <<<"${GTZAN_MIRRORS:-${DEFAULT_MIRRORS[*]}}" || true
for entry in "${entries[@]}"; do
    sha="${entry##*#sha256=}"
    if [[ "$entry" != *"#sha256="* || ! "${sha,,}" =~ ^[0-9a-f]{64}$ ]]; then
        say "error: mirror entry '$entry' needs its checksum: write it as URL#sha256=<64 hex digits>."
        exit 1
    fi
    URLS+=("${entry%%#sha256=*}")
    SHAS+=("${sha,,}")
done
if [[ ${#URLS[@]} -eq 0 ]]; then
    say "error: GTZAN_MIRRORS names no mirror."
    exit 1
fi

if [[ "${1:-}" == "--list-mirrors" ]]; then
    for i in "${!URLS[@]}"; do printf '%s %s\n' "${URLS[$i]}" "${SHAS[$i]}"; done
    exit 0
fi

DEST="${1:-data/gtzan}"
DEST="${DEST%/}"
MARKER="$DEST/.gtzan-complete"
DOWNLOADS="$DEST.download"

if [[ -f "$MARKER" ]]; then
    say "GTZAN is already in $DEST ($(paste -sd ' ' "$MARKER")); nothing to do."
    exit 0
fi
if [[ -e "$DEST" && -n "$(ls -A "$DEST" 2>/dev/null)" ]]; then
    say "error: $DEST exists and is not a complete GTZAN download; move it away or pick another DEST."
    exit 1
fi
# Fail now rather than after 1.2 GB when PYTHON is not the project's environment. The package is
# only looked up: importing it loads torch, which takes seconds.
if ! "$PY" - 2>/dev/null <<'EOF'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("data")
sys.exit(not (spec and spec.origin and (pathlib.Path(spec.origin).parent / "gtzan_check.py").is_file()))
EOF
then
    say "error: '$PY' does not have this project's data.gtzan_check; run this from the project's environment or set PYTHON."
    exit 1
fi

mkdir -p "$DOWNLOADS"
fetched=""
for i in "${!URLS[@]}"; do
    url="${URLS[$i]}"
    sha="${SHAS[$i]}"
    # Named by the URL, so a resume never appends one mirror's bytes to another's.
    partial="$DOWNLOADS/genres.$(printf '%s' "$url" | sha256sum | cut -c1-12).tar.gz.part"
    if [[ -s "$partial" && "$(sha256_of "$partial")" == "$sha" ]]; then
        say "using the verified archive from $url already in $partial"
        fetched="$i"
        break
    fi
    if [[ -s "$partial" ]]; then
        say "resuming $url from byte $(stat -c %s "$partial")"
    else
        say "downloading $url"
    fi
    if curl --fail --location --continue-at - --retry 2 --connect-timeout 20 \
            --progress-bar --output "$partial" "$url"; then
        actual="$(sha256_of "$partial")"
        if [[ "$actual" == "$sha" ]]; then
            fetched="$i"
            break
        fi
        say "checksum mismatch for $url: expected $sha, got $actual; deleting it."
        rm -f "$partial"
    else
        say "download from $url failed (curl exit $?)."
        if [[ -s "$partial" ]]; then say "its partial file is kept for resuming: $partial"; fi
    fi
done

if [[ -z "$fetched" ]]; then
    rmdir "$DOWNLOADS" 2>/dev/null || true  # unless it holds partial files to resume
    say "error: could not download a verified GTZAN archive. Tried:"
    for url in "${URLS[@]}"; do say "  $url"; done
    say "Rerun to resume, or set GTZAN_MIRRORS to other URL#sha256=HEX entries."
    exit 1
fi
url="${URLS[$fetched]}"
sha="${SHAS[$fetched]}"

STAGING="$(mktemp -d "$DEST.extract.XXXXXX")"
trap 'rm -rf "$STAGING"' EXIT
say "extracting into a staging folder"
if ! tar -xzf "$partial" -C "$STAGING"; then
    say "error: could not extract the archive from $url; nothing was installed."
    exit 1
fi

# The genre folder: genres/ in the original archive, genres_original/ in re-uploads, either at
# the top or one folder down (Kaggle's Data/genres_original). The folder holding it becomes DEST,
# so data.gtzan finds DEST/genres or DEST/genres_original.
found="$(find "$STAGING" -mindepth 1 -maxdepth 2 -type d \( -name genres -o -name genres_original \))"
if [[ -z "$found" || "$found" == *$'\n'* ]]; then
    say "error: expected one genres/ or genres_original/ folder in the archive from $url, found:"
    say "${found:-  none}"
    say "Nothing was installed."
    exit 1
fi
root="$(dirname "$found")"

say "checking the clips with $PY -m data.gtzan_check"
if ! "$PY" -m data.gtzan_check "$root" --expected-clips "$EXPECTED_CLIPS" >&2; then
    say "error: the archive from $url failed the check above; nothing was installed."
    say "The verified archive stays in $partial, so a rerun does not download it again."
    exit 1
fi

# The marker goes in before the rename, so DEST never exists without it.
printf 'url=%s\nsha256=%s\nclips=%s\n' "$url" "$sha" "$EXPECTED_CLIPS" >"$root/.gtzan-complete"
rmdir "$DEST" 2>/dev/null || true
mv "$root" "$DEST"
rm -rf "$DOWNLOADS"
say "GTZAN ready in $DEST/$(basename "$found"): $EXPECTED_CLIPS clips from $url."
