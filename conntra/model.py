"""Models: ternary networks on the integer contract, and float baselines.

A ``TernaryModel`` is a chain of ``TernaryDense`` layers (int8 weights in
{-1, 0, 1}, int32 biases, a power-of-two shift per hidden layer) behind an
``InputQuant``. Inference runs in the C core by default; ``backend="numpy"``
runs the numpy reference, and the two agree bit for bit.

A ``FloatModel`` (float32 weights, ReLU) is what backpropagation produces; it
reads the same quantized inputs scaled to 0..1, so both kinds of model see
identical data and can be compared by one command.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from conntra import reference
from conntra.errors import DTypeError, InputError, LabelError, ShapeError
from conntra.quant import InputQuant

MAX_BIAS = 1 << 27
MAX_SHIFT = 24
MAX_WIDTH = 1 << 20
SHIFT_OUTPUT = -1


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class TernaryDense:
    """One dense layer of the integer contract (see docs/format.md)."""

    weights: np.ndarray  # int8 (n_out, n_in), values in {-1, 0, 1}
    bias: np.ndarray  # int32 (n_out,), |bias| <= 2^27
    shift: int  # 0..24 for a hidden layer, -1 for the output layer

    def __post_init__(self):
        w, b = np.asarray(self.weights), np.asarray(self.bias)
        if w.ndim != 2 or not 0 < w.shape[0] <= MAX_WIDTH or not 0 < w.shape[1] <= MAX_WIDTH:
            raise ShapeError(f"weights must be 2-D (n_out, n_in), 1..2^20 each; got {w.shape}")
        if not np.issubdtype(w.dtype, np.integer) or not np.issubdtype(b.dtype, np.integer):
            raise DTypeError(f"weights and bias must be integers, got {w.dtype} and {b.dtype}")
        if ((w < -1) | (w > 1)).any():
            raise InputError("ternary weights must be in {-1, 0, 1}")
        if b.shape != (w.shape[0],):
            raise ShapeError(f"bias must have shape ({w.shape[0]},), got {b.shape}")
        if b.size and np.abs(b.astype(np.int64)).max() > MAX_BIAS:
            raise InputError(f"|bias| must be <= 2^27, got {np.abs(b.astype(np.int64)).max()}")
        if self.shift != SHIFT_OUTPUT and not 0 <= self.shift <= MAX_SHIFT:
            raise InputError(f"shift must be 0..{MAX_SHIFT} (or -1 for the output layer), "
                             f"got {self.shift}")
        object.__setattr__(self, "weights", _frozen(w.astype(np.int8)))
        object.__setattr__(self, "bias", _frozen(b.astype(np.int32)))
        object.__setattr__(self, "shift", int(self.shift))

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])


@dataclass(frozen=True, eq=False)
class FloatDense:
    """A float32 dense layer (backpropagation baselines); ReLU unless last."""

    weights: np.ndarray  # float32 (n_out, n_in)
    bias: np.ndarray  # float32 (n_out,)

    def __post_init__(self):
        w, b = np.asarray(self.weights), np.asarray(self.bias)
        if w.ndim != 2 or b.shape != (w.shape[0],) or w.size == 0:
            raise ShapeError(f"float layer needs weights (n_out, n_in) and bias (n_out,), "
                             f"got {w.shape} and {b.shape}")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise InputError("float layer holds NaN or infinity")
        object.__setattr__(self, "weights", _frozen(w.astype(np.float32)))
        object.__setattr__(self, "bias", _frozen(b.astype(np.float32)))

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])


def _check_chain(layers, n_features: int) -> None:
    if not layers:
        raise ShapeError("a model needs at least one layer")
    if layers[0].n_in != n_features:
        raise ShapeError(f"the first layer takes {layers[0].n_in} inputs but the input "
                         f"quantization has {n_features} features")
    for a, b in zip(layers, layers[1:]):
        if a.n_out != b.n_in:
            raise ShapeError(f"layer sizes do not chain: {a.n_out} outputs feed {b.n_in} inputs")


@dataclass(eq=False)
class _ModelBase:
    layers: list
    input_quant: InputQuant
    metadata: dict = field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]

    @property
    def n_classes(self) -> int:
        return self.layers[-1].n_out

    @property
    def n_weights(self) -> int:
        return sum(layer.weights.size for layer in self.layers)

    @property
    def n_params(self) -> int:
        return sum(layer.weights.size + layer.bias.size for layer in self.layers)

    def predict(self, x) -> np.ndarray:
        """Class indices (int64) for raw inputs."""
        return np.argmax(self.logits(x), axis=1)

    def error_rate(self, x, y) -> float:
        """Fraction of misclassified samples."""
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != np.asarray(x).shape[0]:
            raise ShapeError(f"labels must have shape ({np.asarray(x).shape[0]},), got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or
                                                                  y.max() >= self.n_classes)):
            raise LabelError(f"labels must be integers in 0..{self.n_classes - 1}")
        return float(np.mean(self.predict(x) != y))

    def save(self, path) -> None:
        from conntra.modelfile import save

        save(self, path)


@dataclass(eq=False)
class TernaryModel(_ModelBase):
    """A ternary network on the integer contract."""

    def __post_init__(self):
        self.layers = list(self.layers)
        if not all(isinstance(layer, TernaryDense) for layer in self.layers):
            raise InputError("TernaryModel layers must be TernaryDense")
        _check_chain(self.layers, self.input_quant.n_features)
        if any(layer.shift == SHIFT_OUTPUT for layer in self.layers[:-1]) or \
                self.layers[-1].shift != SHIFT_OUTPUT:
            raise InputError("only the last layer is an output layer (shift -1)")
        self._native = None

    @classmethod
    def random(cls, sizes, input_quant: InputQuant, *, seed: int = 0, shifts=None,
               p_zero: float = 1 / 3, bias_range: int = 0, metadata=None) -> TernaryModel:
        """Random ternary weights (zero with probability ``p_zero``); the
        default shift of a hidden layer keeps typical activations in range."""
        rng = np.random.default_rng(seed)
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            w = rng.choice(np.array([-1, 0, 1], np.int8), size=(n_out, n_in),
                           p=[(1 - p_zero) / 2, p_zero, (1 - p_zero) / 2])
            b = rng.integers(-bias_range, bias_range + 1, size=n_out, dtype=np.int32)
            if last:
                shift = SHIFT_OUTPUT
            elif shifts is not None:
                shift = int(shifts[i])
            else:  # sum of n_in terms of size ~64: spread ~64*sqrt(n_in); aim at ~32
                shift = max(0, int(np.ceil(np.log2(max(1.0, 2 * np.sqrt(n_in))))))
            layers.append(TernaryDense(w, b, shift))
        return cls(layers, input_quant, dict(metadata or {}))

    def _engine(self):
        if self._native is None:
            from conntra.engine import NativeNet
            from conntra.packing import pack_t2

            self._native = NativeNet([(pack_t2(L.weights), L.n_in, L.n_out, L.bias, L.shift)
                                      for L in self.layers])
        return self._native

    def quantize(self, x) -> np.ndarray:
        return self.input_quant.quantize(x)

    def logits_quantized(self, xq, backend: str = "c") -> np.ndarray:
        """int32 logits of int8 inputs in 0..127 (already quantized)."""
        xq = np.asarray(xq)
        if xq.dtype != np.int8:
            raise DTypeError(f"quantized inputs must be int8, got {xq.dtype}")
        if xq.ndim != 2 or xq.shape[1] != self.sizes[0]:
            raise ShapeError(f"quantized inputs must have shape (n, {self.sizes[0]}), "
                             f"got {xq.shape}")
        if xq.size and xq.min() < 0:
            raise InputError("quantized inputs must be in 0..127")
        if backend == "c":
            return self._engine().logits(xq)
        if backend == "numpy":
            out = reference.forward(xq, [(L.weights, L.bias, L.shift) for L in self.layers])
            return out.astype(np.int32)
        raise InputError(f"unknown backend {backend!r} (c or numpy)")

    def logits(self, x, backend: str = "c") -> np.ndarray:
        """int32 logits of raw inputs."""
        return self.logits_quantized(self.quantize(x), backend)


@dataclass(eq=False)
class FloatModel(_ModelBase):
    """A float32 network (the backpropagation baseline) over the same inputs."""

    def __post_init__(self):
        self.layers = list(self.layers)
        if not all(isinstance(layer, FloatDense) for layer in self.layers):
            raise InputError("FloatModel layers must be FloatDense")
        _check_chain(self.layers, self.input_quant.n_features)

    def features(self, x) -> np.ndarray:
        """The float inputs the network sees: quantized codes scaled to 0..1."""
        return self.input_quant.quantize(x).astype(np.float32) / np.float32(127)

    def logits(self, x, backend: str = "numpy") -> np.ndarray:
        h = self.features(x)
        for i, layer in enumerate(self.layers):
            h = h @ layer.weights.T + layer.bias
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0)
        return h
