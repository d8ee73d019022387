"""Turns C status codes into ConntraError subclasses.

The message text comes from the C table (``ct_status_message``), so Python
never restates it; only the choice of exception class lives here.
"""

from __future__ import annotations

from conntra._native import ffi, lib
from conntra.errors import (
    EnvironmentConfigError,
    NativeError,
    NativeInputError,
    NativeMemoryError,
)

_INPUT_CODES = frozenset(
    {
        lib.CT_E_NULL,
        lib.CT_E_SHAPE,
        lib.CT_E_RANGE,
        lib.CT_E_CODE,
        lib.CT_E_SCRATCH,
        lib.CT_E_CHAIN,
        lib.CT_E_UNKNOWN,
    }
)


def status_message(status: int) -> str:
    return ffi.string(lib.ct_status_message(status)).decode("ascii")


def check(status: int, what: str) -> None:
    """Raises the matching NativeError if ``status`` is not CT_OK."""
    if status == lib.CT_OK:
        return
    if status == lib.CT_E_ENV:
        detail = ffi.string(lib.ct_env_message()).decode("utf-8", "replace")
        raise EnvironmentConfigError(f"{what}: {status_message(status)}: {detail}")
    text = f"{what}: {status_message(status)} (status {status})"
    if status == lib.CT_E_NOMEM:
        raise NativeMemoryError(text, status)
    if status in _INPUT_CODES:
        raise NativeInputError(text, status)
    raise NativeError(text, status)
