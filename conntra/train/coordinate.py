"""The CoNNTrA trainer: coordinate descent over the discrete parameters.

Per batch: load it into the C trainer (one forward pass), pick the
temperature, then ``rounds`` times: a surrogate backward pass in C ranks every
parameter within its layer, block by block, keeping each layer's best
``budget * share`` candidates (plus biases; shifts are added); one C call checks
each exactly and applies it only if the batch loss strictly falls. The C trainer is the one
store of the current parameters: Python reads them back (``get_params``)
where it needs them and never replays what C accepted. docs/trainer.md
explains the defaults and the measurements behind them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from conntra import events
from conntra.errors import InputError
from conntra.metrics import error_rate
from conntra.model import TernaryDense, TernaryModel
from conntra.train import checkpoint as ckpt
from conntra.train import convtrainer, dataparallel, lanes, surrogate
from conntra.train.convtrainer import SeqTrainer
from conntra.train.ctrainer import CTrainer
from conntra.train.reference import exhaustive_candidates


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_real(name, value, low, high=math.inf):
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if not ok or not math.isfinite(value) or not low <= value <= high:
        where = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise InputError(f"{name} must be a finite number {where}, got {value!r}")


@dataclass
class ConntraConfig:
    batch: int = 8192  # samples per batch (docs/trainer.md: 1024 overfits each batch)
    budget: int = 8192  # exact checks per round, over all layers
    rounds: int = 4  # surrogate gradient rounds per batch
    split: str = "equal"  # budget per layer: "equal" | "params" | "global"
    alternate: bool = False  # True: round r only touches layer r mod L
    mode: str = "sequential"  # C step mode: "sequential" | "scored"
    leak: float = 0.0  # STE gradient fraction outside the clamp range
    min_gain: float = 0.0  # per sample: accept only decreases beyond batch * min_gain
    bias_checks: int = 32  # bias candidates per layer and round
    shifts: bool = True  # check +-1 of every hidden shift each round
    screen: float = 0.125  # share of the batch a candidate must gain on before its full check
    round_stop: float = 0.0  # end a batch's rounds when one accepts < this share of the first's
    batch_start: int = 0  # first epoch's batch, doubled each epoch up to batch (0: batch always)
    rank_share: float = 1.0  # share of the batch the ranking gradient reads (0 or 1: all)
    exhaustive: bool | None = None  # every parameter, every value; None: when <= 5000 params
    init: str = "hybrid"  # "hybrid" (short QAT, ternarised) | "random"
    init_epochs: float = 3.0  # QAT epochs of the hybrid init
    init_samples: int = 0  # training samples the hybrid init reads, drawn by the seed (0: all)
    patience: int = 5  # epochs without a better validation error (>= 1)
    checkpoint_every: int = 0  # batches between checkpoints (0: each epoch)

    def check(self) -> None:
        """Raises InputError naming the first setting out of its range."""
        _check_int("batch", self.batch, 1)
        _check_int("budget", self.budget, 0)
        _check_int("rounds", self.rounds, 1)
        _check_int("bias_checks", self.bias_checks, 0)
        # patience 0 would stop after the first epoch that is not a strict gain,
        # which no caller means; one epoch is the least that makes sense
        _check_int("patience", self.patience, 1)
        _check_int("checkpoint_every", self.checkpoint_every, 0)
        _check_int("batch_start", self.batch_start, 0)
        _check_int("init_samples", self.init_samples, 0)
        _check_real("min_gain", self.min_gain, 0.0)
        _check_real("leak", self.leak, 0.0, 1.0)
        _check_real("screen", self.screen, 0.0, 1.0)
        _check_real("round_stop", self.round_stop, 0.0, 1.0)
        _check_real("rank_share", self.rank_share, 0.0, 1.0)
        _check_real("init_epochs", self.init_epochs, 0.0)
        for name in ("alternate", "shifts"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.exhaustive not in (None, True, False) or not isinstance(
            self.exhaustive, (bool, type(None))
        ):
            raise InputError(f"exhaustive must be None, True or False, got {self.exhaustive!r}")
        if self.split not in ("equal", "params", "global"):
            raise InputError(f"unknown budget split {self.split!r} (equal, params, global)")
        if self.mode not in ("sequential", "scored"):
            raise InputError(f"unknown step mode {self.mode!r} (sequential or scored)")
        if self.init not in ("hybrid", "random"):
            raise InputError(f"unknown initialisation {self.init!r} (hybrid or random)")


def _shares(cfg, sizes, layers):
    n = len(sizes) - 1
    if cfg.split == "params":
        p = np.array([sizes[i] * sizes[i + 1] for i in range(n)], np.float64)
    else:
        p = np.ones(n)
    p = p[layers] / p[layers].sum()
    return {lay: int(round(cfg.budget * s)) for lay, s in zip(layers, p, strict=True)}


def _bias_step(tr, layer, temperature) -> int:
    """One activation unit (2^shift) in a hidden layer, T/4 logit units at the output."""
    s = tr.shift(layer)
    return (1 << s) if s >= 0 else max(1, int(round(temperature / 4)))


def ranking_shares(cfg, sizes, layers) -> dict:
    """Weight candidates ranked per layer: each layer's share of the budget, or
    the whole budget for each with the global split."""
    if cfg.split == "global":
        # one ranking over every layer (the prototype's weakness, kept to measure it)
        return {lay: cfg.budget for lay in layers}
    return _shares(cfg, sizes, layers)


def reserve_ranking(cfg, tr, layers) -> dict:
    """Sizes ``tr``'s ranking state for ``layers`` (before any is ranked: growing
    it later would drop the earlier lists); returns the shares."""
    shares = ranking_shares(cfg, tr.sizes, layers)
    tr.reserve_ranking(max(shares.values(), default=0), cfg.bias_checks)
    return shares


def _rank_layers(cfg, tr, layers, temperature):
    """Ranks each of ``layers`` in C (ct_train_rank.c) with its share of the budget."""
    shares = reserve_ranking(cfg, tr, layers)
    samples = share_samples(cfg.rank_share, tr.batch)
    for lay in layers:
        step = _bias_step(tr, lay, temperature)
        tr.rank(lay, shares[lay], cfg.bias_checks, step, cfg.leak, samples)


def _ranked_candidates(cfg, tr, layers):
    """The ranked lists as one candidate array, in layer order (weights, then
    biases); with the global split, the best ``budget`` of them by estimate."""
    lists = [tr.ranked(lay) for lay in layers]
    if not lists:
        return np.zeros((0, 5), np.int32)
    cands = np.concatenate([c for c, _ in lists]).astype(np.int32)
    if cfg.split == "global":
        est = np.concatenate([e for _, e in lists])
        cands = cands[np.argsort(est, kind="stable")[: cfg.budget]]
    return cands


EXHAUSTIVE_MAX_PARAMS = 5000
MIN_PATIENCE_BATCHES = 16  # tiny sets (one batch per epoch) get more epochs of patience


def patience_for(patience: int, n_batches: int) -> int:
    """The stopping rule's patience in epochs: ``patience`` epochs without a
    strict gain in validation error, raised so that at least
    MIN_PATIENCE_BATCHES batches (optimizer steps) pass. Every trainer stops
    by this rule (docs/comparison.md)."""
    return max(patience, -(-MIN_PATIENCE_BATCHES // max(1, n_batches)))


class BestByValidation:
    """The stopping rule's bookkeeping for the trainers that keep their best
    model in memory (backprop, QAT, torch): the best score so far (ties keep
    the later epoch, only a strict gain resets the patience) and when to stop.
    CoNNTrA applies the same rule in ``fit``, with its state in the checkpoint."""

    def __init__(self, patience: int, n_batches: int, epochs: int, observer):
        self.wait, self.epochs, self.obs = patience_for(patience, n_batches), epochs, observer
        self.score: float | None = None
        self.best, self.best_epoch, self.bad = None, 0, 0

    def update(self, epoch: int, score: float, keep) -> bool:
        """Epoch ``epoch`` (1-based) scored ``score``; ``keep()`` gives the model
        to keep if it is the best so far. Returns whether it improved strictly."""
        improved = self.score is None or score < self.score
        if self.score is None or score <= self.score:
            self.score, self.best, self.best_epoch = score, keep(), epoch
        self.bad = 0 if improved else self.bad + 1
        return improved

    def stop(self, epoch: int) -> bool:
        """Whether to stop after epoch ``epoch``; tells the observer when that is early."""
        if self.bad < self.wait:
            return False
        if epoch < self.epochs:
            self.obs.stopped_early(epoch, self.best_epoch, self.wait)
        return True


def exhaustive_for(cfg, sizes) -> bool:
    """``sizes``: a dense network's layer sizes, or a chain's weight shapes
    (rows, cols) per parameter layer."""
    if cfg.exhaustive is not None:
        return bool(cfg.exhaustive)
    if len(sizes) and isinstance(sizes[0], tuple):
        n_params = sum(r * c + r for r, c in sizes)
    else:
        n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return n_params <= EXHAUSTIVE_MAX_PARAMS


def batch_of_epoch(cfg, epoch: int, n: int) -> int:
    """The batch of epoch ``epoch`` (0-based) on ``n`` samples: ``batch_start``
    doubled each epoch up to ``batch``, or ``batch`` throughout (the default;
    a schedule is a setting to try, not measured to pay: docs/trainer.md)."""
    full = min(cfg.batch, n)
    if cfg.batch_start <= 0:
        return full
    return max(1, min(full, cfg.batch_start << min(epoch, 30)))


def share_samples(share: float, batch: int) -> int:
    """A sub-batch in samples: ``share`` of the batch, at least one sample and
    less than the whole; 0 (the whole batch, or off) otherwise."""
    n = int(round(share * batch)) if share > 0.0 else 0
    return n if 0 < n < batch else 0


def screen_samples(cfg, batch: int) -> int:
    """The screening sub-batch in samples (0: off)."""
    return share_samples(cfg.screen, batch)


def _chain_shares(cfg, tr, layers) -> dict:
    """ranking_shares for a chain: the "params" split weighs each layer by
    its weight count."""
    if cfg.split == "global":
        return {lay: cfg.budget for lay in layers}
    p = np.array([tr.shapes[i][0] * tr.shapes[i][1] for i in layers], np.float64)
    p = p / p.sum() if cfg.split == "params" else np.full(len(layers), 1.0 / len(layers))
    return {lay: int(round(cfg.budget * s)) for lay, s in zip(layers, p, strict=True)}


def chain_candidates(cfg, tr, layers, temperature) -> np.ndarray:
    """A chain's ranked candidates from C's integer surrogate gradient
    (convtrainer): per layer its share of weight steps, best first, then its
    bias steps; with the global split, the best ``budget`` of all."""
    grads = tr.gradient(share_samples(cfg.rank_share, tr.batch), cfg.leak)
    shares = _chain_shares(cfg, tr, layers)
    parts, ests = [], []
    for lay in layers:
        w, b, _ = tr.get_layer(lay)
        gw, gb = grads[lay]
        wc, we = convtrainer.weight_candidates(lay, w, gw, shares[lay])
        step = _bias_step(tr, lay, temperature)
        bc, be = convtrainer.bias_candidates(lay, b, gb, cfg.bias_checks, step)
        parts += [wc, bc]
        ests += [we, be]
    cands = np.concatenate(parts).astype(np.int32) if parts else np.zeros((0, 5), np.int32)
    if cfg.split == "global":
        cands = cands[np.argsort(np.concatenate(ests), kind="stable")[: cfg.budget]]
    return cands


def _chain_round(cfg, tr, temperature, round_index):
    """batch_round for a chain of layer kinds (SeqTrainer): the same rounds,
    with the ranking of chain_candidates and the sequential step."""
    n = tr.n_layers
    layers = [round_index % n] if cfg.alternate else list(range(n))
    min_gain = cfg.min_gain * tr.batch
    if exhaustive_for(cfg, tr.shapes):
        params = [(w.reshape(tr.shapes[i]), b, s) for i, (w, b, s) in enumerate(tr.get_params())]
        cands = exhaustive_candidates(params, bias_steps=(1, 8))
        accepted, _ = tr.step(cands, min_gain)
        return np.bincount(cands[accepted][:, 0], minlength=n)
    cands = chain_candidates(cfg, tr, layers, temperature)
    if cfg.shifts and n > 1:
        extra = surrogate.shift_candidates([tr.shift(i) for i in range(n)])
        cands = np.concatenate([cands, extra]).astype(np.int32)
    if len(cands) == 0:
        return np.zeros(n, np.int64)
    accepted, _ = tr.step(cands, min_gain, screen_samples(cfg, tr.batch))
    return np.bincount(cands[accepted][:, 0], minlength=n)


def batch_round(cfg, tr, temperature, round_index):
    """One gradient round on the loaded batch; returns accepted changes per layer.

    The parameters stay in the C trainer, which holds the only copy: ranking
    and the exact checks both read them there."""
    if getattr(tr, "is_chain", False):
        return _chain_round(cfg, tr, temperature, round_index)
    n = tr.n_layers
    layers = [round_index % n] if cfg.alternate else list(range(n))
    min_gain = cfg.min_gain * tr.batch
    if exhaustive_for(cfg, tr.sizes):
        cands = exhaustive_candidates(tr.get_params(), bias_steps=(1, 8))
        # exhaustive mode checks its list in order (docs/trainer.md)
        accepted, _ = tr.step(cands, mode="sequential", min_gain=min_gain)
        return np.bincount(cands[accepted][:, 0], minlength=n)
    _rank_layers(cfg, tr, layers, temperature)
    shifts = [tr.shift(i) for i in range(n)]
    extra = surrogate.shift_candidates(shifts) if cfg.shifts and n > 1 else np.zeros((0, 5))
    if cfg.mode == "sequential" and cfg.split != "global":
        # straight from the ranked lists: no candidate array is built
        return tr.rank_step(extra, min_gain, screen_samples(cfg, tr.batch)).astype(np.int64)
    cands = np.concatenate([_ranked_candidates(cfg, tr, layers), extra]).astype(np.int32)
    if len(cands) == 0:
        return np.zeros(n, np.int64)
    accepted, _ = tr.step(cands, mode=cfg.mode, min_gain=min_gain)
    return np.bincount(cands[accepted][:, 0], minlength=n)


def to_model(params, input_quant, metadata=None, act_bits=None, template=None) -> TernaryModel:
    """``act_bits``: one per hidden layer (None: 7 everywhere). ``template``:
    a chain's layers (conntra.layers), whose parameter layers take ``params``
    in order; None for a dense network."""
    bits = list(act_bits) if act_bits is not None else [None] * (len(params) - 1)
    if template is None:
        layers = [
            TernaryDense(w, b, s, a) for (w, b, s), a in zip(params, bits + [None], strict=True)
        ]
    else:
        layers, it = [], iter(zip(params, bits + [None], strict=True))
        for layer in template:
            if getattr(layer, "has_params", False):
                (w, b, s), a = next(it)
                layer = dataclasses.replace(layer, weights=w, bias=b, shift=s, act_bits=a)
            layers.append(layer)
    return TernaryModel(layers, input_quant, dict(metadata or {}))


def describe_chain(template) -> list:
    """A chain's layers as strings (kind, geometry, weight shape): how a
    checkpoint records the run's architecture."""
    out = []
    for layer in template:
        parts = [layer.kind]
        if dataclasses.is_dataclass(layer):
            for f in dataclasses.fields(layer):
                if f.name not in ("weights", "bias", "shift", "act_bits"):
                    parts.append(f"{f.name}={getattr(layer, f.name)!r}")
        if getattr(layer, "has_params", False):
            parts.append("x".join(str(v) for v in layer.weights.shape))
        out.append(" ".join(parts))
    return out


