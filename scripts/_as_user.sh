#!/usr/bin/env bash
# Run by scripts/test when it runs as root: the test suite on interpreter $1 as an unprivileged
# user (TEST_USER, default agentbay-test, created if missing), to prove the suite needs no root
# (no tmpfs mounts, file modes enforced). The user gets a copy of the project in a temp
# directory, its own uv cache and environment there, and a copy of the interpreter when it
# cannot run the original (pyenv's live under /root, mode 700). Further arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$1
shift
[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 2; }
user=${TEST_USER:-agentbay-test}
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$user"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/agentbay-as-user.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/src" "$work/home" "$work/bin"
tar -c --exclude='./.venv*' --exclude=./.git --exclude='*/__pycache__' \
  --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=./.pytest_cache \
  --exclude=./.hypothesis --exclude=./dist --exclude=./build --exclude=./benchmarks/.work . |
  tar -x -C "$work/src"
cp "$(python3 -c 'import uv; print(uv.find_uv_bin())')" "$work/bin/uv"

ld_path=${LD_LIBRARY_PATH:-}
if ! runuser -u "$user" -- "$py" -c '' 2>/dev/null; then
  prefix=$("$py" -c 'import sys; print(sys.base_prefix)')
  ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  mkdir "$work/python"
  tar -C "$prefix" --exclude="./lib/python$ver/test" -c . | tar -x -C "$work/python"
  py="$work/python/bin/python$ver"
  ld_path="$work/python/lib${ld_path:+:$ld_path}"  # its libpython, not the one under /root
fi
chown -R "$user:" "$work"

cd "$work/src"
runuser -u "$user" -- env -u VIRTUAL_ENV -u UV_PROJECT_ENVIRONMENT -u PYENV_VERSION \
  HOME="$work/home" PATH="$work/bin:$PATH" LD_LIBRARY_PATH="$ld_path" \
  UV_CACHE_DIR="$work/uv-cache" UV_PYTHON_DOWNLOADS=never \
  uv run --frozen --python "$py" pytest -q "$@"
