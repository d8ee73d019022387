"""The C trainer for chains of layer kinds (ct_seq, conntra.train.convtrainer):
its caches against the inference engine, every exact check and application
against a trainer built afresh on the changed parameters, the integer
surrogate gradient against a float64 numpy oracle, thread counts, and
CoNNTrA's fit on a chain with checkpoints and resume."""

from __future__ import annotations

import numpy as np
import pytest
from _train_helpers import InterruptAt, same_params
from conntra._native import lib

from conntra import arch, reference
from conntra.contract import SHIFT_OUTPUT
from conntra.engine import NativeNet
from conntra.errors import ConntraError
from conntra.quant import InputQuant
from conntra.train import coordinate
from conntra.train.convtrainer import GRAD_SCALE, SeqTrainer

ARCH = "c4k3,p2,dw3a4,c6k3s2a2,d8a4,d10"
SHAPE = (10, 10, 2)
TEMP = 40.0


def _layers(seed=1):
    return arch.random_layers(ARCH, SHAPE, seed=seed)


def _params(layers):
    return [(ly.weights, ly.bias, ly.shift) for ly in layers if getattr(ly, "has_params", False)]


def _bits(layers):
    return [ly.act_bits or 7 for ly in layers if getattr(ly, "has_params", False)][:-1]


def _batch(rng, n):
    x = rng.integers(0, 128, (n, int(np.prod(SHAPE)))).astype(np.int8)
    x[rng.random(x.shape) < 0.3] = 0
    return x, rng.integers(0, 10, n).astype(np.int32)


def _trainer(layers, params, x, y):
    tr = SeqTrainer(layers, SHAPE, len(y), _bits(layers))
    tr.set_params(params)
    tr.set_batch(x, y, TEMP)
    return tr


def _random_candidate(rng, tr):
    p = int(rng.integers(tr.n_layers))
    rows, cols = tr.shapes[p]
    kinds = (0, 1, 2) if p < tr.n_layers - 1 else (0, 1)
    kind = int(rng.choice(kinds))
    if kind == 0:
        return (p, 0, int(rng.integers(rows)), int(rng.integers(cols)), int(rng.integers(-1, 2)))
    if kind == 1:
        return (p, 1, int(rng.integers(rows)), 0, int(rng.choice([-40, -3, 5, 64])))
    return (p, 2, 0, 0, int(rng.choice([-1, 1])))


def _changed(tr, cand):
    params = [(np.array(w), np.array(b), s) for w, b, s in tr.get_params()]
    p, kind, row, col, value = cand
    w, b, s = params[p]
    if kind == 0:
        w.reshape(tr.shapes[p])[row, col] = value
    elif kind == 1:
        b[row] += value
    else:
        s += value
    params[p] = (w, b, s)
    return params


