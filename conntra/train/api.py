"""One entry point for every trainer: data preparation, the held-out split,
initialisation, the training run and the resulting model with its history.

The three trainers (``conntra``, ``backprop``, ``qat``) see the same
quantized inputs, the same split and the same architecture, so their numbers
can go into one table (``conntra compare``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from conntra.datasets import stratified_split
from conntra.errors import InputError
from conntra.quant import InputQuant
from conntra.train import coordinate, floatnet

TRAINERS = ("conntra", "backprop", "qat", "torch")


@dataclass
class Split:
    input_quant: InputQuant
    xq: np.ndarray      # training part, int8 codes
    y: np.ndarray
    xq_val: np.ndarray  # held-out part of the training set
    y_val: np.ndarray
    sizes: list


@dataclass
class TrainResult:
    model: object          # TernaryModel or FloatModel
    history: list = field(default_factory=list)
    seconds: float = 0.0
    trainer: str = "conntra"


def prepare(dataset, hidden, *, val_fraction=0.1, seed=0, max_train=None) -> Split:
    if dataset.input_kind == "image":
        iq = InputQuant.pixels(dataset.n_features)
    else:
        iq = InputQuant.fit_affine(dataset.x_train)
    xq_all = iq.quantize(dataset.x_train)
    y_all = np.asarray(dataset.y_train, np.int64)
    if max_train is not None and max_train < len(y_all):
        keep, _ = stratified_split(y_all, 1.0 - max_train / len(y_all), seed)
        xq_all, y_all = xq_all[keep], y_all[keep]
    if val_fraction > 0:
        tr, va = stratified_split(y_all, val_fraction, seed)
    else:
        tr, va = np.arange(len(y_all)), np.arange(0)
    hidden = [int(h) for h in hidden]
    if any(h < 1 for h in hidden):
        raise InputError(f"hidden layer sizes must be positive, got {hidden}")
    sizes = [dataset.n_features] + hidden + [dataset.n_classes]
    return Split(iq, np.ascontiguousarray(xq_all[tr]), y_all[tr],
                 np.ascontiguousarray(xq_all[va]), y_all[va], sizes)


def _features(xq):
    return xq.astype(np.float32) / np.float32(127)


def float_defaults(n, batch=None, lr=None):
    """Adam with batch 128 and lr 1e-3 (the usual MNIST setting); a tiny
    training set (Iris) gets batch n/8 and lr 1e-2 so that it takes steps."""
    small = n < 2048
    return (batch or (max(8, n // 8) if small else 128)), (lr or (1e-2 if small else 1e-3))


def _float_run(split, *, epochs, seed, ternary, batch=None, lr=None, progress=None):
    """Backprop or QAT: Adam, keeps the parameters of the best validation epoch."""
    rng = np.random.default_rng(seed)
    batch, lr = float_defaults(len(split.y), batch, lr)
    params = floatnet.init_float(split.sizes, rng)
    x, xv = _features(split.xq), _features(split.xq_val)
    history, best = [], (None, None)
    fit_n = min(len(split.y), 5000)

    def evaluate(params):
        if ternary:
            model, _ = floatnet.to_integer(params, split.input_quant, split.xq[:fit_n],
                                           split.y[:fit_n])
            err = lambda xq, y: float(np.mean(  # noqa: E731
                np.argmax(model.logits_quantized(xq), 1) != y)) if len(y) else float("nan")
        else:
            model = floatnet.float_model(params, split.input_quant)
            err = lambda xq, y: float(np.mean(  # noqa: E731
                np.argmax(floatnet.forward(params, _features(xq))[0], 1) != y)) \
                if len(y) else float("nan")
        return model, err(split.xq, split.y), err(split.xq_val, split.y_val)

    opt = None
    for epoch in range(epochs):
        t0 = time.perf_counter()
        opt = floatnet.train_epochs(params, x, split.y, epochs=1, batch=batch, lr=lr, rng=rng,
                                    ternary=ternary, opt=opt)
        model, tr_err, va_err = evaluate(params)
        history.append({"epoch": epoch + 1, "train_error": tr_err, "val_error": va_err,
                        "seconds": round(time.perf_counter() - t0, 3)})
        if progress is not None:
            progress(epoch, 1, 1, float("nan"))
        score = va_err if len(split.y_val) else tr_err
        if best[0] is None or score <= best[0]:
            best = (score, model)
    del xv
    return best[1], history


def hybrid_init(split, *, seed, epochs: float, batch=None, lr=None):
    """A short QAT run ternarised onto the integer contract: (params, temperature)."""
    rng = np.random.default_rng([seed, 7])
    batch, lr = float_defaults(len(split.y), batch, lr)
    params = floatnet.init_float(split.sizes, rng)
    x = _features(split.xq)
    n_samples = int(round(epochs * len(split.y)))
    opt = None
    while n_samples > 0:
        take = min(n_samples, len(split.y))
        idx = rng.permutation(len(split.y))[:take]
        opt = floatnet.train_epochs(params, x[idx], split.y[idx], epochs=1, batch=batch,
                                    lr=lr, rng=rng, ternary=True, opt=opt)
        n_samples -= take
    fit_n = min(len(split.y), 5000)
    model, temp = floatnet.to_integer(params, split.input_quant, split.xq[:fit_n],
                                      split.y[:fit_n])
    return [(L.weights, L.bias, L.shift) for L in model.layers], temp


def random_init(split, *, seed):
    from conntra.model import TernaryModel

    model = TernaryModel.random(split.sizes, split.input_quant, seed=seed)
    params = [(L.weights, L.bias, L.shift) for L in model.layers]
    sample = split.xq[: min(len(split.y), 1024)]
    logits = model.logits_quantized(np.ascontiguousarray(sample))
    return params, max(1.0, float(logits.std()))


def train(dataset, hidden, trainer="conntra", *, epochs=10, seed=0, config=None,
          val_fraction=0.1, max_train=None, checkpoint_dir=None, resume=False,
          progress=None, split=None) -> TrainResult:
    """Train one model on ``dataset`` (a conntra.datasets.Dataset)."""
    if trainer not in TRAINERS:
        raise InputError(f"unknown trainer {trainer!r} (one of {', '.join(TRAINERS)})")
    if epochs < 1:
        raise InputError(f"epochs must be >= 1, got {epochs}")
    split = split or prepare(dataset, hidden, val_fraction=val_fraction, seed=seed,
                             max_train=max_train)
    meta = {"trainer": trainer, "dataset": dataset.name, "seed": int(seed),
            "sizes": "-".join(str(s) for s in split.sizes)}
    t0 = time.perf_counter()
    if trainer == "torch":
        from conntra.train import torch_backprop

        if not torch_backprop.available():
            raise InputError("trainer 'torch' needs PyTorch (pip install conntra[torch])")
        params, history = torch_backprop.train(split, epochs=epochs, seed=seed)
        model = floatnet.float_model(params, split.input_quant, meta)
        return TrainResult(model, history, time.perf_counter() - t0, trainer)
    if trainer in ("backprop", "qat"):
        model, history = _float_run(split, epochs=epochs, seed=seed, ternary=trainer == "qat",
                                    progress=progress)
        model.metadata.update(meta)
        return TrainResult(model, history, time.perf_counter() - t0, trainer)
    cfg = config or coordinate.ConntraConfig()
    cfg.check()
    resuming = resume and checkpoint_dir is not None and \
        coordinate.ckpt.load(checkpoint_dir) is not None
    if resuming:  # the checkpoint holds everything; init is not recomputed
        params, temp = [(np.zeros((b, a), np.int8), np.zeros(b, np.int32), 0)
                        for a, b in zip(split.sizes[:-1], split.sizes[1:])], 1.0
    elif cfg.init == "hybrid":
        params, temp = hybrid_init(split, seed=seed, epochs=cfg.init_epochs)
    else:
        params, temp = random_init(split, seed=seed)
    best, history = coordinate.fit(split.xq, split.y, split.xq_val, split.y_val, split.sizes,
                                   split.input_quant, params, temp, cfg, epochs=epochs,
                                   seed=seed, checkpoint_dir=checkpoint_dir, resume=resume,
                                   progress=progress)
    meta["init"] = cfg.init
    model = coordinate.to_model(best, split.input_quant, meta)
    return TrainResult(model, history, time.perf_counter() - t0, trainer)
