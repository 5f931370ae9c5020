#!/usr/bin/env bash
# Set up taskladder in .venv (fitting needs no torch) and run the main job: fit the embedded
# micro-ladder (small models trained on Debian's documentation, shipped in the package) and
# predict larger models, offline, in a few seconds; tables and figures go to demo-out/.
# Usage: bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e .
taskladder demo -o demo-out
