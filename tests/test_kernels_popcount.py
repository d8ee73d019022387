"""The popcount kernels (docs/kernels.md, "Popcount kernels"): every registered
BP_PACK, TM_PACK and TM_BP_MM kernel (from the registry) against numpy oracles, bit
exact, at 1, 2 and 4 bits, over sizes around 64, 256 and 512 bits, odd shapes
and unaligned starts; the statuses of bad inputs; and whole networks whose
logits are ``==`` with and without popcount masks on real MNIST images (the
``mnist`` fixture: ``CONNTRA_DATA``), for every supported popcount kernel."""

from __future__ import annotations

import numpy as np
import pytest
from conntra._native import ffi, lib

from conntra import engine
from conntra.errors import NativeError
from conntra.packing import pack_t2

SEED = 20261201
KERNELS = engine.kernels()
BITS = (1, 2, 4)
K_SIZES = (1, 2, 31, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1025, 2049)


def _index(family: str, isa: str = "ref") -> int:
    return next(r["index"] for r in KERNELS if r["family_name"] == family and r["isa"] == isa)


def _planes_oracle(x: np.ndarray, bits: int) -> np.ndarray:
    """docs/kernels.md: plane b of a sample holds bit b of value i at bit i % 64
    of word i / 64, each plane padded to a multiple of 256 bits."""
    batch, k = x.shape
    kp = -(-k // 256) * 256
    out = np.zeros((batch, bits, kp), dtype=np.uint8)
    for b in range(bits):
        out[:, b, :k] = (x.astype(np.uint8) >> b) & 1
    return np.packbits(out.reshape(-1, 8), axis=1, bitorder="little").reshape(-1).view(np.uint64)


def _masks_oracle(w: np.ndarray) -> np.ndarray:
    """docs/kernels.md: per row, per 256-weight chunk, 4 words of w == +1 then
    4 words of w == -1."""
    rows, k = w.shape
    chunks = -(-k // 256)
    pad = np.zeros((rows, chunks * 256), dtype=np.int8)
    pad[:, :k] = w
    pad = pad.reshape(rows, chunks, 1, 256)
    both = np.concatenate([pad == 1, pad == -1], axis=2).astype(np.uint8)
    return np.packbits(both.reshape(-1, 8), axis=1, bitorder="little").reshape(-1).view(np.uint64)


def _problem(rng, n, k, batch, bits, pattern):
    top = (1 << bits) - 1
    w = rng.integers(-1, 2, size=(n, k), dtype=np.int8)
    x = rng.integers(0, top + 1, size=(batch, k), dtype=np.int8)
    if pattern == 1:  # the int8 lanes of the SIMD kernels at their bound
        w[:] = 1
        x[:] = top
    elif pattern == 2:
        w[:] = -1
        x[:] = top
    bias = rng.integers(-(2**27), 2**27 + 1, size=n, dtype=np.int32)
    return w, bias, x


def _oracle(w, bias, x):
    return x.astype(np.int64) @ w.astype(np.int64).T + bias.astype(np.int64)


def _unaligned(rng, x: np.ndarray) -> np.ndarray:
    """The same values in a contiguous array starting 1..31 bytes into a buffer."""
    off = int(rng.integers(1, 32))
    buf = np.zeros(off + x.size, dtype=np.int8)
    view = buf[off:].reshape(x.shape)
    view[:] = x
    return view


def check_bp_pack(kernel: dict) -> None:
    rng = np.random.default_rng(SEED)
    for k in K_SIZES:
        for bits in BITS:
            batch = int(rng.integers(1, 5))
            x = rng.integers(0, 1 << bits, size=(batch, k), dtype=np.int8)
            got = engine.bp_pack_with(kernel["index"], _unaligned(rng, x), bits)
            assert np.array_equal(got, _planes_oracle(x, bits)), f"{kernel['name']} k={k}"


def check_tm_bp_mm(kernel: dict) -> None:
    rng = np.random.default_rng(SEED + 1)
    ref = _index("tm_bp_mm")
    cases = [
        (n, k, b, bits, int(rng.integers(0, 3)))
        for k in K_SIZES
        for n in (1, 3, 4, 5, 9)
        for b, bits in zip((1, 3, 4, 6), (1, 2, 4, 1 + int(rng.integers(0, 2))), strict=True)
    ]
    cases += [(3, k, 5, bits, p) for k in (1792, 3840, 3841, 8292) for bits in BITS for p in (1, 2)]
    for n, k, batch, bits, pattern in cases:
        w, bias, x = _problem(rng, n, k, batch, bits, pattern)
        op = engine.PopcountOp(pack_t2(w), k, n, bias, _unaligned(rng, x), bits)
        assert np.array_equal(op.masks, _masks_oracle(w))
        want = _oracle(w, bias, x)
        where = f"{kernel['name']} n={n} k={k} batch={batch} bits={bits} pattern={pattern}"
        assert np.array_equal(op.run(kernel=kernel["index"]).astype(np.int64), want), where
        assert np.array_equal(op.run(kernel=ref).astype(np.int64), want), where


def check_tm_pack(kernel: dict) -> None:
    rng = np.random.default_rng(SEED + 7)
    for k in (*range(1, 300), 511, 512, 513, 1025, 4099):
        rows = int(rng.integers(1, 4))
        w = rng.integers(-1, 2, size=(rows, k), dtype=np.int8)
        packed = pack_t2(w)
        words = ffi.new("int64_t *")
        assert lib.ct_tm_words(rows, k, words) == lib.CT_OK
        out = np.zeros(int(words[0]), dtype=np.uint64)
        st = lib.ct_tm_pack_with(
            kernel["index"],
            ffi.from_buffer("uint8_t[]", packed),
            rows,
            k,
            ffi.from_buffer("uint64_t[]", out),
            out.size,
        )
        assert st == lib.CT_OK, (kernel["name"], k)
        assert np.array_equal(out, _masks_oracle(w)), (kernel["name"], k)


CHECKS = {"bp_pack": check_bp_pack, "tm_bp_mm": check_tm_bp_mm, "tm_pack": check_tm_pack}
# kernels this CPU cannot run: tests/test_kernels.py holds them to their refusal
POPCOUNT_KERNELS = [r for r in KERNELS if r["family_name"] in CHECKS and r["supported"]]


@pytest.mark.parametrize("kernel", POPCOUNT_KERNELS, ids=[r["name"] for r in POPCOUNT_KERNELS])
def test_every_popcount_kernel_is_exact(kernel):
    CHECKS[kernel["family_name"]](kernel)


def test_threads_give_the_same_bits():
    rng = np.random.default_rng(SEED + 2)
    w, bias, x = _problem(rng, 1031, 2100, 5, 2, 0)
    op = engine.PopcountOp(pack_t2(w), 2100, 1031, bias, x, 2)
    want = _oracle(w, bias, x)
    for threads in (1, 2, 3, 4):
        assert np.array_equal(op.run(threads=threads).astype(np.int64), want), threads


def test_bad_inputs_get_a_status():
    rng = np.random.default_rng(SEED + 3)
    pk = _index("bp_pack")
    x = np.array([[0, 1, 2, 3]], dtype=np.int8)
    for bits, bad in ((1, 2), (2, 4), (4, 16), (4, -1), (2, -128)):
        y = x.copy()
        y[0, 2] = bad
        with pytest.raises(NativeError):
            engine.bp_pack_with(pk, y, bits)
    for bits in (0, 3, 7, 8):
        with pytest.raises(NativeError):
            engine.bp_pack_with(pk, x, bits)
    words = ffi.new("int64_t *")
    assert lib.ct_bp_words(1, 4, 3, words) == lib.CT_E_RANGE
    assert lib.ct_bp_words(0, 4, 2, words) == lib.CT_E_SHAPE
    assert lib.ct_tm_words(1, 0, words) == lib.CT_E_SHAPE
    assert lib.ct_tm_words(1, 4, ffi.NULL) == lib.CT_E_NULL
    w, bias, xs = _problem(rng, 3, 100, 2, 2, 0)
    packed = pack_t2(w)
    packed[0] |= 3  # a code 3 among the weights
    with pytest.raises(NativeError):
        engine.tm_pack(packed, 3, 100)
    op = engine.PopcountOp(pack_t2(w), 100, 3, bias, xs, 2)
    mm = _index("tm_bp_mm")
    assert lib.ct_pc_dense_acc_with(mm, op._layer, op._planes, 3, 2, op._acc) == lib.CT_E_RANGE
    assert lib.ct_pc_dense_acc_with(mm, op._layer, ffi.NULL, 2, 2, op._acc) == lib.CT_E_NULL
    assert lib.ct_pc_dense_acc_with(pk, op._layer, op._planes, 2, 2, op._acc) == lib.CT_E_UNKNOWN
    op._layer.pc_w = ffi.NULL
    assert lib.ct_pc_dense_acc_with(mm, op._layer, op._planes, 2, 2, op._acc) == lib.CT_E_NULL


# ---- whole networks -----------------------------------------------------------------


def _model(bits):
    from conntra.model import TernaryModel
    from conntra.quant import InputQuant

    return TernaryModel.random(
        [784, 300, 129, 10], InputQuant.pixels(784), seed=7, act_bits=bits, shifts=[5, 4]
    )


@pytest.mark.parametrize("bits", BITS)
def test_network_logits_equal_with_and_without_popcount(bits, mnist):
    model = _model(bits)
    xq = model.quantize(np.asarray(mnist.x_test[:300]))
    plain = engine.NativeNet(model.layers, popcount=False)
    pc = engine.NativeNet(model.layers, popcount=True)
    assert plain.popcount_layers == [] and pc.popcount_layers == [1, 2]
    want = plain.logits(xq)
    assert np.array_equal(want, model.logits_quantized(xq, backend="numpy"))
    hidden = xq
    for layer in model.layers[:-1]:  # the popcount layers really read low-bit values
        from conntra import reference

        acc = reference.dense_acc(hidden, layer.weights, layer.bias)
        hidden = reference.requantize(acc, layer.shift, layer.act_bits)
        assert hidden.max() == (1 << bits) - 1 and hidden.min() == 0
    family = next(r["family"] for r in KERNELS if r["family_name"] == "tm_bp_mm")
    try:
        for r in KERNELS:
            if r["family_name"] != "tm_bp_mm" or not r["supported"]:
                continue
            engine.select_kernel(family, r["index"])  # force each popcount kernel
            for n in (1, 3, 4, 300):  # GEMV and GEMM paths
                assert np.array_equal(pc.logits(xq[:n]), want[:n]), (r["name"], n)
    finally:
        engine.select_kernel(family, -1)


def test_default_uses_popcount_only_where_it_pays():
    active = engine.active_kernels()["tm_bp_mm"].rsplit("__", 1)[1]
    top = engine.POPCOUNT_PAYS.get(active, 0)
    for bits in BITS:
        net = engine.NativeNet(_model(bits).layers)
        assert net.popcount_layers == ([1, 2] if bits <= top else [])


def test_first_layer_and_7_bit_inputs_never_use_popcount(mnist):
    model = _model([2, 7])
    net = engine.NativeNet(model.layers, popcount=True)
    assert net.popcount_layers == [1]  # layer 2 reads 7 bits, layer 0 the input
    xq = model.quantize(np.asarray(mnist.x_test[:20]))
    assert np.array_equal(net.logits(xq), model.logits_quantized(xq, backend="numpy"))


def _attach_masks(net, keep: list) -> list[int]:
    """Masks on every layer of a test_kernels_conv.Net that may use them."""
    idx = engine.popcount_layers(net.c, len(net.layers))
    for i in idx:
        c = net.c[i]
        rows, k = engine._matrix_shape(c)
        masks = engine.tm_pack(ffi.buffer(c.w, int(lib.ct_t2_packed_bytes(rows, k))), rows, k)
        keep.append(masks)
        c.pc_w = ffi.from_buffer("uint64_t[]", masks)
    return idx


@pytest.mark.parametrize("bits", BITS)
def test_conv_chain_with_masks_equals_oracle(bits):
    """conv -> maxpool -> depthwise -> conv -> flatten -> dense (test_kernels_conv's
    chain): the conv2d after the depthwise layer and the dense layer take masks (the
    first conv reads the input, depthwise never does) and the logits stay those of
    the int64 oracle, at batch 1 and 5."""
    import test_kernels_conv as t

    rng = np.random.default_rng(SEED + 5)
    net = t.Net(rng, (12, 10, 3), t.CHAIN, bits)
    keep: list = []
    assert _attach_masks(net, keep) == [3, 5]
    for batch in (1, 5):
        x = rng.integers(0, 128, size=(batch, *net.shape), dtype=np.int8)
        assert np.array_equal(net.forward(x), net.oracle(x)), (bits, batch)


@pytest.mark.parametrize("bits", BITS)
def test_mnist_conv_chain_with_masks_is_exact(bits, mnist):
    """Real MNIST images through conv 8 -> maxpool -> conv 16 (K = 72, masks) ->
    flatten -> dense 10 (masks): the oracle's logits."""
    import test_kernels_conv as t

    rng = np.random.default_rng(SEED + 6)
    specs = [
        t.Spec("conv2d", 8, (3, 3), pad=(1, 1, 1, 1)),
        t.Spec("maxpool2d", k=(2, 2), s=(2, 2)),
        t.Spec("conv2d", 16, (3, 3), (2, 2), (1, 1, 1, 1)),
        t.Spec("flatten"),
        t.Spec("dense", 10),
    ]
    net = t.Net(rng, (28, 28, 1), specs, act_bits=bits)
    keep: list = []
    assert _attach_masks(net, keep) == [2, 4]
    x = (np.asarray(mnist.x_test[:300]) >> 1).astype(np.int8).reshape(-1, 28, 28, 1)
    want = net.oracle(x)
    assert np.array_equal(net.forward(x), want)
    assert np.array_equal(net.forward(x[:1]), want[:1])
    assert len(np.unique(want.argmax(axis=1))) > 1
