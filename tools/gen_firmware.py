#!/usr/bin/env python3
"""Write a ternary model as a standalone C99 header (the same as ``conntra export``).

tools/gen_firmware.py MODEL --out DIR [--prefix NAME] [--target cortex-m4 ...]
"""

from __future__ import annotations

import argparse
import sys

from conntra.cli.firmware import add_export_arguments, run_export
from conntra.errors import ConntraError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gen_firmware.py", description=__doc__.split("\n")[0])
    add_export_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_export(args)
    except (ConntraError, OSError) as exc:
        print(f"gen_firmware.py: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
