"""The C trainer engine against the slow numpy specification."""

from __future__ import annotations

import numpy as np
import pytest
from _train_helpers import (
    random_batch,
    random_params,
    same_params,
    surrogate_gradients,
    weight_estimates,
)
from conntra._native import lib

from conntra import reference
from conntra.engine import kernels
from conntra.errors import NativeError, NativeInputError, ShapeError
from conntra.train import reference as slow
from conntra.train import surrogate
from conntra.train.ctrainer import BIAS, SHIFT, WEIGHT, CTrainer

CASES = [  # sizes, shifts (small shifts put many activations at the clamp bounds)
    ([6, 7, 4], [0]),
    ([6, 7, 4], [3]),
    ([5, 9, 6, 3], [1, 5]),
    ([8, 5, 5, 4, 3], [2, 0, 4]),
]


def loaded(params, x, y, temperature):
    sizes = [params[0][0].shape[1]] + [w.shape[0] for w, _, _ in params]
    tr = CTrainer(sizes, max(64, len(y)))
    tr.set_params(params)
    tr.set_batch(x, y, temperature)
    return tr


@pytest.mark.parametrize("sizes,shifts", CASES)
def test_every_candidate_delta_equals_full_recompute(sizes, shifts):
    rng = np.random.default_rng(sum(sizes))
    params = random_params(rng, sizes, shifts)
    x, y = random_batch(rng, 48, sizes[0], sizes[-1])
    temp = 15.0
    tr = loaded(params, x, y, temp)
    base = slow.batch_loss(params, x, y, temp)
    assert tr.loss() == pytest.approx(base, rel=1e-12)
    cands = slow.exhaustive_candidates(params, bias_steps=(1, 5, 64))
    for c in cands:
        want = slow.batch_loss(slow.apply_candidate(params, c), x, y, temp) - base
        assert tr.delta(c) == pytest.approx(want, rel=1e-9, abs=1e-9), tuple(c)
    # the caches are exact integers after any sequence of applies
    for c in cands[rng.permutation(len(cands))[:40]]:
        tr.apply(c)
        params = slow.apply_candidate(params, c)
    assert same_params(tr.get_params(), params)
    for layer in range(len(sizes) - 1):
        want = reference.forward(
            x,
            params[: layer + 1]
            if layer == len(sizes) - 2
            else params[:layer] + [(params[layer][0], params[layer][1], -1)],
        )
        acc, act = tr.cache(layer)
        assert np.array_equal(acc.T, want)
        if act is not None:
            assert np.array_equal(act.T, reference.requantize(want, params[layer][2]))
    assert tr.loss() == pytest.approx(slow.batch_loss(params, x, y, temp), rel=1e-12)


@pytest.mark.parametrize("mode", ["sequential", "scored"])
@pytest.mark.parametrize("sizes,shifts", CASES[1:3])
def test_one_c_step_equals_slow_step(sizes, shifts, mode):
    rng = np.random.default_rng(7 + len(sizes))
    params = random_params(rng, sizes, shifts)
    x, y = random_batch(rng, 40, sizes[0], sizes[-1])
    temp = 20.0
    tr = loaded(params, x, y, temp)
    # a gradient-ranked list, the trainer's normal input, plus biases and shifts
    rows = []
    for layer in range(len(params)):
        tr.rank(layer, 12, 3, 4)
        rows.append(tr.ranked(layer)[0])
    cands = np.concatenate(rows + [surrogate.shift_candidates([s for *_, s in params])])
    accepted, deltas = tr.step(cands, mode=mode)
    want_params, want_acc, want_deltas = slow.slow_step(params, x, y, temp, cands, mode)
    assert accepted.any()
    assert np.array_equal(accepted, want_acc)
    assert np.allclose(deltas, want_deltas, rtol=1e-9, atol=1e-9)
    assert same_params(tr.get_params(), want_params)
    assert tr.loss() == pytest.approx(slow.batch_loss(want_params, x, y, temp), rel=1e-12)


