#!/usr/bin/env bash
# Fetches everything the tests and examples need that is not in git (model
# weights, benchmark data) into ${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}.
# Idempotent: what is already cached is not fetched again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for step in fetch-model.sh; do
    if [ -f "$here/$step" ]; then
        bash "$here/$step"
    fi
done
