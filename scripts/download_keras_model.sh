#!/usr/bin/env bash
# Download the old project's trained Keras CRNN weights into DEST (default models/crnn_gtzan_jsalbert.h5)
# and check their sha256, then import with:
#   python -m training.import_keras DEST
# Weights by the authors of jsalbert/Music-Genre-Classification-with-Deep-Learning (MIT licence).
# KERAS_MODEL_URL and KERAS_MODEL_SHA256 override the defaults.
set -euo pipefail
# shellcheck source=checksum.sh
source "$(dirname "$0")/checksum.sh"

DEST="${1:-models/crnn_gtzan_jsalbert.h5}"
URL="${KERAS_MODEL_URL:-https://github.com/jsalbert/Music-Genre-Classification-with-Deep-Learning/raw/master/models_trained/example_model/weights/crnn_net_gru_adam_ours_epoch_40.h5}"
SHA256="${KERAS_MODEL_SHA256:-e6d7d9aa90eef37e84f604e122a7550a881d2e927a7aa9f6308ceb6b8c2063f2}"

fetch_verified "$URL" "$SHA256" "$DEST"
echo "saved $DEST (sha256 verified). Next: python -m training.import_keras $DEST" >&2