def split_error(predict, xq, y) -> float:
    """conntra.metrics.error_rate of ``predict(xq)`` (class indices of quantized
    inputs); an empty split is NaN and is not run through the model."""
    return error_rate(predict(xq) if len(y) else np.zeros(0, np.int64), y)


def _copy(params):
    return [(np.array(w, np.int8), np.array(b, np.int32), int(s)) for w, b, s in params]


def fit(
    xq,
    y,
    xq_val,
    y_val,
    sizes,
    input_quant,
    init_params,
    temperature,
    cfg,
    *,
    epochs,
    seed,
    checkpoint_dir=None,
    resume=False,
    observer=None,
    on_epoch=None,
    act_bits=None,
    comm=None,
):
    """Coordinate descent from ``init_params``. Returns (best params, history).
    ``act_bits``: activation bits per hidden layer (None: 7 everywhere); the C
    trainer requantizes every check and forward with them.

    The arguments are trusted: ``conntra.train.train`` checks them once (x int8
    C-contiguous codes, y int64 labels, a checked config).

    With ``checkpoint_dir`` the full state is written there (atomically) after
    every epoch, or every ``cfg.checkpoint_every`` batches; with ``resume`` the
    run continues from it and ends exactly where an uninterrupted run would.
    A KeyboardInterrupt propagates and leaves the last checkpoint as it was.

    ``observer`` (conntra.events.Observer) hears one phase per epoch
    (``epoch e/E``, one advance per batch with its mean loss), ``epoch_end``
    with each history record, and ``stopped_early`` when patience runs out.
    ``on_epoch(record, make_model)`` may add entries to each epoch's record
    (conntra.train.api uses it for the elapsed time and a monitor).

    ``comm`` (conntra.train.comm): a data-parallel run
    (conntra.train.dataparallel). ``xq``, ``y``, ``xq_val`` and ``y_val``
    are then this rank's shards (samples rank, rank + N, ... of each set,
    ``lanes.shard``); rank 0 writes the checkpoints and every rank returns
    the same parameters, the same for every N.
    """
    obs = observer or events.NULL
    n = xq.shape[0] if comm is None else int(comm.allreduce(np.array([len(y)]))[0])
    batch = min(cfg.batch, n)
    n_batches = max(1, n // batch)  # drop the ragged tail: every batch full size
    patience = patience_for(cfg.patience, n_batches)  # counted at the full batch
    current, best = init_params, _copy(init_params)
    chain = convtrainer.is_chain(sizes)  # layer objects rather than dense sizes
    template = list(sizes) if chain else None
    n_param = len(init_params)
    bits = [int(a) for a in act_bits] if act_bits is not None else [7] * (n_param - 1)
    if chain and cfg.mode != "sequential":
        raise InputError("networks with layer kinds train with the sequential step mode only")
    state = {
        "epoch": 0,
        "batch": 0,
        "temperature": float(temperature),
        "best_val": None,
        "best_epoch": -1,
        "bad_epochs": 0,
        "history": [],
        "done": False,
        "config": asdict(cfg),
        "seed": int(seed),
        "sizes": describe_chain(template) if chain else list(sizes),
        "act_bits": bits,
    }
    if chain:
        state["shapes"] = [list(np.shape(w)) for w, _, _ in init_params]
    if comm is not None:
        state["data_parallel"] = True  # exact sums and lane batches: another run's arithmetic
    if resume and checkpoint_dir is not None:
        if comm is None:
            loaded = ckpt.load(checkpoint_dir)
        else:  # rank 0 reads it: the ranks need not share a file system
            loaded = dataparallel.load_checkpoint(comm, checkpoint_dir)
        if loaded is not None:
            current, best, saved = loaded
            ckpt.check_same_run(ckpt.path_of(checkpoint_dir), saved, state)
            best, state = _copy(best), saved
    if comm is not None:
        tr = dataparallel.trainer(sizes, template, input_quant, batch, bits, comm)
    elif chain:
        tr = SeqTrainer(template, input_quant.tensor_shape, batch, bits)
    else:
        tr = CTrainer(sizes, batch, bits)
    tr.set_params(current)  # the C trainer holds the current parameters from here on
    del current, init_params
    temp = state["temperature"]
    while not state["done"] and state["epoch"] < epochs:
        epoch = state["epoch"]
        batch = batch_of_epoch(cfg, epoch, n)
        n_batches = max(1, n // batch)
        if comm is None:
            order = np.random.default_rng([seed, epoch]).permutation(n)
        else:  # this rank's positions of every batch, as indices into its shard
            order = lanes.local_batches(n, batch, seed, epoch, comm.rank, comm.size) // comm.size
        timer = dataparallel.Timer(comm) if comm is not None else None
        t0 = time.perf_counter()
        # a run resumed mid-epoch counts the changes accepted before the stop too
        accepted = np.array(state.get("accepted") or [0] * n_param, np.int64)
        obs.phase_start(f"epoch {epoch + 1}/{epochs}", total=n_batches, unit="batch")
        if state["batch"]:  # resumed mid-epoch: these batches were done before
            obs.phase_advance(state["batch"])
        while state["batch"] < n_batches:
            bi = state["batch"]
            idx = order[bi * batch : (bi + 1) * batch] if comm is None else order[bi]
            yb = y[idx].astype(np.int32)
            tr.set_batch(xq[idx], yb, temp)
            acc_out, _ = tr.cache(tr.n_layers - 1)
            labels = yb if comm is None else tr.labels  # the whole batch's, in order
            temp = surrogate.best_temperature(acc_out, labels, temp)
            tr.set_temperature(temp)
            first = 0
            for r in range(cfg.rounds):
                got = batch_round(cfg, tr, temp, bi * cfg.rounds + r)
                accepted += got
                # rounds stop paying when they accept a small share of what the first did
                if r == 0:
                    first = int(got.sum())
                elif int(got.sum()) < cfg.round_stop * first:
                    break
            state["batch"] = bi + 1
            state["temperature"] = temp
            state["accepted"] = [int(a) for a in accepted]
            obs.phase_advance(1, loss=tr.loss() / batch)
            if (
                checkpoint_dir is not None
                and (comm is None or comm.rank == 0)
                and cfg.checkpoint_every
                and state["batch"] % cfg.checkpoint_every == 0
                and state["batch"] < n_batches
            ):
                ckpt.save(checkpoint_dir, tr.get_params(), best, state)
        obs.phase_end()
        params = tr.get_params()
        predict = to_model(params, input_quant, None, bits, template).predict_quantized
        if comm is None:
            train_err = split_error(predict, xq, y)
            val_err = split_error(predict, xq_val, y_val)
        else:
            dataparallel.same_params(comm, params)
            train_err = dataparallel.error_counts(comm, predict, xq, y)
            val_err = dataparallel.error_counts(comm, predict, xq_val, y_val)
        score = val_err if not math.isnan(val_err) else train_err
        # ties keep the later model (more trained); only a strict gain resets patience
        improved = state["best_val"] is None or score < state["best_val"]
        if state["best_val"] is None or score <= state["best_val"]:
            state["best_val"], state["best_epoch"] = score, epoch + 1
            best = params
        state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1
        state["done"] = state["bad_epochs"] >= patience
        record = {
            "epoch": epoch + 1,
            "epochs": epochs,
            "train_error": train_err,
            "val_error": val_err,
            "improved": improved,
            "best_epoch": state["best_epoch"],
            "accepted": [int(a) for a in accepted],
            "temperature": temp,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if timer is not None:  # this rank's compute and communication
            record["distributed"] = timer.record(tr)
        if on_epoch is not None:
            on_epoch(record, lambda p=params: to_model(p, input_quant, None, bits, template))
        state["history"].append(record)
        state["epoch"], state["batch"], state["accepted"] = epoch + 1, 0, None
        if checkpoint_dir is not None and (comm is None or comm.rank == 0):
            ckpt.save(checkpoint_dir, params, best, state)
        obs.epoch_end(dict(record))
        if state["done"] and state["epoch"] < epochs:
            obs.stopped_early(state["epoch"], state["best_epoch"], patience)
    return best, state["history"]
