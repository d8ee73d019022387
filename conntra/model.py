"""Models: ternary networks on the integer contract, and float baselines.

A ``TernaryModel`` is a chain of layers of the kinds of ``conntra.layers``
(dense and conv2d layers with int8 weights in {-1, 0, 1}, int32 biases and a
power-of-two shift per hidden layer; max pooling; flatten) behind an
``InputQuant``, ending in a dense output layer. Inference runs in the C core
by default; ``backend="numpy"`` runs the numpy reference, and the two agree
bit for bit.

A ``FloatModel`` (float32 weights, ReLU) is what backpropagation produces; it
reads the same quantized inputs scaled to 0..1, so both kinds of model see
identical data and can be compared by one command.

The constructors check everything a model file can hold (docs/format.md), so
a model that exists can be saved, and a saved model loads back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import numpy as np

from conntra import reference
from conntra.contract import MAX_LAYERS, SHIFT_OUTPUT
from conntra.errors import DTypeError, InputError, MetadataError, ShapeError
from conntra.layers import LAYER_TYPES, Flatten, MaxPool2D, TernaryDense, elements
from conntra.layers.common import Filters, Matrix
from conntra.layers.common import frozen as _frozen
from conntra.layers.dense import _check_width
from conntra.metrics import error_rate
from conntra.quant import InputQuant
from conntra.validate import as_array, check_labels

BACKENDS = ("c", "numpy")
MAX_METADATA_DEPTH = 16  # nested objects and arrays in metadata, counting metadata itself
MAX_NUMBER_CHARS = 64  # characters of one JSON number in a model file
FLOAT_CONV_CHUNK = 256  # samples per pass of a float model with conv layers


def _check_json_value(value: object, where: str, depth: int) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        # bit_length first: str() of a huge int is slow (and refused past 4300 digits)
        if value.bit_length() > 4 * MAX_NUMBER_CHARS or len(str(value)) > MAX_NUMBER_CHARS:
            raise MetadataError(f"{where} is an integer of more than {MAX_NUMBER_CHARS} digits")
        return
    if isinstance(value, float):  # includes numpy float64, which json writes as a float
        if not math.isfinite(value):
            raise MetadataError(f"{where} is {value}, which JSON cannot represent")
        return
    if isinstance(value, str):
        _check_text(value, where)
        return
    if isinstance(value, (list, tuple, dict)):
        if depth > MAX_METADATA_DEPTH:
            raise MetadataError(f"{where} nests deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise MetadataError(f"{where} has the key {key!r}; keys must be strings")
                _check_text(key, f"a key of {where}")
                _check_json_value(item, f"{where}[{key[:40]!r}]", depth + 1)
        else:
            for i, item in enumerate(value):
                _check_json_value(item, f"{where}[{i}]", depth + 1)
        return
    raise MetadataError(
        f"{where} has type {type(value).__name__}, which is not plain JSON data "
        f"(str, finite int or float, bool, None, list, dict)"
    )


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MetadataError(f"{where} holds a lone surrogate ({exc.reason})") from exc


def check_metadata(metadata: object) -> dict:
    """Checks that ``metadata`` is what a model file may hold (docs/format.md,
    3.3): a dict with string keys whose values are plain JSON data."""
    if not isinstance(metadata, dict):
        raise MetadataError(
            f"metadata must be a dict with string keys, got {type(metadata).__name__}"
        )
    _check_json_value(metadata, "metadata", 1)
    return metadata


@dataclass(frozen=True, eq=False)
class FloatDense(Matrix):
    """A float32 dense layer (backpropagation baselines); ReLU unless last."""

    weights: np.ndarray  # float32 (n_out, n_in)
    bias: np.ndarray  # float32 (n_out,)

    def __post_init__(self) -> None:
        w, b = as_array(self.weights, "weights"), as_array(self.bias, "bias")
        if w.ndim != 2 or b.shape != (w.shape[0],) or w.size == 0:
            raise ShapeError(
                f"float layer needs weights (n_out, n_in) and bias (n_out,), "
                f"got {w.shape} and {b.shape}"
            )
        _check_width(w.shape, "weights")
        if w.dtype.kind not in "iuf" or b.dtype.kind not in "iuf":
            raise DTypeError(
                f"float layer weights and bias must be real numbers, got {w.dtype} and {b.dtype}"
            )
        w, b = w.astype(np.float32), b.astype(np.float32)
        # checked after the cast: a float64 beyond float32's range becomes infinity
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise InputError("float layer holds NaN or infinity")
        object.__setattr__(self, "weights", _frozen(w))
        object.__setattr__(self, "bias", _frozen(b))

    kind: ClassVar[str] = "dense"
    has_params: ClassVar[bool] = True

    def out_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        if tuple(in_shape) != (1, 1, self.n_in):
            raise ShapeError(
                f"a float dense layer of {self.n_in} inputs reads (1, 1, {self.n_in}), "
                f"got {tuple(in_shape)}"
            )
        return (1, 1, self.n_out)


def _float_array(value: object, name: str) -> np.ndarray:
    a = as_array(value, name)
    if a.dtype.kind not in "iuf":
        raise DTypeError(f"float layer {name} must be real numbers, got {a.dtype}")
    a = a.astype(np.float32)
    # checked after the cast: a float64 beyond float32's range becomes infinity
    if not np.isfinite(a).all():
        raise InputError("float layer holds NaN or infinity")
    return _frozen(a)


@dataclass(frozen=True, eq=False)
class FloatConv2D(Filters):
    """A float32 conv2d layer (backpropagation baselines on architectures),
    always hidden (ReLU): weights (C_out, KH, KW, C_in / groups), the geometry
    of ``TernaryConv2D`` (stride, padding or "same", groups 1 or depthwise)."""

    weights: np.ndarray
    bias: np.ndarray
    stride: Any = 1
    padding: Any = 0
    groups: int = 1

    kind: ClassVar[str] = "conv2d"
    has_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        from conntra.layers.conv2d import conv_geometry

        w = _float_array(self.weights, "weights")
        b = _float_array(self.bias, "bias")
        if w.ndim != 4 or 0 in w.shape or b.shape != (w.shape[0],):
            raise ShapeError(
                f"float conv2d needs weights (C_out, KH, KW, C_in / groups) and bias (C_out,), "
                f"got {w.shape} and {b.shape}"
            )
        _check_width((w.shape[0], w[0].size), "weights")
        stride, padding, groups = conv_geometry(w.shape, self.stride, self.padding, self.groups)
        for name, value in (
            ("weights", w),
            ("bias", b),
            ("stride", stride),
            ("padding", padding),
            ("groups", groups),
        ):
            object.__setattr__(self, name, value)

    @property
    def n_params(self) -> int:
        return int(self.weights.size + self.bias.size)

    def out_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        from conntra.layers.conv2d import conv_out_shape

        return conv_out_shape(
            in_shape, self.c_in, self.c_out, self.kernel, self.stride, self.padding
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        """float32 pre-activations (n, H_out, W_out, C_out) of x (n, H, W, C_in)."""
        from conntra.floatconv import conv2d_forward

        y, _ = conv2d_forward(x, self.weights, self.bias, self.stride, self.padding, self.groups)
        return y


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r} (c or numpy)")


@dataclass(eq=False)
class _ModelBase:
    layers: list
    input_quant: InputQuant
    metadata: dict = field(default_factory=dict)

    _layer_class: ClassVar[type | tuple] = object

    def __post_init__(self) -> None:
        if isinstance(self.layers, (str, bytes)) or not isinstance(self.layers, Sequence):
            raise InputError(
                f"layers must be a list of {self._layer_names()}, got {type(self.layers).__name__}"
            )
        self.layers = list(self.layers)
        if self.metadata is None:  # version-1 writers stored a missing dict as null
            self.metadata = {}
        self.check()

    @classmethod
    def _layer_names(cls) -> str:
        types = cls._layer_class if isinstance(cls._layer_class, tuple) else (cls._layer_class,)
        return " or ".join(t.__name__ for t in types)

    def check(self) -> None:
        """Checks what the constructor checks; a model is checked again before
        it is saved, since ``layers`` and ``metadata`` are mutable."""
        if not all(isinstance(layer, self._layer_class) for layer in self.layers):
            raise InputError(f"{type(self).__name__} layers must be {self._layer_names()}")
        if not isinstance(self.input_quant, InputQuant):
            raise InputError(
                f"input_quant must be an InputQuant, got {type(self.input_quant).__name__}"
            )
        if not self.layers:
            raise ShapeError("a model needs at least one layer")
        if len(self.layers) > MAX_LAYERS:
            raise ShapeError(f"a model has at most {MAX_LAYERS} layers, got {len(self.layers)}")
        self.shapes()  # every layer reads what the one before writes
        check_metadata(self.metadata)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one quantized sample, channels last."""
        return self.input_quant.tensor_shape

    def shapes(self) -> list[tuple[int, int, int]]:
        """The input's shape, then each layer's output shape (H, W, C); a
        ShapeError names the first layer that cannot read its input."""
        out = [self.input_shape]
        for i, layer in enumerate(self.layers):
            try:
                out.append(layer.out_shape(out[-1]))
            except ShapeError as exc:
                source = (
                    f"the input quantization's {self.input_quant.n_features} features"
                    if i == 0
                    else f"layer {i - 1}"
                )
                raise ShapeError(
                    f"layers do not chain: layer {i} cannot read {source}: {exc}"
                ) from exc
        return out

    @property
    def sizes(self) -> list[int]:
        """Elements of the input and of each layer's output (for dense layers,
        their widths)."""
        return [elements(s) for s in self.shapes()]

    @property
    def n_classes(self) -> int:
        return int(self.layers[-1].n_out)

    @property
    def n_weights(self) -> int:
        return sum(layer.weights.size for layer in self._param_layers())

    @property
    def n_params(self) -> int:
        return sum(layer.weights.size + layer.bias.size for layer in self._param_layers())

    def _param_layers(self) -> list:
        return [layer for layer in self.layers if getattr(layer, "has_params", True)]

    def quantize(self, x: Any) -> np.ndarray:
        return self.input_quant.quantize(x)

    def _logits_of_codes(self, xq: np.ndarray, backend: str) -> np.ndarray:
        """Logits of int8 codes already checked by the caller (the trusted path)."""
        raise NotImplementedError

    def logits(self, x: Any, backend: str = "c") -> np.ndarray:
        _check_backend(backend)
        return self._logits_of_codes(self.quantize(x), backend)

    def predict(self, x: Any) -> np.ndarray:
        """Class indices (int64) for raw inputs."""
        return np.argmax(self.logits(x), axis=1)

    def logits_quantized(self, xq: Any, backend: str = "c") -> np.ndarray:
        """Logits of int8 inputs in 0..127 that are already quantized (int32
        for a ternary model, float32 for a float one)."""
        _check_backend(backend)
        xq = as_array(xq, "quantized inputs")
        if xq.dtype != np.int8:
            raise DTypeError(f"quantized inputs must be int8, got {xq.dtype}")
        if xq.ndim != 2 or xq.shape[1] != self.sizes[0]:
            raise ShapeError(
                f"quantized inputs must have shape (n, {self.sizes[0]}), got {xq.shape}"
            )
        if xq.size and xq.min() < 0:
            raise InputError("quantized inputs must be in 0..127")
        return self._logits_of_codes(xq, backend)

    def predict_quantized(self, xq: Any) -> np.ndarray:
        """Class indices (int64) for already quantized int8 inputs."""
        return np.argmax(self.logits_quantized(xq), axis=1)

    def error_rate(self, x: Any, y: Any) -> float:
        """Fraction of misclassified samples."""
        xq = self.quantize(x)
        labels = check_labels(y, xq.shape[0], self.n_classes)
        return error_rate(np.argmax(self._logits_of_codes(xq, "c"), axis=1), labels)

    def save(self, path: Any) -> None:
        from conntra.modelfile import save

        save(cast("Model", self), path)


