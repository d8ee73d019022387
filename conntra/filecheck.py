"""The checks a model-file reader makes on metadata records (docs/format.md,
3.4 and 3.7), shared by the reader and by the layer kinds that describe
their own records. Every failure is a CorruptModelError naming the field."""

from __future__ import annotations

import json

from conntra.errors import CorruptModelError


def describe(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return json.dumps(value)[:40]


def record(value: object, keys: frozenset, where: str) -> dict:
    """``value`` as an object with exactly ``keys``."""
    if not isinstance(value, dict):
        raise CorruptModelError(f"{where} must be an object, got {describe(value)}")
    missing, unknown = keys - value.keys(), value.keys() - keys
    if missing:
        raise CorruptModelError(f"{where} is missing {sorted(missing)}")
    if unknown:
        raise CorruptModelError(f"{where} has unknown keys {sorted(unknown)[:5]}")
    return value


def _check_int(value: object, lo: int, hi: int | None, name: str) -> int:
    # JSON integers only: not 3.0, not "3", not true (a bool is an int in Python)
    if type(value) is not int:
        raise CorruptModelError(f"{name} must be an integer, got {describe(value)}")
    if value < lo or (hi is not None and value > hi):
        raise CorruptModelError(f"{name} must be {lo}..{'' if hi is None else hi}, got {value}")
    return value


def integer(rec: dict, key: str, lo: int, hi: int | None, where: str) -> int:
    return _check_int(rec[key], lo, hi, f"{where}.{key}")


def integers(rec: dict, key: str, count: int, lo: int, hi: int, where: str) -> tuple[int, ...]:
    """An array of exactly ``count`` integers in lo..hi."""
    value = rec[key]
    if not isinstance(value, list) or len(value) != count:
        raise CorruptModelError(
            f"{where}.{key} must be an array of {count} integers, got {describe(value)}"
        )
    return tuple(_check_int(v, lo, hi, f"{where}.{key}[{i}]") for i, v in enumerate(value))


def choice(rec: dict, key: str, allowed: tuple, where: str) -> str:
    value = rec[key]
    if not isinstance(value, str) or value not in allowed:
        raise CorruptModelError(
            f"{where}.{key} must be {' or '.join(map(repr, allowed))}, got {describe(value)}"
        )
    return value


class Sections:
    """The payload cursor: each section starts where the previous one ended
    and ends within the payload."""

    def __init__(self, payload_bytes: int):
        self.cursor = 0
        self.payload_bytes = payload_bytes

    def take(self, rec: dict, name: str, size: int, where: str, what: str) -> None:
        """Checks section ``name`` (``name``_offset, ``name``_bytes) of a
        ``what`` that has ``size`` bytes there."""
        offset = integer(rec, f"{name}_offset", 0, None, where)
        length = integer(rec, f"{name}_bytes", 0, None, where)
        if length != size:
            raise CorruptModelError(f"{where}.{name}_bytes is {length}, {what} has {size}")
        if offset != self.cursor:
            raise CorruptModelError(
                f"{where}.{name}_offset is {offset}, expected {self.cursor}: "
                f"sections follow each other without gaps or overlaps"
            )
        self.cursor += size
        if self.cursor > self.payload_bytes:
            raise CorruptModelError(
                f"the {name} section of {where} ends at {self.cursor}, "
                f"past the {self.payload_bytes}-byte payload"
            )
