"""Atomic file writes: a crash or a kill mid-write leaves the old file intact.

The data goes to a hidden temporary file beside the target, is flushed to
disk, then renamed over the target. Temporaries are named
``.<name>.<pid>.tmp`` so that a later write to the same path can recognise
and remove those left by a process that was killed mid-write.
"""

from __future__ import annotations

import os

from conntra.errors import OutputPathError


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale_temporaries(folder: str, name: str) -> None:
    """Deletes ``.<name>.<pid>.tmp`` files whose writer no longer runs."""
    prefix, suffix = f".{name}.", ".tmp"
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        pid = entry[len(prefix) : -len(suffix)]
        if entry.startswith(prefix) and entry.endswith(suffix) and pid.isdigit():
            if int(pid) != os.getpid() and not _pid_alive(int(pid)):
                try:
                    os.unlink(os.path.join(folder, entry))
                except OSError:
                    pass


def atomic_write(path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically, creating missing parent folders.

    Raises OutputPathError (an OSError) naming ``path`` when it cannot be
    written; the temporary file never survives a failure.
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a directory")
        _remove_stale_temporaries(folder, name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputPathError(f"cannot write {path}: {reason}") from exc
    finally:
        if os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass
