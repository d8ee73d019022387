"""T2 and T3 packing: C packers, numpy twins, documented bit positions."""

import numpy as np
import pytest

from conntra import packing
from conntra.errors import DTypeError, InputError, NativeInputError, ShapeError

SEED = 1234


def random_ternary(rng, rows, k):
    return rng.integers(-1, 2, size=(rows, k), dtype=np.int8)


@pytest.mark.parametrize("k", list(range(1, 300)))
def test_t2_round_trip_every_length(k):
    rng = np.random.default_rng(SEED + k)
    for rows in (1, 3):
        w = random_ternary(rng, rows, k)
        packed = packing.pack_t2(w)
        assert packed.size == rows * packing.padded_k(k) // 4
        np.testing.assert_array_equal(packed, packing.pack_t2_numpy(w))
        assert (packing.unpack_t2(packed, rows, k) == w).all()
        assert (packing.unpack_t2_numpy(packed, rows, k) == w).all()


@pytest.mark.parametrize("k", [1, 31, 32, 33, 127, 128, 129, 300])
def test_t2_one_hot_positions_follow_the_documented_layout(k):
    rows = 2
    row_bytes = packing.padded_k(k) // 4
    for col in sorted({0, min(1, k - 1), k // 2, k - 1}):
        for value in (-1, 1):
            w = np.zeros((rows, k), np.int8)
            w[1, col] = value
            packed = packing.pack_t2(w)
            expect = packing.pack_t2(np.zeros((rows, k), np.int8))
            byte = row_bytes + (col // 128) * 32 + col % 32
            shift = 2 * ((col % 128) // 32)
            expect[byte] = (expect[byte] & ~np.uint8(3 << shift)) | np.uint8((value + 1) << shift)
            np.testing.assert_array_equal(packed, expect)


@pytest.mark.parametrize("k", [1, 5, 100, 127, 129, 200])
def test_t2_padding_bits_are_zero(k):
    w = np.ones((3, k), np.int8)
    packed = packing.pack_t2(w).reshape(3, -1)
    kp = packing.padded_k(k)
    for col in range(k, kp):
        byte = (col // 128) * 32 + col % 32
        shift = 2 * ((col % 128) // 32)
        assert ((packed[:, byte] >> shift) & 3 == 0).all()


def test_t2_rejects_bad_input():
    with pytest.raises(InputError, match=r"w\[0, 1\] = 2"):
        packing.pack_t2(np.array([[0, 2]], np.int8))
    with pytest.raises(DTypeError, match="integer dtype"):
        packing.pack_t2(np.zeros((2, 2), np.float32))
    with pytest.raises(ShapeError, match="non-empty 2-D"):
        packing.pack_t2(np.zeros(4, np.int8))
    bad = np.full(32, 0xFF, np.uint8)  # every code is 3
    with pytest.raises(NativeInputError, match="invalid code"):
        packing.unpack_t2(bad, 1, 128)
    with pytest.raises(ShapeError, match="32 bytes"):
        packing.unpack_t2(np.zeros(31, np.uint8), 1, 128)


@pytest.mark.parametrize("n", list(range(1, 61)) + [997, 5000])
def test_t3_round_trip_every_length(n):
    rng = np.random.default_rng(SEED + n)
    w = rng.integers(-1, 2, size=n, dtype=np.int8)
    packed = packing.pack_t3(w)
    assert packed.size == -(-n // 5)
    assert packed.max() <= 242
    np.testing.assert_array_equal(packed, packing.pack_t3_numpy(w))
    assert (packing.unpack_t3_numpy(packed, n) == w).all()


def test_t3_digit_positions_and_padding():
    # weight 5q+d contributes (w+1) * 3^d to byte q; missing weights are digit 0
    w = np.array([1, -1, 0, -1, -1, 1], np.int8)  # codes 2 0 1 0 0 | 2
    np.testing.assert_array_equal(packing.pack_t3(w), [2 + 0 + 9, 2])
    with pytest.raises(InputError, match="padding digits"):
        packing.unpack_t3_numpy(np.array([2 + 3], np.uint8), 1)
