"""Ternary weight packing: the C packers and their numpy twins.

T2 is the compute layout (2 bits per weight, blocks of 128 weights in 32
bytes, rows padded to 128); T3 is the storage layout of model files (base 3,
five weights per byte, 1.6 bits). docs/format.md specifies both; the numpy
functions here are written from that text, independently of the C code, and
the tests hold the two to ``==``.
"""

from __future__ import annotations

import numpy as np

from conntra._native import ffi, lib
from conntra._status import check
from conntra.errors import DTypeError, InputError, ShapeError

BLOCK = int(lib.CT_BLOCK)
BLOCK_BYTES = int(lib.CT_BLOCK_BYTES)
_POW3 = np.array([1, 3, 9, 27, 81], dtype=np.int64)


def padded_k(k: int) -> int:
    return -(-int(k) // BLOCK) * BLOCK


def t2_packed_bytes(rows: int, k: int) -> int:
    return int(rows) * padded_k(k) // 4


def _ternary_matrix(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w)
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] == 0:
        raise ShapeError(f"weights must be a non-empty 2-D array, got shape {w.shape}")
    if not np.issubdtype(w.dtype, np.integer):
        raise DTypeError(f"ternary weights must have an integer dtype, got {w.dtype}")
    bad = (w < -1) | (w > 1)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(f"weights must be in {{-1, 0, 1}}; w[{r}, {c}] = {w[r, c]}")
    return np.ascontiguousarray(w, dtype=np.int8)


# ---- C packers ----------------------------------------------------------------


def pack_t2(w: np.ndarray) -> np.ndarray:
    """Packs int8 weights (rows, k) into T2 bytes with the C packer."""
    w = _ternary_matrix(w)
    rows, k = w.shape
    out = np.empty(t2_packed_bytes(rows, k), dtype=np.uint8)
    check(
        lib.ct_t2_pack(
            ffi.from_buffer("int8_t[]", w), rows, k, ffi.from_buffer("uint8_t[]", out), out.size
        ),
        "ct_t2_pack",
    )
    return out


def unpack_t2(packed: np.ndarray, rows: int, k: int) -> np.ndarray:
    packed = _packed_bytes(packed, t2_packed_bytes(rows, k))
    w = np.empty((rows, k), dtype=np.int8)
    check(
        lib.ct_t2_unpack(
            ffi.from_buffer("uint8_t[]", packed), rows, k, ffi.from_buffer("int8_t[]", w)
        ),
        "ct_t2_unpack",
    )
    return w


def pack_t3(w: np.ndarray) -> np.ndarray:
    """Packs int8 weights (any shape, row-major order) into T3 bytes in C."""
    flat = _ternary_matrix(np.asarray(w).reshape(1, -1))
    n = flat.size
    out = np.empty(-(-n // 5), dtype=np.uint8)
    check(
        lib.ct_t3_pack(
            ffi.from_buffer("int8_t[]", flat), n, ffi.from_buffer("uint8_t[]", out), out.size
        ),
        "ct_t3_pack",
    )
    return out


def _packed_bytes(packed: np.ndarray, size: int) -> np.ndarray:
    packed = np.asarray(packed)
    if packed.dtype != np.uint8:
        raise DTypeError(f"packed weights must be uint8, got {packed.dtype}")
    if packed.ndim != 1 or packed.size != size:
        raise ShapeError(
            f"packed weights must be a 1-D array of {size} bytes, got shape {packed.shape}"
        )
    return np.ascontiguousarray(packed)


# ---- numpy twins (written from docs/format.md) ----------------------------------


def pack_t2_numpy(w: np.ndarray) -> np.ndarray:
    w = _ternary_matrix(w)
    rows, k = w.shape
    kp = padded_k(k)
    codes = np.zeros((rows, kp), dtype=np.uint8)  # padding: code 0
    codes[:, :k] = (w + 1).astype(np.uint8)
    # (rows, blocks, 4 runs of 32, 32): byte j of a block gathers run r at bits 2r.
    runs = codes.reshape(rows, kp // BLOCK, 4, 32)
    packed = runs[:, :, 0] | (runs[:, :, 1] << 2) | (runs[:, :, 2] << 4) | (runs[:, :, 3] << 6)
    return packed.reshape(-1)


def unpack_t2_numpy(packed: np.ndarray, rows: int, k: int) -> np.ndarray:
    packed = _packed_bytes(packed, t2_packed_bytes(rows, k)).reshape(rows, -1, 1, 32)
    codes = (packed >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)) & 3
    codes = codes.reshape(rows, -1)[:, :k]
    if (codes == 3).any():
        raise InputError("packed weights hold the invalid code 3")
    return codes.astype(np.int8) - 1


def pack_t3_numpy(w: np.ndarray) -> np.ndarray:
    flat = _ternary_matrix(np.asarray(w).reshape(1, -1)).reshape(-1)
    n = flat.size
    digits = np.zeros(-(-n // 5) * 5, dtype=np.int64)
    digits[:n] = flat.astype(np.int64) + 1
    return (digits.reshape(-1, 5) @ _POW3).astype(np.uint8)


def unpack_t3_numpy(packed: np.ndarray, n: int) -> np.ndarray:
    packed = _packed_bytes(packed, -(-int(n) // 5)).astype(np.int64)
    if (packed > 242).any():
        raise InputError("T3 byte above 242")
    digits = (packed[:, None] // _POW3[None, :]) % 3
    flat = digits.reshape(-1)
    if flat[n:].any():
        raise InputError("T3 padding digits must be zero")
    return (flat[:n] - 1).astype(np.int8)
