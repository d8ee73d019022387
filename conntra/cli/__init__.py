"""The ``conntra`` command line.

Each subcommand lives in its own module with a ``register(subparsers)``
function that adds its parser and sets ``func``; this file only lists them.
``func(args)`` returns the process exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from conntra.errors import ConntraError

# Modules under conntra.cli, one per subcommand (or group of subcommands).
COMMAND_MODULES = ["info", "quickstart", "train", "compare", "firmware", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conntra",
        description="Train ternary neural networks with CoNNTrA and ship them as C.")
    parser.add_argument("--version", action="version",
                        version=f"conntra {importlib.import_module('conntra').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"conntra.cli.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConntraError as exc:
        print(f"conntra {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable or unwritable paths named by the user
        print(f"conntra {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
