"""Input quantization: the documented maps and their errors."""

import numpy as np
import pytest

from conntra.errors import DTypeError, InputError, ShapeError
from conntra.quant import InputQuant


def test_pixel_shift():
    q = InputQuant.pixels(3).quantize(np.array([[0, 255, 3]], np.uint8))
    assert q.dtype == np.int8 and q.tolist() == [[0, 127, 1]]


def test_affine_rounds_half_up_and_clamps():
    quant = InputQuant(n_features=2, kind="affine", offset=(0.0, -1.0), scale=(1.0, 2.0))
    x = np.array([[0.5, -1.0], [1.49, 100.0], [-5.0, -0.75]])
    assert quant.quantize(x).tolist() == [[1, 0], [1, 127], [0, 1]]


def test_fit_affine_maps_training_range_onto_0_127():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]])
    q = InputQuant.fit_affine(x).quantize(x)
    assert q[:, 0].tolist() == [0, 127, 64] and q[:, 1].tolist() == [0, 0, 0]


def test_errors():
    quant = InputQuant.pixels(4)
    with pytest.raises(ShapeError, match=r"shape \(n, 4\), got \(1, 3\)"):
        quant.quantize(np.zeros((1, 3)))
    with pytest.raises(DTypeError, match="numeric"):
        quant.quantize(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(InputError, match="whole numbers"):
        quant.quantize(np.full((1, 4), 0.5))
    with pytest.raises(InputError, match="NaN"):
        quant.quantize(np.full((1, 4), np.nan))
    with pytest.raises(InputError, match="scales finite and > 0"):
        InputQuant(n_features=1, kind="affine", offset=(0.0,), scale=(0.0,))
    with pytest.raises(InputError, match="unknown input quantization"):
        InputQuant(n_features=1, kind="log")
