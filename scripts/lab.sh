#!/usr/bin/env bash
# Open the course in JupyterLab (installed into .venv by the set-up), notebooks folder first.
# Extra arguments go to `jupyter lab`, e.g.  bash scripts/lab.sh --no-browser --port 8899
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
as_root=(); if [ "$(id -u)" = 0 ]; then as_root=(--allow-root); fi  # containers often run as root
exec .venv/bin/jupyter lab notebooks/ "${as_root[@]}" "$@"
