"""The CoNNTrA trainer: coordinate descent over the discrete parameters.

Per batch: load it into the C trainer (one forward pass), pick the
temperature, then ``rounds`` times: one surrogate backward pass ranks every
parameter within its layer, each layer's best ``budget * share`` candidates
(plus biases and shifts) go to C in one call, which checks each exactly and
applies it only if the batch loss strictly falls. docs/trainer.md explains
the defaults and the measurements behind them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from conntra.errors import CheckpointError, InputError
from conntra.model import TernaryDense, TernaryModel
from conntra.train import checkpoint as ckpt
from conntra.train import surrogate
from conntra.train.ctrainer import CTrainer
from conntra.train.reference import exhaustive_candidates


@dataclass
class ConntraConfig:
    batch: int = 8192          # samples per batch (docs/trainer.md: 1024 overfits each batch)
    budget: int = 8192         # exact checks per round, over all layers
    rounds: int = 4            # surrogate gradient rounds per batch
    split: str = "equal"       # budget per layer: "equal" | "params" | "global"
    alternate: bool = False    # True: round r only touches layer r mod L
    mode: str = "sequential"   # C step mode: "sequential" | "scored"
    leak: float = 0.0          # STE gradient fraction outside the clamp range
    min_gain: float = 0.0      # per sample: accept only decreases beyond batch * min_gain
    bias_checks: int = 32      # bias candidates per layer and round
    shifts: bool = True        # check +-1 of every hidden shift each round
    exhaustive: bool = None    # every parameter, every value; None: when <= 5000 params
    init: str = "hybrid"       # "hybrid" (short QAT, ternarised) | "random"
    init_epochs: float = 3.0   # QAT epochs of the hybrid init
    patience: int = 5          # epochs without a better validation error
    checkpoint_every: int = 0  # batches between checkpoints (0: each epoch)

    def check(self) -> None:
        if not self.min_gain >= 0:
            raise InputError(f"min_gain must be >= 0, got {self.min_gain}")
        if self.batch < 1 or self.budget < 0 or self.rounds < 1:
            raise InputError("batch and rounds must be >= 1 and budget >= 0")
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
    return {lay: int(round(cfg.budget * s)) for lay, s in zip(layers, p)}


def _round_candidates(cfg, sizes, params, grads, layers, temperature):
    rows = []
    if cfg.split == "global":
        # one ranking over every layer (the prototype's weakness, kept to measure it)
        shares = {lay: cfg.budget for lay in layers}
    else:
        shares = _shares(cfg, sizes, layers)
    for lay in layers:
        w, _b, s = params[lay]
        gw, gb = grads[lay]
        step = (1 << s) if s >= 0 else max(1, int(round(temperature / 4)))
        rows += surrogate.layer_candidates(lay, w, gw, gb, shares[lay], step, cfg.bias_checks)
    if not rows:
        return np.zeros((0, 5), np.int32)
    cands = np.concatenate(rows).astype(np.int32)
    if cfg.split == "global":
        cands = cands[np.argsort(_estimates(grads, cands), kind="stable")[:cfg.budget]]
    return cands


def _estimates(grads, cands):
    """First-order estimates of the candidates' loss changes (all negative)."""
    est = np.zeros(len(cands))
    for lay, (gw, gb) in enumerate(grads):
        on = cands[:, 0] == lay
        wt = on & (cands[:, 1] == 0)
        bs = on & (cands[:, 1] == 1)
        est[wt] = -np.abs(gw[cands[wt, 2], cands[wt, 3]])
        est[bs] = -np.abs(gb[cands[bs, 2]]) * np.abs(cands[bs, 4])
    return est


def _apply_accepted(params, wf, cands):
    for lay, kind, j, i, v in cands:
        w, b, s = params[lay]
        if kind == 0:
            w[j, i] = v
            wf[lay][j, i] = v
        elif kind == 1:
            b[j] += v
        else:
            params[lay] = (w, b, s + v)


EXHAUSTIVE_MAX_PARAMS = 5000
MIN_PATIENCE_BATCHES = 16  # tiny sets (one batch per epoch) get more epochs of patience


def exhaustive_for(cfg, sizes) -> bool:
    if cfg.exhaustive is not None:
        return bool(cfg.exhaustive)
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    return n_params <= EXHAUSTIVE_MAX_PARAMS


def batch_round(cfg, tr, params, wf, y, temperature, round_index, x_f32):
    """One gradient round on the loaded batch; returns accepted changes per layer."""
    n = tr.n_layers
    layers = [round_index % n] if cfg.alternate else list(range(n))
    shifts = [s for _, _, s in params]
    exhaustive = exhaustive_for(cfg, tr.sizes)
    if exhaustive:
        cands = exhaustive_candidates(params, bias_steps=(1, 8))
    else:
        grads = surrogate.gradients(tr, wf, shifts, y, temperature, cfg.leak, x_f32)
        cands = _round_candidates(cfg, tr.sizes, params, grads, layers, temperature)
        if cfg.shifts and n > 1:
            cands = np.concatenate([cands, surrogate.shift_candidates(shifts).astype(np.int32)])
    if len(cands) == 0:
        return np.zeros(n, np.int64)
    accepted, _ = tr.step(cands, mode="sequential" if exhaustive else cfg.mode,
                          min_gain=cfg.min_gain * tr.batch)
    _apply_accepted(params, wf, cands[accepted])
    return np.bincount(cands[accepted][:, 0], minlength=n)


