#!/usr/bin/env bash
# Run the whole course (every notebook, in order) on the built-in generated dataset.
# Results: runs/course/ (executed notebooks, figures, summary.md). Extra arguments go to
# `muzo course`, e.g.  bash scripts/course.sh --data-dir data/gtzan -p epochs 50 --name gtzan
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
exec .venv/bin/muzo course "$@"
