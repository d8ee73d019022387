"""Models and tool checks shared by tests/test_firmware_*.py.

The trainer is not needed here: the demo models have a random ternary hidden
layer and a ternarised least-squares read-out (a few seconds of numpy), which
is enough for real-data accuracy well above chance and real activations
(neither all zero nor all clamped). Run as a script to save both models:

    python tests/_firmware_helpers.py OUT_DIR    # OUT_DIR/mnist_demo.ctm, iris_demo.ctm
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
from _tools import require_tools

from conntra import datasets
from conntra.model import TernaryDense, TernaryModel
from conntra.quant import InputQuant
from conntra.reference import requantize

ARM_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm")


def require_target(target: str) -> None:
    require_tools("gcc", *(ARM_TOOLS if target != "host" else ()))


def _readout(hidden: TernaryDense, q: InputQuant, x, y, n_classes: int) -> TernaryDense:
    """Least-squares read-out of the hidden activations, ternarised by a
    threshold shared by all classes, bias rescaled to the ternary weights."""
    xq = q.quantize(x)
    acc = xq.astype(np.int64) @ hidden.weights.T.astype(np.int64) + hidden.bias
    h = requantize(acc, hidden.shift).astype(np.float64)
    design = np.c_[h, np.ones(len(h))]
    coef = np.linalg.lstsq(design, np.eye(n_classes)[y], rcond=None)[0]
    w = coef[:-1].T
    thr = 0.6 * np.abs(w).mean()  # one threshold and scale for all classes keeps
    wt = np.where(w > thr, 1, np.where(w < -thr, -1, 0)).astype(np.int8)  # logits comparable
    scale = np.abs(w)[wt != 0].mean() if (wt != 0).any() else 1.0
    bias = np.round(coef[-1] / scale).astype(np.int32)
    return TernaryDense(wt, bias, -1)


@functools.cache
def demo_mnist_model(data_dir=None, hidden: int = 128, seed: int = 7) -> TernaryModel:
    """784-hidden-10 on real MNIST (about 70% test accuracy for hidden=128)."""
    ds = datasets.load("mnist", data_dir=data_dir)
    q = InputQuant.pixels(784)
    rng = np.random.default_rng(seed)
    w = rng.choice(np.array([-1, 0, 1], np.int8), size=(hidden, 784), p=[0.25, 0.5, 0.25])
    layer = TernaryDense(w, np.zeros(hidden, np.int32), 4)  # activations mean ~20 of 127
    out = _readout(layer, q, ds.x_train[:20000], ds.y_train[:20000], 10)
    return TernaryModel([layer, out], q, {"name": "mnist_demo", "seed": seed})


@functools.cache
def demo_iris_model() -> TernaryModel:
    """4-8-3 on Iris with affine input quantization (int8 codes in the header): the
    hidden layer passes x and 127 - x through (shift 0), the read-out is fitted."""
    ds = datasets.load("iris")
    q = InputQuant.fit_affine(ds.x_train)
    w = np.r_[np.eye(4), -np.eye(4)].astype(np.int8)
    b = np.r_[np.zeros(4), np.full(4, 127)].astype(np.int32)
    layer = TernaryDense(w, b, 0)
    out = _readout(layer, q, ds.x_train, ds.y_train, 3)
    return TernaryModel([layer, out], q, {"name": "iris_demo"})


if __name__ == "__main__":
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out_dir, exist_ok=True)
    for name, model in [("mnist_demo", demo_mnist_model()), ("iris_demo", demo_iris_model())]:
        model.save(os.path.join(out_dir, f"{name}.ctm"))
        ds = datasets.load(name.split("_")[0])
        print(
            f"{name}.ctm: sizes {model.sizes}, test error "
            f"{model.error_rate(ds.x_test, ds.y_test):.4f}"
        )
