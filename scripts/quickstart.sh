#!/usr/bin/env bash
# Set up taskladder in .venv (fitting needs no torch) and reproduce the paper's predictions and
# tables on the OLMo ladder data into paper-out/.
# Usage: bash scripts/quickstart.sh [DATA_DIR]   (default: ../shared/data/olmo-ladder;
#        without it, 'taskladder download DIR' fetches the public data)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-../shared/data/olmo-ladder}"
python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e .
if [ ! -d "$data/ladder-runs" ]; then
  taskladder download "$data"
fi
taskladder paper --data "$data" -o paper-out
