# Sourced by the set-up scripts: make .venv and install dlcourse with the extras in $1.
# torch==2.13.0 goes in first, and constraints.txt holds it there: any other torch
# requirement would pull a multi-GB CUDA build on the project's machines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
"${PYTHON:-python3}" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check torch==2.13.0
python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$1]"
