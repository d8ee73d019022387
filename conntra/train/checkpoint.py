"""Checkpoints: atomic writes of the whole trainer state, for exact resume.

A checkpoint is an ``.npz`` with the current and the best parameters, the
position in the run (epoch, next batch), the temperature, the early-stopping
state and the history. It is written to a temporary file in the same folder,
flushed to disk and renamed over the old one, so a run killed at any moment
leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import io
import json
import os
import tempfile

import numpy as np

from conntra.errors import CheckpointError

NAME = "checkpoint.npz"


def atomic_write(path, data: bytes) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(folder, params, best, state: dict) -> None:
    arrays = {}
    for tag, plist in (("cur", params), ("best", best)):
        for i, (w, b, s) in enumerate(plist):
            arrays[f"{tag}_w{i}"] = np.asarray(w, np.int8)
            arrays[f"{tag}_b{i}"] = np.asarray(b, np.int32)
            arrays[f"{tag}_s{i}"] = np.array(s, np.int32)
    arrays["state"] = np.frombuffer(json.dumps(state, sort_keys=True).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(os.path.join(os.fspath(folder), NAME), buf.getvalue())


def load(folder):
    """(params, best, state) or None when the folder holds no checkpoint."""
    path = os.path.join(os.fspath(folder), NAME)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as z:
            state = json.loads(bytes(z["state"]).decode())
            out = []
            for tag in ("cur", "best"):
                plist = []
                i = 0
                while f"{tag}_w{i}" in z:
                    plist.append((z[f"{tag}_w{i}"], z[f"{tag}_b{i}"], int(z[f"{tag}_s{i}"])))
                    i += 1
                out.append(plist)
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from exc
    return out[0], out[1], state
