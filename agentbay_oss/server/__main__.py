"""`python -m agentbay_oss.server --access-key-id AK --access-key-secret SK ...`"""

from __future__ import annotations

import argparse
import sys

from .cli import add_serve_arguments, run_serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agentbay_oss.server", description="Run the OSS-compatible local server."
    )
    add_serve_arguments(parser)
    return run_serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