@dataclass(eq=False)
class TernaryModel(_ModelBase):
    """A ternary network on the integer contract."""

    _layer_class: ClassVar[type | tuple] = LAYER_TYPES

    def __post_init__(self) -> None:
        super().__post_init__()
        self._native: Any = None

    def check(self) -> None:
        super().check()
        if not isinstance(self.layers[-1], TernaryDense):
            raise InputError(
                f"the last layer must be a dense output layer, got {type(self.layers[-1]).__name__}"
            )
        if (
            any(layer.shift == SHIFT_OUTPUT for layer in self._param_layers()[:-1])
            or self.layers[-1].shift != SHIFT_OUTPUT
        ):
            raise InputError("only the last layer is an output layer (shift -1)")

    @property
    def is_dense(self) -> bool:
        """A chain of dense layers on a vector input: what every model was
        before layer kinds (the trainers and version-1 files take these)."""
        return self.input_quant.shape is None and all(
            isinstance(layer, TernaryDense) for layer in self.layers
        )

    @classmethod
    def random(
        cls,
        sizes: Sequence[int],
        input_quant: InputQuant,
        *,
        seed: int = 0,
        shifts: Sequence[int] | None = None,
        act_bits: int | Sequence[int] | None = None,
        p_zero: float = 1 / 3,
        bias_range: int = 0,
        metadata: dict | None = None,
    ) -> TernaryModel:
        """Random ternary weights (zero with probability ``p_zero``); the
        default shift of a hidden layer keeps typical activations in range.
        ``act_bits``: one value for every hidden layer or one per hidden layer
        (None: 7)."""
        rng = np.random.default_rng(seed)
        n_hidden = len(sizes) - 2
        if act_bits is None or isinstance(act_bits, (int, np.integer)):
            bits_of: list = [act_bits] * n_hidden
        else:
            bits_of = list(act_bits)
            if len(bits_of) != n_hidden:
                raise InputError(f"act_bits has {len(bits_of)} values for {n_hidden} hidden layers")
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            last = i == len(sizes) - 2
            w = rng.choice(
                np.array([-1, 0, 1], np.int8),
                size=(n_out, n_in),
                p=[(1 - p_zero) / 2, p_zero, (1 - p_zero) / 2],
            )
            b = rng.integers(-bias_range, bias_range + 1, size=n_out, dtype=np.int32)
            if last:
                shift = SHIFT_OUTPUT
            elif shifts is not None:
                shift = int(shifts[i])
            else:  # sum of n_in terms of size ~64: spread ~64*sqrt(n_in); aim at ~32
                shift = max(0, int(np.ceil(np.log2(max(1.0, 2 * np.sqrt(n_in))))))
            layers.append(TernaryDense(w, b, shift, None if last else bits_of[i]))
        return cls(layers, input_quant, dict(metadata or {}))

    def _engine(self) -> Any:
        if self._native is None:
            from conntra.engine import NativeNet

            self._native = NativeNet(self.layers, self.input_shape)
        return self._native

    def _logits_of_codes(self, xq: np.ndarray, backend: str) -> np.ndarray:
        if backend == "c":
            return self._engine().logits_trusted(xq)
        return reference_logits(self, xq).astype(np.int32)


