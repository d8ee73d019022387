"""The 2-D ternary convolution, groups 1 or depthwise (docs/format.md 1.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from conntra import filecheck as fc
from conntra import reference
from conntra.contract import MAX_WIDTH, act_max
from conntra.errors import CorruptModelError, InputError, ShapeError
from conntra.layers import records
from conntra.layers.common import (
    Filters,
    Shape,
    elements,
    ints,
    shift_and_bits,
    ternary_params,
)
from conntra.validate import integer


def _padding(value: object, kh: int, kw: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, (rows, columns), four ints, or
    "same": (KH - 1) // 2 above, KH // 2 below and likewise left and right,
    which keeps the size at stride 1."""
    if isinstance(value, str):
        if value != "same":
            raise InputError(f"padding must be ints or 'same', got {value!r}")
        return ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        rows, cols = ints(value, 2, "padding", 0)
        return (rows, rows, cols, cols)
    return ints(value, 4, "padding", 0)  # type: ignore[return-value]


def out_size(size: int, before: int, after: int, kernel: int, stride: int) -> int:
    return (size + before + after - kernel) // stride + 1


def conv_out_shape(in_shape: Shape, c_in: int, c_out: int, kernel, stride, padding) -> Shape:
    """(H_out, W_out, C_out) of a conv2d (ternary or float) reading ``in_shape``;
    a ShapeError when the channels differ or a side is empty."""
    h, w, c = in_shape
    if c != c_in:
        raise ShapeError(f"a conv2d layer of {c_in} input channels reads {tuple(in_shape)}")
    kh, kw = kernel
    top, bottom, left, right = padding
    ho = out_size(h, top, bottom, kh, stride[0])
    wo = out_size(w, left, right, kw, stride[1])
    if ho < 1 or wo < 1 or ho * wo * c_out > MAX_WIDTH:
        raise ShapeError(
            f"a {kh}x{kw} conv2d with padding {tuple(padding)} gives {ho}x{wo}x{c_out} "
            f"from {tuple(in_shape)}: each side must be >= 1, at most 2^20 elements"
        )
    return (ho, wo, c_out)