def test_exhaustive_step_equals_slow_step():
    rng = np.random.default_rng(3)
    sizes = [4, 5, 3]
    params = random_params(rng, sizes, [2])
    x, y = random_batch(rng, 30, 4, 3)
    tr = loaded(params, x, y, 10.0)
    cands = slow.exhaustive_candidates(params, bias_steps=(1, 8))
    accepted, _ = tr.step(cands)
    want_params, want_acc, _ = slow.slow_step(params, x, y, 10.0, cands)
    assert np.array_equal(accepted, want_acc) and same_params(tr.get_params(), want_params)


def test_bad_candidates_and_states_raise_clear_errors():
    rng = np.random.default_rng(0)
    params = random_params(rng, [4, 5, 3], [2])
    tr = CTrainer([4, 5, 3], 8)
    tr.set_params(params)
    with pytest.raises(NativeError, match="loss: the call is not valid in the current state"):
        tr.loss()  # no batch yet
    x, y = random_batch(rng, 8, 4, 3)
    tr.set_batch(x, y, 5.0)
    for bad in (
        [0, WEIGHT, 9, 0, 1],
        [0, WEIGHT, 0, 0, 2],
        [1, SHIFT, 0, 0, 1],
        [0, SHIFT, 0, 0, -3],
        [0, BIAS, 0, 0, 1 << 28],
        [2, WEIGHT, 0, 0, 0],
        [0, 7, 0, 0, 0],
    ):
        with pytest.raises(NativeInputError, match="outside its allowed range"):
            tr.delta(bad)
    before = tr.get_params()
    with pytest.raises(NativeInputError, match="outside its allowed range"):
        tr.step([[0, WEIGHT, 0, 0, 1], [0, WEIGHT, 0, 0, 5]])
    assert same_params(tr.get_params(), before)  # validated before any change
    with pytest.raises(
        NativeInputError, match="batch: a size is zero, negative or above its limit"
    ):
        tr.set_batch(np.zeros((9, 4), np.int8), np.zeros(9, np.int32), 1.0)  # above capacity
    with pytest.raises(NativeInputError, match="outside its allowed range"):
        tr.set_batch(x, np.full(8, 3, np.int32), 1.0)  # label out of range
    with pytest.raises(NativeInputError, match="outside its allowed range"):
        tr.set_batch(x, y, 0.0)  # temperature must be > 0


def test_trainer_kernels_are_registered():
    names = {k["name"] if isinstance(k, dict) else k[0] for k in kernels()}
    for name in (
        "ct_s8_s32_axpy__ref",
        "ct_s32_s8_requant_diff__ref",
        "ct_s32_f64_ce_out_delta__ref",
    ):
        assert name in names


@pytest.mark.parametrize("shift", [0, 1, 4])
def test_deltas_at_the_requantization_and_clamp_boundaries(shift):
    """Biases put each hidden neuron of sample 0 exactly on a rounding step,
    just below 0 or just at the 127 clamp, where an off-by-one would show."""
    rng = np.random.default_rng(shift)
    sizes = [5, 8, 3]
    params = random_params(rng, sizes, [shift])
    x, y = random_batch(rng, 24, 5, 3)
    w0 = params[0][0].astype(np.int64)
    raw = w0 @ x.astype(np.int64).T  # (8, batch) without bias
    half = (1 << shift) >> 1
    targets = [
        -half,
        -half - 1,
        (3 << shift) - half,
        (3 << shift) - half - 1,
        (127 << shift) - half,
        (127 << shift) - half - 1,
        (128 << shift) - half,
        0,
    ]
    bias = np.array([t - raw[j, 0] for j, t in enumerate(targets)], np.int32)
    params[0] = (params[0][0], bias, shift)
    temp = 9.0
    tr = loaded(params, x, y, temp)
    base = slow.batch_loss(params, x, y, temp)
    for c in slow.exhaustive_candidates(params, bias_steps=(1, 2)):
        want = slow.batch_loss(slow.apply_candidate(params, c), x, y, temp) - base
        assert tr.delta(c) == pytest.approx(want, rel=1e-9, abs=1e-9), tuple(c)


