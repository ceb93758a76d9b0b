#!/usr/bin/env bash
# Fresh machine -> the course: set up .venv, check the machine, open JupyterLab on course/.
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" "course,torch,tensorflow,jax"
dlcourse doctor
exec jupyter lab --notebook-dir=course --ip=127.0.0.1 "$@"
