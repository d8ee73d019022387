"""Checkpoints: atomic writes of the whole trainer state, for exact resume.

A checkpoint is an ``.npz`` with the current and the best parameters, the
position in the run (epoch, next batch), the temperature, the early-stopping
state and the history. ``conntra.fileio.atomic_write`` puts it in place, so a
run killed or interrupted at any moment leaves either the previous checkpoint
or the new one, never half of one, and the next write removes a temporary
left by a killed writer. Loading never unpickles: the state is JSON.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from conntra.errors import CheckpointError
from conntra.fileio import atomic_write

NAME = "checkpoint.npz"
# what a checkpoint's state must hold for fit() to continue from it
STATE_KEYS = (
    "epoch",
    "batch",
    "temperature",
    "best_val",
    "best_epoch",
    "bad_epochs",
    "history",
    "done",
    "config",
    "seed",
    "sizes",
)


def path_of(folder) -> str:
    return os.path.join(os.fspath(folder), NAME)


def save(folder, params, best, state: dict) -> None:
    arrays = {}
    for tag, plist in (("cur", params), ("best", best)):
        for i, (w, b, s) in enumerate(plist):
            arrays[f"{tag}_w{i}"] = np.asarray(w, np.int8)
            arrays[f"{tag}_b{i}"] = np.asarray(b, np.int32)
            arrays[f"{tag}_s{i}"] = np.array(s, np.int32)
    arrays["state"] = np.frombuffer(json.dumps(state, sort_keys=True).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types kwds as bool
    atomic_write(path_of(folder), buf.getvalue())


def _read(path):
    # zipfile checks each member's CRC when it is read to its end, so a flipped
    # byte fails here rather than training on from damaged parameters
    with np.load(path, allow_pickle=False) as z:
        state = json.loads(bytes(z["state"]).decode())
        if (
            not isinstance(state, dict)
            or any(k not in state for k in STATE_KEYS)
            or not isinstance(state["config"], dict)
        ):
            raise ValueError("its state lacks the run's position")
        if "shapes" in state:  # a chain of layer kinds: each parameter layer's weight shape
            shapes = [tuple(int(v) for v in shape) for shape in state["shapes"]]
        else:
            sizes = [int(s) for s in state["sizes"]]
            shapes = [(n_out, n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
        out = []
        for tag in ("cur", "best"):
            plist = []
            for i, shape in enumerate(shapes):
                w, b, s = z[f"{tag}_w{i}"], z[f"{tag}_b{i}"], z[f"{tag}_s{i}"]
                if (
                    w.dtype != np.int8
                    or w.shape != shape
                    or b.dtype != np.int32
                    or b.shape != (shape[0],)
                    or s.shape != ()
                ):
                    raise ValueError(f"layer {i} does not match the shapes {shapes}")
                plist.append((w, b, int(s)))
            out.append(plist)
    return out[0], out[1], state


def load(folder):
    """(params, best, state) or None when the folder holds no checkpoint.

    Raises CheckpointError naming the file when it exists but cannot be read
    (truncated, corrupt, or not a checkpoint)."""
    path = path_of(folder)
    if not os.path.exists(path):
        return None
    try:
        return _read(path)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from exc


def _show(key: str, config: dict) -> str:
    # a fine-tuning run's config holds the start model's hash (finetune.py);
    # a run from an initialisation has none
    if key == "init_model" and not config.get(key):
        return "none (not fine-tuned from a model)"
    return repr(config.get(key))


def check_same_run(path, saved: dict, current: dict) -> None:
    """Refuses a checkpoint written with another seed, other sizes or another
    config (a fine-tuning run's start model included, by its hash), naming
    each differing setting with both values."""
    diffs = []
    for key in ("seed", "sizes", "act_bits", "data_parallel"):
        # a checkpoint from before activation bits ran every hidden layer at 7;
        # one without data_parallel comes from the single-process arithmetic
        default: object = None
        if key == "act_bits":
            default = [7] * (len(saved.get("sizes") or []) - 2)
        elif key == "data_parallel":
            default = False
        if saved.get(key, default) != current.get(key, default):
            diffs.append(
                f"{key}: checkpoint {saved.get(key, default)!r}, "
                f"this run {current.get(key, default)!r}"
            )
    old, new = saved.get("config") or {}, current["config"]
    # a setting added after the checkpoint was written: it ran with the default
    from dataclasses import asdict

    from conntra.train.coordinate import ConntraConfig

    old = {**asdict(ConntraConfig()), **old} if old else old
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            diffs.append(f"{key}: checkpoint {_show(key, old)}, this run {_show(key, new)}")
    if diffs:
        raise CheckpointError(
            f"checkpoint {path} was written by a run with other settings: " + "; ".join(diffs)
        )
