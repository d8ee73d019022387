"""Dense layers reading 1-bit activations: layout M1 masks, bit-plane activations and the
popcount kernels (docs/firmware.md, "Low-bit layers: popcount kernels"), on every
verified target, against the Python model bit for bit."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from _firmware_helpers import impl_source, mnist_data_dir, require_target
from _tools import require_tools

from conntra import codegen, datasets
from conntra.cli import main as cli_main
from conntra.codegen import layout
from conntra.codegen import plan as fwplan
from conntra.codegen.report import format_report
from conntra.model import TernaryModel
from conntra.quant import InputQuant

ALL_TARGETS = [
    "host",
    "cortex-m0",
    "cortex-m3",
    "cortex-m4",
    "cortex-m7",
    "cortex-m33",
    "cortex-m55",
]
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wconversion", "-pedantic", "-Werror"]
CXX_FLAGS = ["-Wall", "-Wextra", "-Wconversion", "-Werror", "-pedantic"]


@pytest.fixture(scope="module")
def mnist():
    return datasets.load("mnist", data_dir=mnist_data_dir())  # CI sets CONNTRA_DATA


def mnist_model(act_bits, seed=0, hidden=(256,)):
    """MNIST-shaped random model: 784 pixels, hidden layers of act_bits, 10 logits; big
    biases and small shifts put activations on both clamps."""
    return TernaryModel.random(
        [784, *hidden, 10],
        InputQuant.pixels(784),
        seed=seed,
        act_bits=act_bits,
        bias_range=300,
    )


# -- layout M1 and bit planes -------------------------------------------------------------


@pytest.mark.parametrize("n_in", [1, 5, 31, 32, 33, 64, 256, 500, 784])
def test_masks_round_trip(n_in):
    rng = np.random.default_rng(n_in)
    w = rng.integers(-1, 2, size=(7, n_in)).astype(np.int8)
    stream = layout.encode_masks(w)
    assert stream.dtype == np.uint32 and stream.shape == (7 * 2 * layout.n_words(n_in),)
    assert np.array_equal(layout.decode_masks(stream, 7, n_in), w)
    with pytest.raises(ValueError, match="words, expected"):
        layout.decode_masks(stream[:-1], 7, n_in)


def test_masks_one_hot_positions():
    """Row j, word k: P then N, bit i for input 32k + i; padding inputs have no bit."""
    w = np.zeros((3, 70), np.int8)
    w[1, 33] = 1
    w[2, 69] = -1
    w[0, 0] = -1
    s = layout.encode_masks(w).reshape(3, 3, 2)  # row, word, (P, N)
    expect = np.zeros((3, 3, 2), np.uint32)
    expect[1, 1, 0] = 1 << 1
    expect[2, 2, 1] = 1 << 5
    expect[0, 0, 1] = 1
    assert np.array_equal(s, expect)


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("n", [1, 32, 37, 256])
def test_planes_round_trip_and_positions(bits, n):
    y = np.random.default_rng(n + bits).integers(0, 1 << bits, size=n)
    words = layout.encode_planes(y, bits)
    assert words.dtype == np.uint32 and words.shape == (bits * layout.n_words(n),)
    assert np.array_equal(layout.decode_planes(words, n, bits), y)
    one = np.zeros(n, np.int64)
    one[n - 1] = 1 << (bits - 1)  # the top bit of the last activation
    w = layout.encode_planes(one, bits)
    k, i = divmod(n - 1, 32)
    assert np.flatnonzero(w).tolist() == [bits * k + bits - 1] and w[bits * k + bits - 1] == 1 << i


# -- the plan, the header and the size report -------------------------------------------


def test_the_rule_per_width_and_rows():
    """Popcount for every layer reading 1-bit activations, for up to 56 rows reading 2 bits
    and up to 10 reading 4 bits (where it executes fewer instructions than F2)."""
    assert fwplan.uses_popcount(1, 1 << 20)
    assert fwplan.uses_popcount(2, 56) and not fwplan.uses_popcount(2, 57)
    assert fwplan.uses_popcount(4, 10) and not fwplan.uses_popcount(4, 11)
    assert not fwplan.uses_popcount(7, 1) and not fwplan.uses_popcount(None, 1)


def test_plan_and_header_follow_the_rule():
    m = TernaryModel.random(
        [784, 64, 100, 57, 56, 10], InputQuant.pixels(784), seed=1, act_bits=[1, 2, 2, 4]
    )
    p = fwplan.plan(m)
    assert [L.get("popcount") for L in p.layers] == [None, 1, None, 2, 4]
    assert [L.get("planes") for L in p.layers] == [1, None, 2, 4, None]
    # buffers of words: 100 bytes (25 words) is the largest output; 57 2-bit outputs take
    # 2 planes of 2 words, 56 4-bit outputs 4 planes of 2 words
    assert p.act_words == 25 and p.act_bytes == 200
    text = codegen.render_header(m, "net")
    assert "uint32_t act[2][25];" in text
    assert "static const uint32_t net_w1[]" in text and "static const uint8_t net_w2[]" in text
    assert "net_planes1(s->acc, 64u, " in text
    assert "net_dense_pc1(s->act[0], 2u, net_w1, 100u, net_b1, s->acc);" in text
    assert "net_requant2(s->acc, 100u, 4u, (uint8_t *)(void *)s->act[1]);" in text
    assert "net_dense((const uint8_t *)(const void *)s->act[1], 100u, 0u, net_w2" in text
    assert "net_planes2(s->acc, 57u, " in text and "net_planes4(s->acc, 56u, " in text
    assert "net_dense_pc2(s->act[0], 2u, net_w3, 56u, net_b3, s->acc);" in text
    assert "net_dense_pc4(s->act[1], 2u, net_w4, 10u, net_b4, logits);" in text
    assert "net_requant1(" not in text and "net_requant4(" not in text


def test_headers_without_popcount_layers_have_no_popcount_code():
    m = TernaryModel.random([784, 64, 57], InputQuant.pixels(784), seed=1, act_bits=2)
    text = codegen.render_header(m, "net")
    assert "popcount" not in text and "planes" not in text and "uint8_t act[1][64];" in text


def test_scratch_shrinks_with_1_bit_activations():
    """784-256-256-10: two buffers of 256 bytes become two of 8 words (32 bytes each)."""
    sizes = [784, 256, 256, 10]
    wide = fwplan.plan(TernaryModel.random(sizes, InputQuant.pixels(784), seed=1, act_bits=7))
    low = fwplan.plan(TernaryModel.random(sizes, InputQuant.pixels(784), seed=1, act_bits=1))
    assert wide.describe()["activation_bytes"] == 512 and wide.scratch_bytes == 2184
    d = low.describe()
    assert d["activation_bytes"] == 64 and d["scratch_bytes"] == 2184 - 448
    assert d["activation_storage"] == [
        "layer 0: 256 x 1 bit as 1 bit plane(s), 32 B",
        "layer 1: 256 x 1 bit as 1 bit plane(s), 32 B",
    ]
    text = codegen.render_header(
        TernaryModel.random(sizes, InputQuant.pixels(784), act_bits=1), "n"
    )
    assert "#define N_SCRATCH_BYTES 1736u" in text and "uint32_t act[2][8];" in text


def test_size_report_shows_the_bit_planes(tmp_path, capsys):
    """`conntra export` prints the smaller scratch and how each layer stores its output."""
    require_target("cortex-m0")
    m = mnist_model(1, hidden=(256, 256))
    r = codegen.size_report(m, "cortex-m0")
    assert r["scratch_bytes"] == 1736 and r["ram_plan"]["activation_bytes"] == 64
    text = format_report(r)
    assert "scratch 1736" in text
    assert "activations: layer 0: 256 x 1 bit as 1 bit plane(s), 32 B" in text
    assert r["weight_bits_per_weight"] == pytest.approx(2.0, abs=0.05)
    path = tmp_path / "a1.ctm"
    m.save(path)
    capsys.readouterr()
    assert (
        cli_main(["export", str(path), "--out", str(tmp_path / "fw"), "--target", "cortex-m0"]) == 0
    )
    out = capsys.readouterr().out
    assert "scratch 1736" in out and "as 1 bit plane(s)" in out


# -- verification on every target ---------------------------------------------------------


@pytest.mark.parametrize("target", ALL_TARGETS)
@pytest.mark.parametrize(
    "act_bits",
    [[1], [2], [4], [1, 1], [2, 1], [1, 2], [4, 1], [7, 1, 4]],
    ids=lambda b: "-".join(map(str, b)),
)
def test_mnist_images_identical(mnist, target, act_bits):
    require_target(target)
    hidden = (256, 256, 100)[: len(act_bits)]
    model = mnist_model(act_bits, seed=len(act_bits) + act_bits[0], hidden=hidden)
    n = 300 if target in ("host", "cortex-m0", "cortex-m4") else 60
    r = codegen.verify(model, target, mnist.x_test[:n], count_instructions=False)
    assert r["identical"] == r["n"] == n, r["mismatches"]
    assert r["kernels"] == (
        "dsp" if target in ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55") else "portable"
    )


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4", "cortex-m55"])
def test_odd_widths_and_both_clamps(target):
    """Widths that are not multiples of 32 (a short last word; an odd word count for the
    DSP loop's pairs), 500 inputs (more than 15 words between sums of bytes in the portable
    kernel), a 1-wide layer, shift 0 and big biases."""
    require_target(target)
    model = TernaryModel.random(
        [37, 500, 33, 1, 70, 6],
        InputQuant.pixels(37),
        seed=9,
        shifts=[4, 0, 0, 2],
        act_bits=[1, 1, 1, 1],
        bias_range=400,
    )
    x = np.random.default_rng(5).integers(0, 256, size=(120, 37)).astype(np.uint8)
    x[0], x[1] = 255, 0
    from conntra.reference import dense_acc, requantize

    h = model.layers[0]
    a = requantize(dense_acc(model.quantize(x), h.weights, h.bias), h.shift, h.act_bits)
    assert (a == 1).any() and (a == 0).any()
    r = codegen.verify(model, target, x, count_instructions=False)
    assert r["identical"] == r["n"] == 120, r["mismatches"]


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7", "cortex-m33"])
def test_dsp_and_portable_agree(mnist, target):
    require_target(target)
    model = mnist_model([1, 1], seed=3, hidden=(96, 64))
    x = mnist.x_test[:100]
    dsp = codegen.verify(model, target, x, prefix="m", count_instructions=False)
    port = codegen.verify(
        model, target, x, prefix="m", extra_flags=["-DM_PORTABLE"], count_instructions=False
    )
    assert dsp["kernels"] == "dsp" and port["kernels"] == "portable"
    assert dsp["identical"] == port["identical"] == 100


@pytest.mark.parametrize("target", ["cortex-m0", "cortex-m4"])
@pytest.mark.parametrize("opt", ["-O0", "-Os", "-O3"])
def test_every_optimisation_level_runs_identical(target, opt):
    """The Thumb-2 loop of the DSP path leaves r7 (the frame pointer at -O0) alone and
    marks what it writes early-clobber; the results do not depend on the compiler's
    register choice."""
    require_target(target)
    model = TernaryModel.random(
        [64, 96, 45, 10], InputQuant.pixels(64), seed=2, act_bits=[1, 1], bias_range=80
    )
    x = np.random.default_rng(1).integers(0, 256, size=(40, 64)).astype(np.uint8)
    r = codegen.verify(model, target, x, extra_flags=[opt], count_instructions=False)
    assert r["identical"] == r["n"] == 40, r["mismatches"]


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_kernels_for_2_and_4_bits_when_forced(monkeypatch, bits, target):
    """The popcount kernels for 2 and 4 bits beyond the rows the rule gives them (70 here,
    where F2 executes fewer instructions), as the benchmark measures them."""
    require_target(target)
    monkeypatch.setattr(fwplan, "POPCOUNT_MAX_ROWS", {1: 1000, 2: 1000, 4: 1000})
    model = TernaryModel.random(
        [100, 90, 70, 10], InputQuant.pixels(100), seed=bits, act_bits=[bits, 1], bias_range=200
    )
    assert fwplan.plan(model).layers[1]["popcount"] == bits
    x = np.random.default_rng(bits).integers(0, 256, size=(60, 100)).astype(np.uint8)
    flags = [[], ["-DMODEL_PORTABLE"]] if target == "cortex-m4" else [[]]
    for extra in flags:
        r = codegen.verify(model, target, x, extra_flags=extra, count_instructions=False)
        assert r["identical"] == r["n"] == 60, (extra, r["mismatches"])


# -- C99 / C++ strictness, no libc ----------------------------------------------------------


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m55"])
def test_strict_warnings_and_no_libc_at_every_level(tmp_path, cpu):
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-nm")
    src = impl_source(tmp_path, mnist_model([1, 1], hidden=(100, 37)), "net")
    for opt in ("-O0", "-O1", "-O2", "-O3", "-Os"):
        for extra in ((), ("-DNET_PORTABLE",)):
            subprocess.run(
                ["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", *STRICT, opt, *extra, "-c"]
                + [src.name, "-o", "x.o"],
                cwd=tmp_path,
                check=True,
            )
            nm = subprocess.run(
                ["arm-none-eabi-nm", "-u", "x.o"], cwd=tmp_path, check=True, capture_output=True
            ).stdout.split()
            assert nm == [], (opt, extra, nm)


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4"])
def test_compiles_as_cxx(tmp_path, cpu):
    require_tools("arm-none-eabi-g++", "g++")
    src = impl_source(tmp_path, mnist_model([1, 1], hidden=(100, 37)), "net", suffix=".cpp")
    for opt in ("-O0", "-O2"):
        subprocess.run(
            ["arm-none-eabi-g++", f"-mcpu={cpu}", "-mthumb", "-std=c++11", *CXX_FLAGS, opt]
            + ["-c", src.name, "-o", "net.o"],
            cwd=tmp_path,
            check=True,
        )
    subprocess.run(
        ["g++", "-std=c++17", *CXX_FLAGS, "-O2", "-c", src.name, "-o", "host.o"],
        cwd=tmp_path,
        check=True,
    )
