"""Regenerate CATALOGUE.md (case -> message) from the bad-input tests.

uv run --python python3 python tests/reliability/make_catalogue.py
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
HEADER = """# Bad-input catalogue: case -> message

Snapshot of the `CATALOGUE` lines of `pytest tests/reliability/test_bad_input.py -s`
(regenerate with `python tests/reliability/make_catalogue.py`). Every case: `success=False`,
no exception, nothing written locally or on the server. Paths are shortened to `<tmp>/`,
bucket names to `<bucket>`, request ids to `<id>`, ports to `<port>`.

| case | error_message |
|---|---|
"""
SHORTEN = [
    (r"/tmp/pytest-of-\w+/pytest-\d+/tmpfs\d+/", "<tmpfs>/"),
    (r"/tmp/pytest-of-\w+/pytest-\d+/[^/ ]+?/", "<tmp>/"),
    (r"t-[0-9a-f]{16}", "<bucket>"),
    (r"request id [0-9A-F]{24}", "request id <id>"),
    (r"127\.0\.0\.1:\d+", "127.0.0.1:<port>"),
    (r"'127\.0\.0\.1', \d+", "'127.0.0.1', <port>"),
    (r"k{40,}", "kkk…(1024 bytes)"),
    (r"é{40,}", "ééé…(1024 bytes)"),
    (r"b{40,}", "bbb…(64)"),
]


def main() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", str(HERE / "test_bad_input.py")],
        capture_output=True,
        text=True,
        errors="replace",
    )
    rows = []
    for line in proc.stdout.splitlines():
        m = re.search(r"CATALOGUE (\w+): (.*)", line)
        if m:
            name, message = m.groups()
            for pattern, repl in SHORTEN:
                message = re.sub(pattern, repl, message)
            rows.append(f"| {name} | {message.replace('|', chr(92) + '|')} |")
    if proc.returncode != 0 or not rows:
        sys.exit(f"the bad-input tests failed:\n{proc.stdout[-3000:]}")
    (HERE / "CATALOGUE.md").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    print(f"{len(rows)} cases written to {HERE / 'CATALOGUE.md'}")


if __name__ == "__main__":
    main()
