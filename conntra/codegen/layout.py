"""The firmware weight layout "F2": what the generated header stores in flash.

The C kernels (ctemplates/fw_kernels.h.j2) never decode weights one by one.
For each group of 4 inputs they build a table of the 81 possible partial sums
``t[c] = sum_k w_k * x_k`` once, and every output row then adds one table entry
per group: 3 instructions for 4 weights on a Cortex-M.

Encoding of one layer (n_out rows, n_in inputs, G = ceil(n_in / 4) groups):

- group g of row j holds the weights of inputs 4g .. 4g+3 (missing inputs of
  the last group count as weight 0);
- code ``c = d0 + 3*d1 + 9*d2 + 27*d3`` with ``d_k = w_k + 1`` (-1 -> 0,
  0 -> 1, +1 -> 2), so c is 0..80; the stored byte is ``2*c`` (0..160, even):
  the byte offset of entry c in a table of int16, which a Cortex-M0 can use
  directly as the register offset of ``ldrsh``;
- passes of 4 groups (16 inputs): for pass p, row j, the 4 bytes of groups
  4p .. 4p+3 are consecutive (one row reads 4 bytes in a row);
- the G mod 4 remaining groups follow, one group at a time, each row by row.

So a layer is exactly ``n_out * G`` bytes: 2 bits per weight, and no padding
at all when n_in is a multiple of 4 (784 = 4 * 196).
"""

from __future__ import annotations

import numpy as np

GROUP = 4  # inputs per code byte
PASS = 4  # groups per pass of the fast loop
TABLE_ENTRIES = 81  # 3 ** GROUP
_POW3 = np.array([1, 3, 9, 27], dtype=np.int64)


