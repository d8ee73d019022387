"""The float layers of the baselines on architectures (conntra/floatconv.py):
each backward pass against numerical gradients, PyTorch's forward on the same
weights, float conv models in model files, and QAT's conversion onto the
integer contract."""

from __future__ import annotations

import numpy as np
import pytest

from conntra import arch, floatconv, load
from conntra.errors import InputError
from conntra.quant import InputQuant
from conntra.train import api, floatnet, torch_backprop

RNG = np.random.default_rng(0)


def numeric_grad(f, arr, eps=1e-6, limit=40):
    """Central differences of the scalar f() at the first ``limit`` entries of arr."""
    out = {}
    for idx in list(np.ndindex(arr.shape))[:limit]:
        old = arr[idx]
        arr[idx] = old + eps
        hi = f()
        arr[idx] = old - eps
        lo = f()
        arr[idx] = old
        out[idx] = (hi - lo) / (2 * eps)
    return out


def check(f, analytic, arr):
    for idx, num in numeric_grad(f, arr).items():
        assert analytic[idx] == pytest.approx(num, rel=1e-5, abs=1e-7), idx


@pytest.mark.parametrize(
    "shape,w_shape,stride,padding,groups",
    [
        ((2, 6, 5, 3), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), 1),  # "same"
        ((2, 7, 6, 2), (3, 2, 2, 2), (2, 1), (0, 1, 0, 1), 1),  # even kernel, stride 2x1
        ((2, 7, 7, 2), (5, 3, 2, 2), (2, 2), (0, 0, 0, 0), 1),  # valid
        ((2, 6, 6, 3), (3, 3, 3, 1), (1, 1), (1, 1, 1, 1), 3),  # depthwise
        ((2, 7, 5, 2), (2, 3, 3, 1), (2, 2), (1, 1, 1, 1), 2),  # depthwise, stride 2
    ],
)
def test_conv2d_backward_matches_numerical_gradients(shape, w_shape, stride, padding, groups):
    x = RNG.normal(size=shape)
    w = RNG.normal(size=w_shape)
    b = RNG.normal(size=w_shape[0])
    y, _ = floatconv.conv2d_forward(x, w, b, stride, padding, groups)
    r = RNG.normal(size=y.shape)  # loss = sum(y * r): its output gradient is r

    def loss():
        return float((floatconv.conv2d_forward(x, w, b, stride, padding, groups)[0] * r).sum())

    _, cache = floatconv.conv2d_forward(x, w, b, stride, padding, groups)
    dx, dw, db = floatconv.conv2d_backward(r, cache, w, stride, padding, groups)
    check(loss, dx, x)
    check(loss, dw, w)
    check(loss, db, b)


def test_conv2d_forward_is_the_integer_reference():
    """On integer data the float conv computes what docs/format.md 1.2 says."""
    from conntra.reference import conv2d_acc

    x = RNG.integers(0, 128, (3, 9, 8, 4))
    for w_shape, groups, stride, padding in (
        ((5, 3, 3, 4), 1, (2, 1), (1, 1, 0, 2)),
        ((4, 3, 3, 1), 4, (1, 2), (1, 2, 1, 1)),
    ):
        w = RNG.integers(-1, 2, w_shape)
        b = RNG.integers(-50, 50, w_shape[0])
        y, _ = floatconv.conv2d_forward(
            x.astype(np.float64), w.astype(np.float64), b, stride, padding, groups
        )
        assert np.array_equal(y, conv2d_acc(x, w, b, stride, padding, groups))


@pytest.mark.parametrize("window,stride", [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2))])
def test_maxpool2d_backward_matches_numerical_gradients(window, stride):
    x = RNG.normal(size=(2, 7, 8, 3))  # distinct values: the max is differentiable
    y, cache = floatconv.maxpool2d_forward(x, window, stride)
    from conntra.reference import maxpool2d

    assert np.array_equal(y, maxpool2d(x, window, stride))
    r = RNG.normal(size=y.shape)
    dx = floatconv.maxpool2d_backward(r, cache, window, stride)
    check(lambda: float((floatconv.maxpool2d_forward(x, window, stride)[0] * r).sum()), dx, x)


def test_dense_and_flatten_backward_match_numerical_gradients():
    x = RNG.normal(size=(3, 2, 2, 3))
    w = RNG.normal(size=(4, 12))
    b = RNG.normal(size=4)
    r = RNG.normal(size=(3, 4))

    def loss():
        flat, _ = floatconv.flatten_forward(x)
        return float((floatconv.dense_forward(flat, w, b)[0] * r).sum())

    flat, shape = floatconv.flatten_forward(x)
    assert np.array_equal(flat[1], x[1].reshape(-1))  # NHWC order: (y * W + x) * C + c
    _, cache = floatconv.dense_forward(flat, w, b)
    dflat, dw, db = floatconv.dense_backward(r, cache, w)
    dx = floatconv.flatten_backward(dflat, shape)
    check(loss, dx, x)
    check(loss, dw, w)
    check(loss, db, b)


