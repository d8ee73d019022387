"""Architectures in a short written form, for the command line and the API.

An architecture is a comma-separated list of layers, read left to right from
the input:

| token | layer |
| --- | --- |
| `c32k3` | conv2d, 32 output channels, 3x3 kernel, stride 1, "same" padding |
| `c64k3s2` | ... stride 2 (`s<S>`) |
| `c16k5v` | ... no padding (`v`: "valid") |
| `dw3` | depthwise conv2d 3x3 (as many channels as its input), same padding; `s`, `v` as above |
| `p2` | maxpool2d, 2x2 window, stride 2; `p3s2`: 3x3 window, stride 2 |
| `f` | flatten (added on its own before a dense layer that follows a tensor) |
| `d128` | dense, 128 outputs; the last layer is dense and is the output layer |

A hidden conv2d, depthwise or dense layer may end in `a<bits>` (1, 2, 4 or 7)
for its activation bits: `c32k3a2`. Example: `c32k3,p2,c64k3,p2,d10`.

`cnn` stands for the default of a dataset (``ARCH_DEFAULTS``; ``resolve``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from conntra.contract import ACT_BITS, SHIFT_OUTPUT
from conntra.errors import InputError
from conntra.layers import Flatten, MaxPool2D, TernaryConv2D, TernaryDense, elements

_TOKEN = re.compile(
    r"^(?:(?P<conv>c(?P<c_out>\d+)k(?P<k>\d+))|(?P<dw>dw(?P<dk>\d+))|(?P<pool>p(?P<pw>\d+))"
    r"|(?P<flat>f)|(?P<dense>d(?P<units>\d+)))"
    r"(?:s(?P<stride>\d+))?(?P<valid>v)?(?:a(?P<bits>\d+))?$"
)


# What ``arch="cnn"`` means per dataset; an image folder without an entry
# takes CIFAR-10's, its output layer sized to its classes.
ARCH_DEFAULTS = {"mnist": "c16k3,p2,c32k3,p2,d10", "cifar10": "c32k3,p2,c64k3,p2,d10"}
CNN = "cnn"


@dataclass(frozen=True)
class LayerSpec:
    """One parsed token."""

    kind: str  # "conv2d", "depthwise", "maxpool2d", "flatten", "dense"
    size: int = 0  # output channels or units; kernel or window for depthwise / pool
    kernel: int = 0
    stride: int = 1
    valid: bool = False
    act_bits: int | None = None


def parse(text: str) -> list[LayerSpec]:
    """The layers of an architecture string (module docstring); InputError
    naming the token that is not one."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"an architecture is a comma-separated list of layers, got {text!r}")
    specs = []
    for token in (t.strip() for t in text.split(",")):
        m = _TOKEN.match(token)
        if m is None:
            raise InputError(
                f"architecture token {token!r} is not a layer (c<N>k<K>, dw<K>, p<W>, f, d<N>, "
                f"with s<S>, v, a<bits> where they apply): see conntra.arch"
            )
        stride = int(m["stride"]) if m["stride"] else 1
        bits = int(m["bits"]) if m["bits"] else None
        if bits is not None and bits not in ACT_BITS:
            raise InputError(f"{token!r}: activation bits must be 1, 2, 4 or 7")
        if m["conv"]:
            spec = LayerSpec("conv2d", int(m["c_out"]), int(m["k"]), stride, bool(m["valid"]), bits)
        elif m["dw"]:
            spec = LayerSpec("depthwise", 0, int(m["dk"]), stride, bool(m["valid"]), bits)
        elif m["pool"]:
            if m["valid"] or bits is not None:
                raise InputError(f"{token!r}: a pool takes only a stride")
            w = int(m["pw"])
            spec = LayerSpec("maxpool2d", 0, w, int(m["stride"]) if m["stride"] else w)
        elif m["flat"]:
            if m["stride"] or m["valid"] or bits is not None:
                raise InputError(f"{token!r}: flatten takes nothing")
            spec = LayerSpec("flatten")
        else:
            if m["stride"] or m["valid"]:
                raise InputError(f"{token!r}: a dense layer takes only activation bits")
            spec = LayerSpec("dense", int(m["units"]), act_bits=bits)
        if min(spec.size if spec.kind in ("conv2d", "dense") else 1, spec.kernel or 1) < 1:
            raise InputError(f"{token!r}: sizes must be positive")
        specs.append(spec)
    if specs[-1].kind != "dense":
        raise InputError(f"the last layer of {text!r} must be dense (d<classes>)")
    if specs[-1].act_bits is not None:
        raise InputError("the output layer has no activation bits")
    return specs