def test_caches_match_the_engine_and_the_reference(mnist):
    layers = arch.random_layers("c6k3,p2,dw3,c8k3s2a4,d10", (28, 28, 1), seed=3)
    xq = (mnist.x_test[:300] // 2).astype(np.int8)
    y = mnist.y_test[:300].astype(np.int32)
    tr = SeqTrainer(layers, (28, 28, 1), 300, [7, 7, 4])
    tr.set_params(_params(layers))
    tr.set_batch(xq, y, TEMP)
    engine = NativeNet(layers, (28, 28, 1)).logits(xq)
    assert np.array_equal(tr.logits(), engine)
    act, shape = xq.astype(np.int64), (28, 28, 1)
    for ly in layers:
        act2 = ly.forward(act, shape)
        shape = ly.out_shape(shape)
        if getattr(ly, "has_params", False) and ly.shift != SHIFT_OUTPUT:
            act2 = reference.requantize(act2, ly.shift, ly.act_bits or 7)
        act = act2
    assert np.array_equal(tr.logits(), act)


def test_every_check_and_application_is_exact():
    rng = np.random.default_rng(0)
    layers = _layers()
    x, y = _batch(rng, 48)
    tr = _trainer(layers, _params(layers), x, y)
    checked = applied = 0
    for _ in range(160):
        cand = _random_candidate(rng, tr)
        try:
            delta = tr.delta(cand)
        except ConntraError:  # a shift or bias pushed out of its range
            continue
        fresh = _trainer(layers, _changed(tr, cand), x, y)
        assert delta == pytest.approx(fresh.loss() - tr.loss(), rel=1e-9, abs=1e-9)
        checked += 1
        if rng.random() < 0.5:
            tr.apply(cand)
            applied += 1
            assert np.array_equal(tr.logits(), fresh.logits())
            # the gradient reads every stage's caches: equal integers, equal caches
            for (gw, gb), (fw, fb) in zip(tr.gradient(), fresh.gradient(), strict=True):
                assert np.array_equal(gw, fw) and np.array_equal(gb, fb)
    assert checked > 100 and applied > 40


def test_step_accepts_only_decreases_and_matches_deltas():
    rng = np.random.default_rng(1)
    layers = _layers()
    x, y = _batch(rng, 64)
    tr = _trainer(layers, _params(layers), x, y)
    cands = np.array([_random_candidate(rng, tr) for _ in range(80)], np.int32)
    cands = cands[cands[:, 1] != 2]  # shifts may leave their range after others
    before = tr.loss()
    accepted, deltas = tr.step(cands, 0.0, 0)
    assert accepted.any() and (deltas[accepted] < 0).all()
    assert tr.loss() < before
    assert tr.loss() == pytest.approx(before + deltas[accepted].sum(), rel=1e-9)


def _oracle_gradient(layers, params, x, y, leak=0.0):
    """The surrogate in float64 numpy over the reference forward (NHWC)."""
    n = len(y)
    acts, accs, shapes = [x.astype(np.float64).reshape(n, *SHAPE)], [], [SHAPE]
    act, shape = x.astype(np.int64), SHAPE
    for ly in layers:
        out = ly.forward(act, shape)
        shape = ly.out_shape(shape)
        accs.append(out)
        if getattr(ly, "has_params", False) and ly.shift != SHIFT_OUTPUT:
            out = reference.requantize(out, ly.shift, ly.act_bits or 7)
        act = out
        acts.append(act.astype(np.float64).reshape(n, *shape))
        shapes.append(shape)
    z = accs[-1] / TEMP
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(n), y] -= 1.0
    g = (p / TEMP).reshape(n, 1, 1, -1)
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        ly, xin = layers[i], acts[i]
        if ly.kind == "flatten":
            g = g.reshape(xin.shape)
        elif ly.kind == "maxpool2d":
            (wh, ww), (sh, sw) = ly.window, ly.stride
            ho, wo = g.shape[1:3]
            stack = np.stack(
                [
                    xin[:, ky : ky + sh * ho : sh, kx : kx + sw * wo : sw, :]
                    for ky in range(wh)
                    for kx in range(ww)
                ],
                axis=-1,
            )
            first = np.argmax(stack, axis=-1)
            gin = np.zeros_like(xin)
            for t in range(wh * ww):
                ky, kx = divmod(t, ww)
                gin[:, ky : ky + sh * ho : sh, kx : kx + sw * wo : sw, :] += g * (first == t)
            g = gin
        elif ly.kind == "dense":
            g2 = g.reshape(n, -1)
            flat = xin.reshape(n, -1)
            grads.append((g2.T @ flat, g2.sum(axis=0)))
            g = (g2 @ ly.weights.astype(np.float64)).reshape(xin.shape)
        else:
            top, bottom, left, right = ly.padding
            sh, sw = ly.stride
            w = ly.weights.astype(np.float64)
            xp = np.pad(xin, ((0, 0), (top, bottom), (left, right), (0, 0)))
            gp = np.zeros_like(xp)
            ho, wo = g.shape[1:3]
            gw = np.zeros_like(w)
            for ky in range(w.shape[1]):
                for kx in range(w.shape[2]):
                    sl = (slice(None), slice(ky, ky + sh * ho, sh), slice(kx, kx + sw * wo, sw))
                    if ly.groups > 1:
                        gw[:, ky, kx, 0] = np.einsum("nhwc,nhwc->c", g, xp[sl])
                        gp[sl] += g * w[:, ky, kx, 0]
                    else:
                        gw[:, ky, kx, :] = np.einsum("nhwo,nhwc->oc", g, xp[sl])
                        gp[sl] += np.einsum("nhwo,oc->nhwc", g, w[:, ky, kx, :])
            grads.append((gw.reshape(w.shape[0], -1), g.sum(axis=(0, 1, 2))))
            g = gp[:, top : top + xin.shape[1], left : left + xin.shape[2], :]
        if i > 0 and getattr(layers[i - 1], "has_params", False):
            prev = layers[i - 1]
            s, a = prev.shift, accs[i - 1].reshape(g.shape)
            top = (1 << (prev.act_bits or 7)) - 1
            inside = (a >= -(1 << s >> 1)) & (a < (top << s) + (1 << s >> 1))
            g = g * np.where(inside, 2.0**-s, leak * 2.0**-s)
    return grads[::-1]


@pytest.mark.parametrize("leak", [0.0, 0.25])
def test_integer_gradient_matches_the_float_oracle(leak):
    rng = np.random.default_rng(2)
    layers = _layers(seed=4)
    x, y = _batch(rng, 40)
    tr = _trainer(layers, _params(layers), x, y)
    got = tr.gradient(0, leak)
    want = _oracle_gradient(layers, _params(layers), x, y, leak)
    for (gw, gb), (fw, fb) in zip(got, want, strict=True):
        scale = max(np.abs(fw).max(), 1e-12)
        assert np.abs(gw / GRAD_SCALE - fw).max() <= 2e-3 * scale + 1e-5
        assert np.abs(gb / GRAD_SCALE - fb).max() <= 2e-3 * max(np.abs(fb).max(), scale) + 1e-5
    # a sub-batch reads only its samples
    part = tr.gradient(10, leak)
    small = _trainer(layers, _params(layers), x[:10], y[:10]).gradient(0, leak)
    for (a, b), (c, d) in zip(part, small, strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, d)