def test_whole_chain_gradients_match_numerical_ones():
    """floatnet.grads through conv, depthwise, pool, valid conv and dense
    (the dense layer reading a 1x1 tensor directly)."""
    layers = arch.random_layers("c4k3,dw3s2,p2,c6k3v,d5", (12, 12, 2))
    net = floatconv.net_of(layers, (12, 12, 2))
    params = [
        [w.astype(np.float64), b.astype(np.float64) + 0.1]
        for w, b in floatconv.init(layers, np.random.default_rng(1))
    ]
    x = RNG.uniform(0, 1, (3, 12 * 12 * 2))
    y = np.array([0, 3, 1])
    grads = floatnet.grads(params, x, y, net=net)

    def loss():
        logits, _, _ = floatnet.forward(params, x, net=net)
        z = logits - logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(3), y]))

    for (w, b), (dw, db) in zip(params, grads, strict=True):
        check(loss, dw, w)
        check(loss, db, b)


def _mnist_arch_model(mnist, text="c4k3,dw3,p2,c6k3s2,d10"):
    shape = (28, 28, 1)
    layers = arch.random_layers(text, shape)
    net = floatconv.net_of(layers, shape)
    params = floatconv.init(layers, np.random.default_rng(3))
    for _, b in params:
        b += np.float32(0.05)
    iq = InputQuant.pixels(784, shape=shape)
    return net, params, iq, iq.quantize(mnist.x_test[:64])


def test_torch_forward_is_the_numpy_forward(mnist):
    if not torch_backprop.available():  # the optional extra is missing: a clear error
        with pytest.raises(InputError, match="needs PyTorch"):
            api.train(mnist, None, "torch", arch="c4k3,p2,d10", max_train=200, epochs=1)
        return
    import torch

    net, params, _, xq = _mnist_arch_model(mnist)
    module = torch_backprop.build_arch(net.template, net.input_shape)
    convs = [m for m in module if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        for m, (w, b) in zip(convs, params, strict=True):
            tw = torch.from_numpy(w)
            m.weight.copy_(tw.permute(0, 3, 1, 2) if w.ndim == 4 else tw)
            m.bias.copy_(torch.from_numpy(b))
        x = xq.astype(np.float32) / np.float32(127)
        ours, _, _ = floatnet.forward(params, x, net=net)
        theirs = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4)
    back = torch_backprop.params_of(module)
    assert all(np.array_equal(a, w) for (a, _), (w, _) in zip(back, params, strict=True))


def test_float_conv_model_predicts_saves_and_loads(mnist, tmp_path):
    net, params, iq, xq = _mnist_arch_model(mnist)
    model = floatnet.float_model(params, iq, {"arch": "x"}, net=net)
    logits, _, _ = floatnet.forward(params, xq.astype(np.float32) / np.float32(127), net=net)
    np.testing.assert_allclose(model.logits_quantized(xq), logits, rtol=1e-5, atol=1e-5)
    path = tmp_path / "float-conv.ctm"
    model.save(path)
    back = load(path)
    assert [type(L).__name__ for L in back.layers] == [type(L).__name__ for L in model.layers]
    assert np.array_equal(back.logits_quantized(xq), model.logits_quantized(xq))
    assert back.metadata == {"arch": "x"} and back.input_quant.shape == (28, 28, 1)


def test_qat_conversion_agrees_with_the_float_forward(mnist):
    """A short QAT run on real MNIST, converted by to_integer: the integer
    model predicts what QAT's ternary float forward predicts on most samples."""
    shape = (28, 28, 1)
    layers = arch.random_layers("c8k3,p2,c8k3,p2,d10", shape)
    net = floatconv.net_of(layers, shape)
    rng = np.random.default_rng(0)
    params = floatconv.init(layers, rng)
    iq = InputQuant.pixels(784, shape=shape)
    xq = iq.quantize(mnist.x_train[:1500])
    y = np.asarray(mnist.y_train[:1500])
    floatnet.train_epochs(
        params,
        xq,
        y,
        epochs=1,
        batch=64,
        lr=3e-3,
        rng=rng,
        ternary=True,
        to_float=lambda c: c.astype(np.float32) / np.float32(127),
        net=net,
    )
    model, _ = floatnet.to_integer(params, iq, xq[:500], y[:500], net=net)
    assert [L.kind for L in model.layers] == [
        "conv2d",
        "maxpool2d",
        "conv2d",
        "maxpool2d",
        "flatten",
        "dense",
    ]
    test = iq.quantize(mnist.x_test[:500])
    ours = model.predict_quantized(test)
    x = test.astype(np.float32) / np.float32(127)
    logits, _, _ = floatnet.forward(params, x, ternary=True, net=net)
    agree = float((ours == logits.argmax(axis=1)).mean())
    assert agree >= 0.9, agree
