#!/usr/bin/env bash
# Run the whole test suite: unit tests, then every notebook through nbval on its defaults.
# Real-audio tests run when MUZO_REAL_DATA points at a folder of GTZAN clips.
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -k spectrogram
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore::DeprecationWarning}
.venv/bin/ruff check .
# --durations=20: the slowest tests, printed at the end of every run, so drift shows
exec .venv/bin/python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider --durations=20 "$@"