def _shift_for(k: int) -> int:
    """A hidden layer's first shift: a sum of k terms of size ~64 spreads
    about 64 sqrt(k); this puts that near 32 (TernaryModel.random's rule)."""
    return max(0, int(np.ceil(np.log2(max(1.0, 2 * math.sqrt(k))))))


def random_layers(text: str, input_shape, *, seed: int = 0, p_zero: float = 1 / 3) -> list:
    """Layers of architecture ``text`` reading ``input_shape`` (H, W, C), with
    random ternary weights (zero with probability ``p_zero``), zero biases
    and the first-guess shift of each hidden layer."""
    rng = np.random.default_rng(seed)
    probs = [(1 - p_zero) / 2, p_zero, (1 - p_zero) / 2]

    def weights(*shape):
        return rng.choice(np.array([-1, 0, 1], np.int8), size=shape, p=probs)

    specs = parse(text)
    layers: list = []
    shape = tuple(input_shape)
    layer: Any
    for i, spec in enumerate(specs):
        last = i == len(specs) - 1
        if spec.kind == "dense" and shape[:2] != (1, 1):
            layers.append(Flatten())
            shape = layers[-1].out_shape(shape)
        if spec.kind in ("conv2d", "depthwise"):
            depthwise = spec.kind == "depthwise"
            c_in = shape[2]
            c_out = c_in if depthwise else spec.size
            g = 1 if depthwise else c_in
            layer = TernaryConv2D(
                weights(c_out, spec.kernel, spec.kernel, g),
                np.zeros(c_out, np.int32),
                _shift_for(spec.kernel * spec.kernel * g),
                spec.act_bits,
                stride=spec.stride,
                padding=0 if spec.valid else "same",
                groups=c_in if depthwise and c_in > 1 else 1,
            )
        elif spec.kind == "maxpool2d":
            layer = MaxPool2D(spec.kernel, spec.stride)
        elif spec.kind == "flatten":
            layer = Flatten()
        else:
            n_in = elements(shape)
            layer = TernaryDense(
                weights(spec.size, n_in),
                np.zeros(spec.size, np.int32),
                SHIFT_OUTPUT if last else _shift_for(n_in),
                None if last else spec.act_bits,
            )
        layers.append(layer)
        shape = layer.out_shape(shape)
    return layers


def resolve(text: str, dataset_name: str, n_classes: int) -> str:
    """The architecture a run trains: ``text``, or for ``"cnn"`` the dataset's
    default (``ARCH_DEFAULTS``) with its output layer of ``n_classes``; an
    InputError when it does not parse or its output layer has another number
    of outputs than the dataset has classes."""
    if isinstance(text, str) and text.strip() == CNN:
        body = ARCH_DEFAULTS.get(dataset_name, ARCH_DEFAULTS["cifar10"]).rsplit(",", 1)[0]
        text = f"{body},d{n_classes}"
    specs = parse(text)
    if specs[-1].size != n_classes:
        raise InputError(
            f"architecture {text!r} ends in d{specs[-1].size}, but the data has "
            f"{n_classes} classes: the output layer must be d{n_classes}"
        )
    return ",".join(t.strip() for t in text.split(","))


def hidden_act_bits(layers) -> list:
    """The activation bits the template's hidden conv2d and dense layers were
    given (``a<bits>`` tokens; 7 where none), one per hidden layer with
    parameters."""
    params = [L for L in layers if L.has_params]
    return [int(L.act_bits or 7) for L in params[:-1]]
