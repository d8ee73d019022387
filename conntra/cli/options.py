"""Option value types that check ranges at parse time.

argparse calls these with the raw text; an ArgumentTypeError becomes the
usual ``conntra CMD: error: argument --flag: ...`` message and exit status 2,
so a bad value never reaches the library as a traceback or a silent fallback.
"""

from __future__ import annotations

import argparse
import math


def integer(lo: int | None = None, hi: int | None = None):
    """An int type accepting ``lo <= value <= hi`` (either bound optional)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {_range(lo, hi)}, got {text}")
        return value

    parse.__name__ = "integer"
    return parse


def real(lo: float | None = None, hi: float | None = None, hi_open: bool = False):
    """A finite float type accepting ``lo <= value <= hi`` (``< hi`` with
    ``hi_open``); NaN and infinities are always rejected."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if (lo is not None and value < lo) or (
            hi is not None and (value >= hi if hi_open else value > hi)
        ):
            raise argparse.ArgumentTypeError(f"must be {_range(lo, hi, hi_open)}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def _range(lo, hi, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"in [{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f">= {lo}"
    return f"< {hi}" if hi_open else f"<= {hi}"


# Seeds feed numpy's default_rng, which takes any non-negative integer.
SEED = integer(0)
POSITIVE = integer(1)
NON_NEGATIVE = integer(0)