def to_model(params, input_quant, metadata=None) -> TernaryModel:
    return TernaryModel([TernaryDense(w, b, s) for w, b, s in params], input_quant,
                        dict(metadata or {}))


def _error(params, input_quant, xq, y) -> float:
    if len(y) == 0:
        return float("nan")
    pred = np.argmax(to_model(params, input_quant).logits_quantized(xq), axis=1)
    return float(np.mean(pred != y))


def _copy(params):
    return [(np.array(w, np.int8), np.array(b, np.int32), int(s)) for w, b, s in params]


def fit(xq, y, xq_val, y_val, sizes, input_quant, init_params, temperature, cfg, *,
        epochs, seed, checkpoint_dir=None, resume=False, progress=None):
    """Coordinate descent from ``init_params``. Returns (best params, history).

    With ``checkpoint_dir`` the full state is written there (atomically) after
    every epoch, or every ``cfg.checkpoint_every`` batches; with ``resume`` the
    run continues from it and ends exactly where an uninterrupted run would.
    """
    cfg.check()
    xq = np.ascontiguousarray(xq, np.int8)
    n = xq.shape[0]
    batch = min(cfg.batch, n)
    n_batches = max(1, n // batch)  # drop the ragged tail: every batch full size
    patience = max(cfg.patience, -(-MIN_PATIENCE_BATCHES // n_batches))
    params, best = _copy(init_params), _copy(init_params)
    state = {"epoch": 0, "batch": 0, "temperature": float(temperature), "best_val": None,
             "best_epoch": -1, "bad_epochs": 0, "history": [], "done": False,
             "config": asdict(cfg), "seed": int(seed), "sizes": list(sizes)}
    if resume and checkpoint_dir is not None:
        loaded = ckpt.load(checkpoint_dir)
        if loaded is not None:
            params, best, saved = loaded
            params, best = _copy(params), _copy(best)
            for key in ("config", "seed", "sizes"):
                if saved[key] != state[key]:
                    raise CheckpointError(f"checkpoint in {checkpoint_dir} was written by a "
                                          f"run with another {key}: {saved[key]!r}")
            state = saved
    tr = CTrainer(sizes, batch)
    tr.set_params(params)  # from here on C and `params` change together (_apply_accepted)
    wf = [w.astype(np.float32) for w, _, _ in params]
    temp = state["temperature"]
    while not state["done"] and state["epoch"] < epochs:
        epoch = state["epoch"]
        order = np.random.default_rng([seed, epoch]).permutation(n)
        t0 = time.perf_counter()
        accepted = np.zeros(len(sizes) - 1, np.int64)
        while state["batch"] < n_batches:
            bi = state["batch"]
            idx = order[bi * batch:(bi + 1) * batch]
            yb = y[idx].astype(np.int32)
            tr.set_batch(xq[idx], yb, temp)
            acc_out, _ = tr.cache(tr.n_layers - 1)
            temp = surrogate.best_temperature(acc_out, yb, temp)
            tr.set_temperature(temp)
            x_f32 = tr.cache(-1)[1].astype(np.float32)
            for r in range(cfg.rounds):
                accepted += batch_round(cfg, tr, params, wf, yb, temp,
                                        bi * cfg.rounds + r, x_f32)
            state["batch"] = bi + 1
            state["temperature"] = temp
            if progress is not None:
                progress(epoch, bi + 1, n_batches, tr.loss() / batch)
            if (checkpoint_dir is not None and cfg.checkpoint_every
                    and state["batch"] % cfg.checkpoint_every == 0
                    and state["batch"] < n_batches):
                ckpt.save(checkpoint_dir, params, best, state)
        train_err = _error(params, input_quant, xq, y)
        val_err = _error(params, input_quant, xq_val, y_val)
        state["history"].append({"epoch": epoch + 1, "train_error": train_err,
                                 "val_error": val_err, "accepted": [int(a) for a in accepted],
                                 "temperature": temp,
                                 "seconds": round(time.perf_counter() - t0, 3)})
        score = val_err if len(y_val) else train_err
        # ties keep the later model (more trained); only a strict gain resets patience
        if state["best_val"] is None or score <= state["best_val"]:
            improved = state["best_val"] is None or score < state["best_val"]
            state["best_val"], state["best_epoch"] = score, epoch + 1
            best = _copy(params)
            state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1
        else:
            state["bad_epochs"] += 1
        if state["bad_epochs"] >= patience:
            state["done"] = True
        state["epoch"], state["batch"] = epoch + 1, 0
        if checkpoint_dir is not None:
            ckpt.save(checkpoint_dir, params, best, state)
    return best, state["history"]
