"""The generator's side of convolutional models: weight layouts, each kind's firmware
context and template piece, the activation plan, the header's text, dense headers
unchanged to the byte, and clear errors."""

from __future__ import annotations

import hashlib
import re
import subprocess

import numpy as np
import pytest
from _conv_models import conv_model, mnist_conv_model
from _tools import require_tools

from conntra import (
    Flatten,
    InputQuant,
    MaxPool2D,
    TernaryConv2D,
    TernaryDense,
    TernaryModel,
    __version__,
    codegen,
)
from conntra.codegen import layout, plan
from conntra.codegen.kinds import PIECES
from conntra.codegen.render import model_digest
from conntra.errors import InputError
from conntra.layers import KINDS
from conntra.layers.common import elements

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wconversion", "-pedantic", "-Werror"]


# -- layouts -------------------------------------------------------------------------------


@pytest.mark.parametrize("c, kh, kw", [(1, 1, 1), (2, 3, 3), (3, 2, 5), (8, 3, 3), (5, 1, 3)])
def test_depthwise_layout_round_trip_and_size(c, kh, kw):
    rng = np.random.default_rng(c * 100 + kh * 10 + kw)
    w = rng.integers(-1, 2, size=(c, kh, kw, 1)).astype(np.int8)
    stream = layout.encode_depthwise(w)
    assert stream.shape == (-(-c * kh * kw // 4),)  # 2 bits per weight
    assert np.array_equal(layout.decode_depthwise(stream, c, kh, kw), w)


def test_depthwise_layout_one_hot_positions():
    """Weight (c, ky, kx) sits at index i = (ky * KW + kx) * C + c: byte i / 4, bits
    2 (i mod 4), code w + 1 (zero weights are code 1)."""
    c, kh, kw = 3, 2, 3
    for ch in range(c):
        for ky in range(kh):
            for kx in range(kw):
                w = np.zeros((c, kh, kw, 1), np.int8)
                w[ch, ky, kx, 0] = 1
                i = (ky * kw + kx) * c + ch
                expected = np.zeros(5, np.int64)
                for j in range(c * kh * kw):
                    expected[j // 4] |= (2 if j == i else 1) << (2 * (j % 4))
                assert layout.encode_depthwise(w).tolist() == expected.tolist()


def test_conv_filters_are_f2_rows():
    """A groups-1 filter is the row (ky, kx, g) of K = KH * KW * G weights in layout F2."""
    layer = conv_model().layers[0]
    ctx = layer.firmware((12, 10, 3))
    k = 3 * 3 * 3
    assert ctx["k"] == k and ctx["n_groups"] == layout.n_groups(k) == 7
    rows = layout.decode(ctx["codes"], layer.c_out, k)
    assert np.array_equal(rows, layer.weights.reshape(layer.c_out, k))


# -- each kind: one firmware method, one piece ---------------------------------------------


def test_every_layer_kind_has_a_piece_and_a_firmware_method():
    assert set(PIECES) == set(KINDS)
    for kind, piece in PIECES.items():
        assert piece == f"fw_{kind}.h.j2"
        assert codegen.env.template_dir().joinpath(piece).is_file()
        assert callable(KINDS[kind].firmware)


def test_firmware_contexts():
    m = conv_model()
    shapes = m.shapes()
    ctxs = [layer.firmware(shapes[i]) for i, layer in enumerate(m.layers)]
    assert [c["kind"] for c in ctxs] == [layer.kind for layer in m.layers]
    for c, a, b in zip(ctxs, shapes, shapes[1:], strict=False):
        assert c["in_shape"] == a and c["out_shape"] == b
    conv, pool, dw, conv2, flat, dense = ctxs
    assert conv["padding"] == (1, 1, 1, 1) and not conv["depthwise"]
    assert pool["window"] == (2, 2) and pool["stride"] == (2, 2)
    assert dw["depthwise"] and len(dw["codes"]) == (8 * 9 + 3) // 4
    assert conv2["stride"] == (2, 1) and conv2["padding"] == (0, 1, 1, 0)
    assert conv2["act_bits"] == 4 and conv2["finish"] == (4, 3)
    assert flat["in_place"]
    assert dense["n_in"] == elements(shapes[-2]) and dense["scratch"]["acc"] == 0


# -- the activation plan --------------------------------------------------------------------


def _arena_need(model) -> int:
    """The largest (input + output) of a layer that reads from the arena, or first output,
    each rounded up to 4 bytes (docs/firmware.md, RAM)."""
    shapes, need, inside = model.shapes(), 0, False
    for i, layer in enumerate(model.layers[:-1]):
        if layer.kind == "flatten":
            continue
        out = -(-elements(shapes[i + 1]) // 4) * 4
        need = max(need, out + (-(-elements(shapes[i]) // 4) * 4 if inside else 0))
        inside = True
    return need


@pytest.mark.parametrize("model", [conv_model(), mnist_conv_model()], ids=["conv", "mnist"])
def test_plan_is_two_ends_of_one_arena(model):
    p = plan.plan(model)
    assert p.arena == _arena_need(model)
    written = [L for L in p.layers if not L.get("in_place") and not L["last"]]
    for i, L in enumerate(written):  # bottom, top, bottom, ...: word-aligned, inside
        size = -(-elements(L["out_shape"]) // 4) * 4
        offset = 0 if L["dst"] == "s->act" else int(L["dst"].split("+")[1])
        assert offset == (0 if i % 2 == 0 else p.arena - size)
        assert offset % 4 == 0 and offset + size <= p.arena
    # each layer reads where the one before wrote; flatten hands its input on
    for a, b in zip(p.layers, p.layers[1:], strict=False):
        assert b["src"] == a["dst"]
    assert p.layers[0]["src"] == "x" and p.layers[0]["src_sh"] == "sh"
    assert all(L["src_sh"] == "0u" for L in p.layers[1:])
    assert p.layers[-1]["dst"] == "logits"


def test_mnist_conv_plan_in_numbers():
    p = plan.plan(mnist_conv_model())
    d = p.describe()
    # 28x28x8 conv output next to the 14x14x8 pool output is the largest pair
    assert (
        d["activation_bytes"] == 6272 + 1568
        and "layer 1: input 6272 + output 1568" in (d["activation_plan"])
    )
    assert d["accumulator_bytes"] == 4 * 4 * 16  # packed, two pixels, bias: 4 words a filter
    assert d["table_bytes"] == 4 * 81 * 4
    assert d["im2col_bytes"] == 4 * 4 * layout.n_groups(3 * 3 * 8)  # paired im2col row
    assert d["scratch_bytes"] == 7840 + 256 + 1296 + 288 == p.scratch_bytes


def test_scratch_size_is_the_structs_size(tmp_path):
    """The header static-asserts sizeof(scratch) == <P>_SCRATCH_BYTES: compiling proves
    the plan's arithmetic for models with every kind."""
    require_tools("gcc")
    for i, model in enumerate([conv_model(), mnist_conv_model(), _affine_conv_model()]):
        (tmp_path / "net.h").write_text(codegen.render_header(model, "net"))
        (tmp_path / "a.c").write_text('#define NET_IMPLEMENTATION\n#include "net.h"\n')
        r = subprocess.run(
            ["gcc", *STRICT, "-c", "a.c", "-o", f"a{i}.o"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr


def _affine_conv_model() -> TernaryModel:
    rng = np.random.default_rng(4)
    q = InputQuant.fit_affine(rng.normal(size=(40, 4 * 4 * 2)))
    q = InputQuant(n_features=32, kind="affine", offset=q.offset, scale=q.scale, shape=(4, 4, 2))
    layers = [
        TernaryConv2D(rng.integers(-1, 2, (3, 2, 2, 2)).astype(np.int8), np.zeros(3, np.int32), 2),
        Flatten(),
        TernaryDense(rng.integers(-1, 2, (2, 27)).astype(np.int8), np.zeros(2, np.int32), -1),
    ]
    return TernaryModel(layers, q)


# -- the header's text ---------------------------------------------------------------------


def test_conv_header_text():
    m = conv_model()
    text = codegen.render_header(m, "net")
    assert "Model: 12x10x3 -> conv2d 12x10x8 -> maxpool2d 6x5x8" in text
    assert "#define NET_INPUT_H 12\n#define NET_INPUT_W 10\n#define NET_INPUT_C 3\n" in text
    assert "uint8_t act[" in text and "uint32_t w[4 * 81];" in text
    for name in ("net_conv(", "net_dw7s2(", "net_dwl7(", "net_maxpool(", "net_cfinish7s3("):
        assert name in text
    assert "/* layer 4: flatten 3x4x6 -> 72: nothing moves */" in text
    assert re.findall(r"#include <(\w+\.h)>", text) == ["stdint.h", "arm_acle.h"]
    assert "\t" not in text and " \n" not in text
    assert "float" not in text.replace("no float", "") and "double" not in text
    assert text == codegen.render_header(conv_model(), "net")  # the same bytes every time


def test_digest_names_geometry():
    """Two models that differ only in a stride or padding get different digests."""
    rng = np.random.default_rng(0)
    w = rng.integers(-1, 2, (2, 3, 3, 1)).astype(np.int8)

    def model(**geometry):
        conv = TernaryConv2D(w, np.zeros(2, np.int32), 2, **geometry)
        out = conv.out_shape((6, 6, 1))
        dense = TernaryDense(np.ones((2, elements(out)), np.int8), np.zeros(2, np.int32), -1)
        return TernaryModel([conv, Flatten(), dense], InputQuant.pixels(36, shape=(6, 6, 1)))

    digests = {model_digest(model(**g)) for g in ({}, {"stride": 2}, {"padding": 1})}
    assert len(digests) == 3


# -- dense headers stay what they were ------------------------------------------------------


def _pattern(n_out: int, n_in: int, k: int) -> np.ndarray:
    return ((np.arange(n_out * n_in).reshape(n_out, n_in) * k + n_in) % 3 - 1).astype(np.int8)


def test_dense_headers_keep_their_bytes(monkeypatch):
    """sha256 of two dense headers (integer-only models built from a formula) as the
    generator wrote them before layer kinds, with the version in the banner normalized.
    Format 2 changed their format number (checked when it came: the format 1 text gave
    the earlier digests) and, by default, the pixel model's layers 1 and 2, which read
    4- and 2-bit activations with 9 and 5 rows: popcount kernels (the last digest); with
    F2 everywhere its bytes are otherwise those of before.
    A change here changes every deployed dense header: bump FIRMWARE_FORMAT instead."""
    pixels = TernaryModel(
        [
            TernaryDense(_pattern(21, 37, 7), np.arange(21, dtype=np.int32) * 13 - 100, 3, 4),
            TernaryDense(_pattern(9, 21, 5), np.arange(9, dtype=np.int32) - 4, 0, 2),
            TernaryDense(_pattern(5, 9, 11), np.arange(5, dtype=np.int32) * 1000, -1),
        ],
        InputQuant.pixels(37),
    )
    affine = TernaryModel(
        [TernaryDense(_pattern(10, 64, 13), np.zeros(10, np.int32), -1)],
        InputQuant(
            n_features=64,
            kind="affine",
            offset=tuple(np.arange(64) * 0.5),
            scale=tuple(np.full(64, 2.0)),
        ),
    )
    expected = {
        "pixels": "6d433d5380423146128bfc1dae3c2ff5b9364484724ccd721ccdfd2a990b62b8",
        "affine": "edbd1368b5914ebb05c36248b2e303db2864088b76eaa1af7073fdf1a5b39a03",
    }

    def digest(model):
        text = codegen.render_header(model, "net").replace(
            f"conntra {__version__}", "conntra VERSION"
        )
        return hashlib.sha256(text.encode()).hexdigest()

    assert digest(pixels) == "7304d9067333d2ead4862c20c5ee838c1e21cda8cc304fdddc8ce4a8964824ed"
    monkeypatch.setattr(plan, "POPCOUNT_MAX_ROWS", {})  # F2 for every layer
    for name, model in (("pixels", pixels), ("affine", affine)):
        assert digest(model) == expected[name], name


# -- errors --------------------------------------------------------------------------------


def test_a_kind_without_a_piece_is_refused(monkeypatch):
    from conntra.codegen import render

    monkeypatch.setattr(render, "PIECES", {"dense": "fw_dense.h.j2"})
    with pytest.raises(InputError, match="no kernels for the layer kind.s. conv2d, flatten"):
        codegen.render_header(conv_model(), "net")


def test_bad_prefix_on_a_conv_model():
    from conntra.errors import IdentifierError

    with pytest.raises(IdentifierError, match="is a C keyword"):
        codegen.render_header(conv_model(), "switch")


def test_a_maxpool_model_without_parameters_before_dense():
    """[maxpool, flatten, dense]: the pool reads the caller's pixels with their shift."""
    m = TernaryModel(
        [
            MaxPool2D(3, 2),
            Flatten(),
            TernaryDense(np.ones((2, 8), np.int8), np.zeros(2, np.int32), -1),
        ],
        InputQuant.pixels(5 * 5 * 2, shape=(5, 5, 2)),
    )
    text = codegen.render_header(m, "net")
    assert "net_maxpool(x, sh, &net_g0, s->act);" in text
    assert "net_dense(s->act, 8u, 0u," in text
