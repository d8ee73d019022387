"""The C core against the numpy reference of the integer contract: bit-exact."""

import numpy as np
import pytest
from conntra._native import lib

from conntra import InputQuant, TernaryDense, TernaryModel, engine, reference
from conntra.errors import DTypeError, InputError, NativeInputError, ShapeError

SEED = 20261128


def model_with(layers_spec, n_in, rng):
    layers = []
    for n_out, shift in layers_spec:
        w = rng.integers(-1, 2, size=(n_out, n_in), dtype=np.int8)
        b = rng.integers(-3000, 3000, size=n_out, dtype=np.int32)
        layers.append(TernaryDense(w, b, shift))
        n_in = n_out
    return TernaryModel(layers, InputQuant.pixels(layers[0].n_in))


@pytest.mark.parametrize("n_in", [1, 2, 3, 7, 31, 33, 127, 128, 129, 300])
@pytest.mark.parametrize("batch", [1, 3, 17])
def test_random_networks_match_reference(n_in, batch):
    rng = np.random.default_rng(SEED + 7 * n_in + batch)
    model = model_with([(9, 3), (5, 0), (4, -1)], n_in, rng)
    xq = rng.integers(0, 128, size=(batch, n_in), dtype=np.int8)
    c = model.logits_quantized(xq)
    ref = model.logits_quantized(xq, backend="numpy")
    assert c.dtype == np.int32
    np.testing.assert_array_equal(c, ref)


def test_batches_across_the_chunk_boundary():
    rng = np.random.default_rng(SEED)
    model = model_with([(16, 4), (3, -1)], 50, rng)
    xq = rng.integers(0, 128, size=(engine.CHUNK * 2 + 5, 50), dtype=np.int8)
    np.testing.assert_array_equal(
        model.logits_quantized(xq), model.logits_quantized(xq, backend="numpy")
    )


@pytest.mark.parametrize("k", [1 << 16, 1 << 20])
def test_overflow_boundary_all_plus_one_weights(k):
    """The largest sums the contract allows: every weight +1, every
    activation 127, biases at +-2^27."""
    bias = np.array([1 << 27, -(1 << 27), 0], np.int32)
    w = np.ones((3, k), np.int8)
    w[1] = -1
    out = TernaryModel([TernaryDense(w, bias, -1)], InputQuant.pixels(k))
    xq = np.full((2, k), 127, np.int8)
    logits = out.logits_quantized(xq)
    expect = np.array([(1 << 27) + 127 * k, -(1 << 27) - 127 * k, 127 * k])
    np.testing.assert_array_equal(logits, np.stack([expect, expect]))
    hidden = TernaryModel(
        [
            TernaryDense(w, bias, 24),
            TernaryDense(np.ones((1, 3), np.int8), np.zeros(1, np.int32), -1),
        ],
        InputQuant.pixels(k),
    )
    np.testing.assert_array_equal(
        hidden.logits_quantized(xq), hidden.logits_quantized(xq, backend="numpy")
    )


@pytest.mark.parametrize("shift", [0, 1, 2, 5, 24])
def test_requantization_rounding_boundaries(shift):
    """acc values on both sides of every rounding boundary and of the clamp."""
    r = (1 << (shift - 1)) if shift else 0
    accs = []
    for q in (0, 1, 2, 126, 127, 128):
        edge = q * (1 << shift) - r
        accs += [edge - 1, edge, edge + 1]
    accs += [-(1 << 27) + 1, -1, 0, 1, (1 << 27)]
    accs = np.array(accs, np.int64)
    accs = accs[np.abs(accs - 1) <= (1 << 27)]  # biases the contract allows
    # one input of 1 through weight +1 plus the bias gives acc exactly
    bias = (accs - 1).astype(np.int32)
    hidden = TernaryDense(np.ones((accs.size, 1), np.int8), bias, shift)
    out = TernaryDense(np.eye(accs.size, dtype=np.int8), np.zeros(accs.size, np.int32), -1)
    model = TernaryModel([hidden, out], InputQuant.pixels(1))
    got = model.logits_quantized(np.ones((1, 1), np.int8))[0]
    want = np.clip(np.floor((accs + r) / (1 << shift)), 0, 127).astype(np.int64)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(reference.requantize(accs, shift), want)


def test_argmax_ties_take_the_lowest_index():
    logits = np.array([[3, 7, 7, 1], [5, 5, 5, 5], [-1, -2, -1, -3], [0, 0, 0, 9]], np.int32)
    np.testing.assert_array_equal(reference.argmax(logits), [1, 0, 0, 3])


def test_mnist_test_set_through_784_256_128_10(mnist):
    """The acceptance check of the core: all 10,000 MNIST test images through a
    random 784-256-128-10 ternary network, C logits == numpy logits."""
    model = TernaryModel.random(
        [784, 256, 128, 10], InputQuant.pixels(784), seed=1, bias_range=64, shifts=(4, 3)
    )
    xq = model.quantize(mnist.x_test)
    assert xq.shape == (10000, 784)
    # the data must exercise both ends of the clamp, or the test proves less
    act = reference.requantize(
        reference.dense_acc(xq, model.layers[0].weights, model.layers[0].bias), 4
    )
    assert (act == 0).any() and (act == 127).any()
    c = model.logits(mnist.x_test)
    ref = model.logits(mnist.x_test, backend="numpy")
    np.testing.assert_array_equal(c, ref)
    np.testing.assert_array_equal(model.predict(mnist.x_test), reference.argmax(ref))


