# Sourced by the scripts: make sure uv is there and the locked environment is installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! python3 -m uv --version >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
uv() { python3 -m uv "$@"; }
export UV_PYTHON_DOWNLOADS=never  # only interpreters already on the machine
uv sync --frozen --python python3 --quiet
# rclone (Debian's package) judges the server's S3 dialect and runs beside us in the benchmarks.
if ! command -v rclone >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone; }; } \
    >/dev/null 2>&1 || echo "warning: could not install rclone (apt-get)" >&2
fi