@pytest.fixture
def threads():
    yield lambda n: lib.ct_set_num_threads(n)
    lib.ct_set_num_threads(0)


def test_same_results_for_every_thread_count(threads):
    rng = np.random.default_rng(5)
    layers = arch.random_layers("c8k3,p2,c8k3,d10", (16, 16, 1), seed=2)
    x = rng.integers(0, 128, (300, 256)).astype(np.int8)
    y = rng.integers(0, 10, 300).astype(np.int32)
    cands = None
    results = []
    for n in (1, 2, 3):
        threads(n)
        tr = SeqTrainer(layers, (16, 16, 1), 300)
        tr.set_params(_params(layers))
        tr.set_batch(x, y, TEMP)
        grads = tr.gradient()
        if cands is None:
            cfg = coordinate.ConntraConfig(budget=120, bias_checks=4)
            cands = coordinate.chain_candidates(cfg, tr, list(range(tr.n_layers)), TEMP)
        accepted, deltas = tr.step(cands, 0.0, 40)
        results.append((grads, accepted, deltas, tr.get_params()))
    for grads, accepted, deltas, params in results[1:]:
        assert all(
            np.array_equal(a, c) and np.array_equal(b, d)
            for (a, b), (c, d) in zip(grads, results[0][0], strict=True)
        )
        assert np.array_equal(accepted, results[0][1])
        assert np.array_equal(deltas, results[0][2])  # the same bits
        assert same_params(params, results[0][3])


def test_bad_batches_are_refused():
    layers = _layers()
    tr = SeqTrainer(layers, SHAPE, 8)
    x = np.zeros((8, 200), np.int8)
    with pytest.raises(ConntraError):
        tr.set_batch(x[:, :100], np.zeros(8, np.int32), TEMP)  # wrong width
    with pytest.raises(ConntraError):
        tr.set_batch(x, np.full(8, 10, np.int32), TEMP)  # label out of range
    x[3, 5] = -1
    with pytest.raises(ConntraError):
        tr.set_batch(x, np.zeros(8, np.int32), TEMP)  # not a 0..127 code
    with pytest.raises(ConntraError):
        tr.set_batch(np.zeros((9, 200), np.int8), np.zeros(9, np.int32), TEMP)  # above cap
    with pytest.raises(ConntraError):
        tr.loss()  # no batch yet
    with pytest.raises(ConntraError):
        tr.set_layer(0, np.full((4, 3, 3, 2), 2, np.int8), np.zeros(4, np.int32), 3)


def _fit(tmp_path, xq, y, observer=None, resume=False, epochs=2):
    layers = arch.random_layers("c4k3,p2,d10", (8, 8, 1), seed=0)
    iq = InputQuant.pixels(64, shape=(8, 8, 1))
    cfg = coordinate.ConntraConfig(
        batch=100, budget=60, rounds=2, bias_checks=4, init="random", checkpoint_every=1
    )
    return coordinate.fit(
        xq[:300],
        y[:300],
        xq[300:],
        y[300:],
        layers,
        iq,
        _params(layers),
        TEMP,
        cfg,
        epochs=epochs,
        seed=3,
        checkpoint_dir=tmp_path,
        resume=resume,
        observer=observer,
    )


def test_fit_learns_and_resumes_exactly(tmp_path):
    rng = np.random.default_rng(6)
    y = rng.integers(0, 10, 400)
    xq = np.zeros((400, 64), np.int8)
    for c in range(10):  # a learnable pattern: one bright square per class
        xq[y == c, (c % 8) * 8 : (c % 8) * 8 + 4] = 100
        xq[y == c, 4 + c // 8 * 30] = 120
    xq = np.clip(xq + rng.integers(0, 20, xq.shape), 0, 127).astype(np.int8)
    whole, hist = _fit(tmp_path / "a", xq, y)
    assert hist[-1]["train_error"] < hist[0]["train_error"] or hist[0]["train_error"] < 0.5
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "b", xq, y, observer=InterruptAt(4))
    resumed, hist2 = _fit(tmp_path / "b", xq, y, resume=True)
    assert same_params(resumed, whole)
    assert [h["val_error"] for h in hist2] == [h["val_error"] for h in hist]
    model = coordinate.to_model(
        resumed,
        InputQuant.pixels(64, shape=(8, 8, 1)),
        None,
        [7],
        arch.random_layers("c4k3,p2,d10", (8, 8, 1)),
    )
    assert [ly.kind for ly in model.layers] == ["conv2d", "maxpool2d", "flatten", "dense"]


def test_memory_count_is_affine_in_the_batch():
    # api's memory accounting reads the count off trainers of 1 and 2 samples
    layers = _layers()
    m = {n: SeqTrainer(layers, SHAPE, n).memory() for n in (1, 2, 7)}
    for key in ("parameters", "caches", "data"):
        assert m[7][key] == m[1][key] + 6 * (m[2][key] - m[1][key])
    assert m[2]["caches"] > m[1]["caches"] > 0
