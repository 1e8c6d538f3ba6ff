#!/usr/bin/env bash
# Make .venv in the checkout (if missing) and install Muzo with its test tools into it.
# Re-installs only when pyproject.toml changed. Sourced by course.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "muzo: creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
stamp=.venv/.muzo-installed
want=$(sha1sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "muzo: installing dependencies into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch is pinned in pyproject.toml (torch==2.13.0): on a CPU machine that is the CPU build.
  # [onnx]: onnx + onnxruntime, so the export and no-torch prediction tests run; [lab]: JupyterLab;
  # [tensorboard]: training writes TensorBoard event files into the run folder; [serve]: `muzo serve`.
  .venv/bin/python -m pip install --quiet -e ".[test,onnx,lab,tensorboard,serve]"
  # numba compiles librosa's kernels on first import (~30 s on 2 cores): once here, into its cache,
  # rather than inside the first notebook or test that touches librosa.
  .venv/bin/python -c "from muzo_lib.features.handmade import precompile; print(f'muzo: numba kernels compiled in {precompile():.0f} s')"
  echo "$want" > "$stamp"
fi
# musicnn ships the pretrained weights of notebook 05 (muzo_lib.models.pretrained reads its checkpoint
# files itself). Its metadata pins numpy<1.17 and tensorflow, which Muzo never needs and which do
# not install on Python 3.11, so it is installed alone, checked on every run (not only when
# pyproject.toml changes).
if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('musicnn') != '0.1.0')" 2>/dev/null; then
  echo "muzo: installing musicnn 0.1.0 (pretrained weights only, without TensorFlow)"
  .venv/bin/python -m pip install --quiet --no-deps musicnn==0.1.0
fi
