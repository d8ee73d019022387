"""The trainer with SIMD kernels and threads gives the same bits as without.

- A whole CoNNTrA training run (child processes) writes the same model bytes
  with the dispatched SIMD kernels, with CONNTRA_FORCE_SCALAR=1, and with
  threaded candidate scoring (mode "scored", CONNTRA_NUM_THREADS=2 vs 1).
- One scored step gives the same accepted set, deltas and parameters for 1, 2
  and 3 scoring threads, with weight, bias and shift candidates.
The kernels themselves are checked one by one in tests/test_kernels.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from conntra import engine
from conntra.train.ctrainer import BIAS, SHIFT, WEIGHT, CTrainer

SCRIPT = """
import sys
from conntra import datasets, engine
from conntra.errors import DataNotFoundError
from conntra.train import api, coordinate
try:
    ds, hidden, n = datasets.load("mnist"), [24], 1500
except DataNotFoundError:
    ds, hidden, n = datasets.load("iris"), [8], None
cfg = coordinate.ConntraConfig(init="random", mode=sys.argv[2], budget=512, batch=500)
res = api.train(ds, hidden, epochs=1, seed=3, config=cfg, max_train=n)
res.model.save(sys.argv[1])
print(sorted({r["isa"] for r in engine.kernels() if r["active"]}), engine.num_threads())
"""


def _train_bytes(tmp_path, name: str, mode: str, **env_extra) -> tuple[bytes, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CONNTRA_FORCE_SCALAR", "CONNTRA_KERNELS", "CONNTRA_NUM_THREADS")
    }
    env.update(env_extra)
    path = tmp_path / f"{name}.ctm"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return path.read_bytes(), done.stdout


def test_training_gives_the_same_model_bytes_with_simd_scalar_and_threads(tmp_path):
    simd, out_simd = _train_bytes(tmp_path, "simd", "sequential")
    scalar, out_scalar = _train_bytes(tmp_path, "scalar", "sequential", CONNTRA_FORCE_SCALAR="1")
    assert "['ref'] 1" in out_scalar
    # What dispatch picks without settings: the last supported row of each
    # family (a supported ISA may lose everywhere, e.g. avx512vnni256).
    picked = {r["family_name"]: r["isa"] for r in engine.kernels() if r["supported"]}
    simd_isas = set(picked.values()) - {"ref"}
    assert all(f"'{isa}'" in out_simd for isa in simd_isas)  # the SIMD run really was
    assert simd == scalar
    one, _ = _train_bytes(tmp_path, "scored1", "scored", CONNTRA_NUM_THREADS="1")
    two, out_two = _train_bytes(tmp_path, "scored2", "scored", CONNTRA_NUM_THREADS="2")
    scalar_scored, _ = _train_bytes(tmp_path, "scored0", "scored", CONNTRA_FORCE_SCALAR="1")
    assert out_two.strip().endswith("2")
    assert one == two == scalar_scored


def _loaded_trainer(rng):
    sizes, batch = [40, 24, 16, 5], 200
    tr = CTrainer(sizes, batch)
    params = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        w = rng.integers(-1, 2, (b, a)).astype(np.int8)
        params.append(
            (w, rng.integers(-50, 50, b).astype(np.int32), -1 if i == len(sizes) - 2 else 4)
        )
    tr.set_params(params)
    x = rng.integers(0, 128, (batch, sizes[0])).astype(np.int8)
    x[rng.random(x.shape) < 0.4] = 0
    tr.set_batch(x, rng.integers(0, sizes[-1], batch), 20.0)
    return tr, sizes, params


def _candidates(rng, sizes, n):
    rows = []
    for _ in range(n):
        layer = int(rng.integers(0, len(sizes) - 1))
        kind = rng.choice([WEIGHT] * 8 + [BIAS, SHIFT])
        if kind == SHIFT and layer == len(sizes) - 2:
            kind = WEIGHT
        row = int(rng.integers(0, sizes[layer + 1]))
        col = int(rng.integers(0, sizes[layer]))
        value = {
            WEIGHT: int(rng.integers(-1, 2)),
            BIAS: int(rng.integers(-9, 10)),
            SHIFT: int(rng.choice([-1, 1])),
        }[kind]
        rows.append([layer, kind, row, col if kind == WEIGHT else 0, value])
    return rows


def test_scored_step_is_the_same_for_every_thread_count():
    before = engine.num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            engine.set_num_threads(threads)
            rng = np.random.default_rng(42)
            tr, sizes, _ = _loaded_trainer(rng)
            cands = _candidates(rng, sizes, 300)
            accepted, deltas = tr.step(cands, mode="scored", max_accept=40)
            results.append((accepted, deltas, tr.get_params(), tr.loss()))
    finally:
        engine.set_num_threads(before)
    first = results[0]
    assert first[0].sum() > 0
    for accepted, deltas, params, loss in results[1:]:
        assert np.array_equal(accepted, first[0])
        assert np.array_equal(deltas, first[1])  # float64, compared bit for bit
        assert loss == first[3]
        for (w, b, s), (w0, b0, s0) in zip(params, first[2], strict=False):
            assert np.array_equal(w, w0) and np.array_equal(b, b0) and s == s0
