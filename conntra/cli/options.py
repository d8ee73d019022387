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


def act_bits(text: str) -> list:
    """``--act-bits``: one width for every hidden layer (``2``) or a comma list
    with one per hidden layer (``4,2``), each 1, 2, 4 or 7. The count is
    checked against the hidden layers by the command (``check_act_bits``)."""
    try:
        values = [int(p) for p in str(text).split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 1, 2, 4 or 7, or a comma list of them like 4,2; got {text!r}"
        ) from None
    bad = [v for v in values if v not in (1, 2, 4, 7)]
    if bad:
        raise argparse.ArgumentTypeError(f"activation bits must be 1, 2, 4 or 7, got {text}")
    return values


def check_act_bits(values, n_hidden: int, flag: str = "--act-bits"):
    """The activation bits for ``n_hidden`` hidden layers from a parsed
    ``--act-bits`` (None: the default 7); UsageError naming the flag when a
    comma list does not have one value per hidden layer."""
    from conntra.errors import UsageError

    if values is None:
        return None
    if len(values) == 1:
        return values * n_hidden
    if len(values) != n_hidden:
        raise UsageError(
            f"{flag} has {len(values)} values but the network has {n_hidden} hidden "
            f"layer{'s' if n_hidden != 1 else ''}: give one value for all or one per hidden layer"
        )
    return list(values)
