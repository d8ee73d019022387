"""Models and tool checks shared by tests/test_firmware_*.py.

The trainer is not needed here: the demo models have a random ternary hidden
layer and a ternarised least-squares read-out (a few seconds of numpy), which
is enough for real-data accuracy well above chance and real activations
(neither all zero nor all clamped). Run as a script to save both models:

    python tests/_firmware_helpers.py OUT_DIR    # OUT_DIR/mnist_demo.ctm, iris_demo.ctm,
                                                 # mnist_cnn_demo.ctm
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


def impl_source(tmp_path, model, name: str, suffix: str = ".c"):
    """Exports ``model`` as ``name.h`` into tmp_path and writes the one source
    file that compiles its implementation (``.c``, or ``.cpp`` for C++)."""
    from conntra import codegen

    codegen.export(model, tmp_path, name, report=False)
    src = tmp_path / f"{name}_impl{suffix}"
    src.write_text(f'#define {name.upper()}_IMPLEMENTATION\n#include "{name}.h"\n')
    return src


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


# -- convolutional models beyond tests/_conv_models.py -----------------------------------------


def mnist_data_dir() -> str:
    """$CONNTRA_DATA (set in CI), else <repo>/../shared/data/mnist as the README says."""
    env = os.environ.get("CONNTRA_DATA")
    return env or os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")


def load_mnist_or_skip():
    import pytest

    from conntra.errors import DataNotFoundError

    try:
        return datasets.load("mnist", data_dir=mnist_data_dir())
    except DataNotFoundError as exc:
        if os.environ.get("CONNTRA_DATA"):
            raise
        pytest.skip(f"MNIST not available: {exc}")


def _chain(in_shape, layers, n_classes, rng, bias=None):
    """layers, then flatten and a dense output layer of n_classes on in_shape."""
    from conntra import Flatten

    shape = in_shape
    for layer in layers:
        shape = layer.out_shape(shape)
    n = int(np.prod(shape))
    if shape[:2] != (1, 1):
        layers = layers + [Flatten()]
    w = rng.integers(-1, 2, (n_classes, n)).astype(np.int8)
    b = rng.integers(-500, 501, n_classes).astype(np.int32) if bias is None else bias
    return TernaryModel(
        layers + [TernaryDense(w, b, -1)],
        InputQuant.pixels(int(np.prod(in_shape)), shape=in_shape),
    )


def conv_edge_models() -> dict:
    """Models at the edges of the conv kernels: packed sums flushed mid-row (K = 400 and
    288 inputs per filter), saturating weights, inputs and biases (|bias| = 2^27, shift
    24 and 0), odd output widths, a depthwise first layer reading pixels, a 2x3 kernel,
    overlapping pooling windows, and a flatten first (the arena with dense layers only)."""
    from conntra import Flatten, MaxPool2D, TernaryConv2D

    rng = np.random.default_rng(1)
    big = 1 << 27
    w = np.ones((6, 5, 5, 16), np.int8)
    w[1::2] = -1
    w[4] = rng.integers(-1, 2, (5, 5, 16))
    flush = [
        TernaryConv2D(w, np.array([big, -big, 5, -5, 0, big], np.int32), 24, padding=2),
        TernaryConv2D(
            rng.integers(-1, 2, (4, 3, 3, 6)).astype(np.int8),
            rng.integers(-9, 9, 4).astype(np.int32),
            0,
            2,
            padding=(2, 0, 1, 2),
            stride=(1, 2),
        ),
    ]
    w = np.ones((5, 3, 3, 32), np.int8)
    w[2] = -1
    saturate = [
        TernaryConv2D(w, np.array([0, 1, -1, big, -big], np.int32), 9, 4, padding=1),
        MaxPool2D(3, 2),
    ]
    depthwise_first = [
        TernaryConv2D(
            rng.integers(-1, 2, (4, 2, 3, 1)).astype(np.int8),
            rng.integers(-50, 50, 4).astype(np.int32),
            1,
            1,
            stride=2,
            padding=(1, 0, 2, 1),
            groups=4,
        ),
        MaxPool2D(1),
    ]
    dense_only = TernaryModel(
        [
            Flatten(),
            TernaryDense(rng.integers(-1, 2, (9, 48)).astype(np.int8), np.arange(9) * 7, 3, 2),
            TernaryDense(rng.integers(-1, 2, (3, 9)).astype(np.int8), np.zeros(3, np.int32), -1),
        ],
        InputQuant.pixels(48, shape=(4, 4, 3)),
    )
    return {
        "flush": _chain((7, 5, 16), flush, 3, rng, np.array([big, -big, 0], np.int32)),
        "saturate": _chain((6, 6, 32), saturate, 2, rng),
        "depthwise_first": _chain((9, 11, 4), depthwise_first, 4, rng),
        "flatten_first": dense_only,
    }


def edge_inputs(model, n: int, seed: int) -> np.ndarray:
    """n random pixels per input, the first all 255, the second all 0, a third half 255."""
    x = np.random.default_rng(seed).integers(0, 256, size=(n, model.sizes[0])).astype(np.uint8)
    x[0] = 255
    x[1] = 0
    x[2, ::2] = 255
    return x


def random_conv_model(seed: int) -> TernaryModel:
    """1-3 layers of random kinds and geometry (kernel up to 4x4 with any legal padding,
    strides 1-2, depthwise, pools with any window and stride) on a small random tensor,
    then a dense output layer: shapes the hand-made models miss."""
    from conntra import Flatten, MaxPool2D, TernaryConv2D
    from conntra.errors import ConntraError

    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 9, 3))
    in_shape, layers = shape, []
    for _ in range(int(rng.integers(1, 4))):
        h, w, c = shape
        kind = rng.choice(["conv", "depthwise", "pool", "flatten"], p=[0.45, 0.25, 0.2, 0.1])
        try:
            if kind in ("conv", "depthwise"):
                kh, kw = (int(rng.integers(1, min(4, n + 2) + 1)) for n in (h, w))
                pad = tuple(int(rng.integers(0, k)) for k in (kh, kh, kw, kw))
                stride = tuple(int(v) for v in rng.integers(1, 3, 2))
                bits, shift = int(rng.choice([1, 2, 4, 7])), int(rng.integers(0, 8))
                groups, c_out = (c, c) if kind == "depthwise" else (1, int(rng.integers(1, 12)))
                if groups == 1 and kind == "depthwise":
                    continue
                g = 1 if groups > 1 else c
                weights = rng.integers(-1, 2, (c_out, kh, kw, g)).astype(np.int8)
                bias = rng.integers(-300, 301, c_out).astype(np.int32)
                layer = TernaryConv2D(
                    weights, bias, shift, bits, stride=stride, padding=pad, groups=groups
                )
            elif kind == "pool":
                layer = MaxPool2D(
                    tuple(int(v) for v in rng.integers(1, 4, 2)),
                    tuple(int(v) for v in rng.integers(1, 4, 2)),
                )
            else:
                layer = Flatten()
            shape = layer.out_shape(shape)
        except ConntraError:  # a geometry that does not fit the tensor: draw again
            continue
        layers.append(layer)
        if kind == "flatten":
            break
    if layers and layers[-1].kind == "flatten":
        layers.pop()
    return _chain(in_shape, layers, int(rng.integers(1, 6)), rng)


if __name__ == "__main__":
    from _conv_models import mnist_conv_model

    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out_dir, exist_ok=True)
    for name, model in [("mnist_demo", demo_mnist_model()), ("iris_demo", demo_iris_model())]:
        model.save(os.path.join(out_dir, f"{name}.ctm"))
        ds = datasets.load(name.split("_")[0])
        print(
            f"{name}.ctm: sizes {model.sizes}, test error "
            f"{model.error_rate(ds.x_test, ds.y_test):.4f}"
        )
    # random ternary weights (no trainer for convolutions yet): for verification, not accuracy
    cnn = mnist_conv_model()
    cnn.save(os.path.join(out_dir, "mnist_cnn_demo.ctm"))
    print(f"mnist_cnn_demo.ctm: shapes {cnn.shapes()}, random ternary weights")