def test_an_impossible_trainer_reports_out_of_memory():
    from conntra.errors import NativeMemoryError

    with pytest.raises(NativeMemoryError, match="trainer: out of memory"):
        CTrainer([1 << 20, 1 << 20, 10], 1 << 20)  # terabytes of caches
    with pytest.raises(NativeInputError, match="trainer: a size is zero"):
        CTrainer([4, 0, 3], 8)


ACT_CASES = [  # sizes, shifts, activation bits per hidden layer
    ([6, 7, 4], [1], [1]),
    ([6, 7, 4], [2], [2]),
    ([5, 9, 6, 3], [1, 0], [4, 2]),
    ([8, 5, 5, 4, 3], [2, 0, 1], [1, 4, 2]),
]


@pytest.mark.parametrize("sizes,shifts,act_bits", ACT_CASES)
def test_every_candidate_delta_equals_full_recompute_with_act_bits(sizes, shifts, act_bits):
    """Fewer activation bits: every candidate's incremental delta (hidden weights and
    biases through requant_diff and the sparse propagation, shifts through the full
    recompute) equals a full numpy recompute of the a-bit network; small shifts put
    many activations on the clamps at 0 and 2^a - 1."""
    rng = np.random.default_rng(sum(sizes) + sum(act_bits))
    params = random_params(rng, sizes, shifts)
    x, y = random_batch(rng, 48, sizes[0], sizes[-1])
    temp = 15.0
    tr = CTrainer(sizes, 64, act_bits)
    tr.set_params(params)
    tr.set_batch(x, y, temp)
    base = slow.batch_loss(params, x, y, temp, act_bits)
    assert tr.loss() == pytest.approx(base, rel=1e-12)
    assert base != pytest.approx(slow.batch_loss(params, x, y, temp), rel=1e-9)  # bits matter
    tops = [(1 << a) - 1 for a in act_bits]
    _, act0 = tr.cache(0)
    assert (act0 == tops[0]).any() and (act0 == 0).any()  # both clamps are in play
    cands = slow.exhaustive_candidates(params, bias_steps=(1, 3, 64))
    for c in cands:
        want = slow.batch_loss(slow.apply_candidate(params, c), x, y, temp, act_bits) - base
        assert tr.delta(c) == pytest.approx(want, rel=1e-9, abs=1e-9), tuple(c)
    for c in cands[rng.permutation(len(cands))[:40]]:
        tr.apply(c)
        params = slow.apply_candidate(params, c)
    assert same_params(tr.get_params(), params)
    layers = slow.with_bits(params, act_bits)
    for layer in range(len(sizes) - 2):
        want = reference.forward(x, layers[:layer] + [(params[layer][0], params[layer][1], -1)])
        acc, act = tr.cache(layer)
        assert np.array_equal(acc.T, want)
        assert np.array_equal(act.T, reference.requantize(want, params[layer][2], act_bits[layer]))
        assert act.max() <= tops[layer]
    assert tr.loss() == pytest.approx(slow.batch_loss(params, x, y, temp, act_bits), rel=1e-12)


@pytest.mark.parametrize("mode", ["sequential", "scored"])
@pytest.mark.parametrize("sizes,shifts,act_bits", ACT_CASES[1:3])
def test_one_c_step_equals_slow_step_with_act_bits(sizes, shifts, act_bits, mode):
    rng = np.random.default_rng(11 + len(sizes))
    params = random_params(rng, sizes, shifts)
    x, y = random_batch(rng, 40, sizes[0], sizes[-1])
    temp = 20.0
    tr = CTrainer(sizes, 64, act_bits)
    tr.set_params(params)
    tr.set_batch(x, y, temp)
    tr.reserve_ranking(12, 3)
    rows = []
    for layer in range(len(params)):
        tr.rank(layer, 12, 3, 4)  # the C ranking, with the layer's a-bit window
        rows.append(tr.ranked(layer)[0])
    cands = np.concatenate(rows + [surrogate.shift_candidates([s for *_, s in params])])
    cands = cands.astype(np.int32)
    accepted, deltas = tr.step(cands, mode=mode)
    want_params, want_acc, want_deltas = slow.slow_step(
        params, x, y, temp, cands, mode, act_bits=act_bits
    )
    assert accepted.any()
    assert np.array_equal(accepted, want_acc)
    assert np.allclose(deltas, want_deltas, rtol=1e-9, atol=1e-9)
    assert same_params(tr.get_params(), want_params)


