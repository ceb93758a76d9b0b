#!/usr/bin/env bash
# Fresh machine -> the whole test suite: set up .venv, lint, run pytest.
# Extra arguments go to pytest (e.g. bash scripts/test.sh -k dense).
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" "dev,course,torch,tensorflow,jax,pytensor,keras,onnx,fastai,browser"
ruff check lib tests benchmarks solutions
ruff format --check lib tests benchmarks
python -m pytest "$@"