@dataclass(frozen=True, eq=False)
class TernaryConv2D(Filters):
    """A hidden convolution layer: ternary weights (C_out, KH, KW, C_in /
    groups), int32 biases, shift and activation bits as a hidden dense layer
    (a convolution is never the output layer). ``groups`` is 1, or C_in for
    a depthwise layer (one filter per channel: weights (C, KH, KW, 1),
    C_out = C_in = groups). ``stride``: an int or (SH, SW); ``padding``: an
    int, (rows, columns), (top, bottom, left, right) or "same"."""

    weights: np.ndarray
    bias: np.ndarray
    shift: int
    act_bits: int | None = None
    stride: Any = 1
    padding: Any = 0
    groups: int = 1

    kind: ClassVar[str] = "conv2d"
    has_params: ClassVar[bool] = True
    KEYS: ClassVar[frozenset] = records.SECTION_KEYS | {
        "kind",
        "c_in",
        "c_out",
        "kernel",
        "stride",
        "padding",
        "groups",
        "shift",
    }

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.ndim != 4 or 0 in w.shape:
            raise ShapeError(
                f"conv2d weights must be (C_out, KH, KW, C_in / groups), got {w.shape}"
            )
        w, b = ternary_params(w, self.bias)
        c_out, kh, kw, g = w.shape
        if kh * kw * g > MAX_WIDTH or c_out > MAX_WIDTH:
            raise ShapeError(f"conv2d weights {w.shape}: KH * KW * G and C_out are at most 2^20")
        stride, padding, groups = conv_geometry(w.shape, self.stride, self.padding, self.groups)
        shift, bits = shift_and_bits(self.shift, self.act_bits, output_allowed=False)
        for name, value in (
            ("weights", w),
            ("bias", b),
            ("shift", shift),
            ("act_bits", bits),
            ("stride", stride),
            ("padding", padding),
            ("groups", groups),
        ):
            object.__setattr__(self, name, value)

    @property
    def act_max(self) -> int:
        """The largest activation, 2^act_bits - 1."""
        return act_max(int(self.act_bits or 0))

    @property
    def depthwise(self) -> bool:
        return self.groups > 1

    @property
    def n_params(self) -> int:
        return int(self.weights.size + self.bias.size)

    def out_shape(self, in_shape: Shape) -> Shape:
        return conv_out_shape(
            in_shape, self.c_in, self.c_out, self.kernel, self.stride, self.padding
        )

    def forward(self, act: np.ndarray, in_shape: Shape) -> np.ndarray:
        """The reference: int64 pre-activations (n, H_out * W_out * C_out), NHWC."""
        x = act.reshape(act.shape[0], *in_shape)
        acc = reference.conv2d_acc(
            x, self.weights, self.bias, self.stride, self.padding, self.groups
        )
        return acc.reshape(act.shape[0], -1)

    # -- model files ----------------------------------------------------------
    def to_record(self, offset: int, version: int) -> tuple[dict, list[bytes]]:
        meta, chunks = records.param_record(self, offset)
        meta.update(
            kind=self.kind,
            c_in=self.c_in,
            c_out=self.c_out,
            kernel=list(self.kernel),
            stride=list(self.stride),
            padding=list(self.padding),
            groups=self.groups,
        )
        return meta, chunks

    @classmethod
    def check_record(
        cls, d: object, in_shape: Shape, last: bool, sections: fc.Sections, where: str
    ) -> Shape:
        d = records.record_keys(d, cls.KEYS, not last, where)
        out, (c_out, kh, kw, g) = check_geometry(d, in_shape, last, where)
        what = f"a conv2d layer of {c_out} filters {kh}x{kw}x{g}"
        records.check_param_record(d, last, sections, where, c_out, c_out * kh * kw * g, what)
        return out

    @classmethod
    def from_record(cls, d: dict, payload: memoryview) -> TernaryConv2D:
        kh, kw = d["kernel"]
        c_out, groups = d["c_out"], d["groups"]
        g = d["c_in"] // groups
        bias, w = records.decode_params(d, payload, c_out * kh * kw * g)
        return cls(
            w.reshape(c_out, kh, kw, g),
            bias,
            d["shift"],
            d.get("act_bits"),
            stride=tuple(d["stride"]),
            padding=tuple(d["padding"]),
            groups=groups,
        )

    # -- the C core -----------------------------------------------------------
    def c_fill(self, c: Any, in_shape: Shape, keep: list) -> None:
        from conntra.engine import LAYER_KINDS, fill_params

        out = self.out_shape(in_shape)
        c.kind = LAYER_KINDS[self.kind]
        c.n_in, c.n_out = elements(in_shape), elements(out)
        c.in_h, c.in_w, c.in_c = in_shape
        c.out_c = self.c_out
        c.kh, c.kw = self.kernel
        c.stride_h, c.stride_w = self.stride
        c.pad_top, c.pad_bottom, c.pad_left, c.pad_right = self.padding
        c.groups = self.groups
        fill_params(c, self, keep)

    # -- firmware -------------------------------------------------------------
    def firmware(self, in_shape: Shape) -> dict[str, Any]:
        """What the firmware generator needs of this layer (conntra/codegen/kinds.py,
        docs/firmware.md): geometry, biases, the weights in layout F2 (groups 1: one
        row of KH * KW * G weights per filter) or D2 (depthwise), and the scratch its
        kernel uses: groups 1, the paired im2col row (4 words per group of 4 inputs)
        and four int32 words per filter (packed sums, two pixels' sums, bias plus
        rounding); depthwise, the channel's decoded
        weights and its lists of taps (2 * KH * KW + 2 * (KH + 1) words)."""
        from conntra.codegen import layout

        out = self.out_shape(in_shape)
        kh, kw = self.kernel
        k = kh * kw * (self.c_in // self.groups)
        if self.depthwise:
            codes = layout.encode_depthwise(self.weights)
            scratch = {"col": 2 * kh * kw + 2 * (kh + 1)}
        else:
            codes = layout.encode(self.weights.reshape(self.c_out, k))
            scratch = {"acc": 4 * self.c_out, "col": 4 * layout.n_groups(k), "pair_tables": 1}
        return {
            "kind": self.kind,
            "in_shape": tuple(in_shape),
            "out_shape": out,
            "kernel": (kh, kw),
            "stride": tuple(self.stride),
            "padding": tuple(self.padding),
            "depthwise": self.depthwise,
            "k": k,
            "n_groups": layout.n_groups(k),
            "shift": self.shift,
            "act_bits": self.act_bits,
            "finish": (self.act_bits, self.shift),
            "codes": codes,
            "bias": np.asarray(self.bias, np.int32),
            "scratch": scratch,
        }


def check_geometry(d: dict, in_shape: Shape, last: bool, where: str) -> tuple[Shape, tuple]:
    """The geometry keys of a conv2d record (ternary or float; docs/format.md
    3.7, step 12): (the output shape, (C_out, KH, KW, G))."""
    h, w, c = in_shape
    c_in = fc.integer(d, "c_in", 1, MAX_WIDTH, where)
    c_out = fc.integer(d, "c_out", 1, MAX_WIDTH, where)
    groups = fc.integer(d, "groups", 1, MAX_WIDTH, where)
    kh, kw = fc.integers(d, "kernel", 2, 1, MAX_WIDTH, where)
    sh, sw = fc.integers(d, "stride", 2, 1, MAX_WIDTH, where)
    top, bottom, left, right = fc.integers(d, "padding", 4, 0, MAX_WIDTH, where)
    if c_in != c:
        raise CorruptModelError(f"{where}.c_in is {c_in} but it reads the tensor {in_shape}")
    if groups != 1 and not (groups == c_in and c_out == c_in):
        raise CorruptModelError(
            f"{where}.groups is {groups}: 1, or c_in with c_out == c_in (depthwise)"
        )
    if max(top, bottom) > kh - 1 or max(left, right) > kw - 1:
        raise CorruptModelError(f"{where}.padding exceeds the kernel {kh}x{kw} less one")
    g = c_in // groups
    if kh * kw * g > MAX_WIDTH:
        raise CorruptModelError(f"{where}: KH * KW * G is {kh * kw * g}, at most 2^20")
    ho, wo = out_size(h, top, bottom, kh, sh), out_size(w, left, right, kw, sw)
    if ho < 1 or wo < 1 or ho * wo * c_out > MAX_WIDTH:
        raise CorruptModelError(
            f"{where} gives the tensor {ho}x{wo}x{c_out} from {in_shape}: "
            f"each side >= 1, at most 2^20 elements"
        )
    if last:
        raise CorruptModelError(f"{where} is a conv2d layer; the last layer must be dense")
    return (ho, wo, c_out), (c_out, kh, kw, g)


def conv_geometry(weights_shape: tuple, stride: object, padding: object, groups: object):
    """(stride, padding, groups) of a conv2d (ternary or float) with weights of
    ``weights_shape`` (C_out, KH, KW, G), checked; InputError otherwise."""
    c_out, kh, kw, g = weights_shape
    groups = integer(groups, "groups")
    if groups != 1 and not (g == 1 and groups == c_out and groups > 1):
        raise InputError(
            f"groups must be 1, or C_in for a depthwise layer (weights (C, KH, KW, 1) "
            f"with C = groups); got groups={groups} for weights {tuple(weights_shape)}"
        )
    stride = ints(stride, 2, "stride", 1)
    pad = _padding(padding, kh, kw)
    if max(pad[:2]) > kh - 1 or max(pad[2:]) > kw - 1:
        raise InputError(
            f"padding {pad} must be at most KH - 1 = {kh - 1} above and below "
            f"and KW - 1 = {kw - 1} left and right"
        )
    return stride, pad, groups
