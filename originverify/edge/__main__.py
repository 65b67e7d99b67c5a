"""``python -m originverify.edge``: the edge forwarder without the main CLI."""

from __future__ import annotations

import argparse
import sys

from originverify.edge.cli import configure_parser, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m originverify.edge")
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
