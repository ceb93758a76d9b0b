#!/usr/bin/env bash
# Fresh machine -> the course: set up .venv, check the machine, open JupyterLab on course/.
# Extra arguments go to `dlcourse start` (e.g. --port 9000 --no-browser).
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" "course,torch,tensorflow,jax,pytensor,keras,onnx,fastai"
dlcourse doctor
exec dlcourse start "$@"