def test_bad_inputs_get_clear_errors():
    model = TernaryModel.random([4, 3, 2], InputQuant.pixels(4), seed=0)
    with pytest.raises(DTypeError, match="must be int8, got int16"):
        model.logits_quantized(np.zeros((1, 4), np.int16))
    with pytest.raises(ShapeError, match=r"shape \(n, 4\), got \(2, 5\)"):
        model.logits_quantized(np.zeros((2, 5), np.int8))
    with pytest.raises(InputError, match="0..127"):
        model.logits_quantized(np.full((1, 4), -3, np.int8))
    with pytest.raises(InputError, match="0..255"):
        model.logits(np.full((1, 4), 256))
    with pytest.raises(InputError, match="NaN"):
        TernaryModel.random([2, 2], InputQuant.fit_affine(np.eye(2)), seed=0).logits(
            np.array([[np.nan, 1.0]])
        )
    with pytest.raises(InputError, match="unknown backend"):
        model.logits(np.zeros((1, 4)), backend="gpu")


def test_native_status_codes_become_native_errors():
    net = engine.NativeNet([(np.zeros(32, np.uint8), 4, 1, np.zeros(1, np.int32), -1, None)])
    with pytest.raises(InputError, match="must be int8"):
        net.logits(np.zeros((1, 4), np.uint8))
    with pytest.raises(NativeInputError, match="do not fit together") as info:
        engine.NativeNet([(np.zeros(32, np.uint8), 4, 1, np.zeros(1, np.int32), 2, 7)])
    assert info.value.status == lib.CT_E_CHAIN
    with pytest.raises(NativeInputError, match="outside its allowed range"):
        engine.NativeNet([(np.zeros(32, np.uint8), 4, 1, np.array([1 << 28], np.int32), -1, None)])


def test_layer_validation():
    with pytest.raises(InputError, match="must be in"):
        TernaryDense(np.full((1, 2), 2, np.int8), np.zeros(1, np.int32), -1)
    with pytest.raises(InputError, match="shift must be"):
        TernaryDense(np.zeros((1, 2), np.int8), np.zeros(1, np.int32), 25)
    with pytest.raises(InputError, match=r"\|bias\| must be"):
        TernaryDense(np.zeros((1, 2), np.int8), np.array([1 << 28]), -1)
    with pytest.raises(ShapeError, match="bias must have shape"):
        TernaryDense(np.zeros((2, 2), np.int8), np.zeros(3, np.int32), -1)
    a = TernaryDense(np.zeros((3, 2), np.int8), np.zeros(3, np.int32), 1)
    b = TernaryDense(np.zeros((1, 4), np.int8), np.zeros(1, np.int32), -1)
    with pytest.raises(ShapeError, match="do not chain"):
        TernaryModel([a, b], InputQuant.pixels(2))
    with pytest.raises(InputError, match="only the last layer"):
        TernaryModel([b], InputQuant.pixels(4)) and TernaryModel([a], InputQuant.pixels(2))


def test_kernel_registry_lists_a_reference_for_every_family():
    rows = engine.kernels()
    families = {r["family"] for r in rows}
    for family in families:
        assert any(r["isa"] == "ref" for r in rows if r["family"] == family)
        assert sum(r["active"] for r in rows if r["family"] == family) == 1


def test_contract_constants_equal_the_c_enums():
    from conntra._native import lib

    from conntra import contract

    assert contract.ACT_MAX == lib.CT_ACT_MAX
    assert contract.MAX_WIDTH == lib.CT_MAX_INPUTS == lib.CT_MAX_OUTPUTS
    assert contract.MAX_BIAS == lib.CT_MAX_BIAS
    assert contract.MAX_SHIFT == lib.CT_MAX_SHIFT
    assert contract.MAX_LAYERS == lib.CT_MAX_LAYERS
    assert contract.SHIFT_OUTPUT == lib.CT_SHIFT_OUTPUT
    # the smallest pixel shift is the smallest that maps 255 into the activation range
    assert 255 >> contract.PIXEL_SHIFT_MIN == contract.ACT_MAX
    assert 255 >> (contract.PIXEL_SHIFT_MIN - 1) > contract.ACT_MAX


def test_65_layers_are_refused_by_every_backend():
    layer = TernaryDense(np.ones((2, 2), np.int8), np.zeros(2, np.int32), 1)
    out = TernaryDense(np.ones((2, 2), np.int8), np.zeros(2, np.int32), -1)
    with pytest.raises(ShapeError, match="a model has at most 64 layers, got 65"):
        TernaryModel([layer] * 64 + [out], InputQuant.pixels(2))
    model = TernaryModel([layer] * 63 + [out], InputQuant.pixels(2))
    x = np.array([[7, 9]], np.int8)
    assert model.logits_quantized(x).tolist() == model.logits_quantized(x, "numpy").tolist()


def test_inputs_are_checked_once_at_the_edge(monkeypatch):
    """The model checks x; the engine's trusted path and the reference do not check again."""
    model = TernaryModel.random([4, 3], InputQuant.pixels(4), seed=1)
    calls = []
    engine = model._engine()
    monkeypatch.setattr(type(engine), "logits", lambda *a: calls.append("checked") or 0)
    model.logits(np.zeros((2, 4), np.uint8))
    model.logits_quantized(np.zeros((2, 4), np.int8))
    assert calls == []
