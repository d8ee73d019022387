"""Every registered kernel against its reference and an independent numpy oracle.

One parameterised test runs each kernel of the registry (conntra.engine.kernels(),
read from the C table, so a new kernel is tested without touching this file):
bit-exact against the family's ref kernel and a numpy int64 matmul, over sizes
around the SIMD widths, odd shapes, unaligned starts and strides, and the
overflow boundaries. Kernels this CPU cannot run are held to their refusal;
tests/test_kernels_aarch64.py runs the NEON ones under qemu-aarch64.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conntra._native import ffi, lib

from conntra import engine
from conntra._status import check
from conntra.errors import InputError, NativeError, NativeInputError
from conntra.packing import pack_t2_numpy, padded_k

SEED = 20261128
KERNELS = engine.kernels()
K_SIZES = [
    1,
    2,
    3,
    7,
    8,
    15,
    16,
    17,
    31,
    32,
    33,
    63,
    64,
    65,
    127,
    128,
    129,
    255,
    256,
    257,
    383,
    511,  # 511..641 and 8, 17 rows: around the VNNI kernels' steps (512 weights
    512,  # per row and step) and their tiles of 4 and 8 rows
    513,
    640,
    641,
    1023,
    1024,
    1025,
    2049,
]
N_SIZES = [1, 3, 4, 5, 8, 9, 17]
B_SIZES = [1, 3, 4, 6]
CT_MAX_INPUTS = 1 << 20


def _ref_index(family_name: str) -> int:
    return next(
        r["index"] for r in KERNELS if r["family_name"] == family_name and r["isa"] == "ref"
    )


def _pack_any(w: np.ndarray) -> np.ndarray:
    """T2 bytes from the layout prose, accepting w = 2 (code 3): reaches the
    kernels' int16 bound, which valid weights never do."""
    n, k = w.shape
    rb = padded_k(k) // 4
    out = np.zeros((n, rb), np.uint8)
    c = np.arange(k)
    for r in range(n):
        codes = (w[r].astype(np.int64) + 1) << (2 * ((c % 128) // 32))
        np.bitwise_or.at(out[r], (c // 128) * 32 + c % 32, codes.astype(np.uint8))
    return out.reshape(-1)


def _oracle(w, bias, x) -> np.ndarray:
    return bias.astype(np.int64)[None, :] + x.astype(np.int64) @ w.astype(np.int64).T


def _problem(rng, n, k, batch, pattern):
    """pattern 0 random int8, 1 all +1 with x = 127, 2 all +1 with x = -128,
    3 all code 3 (w = 2) with x = -128, 4 random w with x in 0..127."""
    w = rng.integers(-1, 2, size=(n, k), dtype=np.int8)
    x = rng.integers(-128, 128, size=(batch, k), dtype=np.int8)
    if pattern in (1, 2):
        w[:] = 1
    if pattern == 3:
        w[:] = 2
    if pattern == 1:
        x[:] = 127
    if pattern in (2, 3):
        x[:] = -128
    if pattern == 4:
        x = rng.integers(0, 128, size=(batch, k), dtype=np.int8)
    bias = rng.integers(-(1 << 27), (1 << 27) + 1, size=n, dtype=np.int32)
    return w, bias, x


def _check_dense(kernel: dict) -> None:
    ref = _ref_index(kernel["family_name"])
    rng = np.random.default_rng(SEED)
    cases = [(n, k, b, int(rng.integers(0, 5))) for k in K_SIZES for n in N_SIZES for b in B_SIZES]
    cases += [(5, k, 5, p) for k in (1024, 1152, 4101, CT_MAX_INPUTS) for p in (1, 2, 3)]
    for n, k, batch, pattern in cases:
        w, bias, x = _problem(rng, n, k, batch, pattern)
        offset = int(rng.integers(0, 32))
        stride = padded_k(k) + int(rng.integers(0, 3)) * 7
        op = engine.DenseOp(_pack_any(w), k, n, bias, x, x_offset=offset, x_stride=stride)
        want = _oracle(w, bias, x)
        got = op.run(kernel=kernel["index"]).astype(np.int64)
        where = (
            f"{kernel['name']} n={n} k={k} batch={batch} pattern={pattern} "
            f"offset={offset} stride={stride} seed={SEED}"
        )
        assert np.array_equal(got, want), where
        assert np.array_equal(op.run(kernel=ref).astype(np.int64), want), where


def _check_pack(kernel: dict) -> None:
    ref, unpack_ref = _ref_index("t2_pack"), _ref_index("t2_unpack")
    rng = np.random.default_rng(SEED + 1)
    for k in list(range(1, 300)) + [1023, 1025]:
        rows = int(rng.integers(1, 4))
        w = rng.integers(-1, 2, size=(rows, k), dtype=np.int8)
        got = engine.pack_with(kernel["index"], w)
        assert np.array_equal(got, engine.pack_with(ref, w)), f"k={k} seed={SEED + 1}"
        assert np.array_equal(got, pack_t2_numpy(w).reshape(-1)), f"k={k}"
        assert np.array_equal(engine.unpack_with(unpack_ref, got, rows, k), w)
        w[int(rng.integers(0, rows)), int(rng.integers(0, k))] = 2
        with pytest.raises(NativeInputError, match="outside its allowed range"):
            engine.pack_with(kernel["index"], w)


def _check_unpack(kernel: dict) -> None:
    pack_ref = _ref_index("t2_pack")
    rng = np.random.default_rng(SEED + 2)
    for k in list(range(1, 300)) + [1023, 1025]:
        rows = int(rng.integers(1, 4))
        w = rng.integers(-1, 2, size=(rows, k), dtype=np.int8)
        packed = engine.pack_with(pack_ref, w)
        assert np.array_equal(engine.unpack_with(kernel["index"], packed, rows, k), w), k
        if k % 128:  # a code 3 in the padding (column k) is never read
            pad = packed.reshape(rows, -1).copy()
            pad[:, (k // 128) * 32 + k % 32] |= np.uint8(3 << (2 * ((k % 128) // 32)))
            assert np.array_equal(engine.unpack_with(kernel["index"], pad, rows, k), w), k
        bad = w.copy()
        bad[int(rng.integers(0, rows)), int(rng.integers(0, k))] = 2
        with pytest.raises(NativeInputError, match="invalid code"):
            engine.unpack_with(kernel["index"], _pack_any(bad), rows, k)


def _ptr(ctype: str, a: np.ndarray):
    return ffi.from_buffer(f"{ctype}[]", a)


TRAIN_N = list(range(0, 40)) + [63, 64, 65, 127, 128, 129, 1000, 1031]


def _check_axpy(kernel: dict) -> None:
    ref = _ref_index("train_axpy")
    rng = np.random.default_rng(SEED + 4)
    for n in TRAIN_N:
        for d in (-2, -1, 0, 1, 2, 37, -1000):
            x = rng.integers(-128, 128, n, dtype=np.int8)
            acc = rng.integers(-(1 << 27), 1 << 27, n, dtype=np.int32)
            want = (acc.astype(np.int64) + d * x.astype(np.int64)).astype(np.int32)
            for k in (kernel["index"], ref):
                got = acc.copy()
                check(
                    lib.ct_train_axpy_with(k, _ptr("int32_t", got), _ptr("int8_t", x), d, n), "axpy"
                )
                assert np.array_equal(got, want), f"{kernel['name']} n={n} d={d} seed={SEED + 4}"


def _rq(a: np.ndarray, shift: int, top: int) -> np.ndarray:
    t = a.astype(np.int64) + (1 << (shift - 1) if shift > 0 else 0)
    return np.clip(np.maximum(t, 0) >> shift, 0, top)


def _check_requant_diff(kernel: dict) -> None:
    ref = _ref_index("train_requant_diff")
    rng = np.random.default_rng(SEED + 5)
    for n in TRAIN_N:
        for shift in (0, 1, 3, 7, 24):
            for bits in (1, 2, 4, 7):  # every activation width clamps at 2^bits - 1
                top = (1 << bits) - 1
                d = int(rng.integers(-2, 3))
                x = rng.integers(0, 128, n, dtype=np.int8)
                x[rng.random(n) < 0.3] = 0
                lim = 1 << 27  # the contract: |acc| < 2^28
                hi = (top + 43) << shift  # past the top, so both clamps are crossed
                acc = rng.integers(max(-(40 << shift), -lim), min(hi, lim), n)
                acc = acc.astype(np.int32)
                act = _rq(acc, shift, top).astype(np.int8)
                new = _rq(acc.astype(np.int64) + d * x.astype(np.int64), shift, top)
                want_idx = np.flatnonzero((x != 0) & (new != act))
                want_da = (new - act)[want_idx]
                for k in (kernel["index"], ref):
                    idx, da = np.zeros(n + 1, np.int32), np.zeros(n + 1, np.int32)
                    count = ffi.new("int32_t *")
                    check(
                        lib.ct_train_requant_diff_with(
                            k,
                            _ptr("int32_t", acc),
                            _ptr("int8_t", x),
                            d,
                            n,
                            shift,
                            bits,
                            _ptr("int8_t", act),
                            _ptr("int32_t", idx),
                            _ptr("int32_t", da),
                            count,
                        ),
                        "requant_diff",
                    )
                    m = count[0]
                    where = (
                        f"{kernel['name']} n={n} shift={shift} bits={bits} d={d} seed={SEED + 5}"
                    )
                    assert np.array_equal(idx[:m], want_idx), where
                    assert np.array_equal(da[:m], want_da), where


def _check_ce_out_delta(kernel: dict) -> None:
    """Float kernel: twins must equal the ref bit for bit (same order of
    additions); the ref must agree with numpy to rounding (its own log)."""
    ref = _ref_index("train_ce_out_delta")
    rng = np.random.default_rng(SEED + 6)
    temp = 37.5
    tab = np.exp(np.arange(-1024, 1025) / temp)
    for n in TRAIN_N:
        for d in (-2, -1, 1, 2):
            x = rng.integers(0, 128, n, dtype=np.int8)
            x[rng.random(n) < 0.3] = 0
            y = rng.integers(0, 10, n, dtype=np.int32)
            e = rng.random(n) + 0.01
            sminus = rng.random(n) * 9 + 0.01
            lns = np.log(e + sminus)
            dz = d * x.astype(np.int64)
            terms = np.log(sminus + e * tab[dz + 1024]) - lns - (y == 3) * dz / temp
            want = float(terms[x != 0].sum())
            out = []
            for k in (kernel["index"], ref):
                delta = ffi.new("double *")
                check(
                    lib.ct_train_ce_out_delta_with(
                        k,
                        _ptr("int8_t", x),
                        d,
                        n,
                        _ptr("int32_t", y),
                        3,
                        _ptr("double", e),
                        _ptr("double", sminus),
                        _ptr("double", lns),
                        _ptr("double", tab) + 1024,
                        1.0 / temp,
                        delta,
                    ),
                    "ce_out_delta",
                )
                out.append(delta[0])
            assert out[0] == out[1], f"{kernel['name']} n={n} d={d}"
            assert out[1] == pytest.approx(want, rel=1e-12, abs=1e-12), (n, d)


def _check_ce_last_hidden_delta(kernel: dict) -> None:
    """Float kernel (the trainer's last hidden layer): twins equal the ref bit
    for bit; the ref agrees with numpy to rounding."""
    ref = _ref_index("train_ce_last_hidden_delta")
    rng = np.random.default_rng(SEED + 7)
    temp, classes = 41.0, 10
    tab = np.exp(np.arange(-1024, 1025) / temp)
    for n in TRAIN_N:
        batch = max(n, 1) * 2
        e = rng.random((batch, classes)) + 0.01
        lns = np.log(e.sum(axis=1))
        y = rng.integers(0, classes, batch, dtype=np.int32)
        idx = np.sort(rng.choice(batch, n, replace=False)).astype(np.int32)
        da = rng.integers(-127, 128, n, dtype=np.int32)
        col = rng.integers(-1, 2, classes, dtype=np.int8)
        dz = np.outer(da, col.astype(np.int64))
        snew = (e[idx] * np.exp(dz / temp)).sum(axis=1)
        want = float((np.log(snew) - lns[idx] - dz[np.arange(n), y[idx]] / temp).sum())
        out = []
        for k in (kernel["index"], ref):
            delta = ffi.new("double *")
            check(
                lib.ct_train_ce_last_hidden_delta_with(
                    k,
                    _ptr("int32_t", idx),
                    _ptr("int32_t", da),
                    n,
                    _ptr("int8_t", col),
                    classes,
                    _ptr("double", e),
                    _ptr("double", lns),
                    _ptr("int32_t", y),
                    _ptr("double", tab) + 1024,
                    1.0 / temp,
                    delta,
                ),
                "ce_last_hidden_delta",
            )
            out.append(delta[0])
        assert out[0] == out[1], f"{kernel['name']} n={n}"
        assert out[1] == pytest.approx(want, rel=1e-12, abs=1e-12), n


def _check_popcount(kernel):
    """The popcount families' check lives with their sweep in test_kernels_popcount."""
    from test_kernels_popcount import CHECKS as POPCOUNT_CHECKS

    POPCOUNT_CHECKS[kernel["family_name"]](kernel)


def _check_conv(kernel):
    """The conv families' check lives with their sweep in test_kernels_conv."""
    from test_kernels_conv import _registry_check

    _registry_check(kernel)


CHECKS = {
    "conv2d": _check_conv,
    "dwconv2d": _check_conv,
    "gemm": _check_dense,
    "gemv": _check_dense,
    "t2_pack": _check_pack,
    "t2_unpack": _check_unpack,
    "train_axpy": _check_axpy,
    "train_requant_diff": _check_requant_diff,
    "train_ce_out_delta": _check_ce_out_delta,
    "train_ce_last_hidden_delta": _check_ce_last_hidden_delta,
    "bp_pack": _check_popcount,
    "tm_bp_mm": _check_popcount,
    "tm_pack": _check_popcount,
}


def run_child(args, env, tmp_path, timeout=60):
    """``python -c args[0] args[1:]`` with ``env``, from ``tmp_path`` so that
    it imports the installed package; asserts it exited 0."""
    done = subprocess.run(
        [sys.executable, "-c", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return done


# Kernels this CPU cannot run are not skipped: test_unsupported_kernels_are_refused
# holds each to its refusal. (The AVX-VNNI body also runs here, as the
# avx512vnni256 rows; NEON runs under qemu in tests/test_kernels_aarch64.py.)
SUPPORTED = [r for r in KERNELS if r["supported"]]


@pytest.mark.parametrize("kernel", SUPPORTED, ids=[r["name"] for r in SUPPORTED])
def test_every_registered_kernel_is_exact(kernel):
    check = CHECKS.get(kernel["family_name"])
    assert check is not None, f"family {kernel['family_name']} has no check here: add one"
    check(kernel)


def test_unsupported_kernels_are_refused():
    """A kernel compiled in but not runnable on this CPU can be listed, never
    selected: selecting it is a clear error and the family's dispatch stays."""
    for r in KERNELS:
        if r["supported"]:
            continue
        before = engine.active_kernels()[r["family_name"]]
        with pytest.raises(NativeError, match="not valid in the current state"):
            engine.select_kernel(r["family"], r["index"])
        assert engine.active_kernels()[r["family_name"]] == before, r["name"]
        assert not r["active"], r["name"]


def test_registry_names_families_and_active_kernels():
    families = {r["family_name"] for r in KERNELS}
    assert families == set(CHECKS)
    for fam in families:
        rows = [r for r in KERNELS if r["family_name"] == fam]
        assert sum(r["active"] for r in rows) == 1, fam
        assert any(r["isa"] == "ref" for r in rows), fam
    for r in KERNELS:
        assert re.fullmatch(rf"ct_[a-z0-9]+_[a-z0-9]+_[a-z0-9_]+__{r['isa']}", r["name"]), r
        op = {"t2_pack": "pack", "t2_unpack": "unpack"}.get(r["family_name"], r["family_name"])
        # the popcount families name their own operand types
        stem = {"bp_pack": "ct_bp_s8_pack", "tm_bp_mm": "ct_tm_bp_mm", "tm_pack": "ct_tm_t2_pack"}
        stem = stem.get(op, f"ct_t2_s8_{op}")
        if not op.startswith("train_"):
            assert re.fullmatch(rf"{stem}__{r['isa']}", r["name"]), r["name"]
    assert set(engine.active_kernels()) == families


def test_threads_give_the_same_bits():
    rng = np.random.default_rng(SEED + 3)
    n, k = 1031, 2100
    w, bias, _ = _problem(rng, n, k, 1, 0)
    x = rng.integers(0, 128, size=(5, k), dtype=np.int8)
    want = _oracle(w, bias, x)
    for batch in (1, 5):
        op = engine.DenseOp(pack_t2_numpy(w), k, n, bias, x[:batch])
        for threads in (1, 2, 3, 4):
            assert np.array_equal(op.run(threads=threads), want[:batch]), (batch, threads)


def test_thread_count_setting_and_errors():
    before = engine.num_threads()
    try:
        engine.set_num_threads(3)
        assert engine.num_threads() == 3
        with pytest.raises(InputError, match=r"thread count must be in 0\.\.64, got 65"):
            engine.set_num_threads(65)
        with pytest.raises(InputError, match="got -1"):
            engine.set_num_threads(-1)
    finally:
        engine.set_num_threads(before)


def test_select_kernel_errors():
    gemm_ref = _ref_index("gemm")
    with pytest.raises(NativeInputError, match="unknown name or index"):
        engine.select_kernel(1, gemm_ref)  # a GEMM kernel for the GEMV family
    with pytest.raises(InputError, match="no registered kernel is called 'nope'"):
        engine.kernel_index("nope")
    unsupported = [r for r in KERNELS if not r["supported"]]
    if unsupported:
        with pytest.raises(NativeError, match="not valid in the current state"):
            engine.select_kernel(unsupported[0]["family"], unsupported[0]["index"])


def _mnist_or_random(n: int) -> np.ndarray:
    from conntra import datasets
    from conntra.errors import DataNotFoundError

    try:
        return np.asarray(datasets.load("mnist").x_test[:n])
    except DataNotFoundError:
        return np.random.default_rng(SEED).integers(0, 256, size=(n, 784), dtype=np.uint8)


SCRIPT = """
import sys, numpy as np
from conntra import engine
from conntra._native import ffi, lib
from conntra._status import check
from conntra.model import TernaryModel
from conntra.quant import InputQuant
x = np.load(sys.argv[1])
m = TernaryModel.random([784, 300, 100, 10], InputQuant.pixels(784), seed=5)
np.save(sys.argv[2], m.logits_quantized(m.quantize(x)))
print(sorted(set(engine.active_kernels().values())))
"""


def test_model_logits_identical_with_simd_and_forced_scalar(tmp_path):
    """A whole forward (batch 1 -> GEMV, larger -> GEMM) in this process with
    the dispatched kernels and in a child with CONNTRA_FORCE_SCALAR=1."""
    x = _mnist_or_random(300)
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for mode in ("simd", "scalar"):
        env = dict(os.environ)
        env.pop("CONNTRA_KERNELS", None)
        env.pop("CONNTRA_FORCE_SCALAR", None)
        if mode == "scalar":
            env["CONNTRA_FORCE_SCALAR"] = "1"
        args = [SCRIPT, str(tmp_path / "x.npy"), str(tmp_path / f"{mode}.npy")]
        done = run_child(args, env, tmp_path, timeout=120)
        outs[mode] = (np.load(tmp_path / f"{mode}.npy"), done.stdout)
    assert all("__ref" in name for name in eval(outs["scalar"][1]))
    assert np.array_equal(outs["simd"][0], outs["scalar"][0])

    from conntra.model import TernaryModel
    from conntra.quant import InputQuant

    m = TernaryModel.random([784, 300, 100, 10], InputQuant.pixels(784), seed=5)
    xq = m.quantize(x)
    assert np.array_equal(m.logits_quantized(xq), outs["scalar"][0])
    assert np.array_equal(m.logits_quantized(xq[:1]), outs["scalar"][0][:1])  # GEMV path
    assert np.array_equal(m.logits_quantized(xq, backend="numpy"), outs["scalar"][0])


def test_environment_settings_in_a_child(tmp_path):
    code = (
        "from conntra import engine; print(engine.num_threads(), "
        "sorted({r['isa'] for r in engine.kernels() if r['active']}))"
    )
    env = dict(os.environ, CONNTRA_NUM_THREADS="3", CONNTRA_KERNELS="ref")
    env.pop("CONNTRA_FORCE_SCALAR", None)
    out = run_child([code], env, tmp_path)
    assert out.stdout.split() == ["3", "['ref']"]


ENV_SCRIPT = """
import sys
import numpy as np
from conntra import engine, packing
from conntra.errors import ConntraError, EnvironmentConfigError
calls = {
    "check_environment": engine.check_environment,
    "num_threads": engine.num_threads,
    "kernels": engine.kernels,
    "pack_t2": lambda: packing.pack_t2(np.zeros((1, 4), np.int8)),
    "forward": lambda: engine.NativeNet([(np.zeros(32, np.uint8), 4, 1, np.zeros(1, np.int32),
                                          engine.SHIFT_OUTPUT, None)]).logits(
                                              np.zeros((1, 4), np.int8)),
}
for name, call in calls.items():
    try:
        call()
    except EnvironmentConfigError as e:
        assert isinstance(e, ConntraError) and isinstance(e, ValueError)
        print(name, "|", e)
    else:
        print(name, "| no error")
"""


@pytest.mark.parametrize(
    "var, value",
    [
        ("CONNTRA_KERNELS", "bogus"),
        ("CONNTRA_KERNELS", "avx2,bogus"),
        ("CONNTRA_NUM_THREADS", "abc"),
        ("CONNTRA_NUM_THREADS", "0"),
        ("CONNTRA_NUM_THREADS", "-3"),
        ("CONNTRA_NUM_THREADS", "999"),
        ("CONNTRA_FORCE_SCALAR", "yes"),
        ("CONNTRA_GEMV_STREAMS", "3"),
        ("CONNTRA_GEMV_STREAMS", "fast"),
    ],
)
def test_bad_environment_is_an_error_in_a_child(tmp_path, var, value):
    """Not a silent fallback: every call that needs dispatch or threads raises
    EnvironmentConfigError naming the variable and its value."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNTRA_")}
    env[var] = value
    done = run_child([ENV_SCRIPT], env, tmp_path)
    rows = dict(line.split(" | ", 1) for line in done.stdout.splitlines())
    if var in ("CONNTRA_NUM_THREADS", "CONNTRA_GEMV_STREAMS"):  # not packing's business
        rows.pop("pack_t2")
        rows.pop("kernels")
    assert rows, done.stdout
    for name, message in rows.items():
        assert f"{var}={value}: expected" in message, (name, message)


def test_good_environment_values_in_a_child(tmp_path):
    """ISAs of the other architecture are known names; 0 turns forced scalar off."""
    code = (
        "from conntra import engine; engine.check_environment(); print(engine.num_threads(), "
        "sorted({r['isa'] for r in engine.kernels() if r['active']}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNTRA_")}
    env.update(CONNTRA_NUM_THREADS="64", CONNTRA_KERNELS="neondot,ref", CONNTRA_FORCE_SCALAR="0")
    out = run_child([code], env, tmp_path).stdout.split(maxsplit=1)
    assert out[0] == "64"
    assert "'avx2'" not in out[1]
    # GEMV streams: a count, or auto (measured once by the read ceiling).
    code = "from conntra import engine; print(engine.gemv_streams())"
    for value, want in (("8", {"8"}), ("2", {"2"}), ("auto", {"1", "2", "4", "8"}), ("", {"1"})):
        env["CONNTRA_GEMV_STREAMS"] = value
        assert run_child([code], env, tmp_path).stdout.strip() in want, value


def test_every_gemv_stream_count_gives_the_same_bits():
    """The VNNI GEMV walks 1, 2, 4 or 8 rows at once; every count, and every
    GEMV/GEMM kernel under it (GEMM's leftover columns use its GEMV), must
    match the oracle."""
    rng = np.random.default_rng(SEED + 4)
    before = engine.gemv_streams()
    mm = [r for r in KERNELS if r["family_name"] in ("gemv", "gemm") and r["supported"]]
    try:
        for streams in engine.GEMV_STREAMS:
            engine.set_gemv_streams(streams)
            assert engine.gemv_streams() == streams
            for n in (1, 3, 7, 8, 9, 17):
                for k, batch in ((100, 1), (640, 3), (1025, 6)):
                    w, bias, x = _problem(rng, n, k, batch, int(rng.integers(0, 5)))
                    op = engine.DenseOp(_pack_any(w), k, n, bias, x)
                    want = _oracle(w, bias, x)
                    for r in mm:
                        got = op.run(kernel=r["index"]).astype(np.int64)
                        assert np.array_equal(got, want), (r["name"], streams, n, k, batch)
        with pytest.raises(InputError, match="must be 1, 2, 4 or 8, got 3"):
            engine.set_gemv_streams(3)
    finally:
        engine.set_gemv_streams(before)