def test_surrogate_window_follows_act_bits():
    """The straight-through window of a 2-bit layer ends at 3 * 2^s + 2^(s-1): a unit
    held at the top passes no gradient back, where a 7-bit layer would pass it."""
    sizes, shift = [4, 2, 2], 2
    w0 = np.array([[1, 1, 1, 1], [0, 1, 0, 0]], np.int8)
    params = [(w0, np.zeros(2, np.int32), shift), (np.eye(2, dtype=np.int8), np.zeros(2), -1)]
    x = np.full((3, 4), 20, np.int8)
    x[:, 1] = 8  # unit 0: acc 68 -> 17 (7 bits) or 3 (2 bits); unit 1: acc 8 -> 2
    y = np.array([0, 1, 1], np.int32)
    grads, rows = {}, {}
    for bits in (7, 2):
        tr = CTrainer(sizes, 8, [bits])
        tr.set_params(params)
        tr.set_batch(x, y, 5.0)
        grads[bits] = surrogate_gradients(tr, tr.get_params(), y, 5.0)[0][0]
        tr.rank(0, 8, 0, 1)  # the C ranking follows the same window
        rows[bits] = set(tr.ranked(0)[0][:, 2].tolist())
    assert np.abs(grads[7][0]).sum() > 0 and np.abs(grads[2][0]).sum() == 0
    assert np.abs(grads[2][1]).sum() > 0  # unit 1 is inside 0..3: its gradient passes
    assert 0 in rows[7] and rows[2] == {1}


def test_trainer_act_bits_errors():
    with pytest.raises(NativeInputError, match="act_bits of layer 0"):
        CTrainer([4, 3, 2], 8, [3])
    with pytest.raises(ShapeError, match="act_bits needs 1 values"):
        CTrainer([4, 3, 2], 8, [2, 2])


@pytest.mark.parametrize("leak", [0.0, 0.25])
@pytest.mark.parametrize("sizes,shifts", CASES)
def test_c_ranking_matches_the_float64_surrogate(sizes, shifts, leak):
    """The C ranking (blockwise, float32 sums in a fixed order) keeps the
    candidates a float64 numpy surrogate ranks best, in the same order up to
    float rounding, with the same steps; bias candidates likewise."""
    rng = np.random.default_rng(11 + sum(sizes))
    params = random_params(rng, sizes, shifts)
    x, y = random_batch(rng, 150, sizes[0], sizes[-1])  # not a multiple of the chunk
    temp = 9.0
    tr = loaded(params, x, y, temp)
    grads = surrogate_gradients(tr, params, y, temp, leak)
    for layer, (w, _b, _s) in enumerate(params):
        gw, gb = grads[layer]
        est, value = weight_estimates(w, gw)
        k = 10
        tr.rank(layer, k, 3, 5, leak)
        cands, got_est = tr.ranked(layer)
        wc = cands[cands[:, 1] == WEIGHT]
        flat = est.ravel()
        want = np.lexsort((np.arange(flat.size), flat))[:k]
        want = want[np.isfinite(flat[want])]
        got = wc[:, 2] * w.shape[1] + wc[:, 3]
        assert len(got) == len(want)
        assert np.allclose(got_est[: len(got)], flat[got], rtol=1e-5, atol=1e-12)
        assert np.array_equal(wc[:, 4], value.ravel()[got])
        if len(got) and len(got) < np.isfinite(flat).sum():
            # near-ties may swap under float32 rounding, nothing more
            assert np.all(flat[got] <= flat[want[-1]] * (1 - 1e-5))
        assert np.all(np.diff(got_est[: len(got)]) >= 0)
        bc = cands[cands[:, 1] == BIAS]
        order = np.argsort(-np.abs(gb), kind="stable")[:3]
        order = order[gb[order] != 0]
        assert bc[:, 2].tolist() == order.tolist()
        assert bc[:, 4].tolist() == np.where(gb[order] > 0, -5, 5).tolist()


