"""Layer kinds (conntra.layers): the numpy reference of conv2d, maxpool2d and
flatten against loop-by-loop oracles of docs/format.md 1.2, the C core
against both (==), real MNIST images, and the checks of every constructor
and of chaining."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _conv_models import conv_model, mnist_conv_model, oracle_conv, oracle_logits, oracle_pool

from conntra import (
    Flatten,
    InputQuant,
    MaxPool2D,
    TernaryConv2D,
    TernaryDense,
    TernaryModel,
    reference,
)
from conntra.errors import DTypeError, InputError, ShapeError
from conntra.layers import KINDS

GEOMETRIES = [
    # (H, W, C_in, C_out, KH, KW, stride, padding, groups)
    (5, 5, 1, 3, 1, 1, (1, 1), (0, 0, 0, 0), 1),
    (7, 6, 3, 5, 3, 3, (1, 1), (1, 1, 1, 1), 1),
    (7, 6, 3, 5, 3, 3, (2, 2), (0, 0, 0, 0), 1),
    (9, 8, 5, 7, 5, 5, (2, 1), (2, 2, 2, 2), 1),
    (6, 7, 3, 4, 3, 2, (1, 2), (0, 2, 1, 0), 1),  # asymmetric padding, non-square kernel
    (3, 3, 2, 3, 3, 3, (1, 1), (0, 0, 0, 0), 1),  # image as small as the kernel
    (5, 5, 1, 1, 5, 5, (1, 1), (4, 4, 4, 4), 1),  # padding up to KH - 1
    (6, 6, 4, 4, 3, 3, (1, 1), (1, 1, 1, 1), 4),  # depthwise
    (7, 5, 3, 3, 5, 3, (2, 2), (2, 1, 0, 2), 3),  # depthwise, odd sizes
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_reference_conv2d_is_the_formula(geometry):
    h, w, c_in, c_out, kh, kw, stride, padding, groups = geometry
    rng = np.random.default_rng(sum(geometry[:6]))
    x = rng.integers(0, 128, (3, h, w, c_in))
    g = c_in // groups
    weights = rng.integers(-1, 2, (c_out, kh, kw, g)).astype(np.int8)
    bias = rng.integers(-1000, 1001, c_out).astype(np.int32)
    got = reference.conv2d_acc(x, weights, bias, stride, padding, groups)
    for b in range(3):
        want = oracle_conv(x[b], weights, bias, stride, padding, groups)
        assert np.array_equal(got[b], want)
    layer = TernaryConv2D(weights, bias, 0, stride=stride, padding=padding, groups=groups)
    assert got.shape[1:] == layer.out_shape((h, w, c_in))


def test_reference_conv2d_at_the_bound():
    """The largest sums the contract allows stay exact: K = 2^20 inputs per
    output at 127 with every weight +1, and |bias| = 2^27."""
    kh, kw, c = 32, 32, 1024  # K = 2^20
    x = np.full((1, kh, kw, c), 127, np.int64)
    weights = np.ones((1, kh, kw, c), np.int8)
    for bias in (1 << 27, -(1 << 27)):
        acc = reference.conv2d_acc(x, weights, np.array([bias]), (1, 1), (0, 0, 0, 0), 1)
        assert acc.reshape(-1).tolist() == [127 * (1 << 20) + bias]


@pytest.mark.parametrize(
    "shape, window, stride",
    [((6, 6, 3), (2, 2), (2, 2)), ((7, 5, 2), (3, 2), (2, 1)), ((2, 2, 1), (2, 2), (1, 1))],
)
def test_reference_maxpool_is_the_formula(shape, window, stride):
    x = np.random.default_rng(1).integers(0, 128, (2, *shape))
    got = reference.maxpool2d(x, window, stride)
    for b in range(2):
        assert np.array_equal(got[b], oracle_pool(x[b], window, stride))
    assert got.shape[1:] == MaxPool2D(window, stride).out_shape(shape)


def test_flatten_keeps_channels_last_order():
    """Element (y, x, c) of a (2, 3, 4) tensor is element (y * 3 + x) * 4 + c
    of the vector: a dense row that picks one index reads exactly it."""
    h, w, c = 2, 3, 4
    quant = InputQuant.pixels(h * w * c, shape=(h, w, c))
    xq = np.random.default_rng(2).integers(0, 128, (5, h * w * c)).astype(np.int8)
    cube = xq.reshape(5, h, w, c)
    for y, x, ch in [(0, 0, 0), (1, 2, 3), (0, 2, 1), (1, 0, 2)]:
        row = np.zeros((1, h * w * c), np.int8)
        row[0, (y * w + x) * c + ch] = 1
        model = TernaryModel([Flatten(), TernaryDense(row, np.zeros(1, np.int32), -1)], quant)
        for backend in ("numpy", "c"):
            got = model.logits_quantized(xq, backend=backend)[:, 0]
            assert got.tolist() == cube[:, y, x, ch].tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conv_model_c_and_numpy_equal_the_oracle(seed):
    model = conv_model(seed, act_bits=[(7, 7, 4), (2, 4, 7), (1, 7, 2)][seed])
    xq = np.random.default_rng(seed).integers(0, 128, (16, model.sizes[0])).astype(np.int8)
    xq[:4] = 0
    xq[4:6] = 127
    want = oracle_logits(model, xq)
    assert np.array_equal(model.logits_quantized(xq, backend="numpy"), want)
    assert np.array_equal(model.logits_quantized(xq, backend="c"), want)


def test_conv_model_on_real_mnist_images(mnist):
    """C and numpy give the same logits (==) on real digits, and both equal
    the loop oracle on a sample of them."""
    model = mnist_conv_model(0)
    x = mnist.x_test[:2000]
    numpy_logits = model.logits(x, backend="numpy")
    assert np.array_equal(model.logits(x, backend="c"), numpy_logits)
    assert np.array_equal(oracle_logits(model, model.quantize(x[:20])), numpy_logits[:20])
    assert len(np.unique(numpy_logits.argmax(1))) > 1  # the activations are not all saturated


def test_dense_models_are_unchanged_by_kinds():
    """A dense chain reads a vector input and keeps the sizes of before."""
    model = TernaryModel.random([20, 8, 3], InputQuant.pixels(20), seed=3, bias_range=9)
    assert model.is_dense and model.input_shape == (1, 1, 20)
    assert model.sizes == [20, 8, 3] and model.shapes() == [(1, 1, 20), (1, 1, 8), (1, 1, 3)]


def test_kinds_are_listed_once():
    assert list(KINDS) == ["dense", "conv2d", "maxpool2d", "flatten"]
    assert all(KINDS[name].kind == name for name in KINDS)


def w(*shape):
    return np.zeros(shape, np.int8)


def zb(n):
    return np.zeros(n, np.int32)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: TernaryConv2D(w(4, 3, 3), zb(4), 2), ShapeError, "C_out, KH, KW"),
        (lambda: TernaryConv2D(w(4, 3, 3, 2), zb(3), 2), ShapeError, "bias must have shape"),
        (lambda: TernaryConv2D(w(4, 3, 3, 2) + 2, zb(4), 2), InputError, "ternary"),
        (lambda: TernaryConv2D(w(4, 3, 3, 2), zb(4), -1), InputError, "shift must be 0..24"),
        (lambda: TernaryConv2D(w(4, 3, 3, 2), zb(4), 2, 3), InputError, "act_bits"),
        (lambda: TernaryConv2D(w(4, 3, 3, 2), zb(4), 2, stride=0), InputError, "stride"),
        (lambda: TernaryConv2D(w(4, 3, 3, 2), zb(4), 2, padding=3), InputError, "KH - 1"),
        (lambda: TernaryConv2D(w(4, 3, 3, 2), zb(4), 2, padding=-1), InputError, "padding"),
        (lambda: TernaryConv2D(w(4, 3, 3, 2), zb(4), 2, padding="valid"), InputError, "same"),
        (lambda: TernaryConv2D(w(4, 3, 3, 2), zb(4), 2, groups=2), InputError, "groups"),
        (lambda: TernaryConv2D(w(4, 3, 3, 1), zb(4), 2, groups=3), InputError, "groups"),
        (lambda: TernaryConv2D(w(4, 3, 3, 1), zb(4), 2, groups=True), DTypeError, "groups"),
        (lambda: TernaryConv2D(w(4, 3, 3, 1), zb(4), 2.0), DTypeError, "shift"),
        (lambda: MaxPool2D(0), InputError, "window"),
        (lambda: MaxPool2D((2, 2, 2)), InputError, "window"),
        (lambda: MaxPool2D(2, stride=(1, 0)), InputError, "stride"),
        (lambda: InputQuant.pixels(12, shape=(2, 3, 3)), ShapeError, "12 elements"),
        (lambda: InputQuant.pixels(12, shape=(2, 6)), ShapeError, "height, width, channels"),
    ],
)
def test_constructors_check_everything(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_padding_forms():
    layer = TernaryConv2D(w(2, 3, 4, 1), zb(2), 1, padding="same")
    assert layer.padding == (1, 1, 1, 2)
    assert layer.out_shape((5, 6, 1)) == (5, 6, 2)
    assert TernaryConv2D(w(2, 3, 3, 1), zb(2), 1, padding=(1, 2)).padding == (1, 1, 2, 2)


def test_chaining_errors_name_the_layer():
    quant = InputQuant.pixels(6 * 6 * 2, shape=(6, 6, 2))
    conv = TernaryConv2D(w(3, 3, 3, 2), zb(3), 2)
    dense = TernaryDense(w(4, 48), zb(4), -1)
    with pytest.raises(ShapeError, match=r"layer 1 .* \(a flatten goes before it\)"):
        TernaryModel([conv, TernaryDense(w(4, 3), zb(4), -1)], quant)
    with pytest.raises(ShapeError, match="layer 0 .* 3 input channels"):
        TernaryModel([TernaryConv2D(w(3, 3, 3, 3), zb(3), 2), Flatten(), dense], quant)
    with pytest.raises(InputError, match="last layer must be a dense output layer"):
        TernaryModel([conv, Flatten()], quant)
    with pytest.raises(ShapeError, match="does not fit"):
        TernaryModel([MaxPool2D(7), Flatten(), TernaryDense(w(2, 2), zb(2), -1)], quant)
    big = TernaryConv2D(w(2, 5, 5, 2), zb(2), 2, stride=2)
    with pytest.raises(ShapeError, match="layer 1 .* each side must be >= 1"):
        TernaryModel([big, big, Flatten(), TernaryDense(w(2, 2), zb(2), -1)], quant)
    model = TernaryModel([conv, Flatten(), dense], quant)
    assert model.sizes == [72, 48, 48, 4] and not model.is_dense
    assert model.n_params == 3 * 3 * 3 * 2 + 3 + 48 * 4 + 4


def test_every_kind_runs_in_every_position_of_a_chain():
    """Pools and convs in a row, pooling the raw input, a dense layer on a
    1x1 tensor without flatten."""
    quant = InputQuant.pixels(8 * 8 * 2, shape=(8, 8, 2))
    rng = np.random.default_rng(4)
    layers = [
        MaxPool2D(2, stride=1),
        TernaryConv2D(rng.integers(-1, 2, (4, 3, 3, 2)), zb(4), 3, 2),
        MaxPool2D(5),
        TernaryConv2D(rng.integers(-1, 2, (4, 1, 1, 1)), np.full(4, 3), 0, 1, groups=4),
        TernaryDense(rng.integers(-1, 2, (3, 4)), zb(3), -1),
    ]
    model = TernaryModel(layers, quant)
    assert model.shapes()[-2] == (1, 1, 4)
    xq = rng.integers(0, 128, (6, 128)).astype(np.int8)
    want = oracle_logits(model, xq)
    for backend in ("numpy", "c"):
        assert np.array_equal(model.logits_quantized(xq, backend=backend), want)


@pytest.mark.parametrize("kh, c", list(itertools.product([1, 3], [1, 3])))
def test_first_layer_conv_reads_pixels_channels_last(kh, c):
    quant = InputQuant.pixels(5 * 4 * c, shape=(5, 4, c))
    rng = np.random.default_rng(kh * 10 + c)
    conv = TernaryConv2D(rng.integers(-1, 2, (2, kh, kh, c)), rng.integers(-9, 9, 2), 1)
    shape = conv.out_shape((5, 4, c))
    model = TernaryModel(
        [
            conv,
            Flatten(),
            TernaryDense(rng.integers(-1, 2, (3, int(np.prod(shape)))), zb(3), -1),
        ],
        quant,
    )
    pixels = rng.integers(0, 256, (7, 5 * 4 * c)).astype(np.uint8)
    want = oracle_logits(model, model.quantize(pixels))
    assert np.array_equal(model.logits(pixels), want)
    assert np.array_equal(model.logits(pixels, backend="numpy"), want)


def test_parts_that_take_dense_chains_only_say_so():
    """The trainers take chains of dense layers; each refuses a
    convolutional model with an error that names what it has."""
    from conntra.train import finetune

    model = conv_model(0)
    with pytest.raises(InputError, match="conv2d, flatten, maxpool2d layers .* dense layers"):
        finetune.load_init_model(model)


def test_images_in_their_shape_quantize_like_their_rows():
    quant = InputQuant.pixels(4 * 3 * 2, shape=(4, 3, 2))
    images = np.random.default_rng(5).integers(0, 256, (3, 4, 3, 2)).astype(np.uint8)
    assert np.array_equal(quant.quantize(images), quant.quantize(images.reshape(3, -1)))
    with pytest.raises(ShapeError, match="inputs must have shape"):
        quant.quantize(images.transpose(0, 2, 1, 3))


def test_architecture_strings():
    from conntra import arch

    layers = arch.random_layers("c32k3,p2,c64k3s2va4,dw3,p2s1,d20a2,d10", (32, 32, 3), seed=1)
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds == [
        "TernaryConv2D",
        "MaxPool2D",
        "TernaryConv2D",
        "TernaryConv2D",
        "MaxPool2D",
        "Flatten",
        "TernaryDense",
        "TernaryDense",
    ]
    model = TernaryModel(layers, InputQuant.pixels(3072, shape=(32, 32, 3)))
    assert model.shapes()[1:6] == [(32, 32, 32), (16, 16, 32), (7, 7, 64), (7, 7, 64), (6, 6, 64)]
    assert layers[2].act_bits == 4 and layers[2].padding == (0, 0, 0, 0)
    assert layers[3].groups == 64 and layers[6].act_bits == 2 and layers[7].shift == -1
    for bad, match in [
        ("c32k3,x9,d10", "'x9' is not a layer"),
        ("c32k3", "last layer .* must be dense"),
        ("d10a2", "output layer has no activation bits"),
        ("c8k3a3,d10", "activation bits must be"),
        ("p2v,d10", "a pool takes only a stride"),
        ("c0k3,d10", "sizes must be positive"),
        ("", "comma-separated"),
    ]:
        with pytest.raises(InputError, match=match):
            arch.random_layers(bad, (8, 8, 1))
