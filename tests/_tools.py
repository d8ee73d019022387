"""Finding the compilers and emulators a test needs.

A missing tool skips the test, except under CONNTRA_REQUIRE_TOOLCHAINS=1 (CI),
where a skip would hide a broken setup: there it fails the test.
"""

from __future__ import annotations

import os
import shutil


def missing_tools(*names: str) -> list[str]:
    return [n for n in names if shutil.which(n) is None]


def require_tools(*names: str) -> None:
    import pytest

    missing = missing_tools(*names)
    if not missing:
        return
    reason = f"tool(s) not found on PATH: {', '.join(missing)}"
    if os.environ.get("CONNTRA_REQUIRE_TOOLCHAINS") == "1":
        pytest.fail(f"{reason} (required because CONNTRA_REQUIRE_TOOLCHAINS=1)")
    pytest.skip(reason)
