#!/usr/bin/env bash
# Download GTZAN (genres.tar.gz, 1.2 GB) into DEST (default data/gtzan), safely:
#   - tries each mirror in order and resumes a partial download (curl -C -);
#   - checks the archive's pinned sha256 before extracting anything;
#   - extracts into a temporary folder and renames it into place only when complete, so an
#     interrupted or refused run never leaves something that looks like a data set;
#   - checks the result (10 genre folders, the expected clip count; unreadable clips such as
#     jazz.00054 are reported, not fatal);
#   - does nothing when DEST already holds a complete copy.
# Environment overrides (tests serve an archive from 127.0.0.1 with these):
#   GTZAN_MIRRORS          space-separated URLs, tried in order
#   GTZAN_SHA256           expected sha256 of the archive
#   GTZAN_EXPECTED_CLIPS   clip count a complete copy has (1000)
set -euo pipefail

DEST="${1:-data/gtzan}"
# The original host (recorded with this checksum by torchaudio's GTZAN module) is often down;
# the Hugging Face copy of marsyas/gtzan serves the same archive.
MIRRORS="${GTZAN_MIRRORS:-http://opihi.cs.uvic.ca/sound/genres.tar.gz https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz}"
SHA256="${GTZAN_SHA256:-24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6}"
EXPECTED_CLIPS="${GTZAN_EXPECTED_CLIPS:-1000}"
GENRES="blues classical country disco hiphop jazz metal pop reggae rock"

DEST="${DEST%/}"
MARKER="$DEST/.gtzan-complete"
PARTIAL="$DEST.download/genres.tar.gz.part"

say() { printf '%s\n' "$*" >&2; }

if [[ -f "$MARKER" ]]; then
    say "GTZAN is already in $DEST ($(cat "$MARKER")); nothing to do."
    exit 0
fi
if [[ -e "$DEST" && -n "$(ls -A "$DEST" 2>/dev/null)" ]]; then
    say "error: $DEST exists and is not a complete GTZAN download; move it away or pick another DEST."
    exit 1
fi

mkdir -p "$(dirname "$PARTIAL")"

verify_archive() {
    local actual
    actual="$(sha256sum "$PARTIAL" | cut -d' ' -f1)"
    [[ "$actual" == "$SHA256" ]] && return 0
    say "checksum mismatch: expected $SHA256, got $actual"
    return 1
}

fetched=""
tried=()
for url in $MIRRORS; do
    tried+=("$url")
    if [[ -s "$PARTIAL" ]]; then
        say "resuming $url from byte $(stat -c %s "$PARTIAL")"
    else
        say "downloading $url"
    fi
    if curl --fail --location --continue-at - --retry 2 --connect-timeout 20 \
            --progress-bar --output "$PARTIAL" "$url"; then
        if verify_archive; then
            fetched="$url"
            break
        fi
        say "refusing the archive from $url; deleting it."
        rm -f "$PARTIAL"
    else
        say "download from $url failed (curl exit $?); a partial file is kept for resuming."
    fi
done

if [[ -z "$fetched" ]]; then
    say "error: could not download a verified GTZAN archive. Tried:"
    for url in "${tried[@]}"; do say "  $url"; done
    say "Set GTZAN_MIRRORS to other URLs of genres.tar.gz, or rerun to resume."
    exit 1
fi

STAGING="$(mktemp -d "$DEST.extract.XXXXXX")"
trap 'rm -rf "$STAGING"' EXIT
say "extracting into a staging folder"
tar -xzf "$PARTIAL" -C "$STAGING"

# The archive holds genres/<genre>/<genre>.000NN.au (re-uploads: genres_original/*.wav).
layout=""
for candidate in genres genres_original; do
    [[ -d "$STAGING/$candidate" ]] && layout="$candidate"
done
if [[ -z "$layout" ]]; then
    say "error: the archive holds neither genres/ nor genres_original/; nothing was installed."
    exit 1
fi
clips=0
for genre in $GENRES; do
    if [[ ! -d "$STAGING/$layout/$genre" ]]; then
        say "error: genre folder $layout/$genre missing from the archive; nothing was installed."
        exit 1
    fi
    clips=$((clips + $(find "$STAGING/$layout/$genre" -name "$genre.*" \( -name '*.au' -o -name '*.wav' \) | wc -l)))
done
if [[ "$clips" -ne "$EXPECTED_CLIPS" ]]; then
    say "error: the archive holds $clips clips, expected $EXPECTED_CLIPS; nothing was installed."
    exit 1
fi

unreadable="$(python3 - "$STAGING/$layout" <<'EOF' 2>/dev/null || true
import sys, pathlib
import soundfile as sf
for path in sorted(pathlib.Path(sys.argv[1]).glob("*/*.*")):
    try:
        sf.info(str(path))
    except Exception as exc:
        print(f"{path.name}: {exc}".splitlines()[0])
EOF
)"

mkdir -p "$(dirname "$DEST")"
rmdir "$DEST" 2>/dev/null || true
mv "$STAGING" "$DEST"
trap - EXIT
echo "$clips clips from $fetched, sha256 $SHA256" > "$MARKER"
rm -rf "$(dirname "$PARTIAL")"

say "GTZAN ready in $DEST/$layout: 10 genres, $clips clips."
if [[ -n "$unreadable" ]]; then
    say "unreadable clips (skipped by the data loader):"
    say "$unreadable"
fi