def n_groups(n_in: int) -> int:
    return -(-n_in // GROUP)


def encode(weights: np.ndarray) -> np.ndarray:
    """uint8 stream (n_out * ceil(n_in / 4),) of a ternary weight matrix."""
    w = np.asarray(weights, dtype=np.int64)
    n_out, n_in = w.shape
    g = n_groups(n_in)
    d = np.ones((n_out, g * GROUP), dtype=np.int64)  # padding inputs: weight 0 (d = 1)
    d[:, :n_in] = w + 1
    codes = 2 * (d.reshape(n_out, g, GROUP) @ _POW3)  # (n_out, g), even 0..160
    full = g // PASS
    head = codes[:, : full * PASS].reshape(n_out, full, PASS).transpose(1, 0, 2)
    tail = codes[:, full * PASS :].T  # (g % PASS, n_out)
    return np.concatenate([head.ravel(), tail.ravel()]).astype(np.uint8)


def decode(stream: np.ndarray, n_out: int, n_in: int) -> np.ndarray:
    """The int8 weights (n_out, n_in) back from ``encode``'s stream."""
    stream = np.asarray(stream, dtype=np.int64)
    g = n_groups(n_in)
    if stream.shape != (n_out * g,):
        raise ValueError(f"stream has {stream.size} bytes, expected {n_out * g}")
    full = g // PASS
    split = n_out * full * PASS
    codes = np.empty((n_out, g), dtype=np.int64)
    codes[:, : full * PASS] = (
        stream[:split].reshape(full, n_out, PASS).transpose(1, 0, 2).reshape(n_out, full * PASS)
    )
    codes[:, full * PASS :] = stream[split:].reshape(g - full * PASS, n_out).T
    c = codes // 2
    d = np.stack([(c // p) % 3 for p in _POW3], axis=-1).reshape(n_out, g * GROUP)
    return (d[:, :n_in] - 1).astype(np.int8)


# -- layout D2: depthwise filters, channel-interleaved --------------------------------------
#
# The weight of channel c at tap k = ky * KW + kx has the index i = k * C + c (tap-major,
# channels fastest, as the channels lie in an NHWC tensor) and is stored as the 2-bit code
# u = w + 1 (0, 1, 2; never 3) at bits 2 * (i mod 4) of byte i / 4. So one byte holds four
# neighbouring channels of one tap, and a layer is exactly ceil(K * C / 4) bytes, with
# code 0 in the unused bits of the last byte.


def encode_depthwise(weights: np.ndarray) -> np.ndarray:
    """uint8 stream (ceil(KH * KW * C / 4),) of depthwise weights (C, KH, KW, 1)."""
    w = np.asarray(weights, dtype=np.int64)
    c = w.shape[0]
    u = (w.reshape(c, -1).T + 1).ravel()  # (K, C) tap-major, channels fastest
    padded = np.zeros(-(-u.size // 4) * 4, dtype=np.int64)
    padded[: u.size] = u
    return (padded.reshape(-1, 4) << np.array([0, 2, 4, 6])).sum(axis=1).astype(np.uint8)


def decode_depthwise(stream: np.ndarray, c: int, kh: int, kw: int) -> np.ndarray:
    """The int8 weights (C, KH, KW, 1) back from ``encode_depthwise``'s stream."""
    stream = np.asarray(stream, dtype=np.int64)
    n = c * kh * kw
    if stream.shape != (-(-n // 4),):
        raise ValueError(f"stream has {stream.size} bytes, expected {-(-n // 4)}")
    u = ((stream[:, None] >> np.array([0, 2, 4, 6])) & 3).ravel()[:n]
    return (u.reshape(kh * kw, c).T.reshape(c, kh, kw, 1) - 1).astype(np.int8)


# -- layout M1: dense rows as two bit masks, for inputs held as bit planes ------------------
#
# A dense layer whose input is a hidden layer of few activation bits (docs/firmware.md,
# "Low-bit layers") reads its inputs as bit planes and computes each row's products with
# bit counts: sum_b 2^b (popcount(P & X_b) - popcount(N & X_b)). Row j, word k holds the
# weights of inputs 32k .. 32k+31 as two uint32 masks, P (bit i set where w = +1) and N
# (where w = -1), stored P then N; a row is its K = ceil(n_in / 32) pairs, rows follow one
# another. Inputs past n_in have weight 0 (no bit set). 2 bits per weight, padded to 32
# inputs per row (none for 256-wide rows).
#
# Bit planes: the a-bit activations y of a layer of n outputs take a * K words; word k of
# plane b (bit b of activations 32k .. 32k+31, bit i for activation 32k+i) is at index
# a * k + b, so the planes of one word of inputs are adjacent (one multiple load).

WORD = 32  # inputs per mask or plane word


def n_words(n_in: int) -> int:
    return -(-n_in // WORD)


def _bits_to_words(bits: np.ndarray) -> np.ndarray:
    """(..., K * 32) 0/1 -> (..., K) uint32, bit i of word k = element 32k + i."""
    shape = bits.shape[:-1] + (-1, WORD)
    weights = np.left_shift(np.uint64(1), np.arange(WORD, dtype=np.uint64))
    words = (bits.reshape(shape).astype(np.uint64) * weights).sum(axis=-1)
    return words.astype(np.uint32)


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(a.shape[:-1] + (n_words(n) * WORD,), dtype=np.int64)
    out[..., :n] = a
    return out


def encode_masks(weights: np.ndarray) -> np.ndarray:
    """uint32 stream (n_out * 2 * ceil(n_in / 32),) of a ternary weight matrix in
    layout M1: per row, per word of 32 inputs, the masks P (w = +1) then N (w = -1)."""
    w = _pad(np.asarray(weights, dtype=np.int64), np.shape(weights)[1])
    p, n = _bits_to_words(w == 1), _bits_to_words(w == -1)
    return np.stack([p, n], axis=-1).ravel()


def decode_masks(stream: np.ndarray, n_out: int, n_in: int) -> np.ndarray:
    """The int8 weights (n_out, n_in) back from ``encode_masks``' stream."""
    k = n_words(n_in)
    stream = np.asarray(stream, dtype=np.uint64)
    if stream.shape != (n_out * 2 * k,):
        raise ValueError(f"stream has {stream.size} words, expected {n_out * 2 * k}")
    bits = (stream.reshape(n_out, k, 2, 1) >> np.arange(WORD, dtype=np.uint64)) & np.uint64(1)
    pn = bits.transpose(0, 2, 1, 3).reshape(n_out, 2, k * WORD).astype(np.int8)
    return (pn[:, 0] - pn[:, 1])[:, :n_in]


def encode_planes(y: np.ndarray, bits: int) -> np.ndarray:
    """uint32 words (a * ceil(n / 32),) of the activations y (n,), 0 .. 2^a - 1, as the
    bit planes a hidden layer's requantization writes (word k of plane b at a * k + b)."""
    y = _pad(np.asarray(y, dtype=np.int64)[None, :], len(y))[0]
    planes = np.stack([_bits_to_words((y >> b) & 1) for b in range(bits)], axis=-1)
    return planes.ravel()


def decode_planes(words: np.ndarray, n: int, bits: int) -> np.ndarray:
    """The activations (n,) back from ``encode_planes``' words."""
    w = np.asarray(words, dtype=np.uint64).reshape(n_words(n), bits)
    b = (w[:, :, None] >> np.arange(WORD, dtype=np.uint64)) & np.uint64(1)  # (K, a, 32)
    y = (b.astype(np.int64) << np.arange(bits)[None, :, None]).sum(axis=1)
    return y.ravel()[:n]