@dataclass(eq=False)
class FloatModel(_ModelBase):
    """A float32 network (the backpropagation baseline) over the same inputs.

    Both backends run the same numpy float32 code (the C core is integer-only);
    ``backend`` is accepted so that callers can treat both kinds of model alike.
    """

    _layer_class: ClassVar[type | tuple] = (FloatDense, FloatConv2D, MaxPool2D, Flatten)

    def check(self) -> None:
        super().check()
        if not isinstance(self.layers[-1], FloatDense):
            raise InputError(
                f"the last layer must be a dense output layer, got {type(self.layers[-1]).__name__}"
            )

    @property
    def is_dense(self) -> bool:
        """A chain of dense layers on a vector input (a version-1 file)."""
        return self.input_quant.shape is None and all(
            isinstance(layer, FloatDense) for layer in self.layers
        )

    def features(self, x: Any) -> np.ndarray:
        """The float inputs the network sees: quantized codes scaled to 0..1."""
        return self.quantize(x).astype(np.float32) / np.float32(127)

    def logits(self, x: Any, backend: str = "numpy") -> np.ndarray:
        return super().logits(x, backend)

    def _logits_of_codes(self, xq: np.ndarray, backend: str) -> np.ndarray:
        if not self.is_dense and len(xq) > FLOAT_CONV_CHUNK:
            # a conv layer's im2col rows are KH * KW times its input: in chunks
            parts = [
                self._logits_of_codes(xq[i : i + FLOAT_CONV_CHUNK], backend)
                for i in range(0, len(xq), FLOAT_CONV_CHUNK)
            ]
            return np.concatenate(parts)
        h = xq.astype(np.float32) / np.float32(127)
        if not self.is_dense:  # NHWC images through conv, pool and flatten layers
            h = h.reshape(len(h), *self.input_shape)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, FloatDense):
                h = h @ layer.weights.T + layer.bias
            elif isinstance(layer, FloatConv2D):
                h = layer.forward(h)
            elif isinstance(layer, MaxPool2D):
                h = reference.maxpool2d(h, layer.window, layer.stride)
                continue
            else:  # flatten: the NHWC order is already the vector's
                h = h.reshape(len(h), -1)
                continue
            if i < len(self.layers) - 1:
                h = np.maximum(h, np.float32(0))
        return h


Model = TernaryModel | FloatModel


def reference_logits(model: TernaryModel, xq: np.ndarray) -> np.ndarray:
    """int64 logits of int8 codes (n, n_features) by the numpy reference:
    each layer's ``forward`` (docs/format.md 1.2), hidden pre-activations
    requantized with the layer's shift and bits."""
    act: np.ndarray = np.asarray(xq)
    shapes = model.shapes()
    for layer, shape in zip(model.layers, shapes, strict=False):
        out = layer.forward(act, shape)
        if not layer.has_params:
            act = out
        elif layer.shift == SHIFT_OUTPUT:
            return out
        else:
            act = reference.requantize(out, layer.shift, layer.act_bits)
    raise InputError("the last layer must be an output layer (shift -1)")