def test_ranking_is_the_same_for_every_thread_count():
    rng = np.random.default_rng(5)
    sizes, shifts = [40, 37, 21, 6], [2, 3]
    params = random_params(rng, sizes, shifts)
    x, y = random_batch(rng, 200, sizes[0], sizes[-1])
    lists = []
    try:
        for threads in (1, 2, 3):
            assert lib.ct_set_num_threads(threads) == 0
            tr = loaded(params, x, y, 7.0)
            tr.rank(0, 1, 1, 1)  # the ranking state is sized by the first call
            tr._rank = None
            got = []
            for layer in range(3):
                tr.rank(layer, 50, 4, 2, 0.1)
                got.append(tr.ranked(layer))
            lists.append(got)
    finally:
        lib.ct_set_num_threads(0)
    for other in lists[1:]:
        for (c1, e1), (c2, e2) in zip(lists[0], other, strict=True):
            assert np.array_equal(c1, c2) and np.array_equal(e1, e2)


def test_memory_by_part_follows_the_shapes():
    sizes = [784, 256, 10]
    tr = CTrainer(sizes, 64)
    rng = np.random.default_rng(0)
    params = random_params(rng, sizes, [6])
    tr.set_params(params)
    mem = tr.memory()
    weights = 784 * 256 + 256 * 10
    # int8 weights, the transposed copy of the output layer, int32 biases and shifts
    assert mem["parameters"] == weights + 256 * 10 + 4 * (256 + 10) + 4 * 2
    # the batch's int8 inputs and labels, and the input lists (a bit per
    # sample and input in 64-bit words, an int32 count per input)
    assert mem["data"] == 784 * 64 + 4 * 64 + 784 * 8 + 784 * 4
    assert mem["ranking"] == 0
    per_sample = 2 * 4 * (256 + 10) + 2 * 256 + 3 * 8 * 10  # acc, act, loss caches
    assert mem["caches"] >= per_sample * 64
    x, y = random_batch(rng, 64, 784, 10)
    tr.set_batch(x, y, 20.0)
    tr.rank(0, 4096, 32, 64)  # the defaults: 8192 checks split equally, 32 biases
    mem = tr.memory()
    heaps = 2 * (4096 + 32) * 8  # (float estimate, uint32 code) per kept candidate
    assert heaps < mem["ranking"] < heaps + 8 * 784 * 4 + 16384
    # against QAT's float weights and two Adam moments: at most an eighth
    qat = 3 * 4 * (weights + 256 + 10)
    assert mem["parameters"] + mem["ranking"] <= qat / 8


def test_every_layer_keeps_its_list_when_a_later_one_gets_the_larger_share():
    """With split="params" the second layer's share is the larger here: the
    ranking state is sized for both before either is ranked, so the first
    layer's list survives the second's ranking."""
    from conntra.train import coordinate
    from conntra.train.coordinate import ConntraConfig

    rng = np.random.default_rng(2)
    params = random_params(rng, [4, 30, 30], [2])
    x, y = random_batch(rng, 60, 4, 30)
    tr = loaded(params, x, y, 5.0)
    cfg = ConntraConfig(split="params", budget=40, bias_checks=2)
    coordinate._rank_layers(cfg, tr, [0, 1], 5.0)
    first, second = tr.ranked(0)[0], tr.ranked(1)[0]
    assert (first[:, 1] == WEIGHT).sum() == 5 and (second[:, 1] == WEIGHT).sum() == 35
