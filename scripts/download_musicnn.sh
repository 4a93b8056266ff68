#!/usr/bin/env bash
# Download MSD-musicnn (Pons & Serra 2019, trained on the Million Song Dataset's 50 most used
# Last.fm tags) into DEST (default models/musicnn), then import it with:
#   python -m training.import_musicnn DEST
# The weights ship inside the source distribution of the PyPI package musicnn 0.1.0 (ISC
# licence, kept beside them as LICENSE.md); its sha256 is checked. DEST receives the checkpoint
# (MSD_musicnn/), the licence, and the two source files that define the network and its tags
# (source/models.py, source/configuration.py). MUSICNN_URL and MUSICNN_SHA256 override the defaults.
set -euo pipefail
# shellcheck source=checksum.sh
source "$(dirname "$0")/checksum.sh"

DEST="${1:-models/musicnn}"
URL="${MUSICNN_URL:-https://files.pythonhosted.org/packages/16/0a/e274cd010cd0b2a2dd63d4aaa3d51a51821ffcc8ee19c76194f835c302bc/musicnn-0.1.0.tar.gz}"
SHA256="${MUSICNN_SHA256:-674ccc1fb638e6894f99197cfc2794b90d96444292ea28cedee96de0f74c4abd}"

if [[ -f "$DEST/MSD_musicnn/.index" && -f "$DEST/source/configuration.py" ]]; then
    echo "$DEST already holds MSD-musicnn; nothing to do." >&2
    exit 0
fi
archive="$DEST/musicnn-0.1.0.tar.gz"
fetch_verified "$URL" "$SHA256" "$archive"
unpacked="$(mktemp -d)"
trap 'rm -rf "$unpacked"' EXIT
tar -xzf "$archive" -C "$unpacked" musicnn-0.1.0/LICENSE.md musicnn-0.1.0/musicnn/MSD_musicnn \
    musicnn-0.1.0/musicnn/models.py musicnn-0.1.0/musicnn/configuration.py
mkdir -p "$DEST/source"
rm -rf "$DEST/MSD_musicnn"
cp "$unpacked/musicnn-0.1.0/musicnn/models.py" "$unpacked/musicnn-0.1.0/musicnn/configuration.py" "$DEST/source/"
cp "$unpacked/musicnn-0.1.0/LICENSE.md" "$DEST/"
cp -r "$unpacked/musicnn-0.1.0/musicnn/MSD_musicnn" "$DEST/"
rm "$archive"
echo "saved MSD-musicnn in $DEST (sha256 verified, ISC licence in $DEST/LICENSE.md). Next: python -m training.import_musicnn $DEST" >&2
