# Sourced by the scripts: make sure uv is there and the locked environment is installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! python3 -m uv --version >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
uv() { python3 -m uv "$@"; }
export UV_PYTHON_DOWNLOADS=never  # only interpreters already on the machine
uv sync --frozen --python python3 --quiet
