"""One entry point for every trainer: data preparation, the held-out split,
initialisation, the training run and the resulting model with its history.

The three trainers (``conntra``, ``backprop``, ``qat``) see the same
quantized inputs, the same split and the same architecture, so their numbers
can go into one table (``conntra compare``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from conntra import arch as arch_mod
from conntra import events, floatconv
from conntra.contract import ACT_BITS, ACT_BITS_DEFAULT, MAX_WIDTH
from conntra.datasets import stratified_split
from conntra.errors import InputError, LabelError, ShapeError
from conntra.model import TernaryModel
from conntra.quant import InputQuant
from conntra.train import checkpoint as ckpt
from conntra.train import coordinate, finetune, floatnet
from conntra.train import memory as mem
from conntra.train.memory import Memory
from conntra.train.shards import Shard
from conntra.validate import check_features, check_labels

TRAINERS = ("conntra", "backprop", "qat", "torch")
MIN_INIT_STEPS = 400  # Adam steps of the hybrid init, at least
INIT_ROWS_STREAM = 0x696E6974  # keeps the hybrid init's sample draw apart from other uses


@dataclass
class Split:
    input_quant: InputQuant
    xq: np.ndarray  # training part, int8 codes
    y: np.ndarray
    xq_val: np.ndarray  # held-out part of the training set
    y_val: np.ndarray
    sizes: list  # elements of the input and of each layer's output
    # architectures (conntra.arch): the text, the layer template of
    # ``arch.random_layers`` and the input's (H, W, C); None for dense sizes
    arch: str | None = None
    layers: list | None = None
    input_shape: tuple | None = None
    # a data-parallel rank's share of the split; None: the whole split
    shard: Shard | None = None

    @property
    def net(self):
        """The float chain of the template (None for dense sizes)."""
        if self.layers is None:
            return None
        return floatconv.net_of(self.layers, self.input_shape)

    @property
    def n_train(self) -> int:
        """Training samples of the whole split (a share holds some of them)."""
        return len(self.y) if self.shard is None else self.shard.n_train

    @property
    def n_hidden(self) -> int:
        """Hidden layers with parameters (what act_bits counts)."""
        if self.layers is None:
            return len(self.sizes) - 2
        return sum(L.has_params for L in self.layers) - 1


@dataclass
class TrainResult:
    model: object  # TernaryModel or FloatModel
    history: list = field(default_factory=list)
    seconds: float = 0.0  # training time, without the monitor's evaluations
    trainer: str = "conntra"
    memory: Memory | None = None  # peak training memory by accounting (memory.py)
    config: dict = field(default_factory=dict)  # the hyperparameters used


class Clock:
    """Training time since the start, without the time ``monitor`` takes.

    ``monitor(model) -> dict`` (optional) evaluates each epoch's model (compare
    records the test error of each epoch for its time-to-accuracy curves);
    what it returns goes into the epoch's record, its time does not count."""

    def __init__(self, monitor=None):
        self.start = time.perf_counter()
        self.paused = 0.0
        self.monitor = monitor

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def on_epoch(self, record: dict, make_model) -> None:
        record["elapsed"] = round(self.elapsed(), 3)
        if self.monitor is not None:
            t0 = time.perf_counter()
            record.update(self.monitor(make_model()))
            self.paused += time.perf_counter() - t0


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _check_hidden(hidden) -> list:
    """Hidden layer sizes: a sequence of widths, or one int for one hidden
    layer (as the estimator takes them)."""
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = [hidden]
    try:
        items = list(hidden)
    except TypeError:
        items = None
    if items is None or any(
        isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 1 <= h <= MAX_WIDTH
        for h in items
    ):
        raise InputError(f"hidden layer sizes must be integers in 1..{MAX_WIDTH}, got {hidden!r}")
    return [int(h) for h in items]


def check_act_bits(act_bits, n_hidden: int, name: str = "act_bits") -> list:
    """One activation width per hidden layer from ``act_bits``: None (7 for
    every hidden layer), one integer for all, or a sequence with one per hidden
    layer; each 1, 2, 4 or 7. InputError naming ``name`` otherwise."""
    allowed = ", ".join(map(str, ACT_BITS))
    if act_bits is None:
        return [ACT_BITS_DEFAULT] * n_hidden

    def one(v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise InputError(f"{name} must be integers in {{{allowed}}}, got {v!r}")
        if int(v) not in ACT_BITS:
            raise InputError(f"{name} must be one of {allowed}, got {int(v)}")
        return int(v)

    if isinstance(act_bits, (int, np.integer)) and not isinstance(act_bits, (bool, np.bool_)):
        return [one(act_bits)] * n_hidden
    if isinstance(act_bits, (str, bytes)) or not hasattr(act_bits, "__iter__"):
        raise InputError(
            f"{name} must be an integer or one per hidden layer ({n_hidden}), got {act_bits!r}"
        )
    items = [one(v) for v in act_bits]
    if len(items) != n_hidden:
        raise InputError(
            f"{name} has {len(items)} values but the network has {n_hidden} hidden layers"
        )
    return items


def _check_labels(dataset, n_rows: int):
    y = np.asarray(dataset.y_train)
    # the model's error_rate refuses bool labels as a LabelError; so does training
    if y.dtype == np.bool_:
        raise LabelError("dataset.y_train must hold integer class labels, got dtype bool")
    return check_labels(y, n_rows, dataset.n_classes, name="dataset.y_train")


def image_shape(dataset):
    """(H, W, C) of the dataset's images, or None for vectors (tabular data,
    or images of one pixel row and column)."""
    shape = getattr(dataset, "shape", None)
    return tuple(shape) if shape is not None else None


def resolve_arch(dataset, hidden, arch):
    """The architecture a run trains, or None for dense ``hidden`` sizes:
    ``arch`` ("cnn": the dataset's default, conntra.arch.ARCH_DEFAULTS), and
    without ``hidden`` or ``arch`` an image dataset other than MNIST (h and
    w > 1) takes its CNN default. InputError for both, or for an ``arch`` on
    data without an image shape."""
    if arch is not None and hidden is not None:
        raise InputError(
            "hidden and arch are exclusive: give dense hidden sizes or an architecture"
        )
    shape = image_shape(dataset)
    if arch is None:
        if hidden is None and shape is not None and shape[:2] != (1, 1) and dataset.name != "mnist":
            arch = arch_mod.CNN
        else:
            return None
    if not isinstance(arch, str):
        raise InputError(f"arch must be an architecture string like 'c16k3,p2,d10', got {arch!r}")
    if shape is None:
        raise InputError(
            f"arch {arch!r} needs images: dataset {dataset.name} has no image shape "
            f"(height, width, channels); use hidden sizes"
        )
    return arch_mod.resolve(arch, dataset.name, dataset.n_classes)


def prepare(
    dataset,
    hidden,
    *,
    val_fraction=0.1,
    seed=0,
    max_train=None,
    input_quant=None,
    arch=None,
) -> Split:
    """Checks the data and the arguments once, quantizes the inputs and holds
    out the validation part: what every trainer reads. ``input_quant``: the
    quantization to use (a fine-tuned model's own); None fits one to the data.
    ``arch``: an architecture (conntra.arch) instead of dense ``hidden`` sizes
    (``resolve_arch``); the split then carries its layer template and the
    images' shape."""
    x = check_features(dataset.x_train, name="dataset.x_train")
    plan = plan_split(
        dataset,
        hidden,
        x.shape[0],
        lambda: x,
        val_fraction=val_fraction,
        seed=seed,
        max_train=max_train,
        input_quant=input_quant,
        arch=arch,
    )
    return plan.split(x[plan.train_rows], x[plan.val_rows])


@dataclass(frozen=True, eq=False)
class Plan:
    """What ``prepare`` decides before it reads a sample: the input
    quantization, which rows of the dataset's training set train (in order)
    and which validate, and the network's sizes. A data-parallel rank reads
    only its share of those rows (conntra.train.shards)."""

    input_quant: InputQuant
    train_rows: np.ndarray
    val_rows: np.ndarray
    y: np.ndarray
    y_val: np.ndarray
    sizes: list
    arch: str | None
    layers: list | None
    input_shape: tuple | None

    def split(self, x_train, x_val, y=None, y_val=None, **extra) -> Split:
        """The Split of these raw rows (all of ``train_rows`` and
        ``val_rows``, or the share ``y`` and ``y_val`` label)."""
        iq = self.input_quant
        return Split(
            iq,
            np.ascontiguousarray(iq.quantize(x_train)),
            self.y if y is None else y,
            np.ascontiguousarray(iq.quantize(x_val)),
            self.y_val if y_val is None else y_val,
            self.sizes,
            self.arch,
            self.layers,
            self.input_shape,
            **extra,
        )


def plan_split(
    dataset,
    hidden,
    n_rows: int,
    all_rows,
    *,
    val_fraction=0.1,
    seed=0,
    max_train=None,
    input_quant=None,
    arch=None,
) -> Plan:
    """``prepare``'s checks and decisions from the labels of ``dataset``'s
    ``n_rows`` training samples; ``all_rows()`` gives their inputs, read only
    to fit an input quantization to tabular data."""
    seed = _check_seed(seed)
    arch = resolve_arch(dataset, hidden, arch)
    hidden = _check_hidden(hidden) if arch is None else []
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, (int, float))
        or not 0.0 <= val_fraction < 1.0
    ):
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if max_train is not None and (
        isinstance(max_train, bool)
        or not isinstance(max_train, (int, np.integer))
        or max_train < 2 * dataset.n_classes
    ):
        raise InputError(
            f"max_train must be at least {2 * dataset.n_classes} (two samples "
            f"per class), got {max_train}"
        )
    y_all = _check_labels(dataset, n_rows)
    if input_quant is not None:
        if not isinstance(input_quant, InputQuant):
            raise InputError(f"input_quant must be an InputQuant, got {input_quant!r}")
        if input_quant.n_features != dataset.n_features:
            raise ShapeError(
                f"input_quant takes {input_quant.n_features} features, dataset "
                f"{dataset.name} has {dataset.n_features}"
            )
        iq = input_quant
    elif dataset.input_kind == "image":
        iq = InputQuant.pixels(dataset.n_features)
    else:
        iq = InputQuant.fit_affine(all_rows())
    layers = None
    if arch is not None:
        layers = arch_mod.random_layers(arch, image_shape(dataset), seed=seed)
        iq = dataclasses.replace(iq, shape=image_shape(dataset))  # the model reads images
    rows = np.arange(len(y_all))
    if max_train is not None and max_train < len(y_all):
        keep, _ = stratified_split(y_all, 1.0 - max_train / len(y_all), seed)
        rows, y_all = rows[keep], y_all[keep]
    if val_fraction > 0:
        tr, va = stratified_split(y_all, val_fraction, seed)
    else:
        tr, va = np.arange(len(y_all)), np.arange(0)
    sizes = [dataset.n_features] + hidden + [dataset.n_classes]
    if layers is not None:
        shapes = [image_shape(dataset)]
        for layer in layers:
            shapes.append(layer.out_shape(shapes[-1]))
        sizes = [int(np.prod(s)) for s in shapes]
    return Plan(
        iq,
        rows[tr],
        rows[va],
        y_all[tr],
        y_all[va],
        sizes,
        arch,
        layers,
        image_shape(dataset) if arch else None,
    )


def _features(xq):
    return xq.astype(np.float32) / np.float32(127)


def float_defaults(n, batch=None, lr=None):
    """Adam with batch 128 and lr 1e-3 (the usual MNIST setting); a tiny
    training set (Iris) gets batch n/8 and lr 1e-2 so that it takes steps."""
    if batch is not None and (
        isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1
    ):
        raise InputError(f"batch must be an integer >= 1, got {batch!r}")
    if lr is not None and (
        isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0
    ):
        raise InputError(f"lr must be a finite number > 0, got {lr!r}")
    small = n < 2048
    return (batch or (max(8, n // 8) if small else 128)), (lr or (1e-2 if small else 1e-3))


def epoch_record(epoch, epochs, train_error, val_error, improved, t0, **extra) -> dict:
    """One history entry, as every trainer appends it and hands it to
    ``Observer.epoch_end`` (epoch is 1-based)."""
    return {
        "epoch": epoch,
        "epochs": epochs,
        "train_error": train_error,
        "val_error": val_error,
        "improved": bool(improved),
        **extra,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def chunked(predict, n: int = mem.EVAL_CHUNK):
    """``predict`` over the rows in chunks of ``n``: an evaluation pass holds
    one chunk's activations, not the whole set's (memory.py counts it so)."""

    def run(xq):
        if len(xq) <= n:
            return predict(xq)
        return np.concatenate([predict(xq[i : i + n]) for i in range(0, len(xq), n)])

    return run


def _check_patience(patience) -> int:
    if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
        raise InputError(f"patience must be an integer >= 1, got {patience!r}")
    return int(patience)


def _float_run(
    split,
    *,
    epochs,
    seed,
    ternary,
    batch=None,
    lr=None,
    patience=coordinate.ConntraConfig.patience,
    observer=None,
    on_epoch=None,
    act_bits=None,
    init_params=None,
):
    """Backprop or QAT: Adam; keeps the parameters of the best validation epoch
    and stops by the same rule as CoNNTrA (``coordinate.patience_for``).
    ``act_bits`` (QAT only; backprop is the float baseline and ignores them):
    bits per hidden layer, simulated in training and used by the conversion.
    ``init_params``: float parameters to start from (fine-tuning) instead of
    He-uniform ones. Returns (best model, history, memory)."""
    obs = observer or events.NULL
    rng = np.random.default_rng(seed)
    batch, lr = float_defaults(len(split.y), batch, lr)
    net = split.net
    if init_params is not None:
        params = init_params
    elif net is None:
        params = floatnet.init_float(split.sizes, rng)
    else:
        params = floatconv.init(split.layers, rng)
    # an architecture's batches are converted from the codes as they are drawn:
    # images are large, and a float copy of them would be 4x the data
    x = _features(split.xq) if net is None else split.xq
    history = []
    fit_n = min(len(split.y), 5000)

    def evaluate(params):
        if ternary:
            model, _ = floatnet.to_integer(
                params,
                split.input_quant,
                split.xq[:fit_n],
                split.y[:fit_n],
                act_bits=act_bits,
                net=net,
            )
        else:
            model = floatnet.float_model(params, split.input_quant, net=net)
        predict = chunked(model.predict_quantized)
        return (
            model,
            coordinate.split_error(predict, split.xq, split.y),
            coordinate.split_error(predict, split.xq_val, split.y_val),
        )

    opt = None
    n_batches = -(-len(split.y) // batch)
    rule = coordinate.BestByValidation(patience, n_batches, epochs, obs)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        obs.phase_start(f"epoch {epoch + 1}/{epochs}", total=n_batches, unit="batch")
        opt = floatnet.train_epochs(
            params,
            x,
            split.y,
            epochs=1,
            batch=batch,
            lr=lr,
            rng=rng,
            ternary=ternary,
            opt=opt,
            on_batch=lambda: obs.phase_advance(1),
            act_bits=act_bits if ternary else None,
            to_float=None if net is None else _features,
            net=net,
        )
        obs.phase_end()
        model, tr_err, va_err = evaluate(params)
        score = va_err if len(split.y_val) else tr_err
        improved = rule.update(epoch + 1, score, lambda m=model: m)
        record = epoch_record(
            epoch + 1, epochs, tr_err, va_err, improved, t0, best_epoch=rule.best_epoch
        )
        if on_epoch is not None:
            on_epoch(record, lambda m=model: m)
        history.append(record)
        obs.epoch_end(dict(record))
        if rule.stop(epoch + 1):
            break
    return rule.best, history, float_memory(split, params, opt, batch, ternary, rule.best)


def float_memory(split, params, opt, batch, ternary, best_model) -> Memory:
    """Peak memory of a backprop or QAT run, read from its arrays: the float32
    parameters and the best model's copy (for QAT also the scaled ternary
    float copies and int8 codes of the forward pass); Adam's moments and one
    set of gradients; one batch's activations (or a chunk of the evaluation
    pass, if larger); the data with its float32 copy and a batch's gather. An
    architecture's run holds the int8 codes only (its batches are converted
    as drawn) and the activations ``memory.conv_batch_activations`` counts."""
    if split.layers is not None:
        return _arch_float_memory(split, params, opt, batch, ternary, best_model)
    n_w, _ = mem.layer_params(split.sizes)
    best = mem.nbytes([[L.weights, L.bias] for L in best_model.layers])
    parameters = mem.nbytes(params) + best + ((mem.FLOAT32 + 1) * n_w if ternary else 0)
    n_train, n_val, n_in = len(split.y), len(split.y_val), split.sizes[0]
    return Memory(
        parameters=parameters,
        optimizer=opt.memory() + mem.nbytes(params),
        activations=max(
            mem.float_batch_activations(split.sizes, batch),
            mem.float_eval_activations(split.sizes, n_train + n_val),
            mem.to_integer_activations(split.sizes, min(n_train, 5000)) if ternary else 0,
        ),
        data=mem.float_data(n_train, n_val, n_in) + mem.batch_data(batch, n_in),
        phase="qat" if ternary else "backprop",
    )


def _arch_float_memory(split, params, opt, batch, ternary, best_model) -> Memory:
    n_w = sum(w.size for w, _ in params)
    best = mem.nbytes([[L.weights, L.bias] for L in best_model.layers if L.has_params])
    n_train, n_val, n_in = len(split.y), len(split.y_val), split.sizes[0]
    shape = split.input_shape
    return Memory(
        parameters=mem.nbytes(params) + best + ((mem.FLOAT32 + 1) * n_w if ternary else 0),
        optimizer=opt.memory() + mem.nbytes(params),
        activations=max(
            mem.conv_batch_activations(split.layers, shape, batch),
            mem.conv_eval_activations(split.layers, shape, n_train + n_val),
            mem.conv_to_integer_activations(split.layers, shape, min(n_train, 5000))
            if ternary
            else 0,
        ),
        data=mem.code_data(n_train, n_val, n_in) + mem.batch_data(batch, n_in),
        phase="qat" if ternary else "backprop",
    )


def _has_checkpoint(folder, comm) -> bool:
    """Whether ``folder`` holds a checkpoint to resume from (in a
    data-parallel run: rank 0's, told to every rank)."""
    if comm is None:
        return ckpt.load(folder) is not None
    return comm.bcast(os.path.exists(ckpt.path_of(folder)) if comm.rank == 0 else None)


def _on_rank0(comm, make):
    """``make()`` here, or in a data-parallel run on rank 0 and sent to every
    rank: one starting point, whatever the other ranks' arithmetic."""
    if comm is None:
        return make()
    from conntra.train import dataparallel

    return dataparallel.from_rank0(comm, make)


def conntra_memory(split, cfg, init_memory: Memory | None) -> Memory:
    """Peak memory of a CoNNTrA run: the larger of its hybrid init (a QAT run,
    counted as one) and the coordinate descent, whose parts are the C
    trainer's own count (``CTrainer.memory``, with its ranking state sized as
    a run sizes it; in exhaustive mode the Python candidate list instead),
    the best parameters and the copy read back per round, and the data."""
    from conntra.train.ctrainer import CTrainer

    n_train, n_val, n_in = len(split.y), len(split.y_val), split.sizes[0]
    if split.layers is not None:
        return _arch_conntra_memory(split, cfg, init_memory)
    batch = min(cfg.batch, n_train)
    tr = CTrainer(split.sizes, batch)
    n_w, n_b = mem.layer_params(split.sizes)
    if coordinate.exhaustive_for(cfg, split.sizes):
        ranking = 5 * 8 * (2 * n_w + 4 * n_b + 2 * len(split.sizes))  # the (n, 5) list
    else:
        coordinate.reserve_ranking(cfg, tr, list(range(tr.n_layers)))
        ranking = 0
    c = tr.memory()
    descent = Memory(
        parameters=c["parameters"] + 2 * (n_w + 4 * n_b),
        optimizer=c["ranking"] + ranking,
        # the caches, and the per-epoch evaluation's int32 logits and int64
        # predictions over the training part (one C call per 512 samples)
        activations=c["caches"] + (4 * split.sizes[-1] + 8) * n_train,
        data=(n_train + n_val) * (n_in + 8) + c["data"] + batch * 8,
        phase="coordinate descent",
    )
    return descent if init_memory is None else mem.peak(init_memory, descent)


def _arch_conntra_memory(split, cfg, init_memory: Memory | None) -> Memory:
    """CoNNTrA on an architecture: the chain trainer's own count
    (``SeqTrainer.memory``: parameters, every stage's caches and the
    per-thread scratch), the ranking's gradient and candidate arrays, the best
    parameters and the copy read back per round, and the data."""
    from conntra.train.convtrainer import SeqTrainer

    n_train, n_val, n_in = len(split.y), len(split.y_val), split.sizes[0]
    batch = min(cfg.batch, n_train)
    # the count is affine in the batch capacity: read it off trainers of 1 and
    # 2 samples rather than allocating the batch's caches to count them
    one, two = (
        SeqTrainer(split.layers, split.input_quant.tensor_shape, n).memory() for n in (1, 2)
    )
    c = {k: one[k] + (batch - 1) * (two[k] - one[k]) for k in one}
    n_w = sum(L.weights.size for L in split.layers if L.has_params)
    n_b = sum(L.bias.size for L in split.layers if L.has_params)
    descent = Memory(
        parameters=c["parameters"] + 2 * (n_w + 4 * n_b),
        optimizer=2 * 8 * (n_w + n_b) + 8 * n_w,  # int64 gradients, estimates of one layer
        activations=c["caches"] + (4 * split.sizes[-1] + 8) * n_train,
        data=(n_train + n_val) * (n_in + 8) + c["data"] + batch * 8,
        phase="coordinate descent",
    )
    return descent if init_memory is None else mem.peak(init_memory, descent)


def hybrid_init(split, *, seed, epochs: float, batch=None, lr=None, observer=None, act_bits=None):
    """A short QAT run ternarised onto the integer contract: (params, temperature),
    with ``act_bits`` per hidden layer simulated and converted (None: 7)."""
    obs = observer or events.NULL
    rng = np.random.default_rng([seed, 7])
    batch, lr = float_defaults(len(split.y), batch, lr)
    net = split.net
    params = (
        floatnet.init_float(split.sizes, rng) if net is None else floatconv.init(split.layers, rng)
    )
    # at least MIN_INIT_STEPS optimizer steps, so a tiny set (Iris) gets a real start
    n_samples = max(int(round(epochs * len(split.y))), MIN_INIT_STEPS * batch)
    obs.phase_start("hybrid init", total=-(-n_samples // len(split.y)), unit="epoch")
    opt = None
    while n_samples > 0:
        take = min(n_samples, len(split.y))
        idx = rng.permutation(len(split.y))[:take]
        # batches converted from the int8 codes as they are drawn: no float copy
        # of the training set, and none of its permutation
        opt = floatnet.train_epochs(
            params,
            split.xq,
            split.y,
            rows=idx,
            to_float=_features,
            epochs=1,
            batch=batch,
            lr=lr,
            rng=rng,
            ternary=True,
            opt=opt,
            act_bits=act_bits,
            net=net,
        )
        n_samples -= take
        obs.phase_advance(1)
    fit_n = min(len(split.y), 5000)
    model, temp = floatnet.to_integer(
        params, split.input_quant, split.xq[:fit_n], split.y[:fit_n], act_bits=act_bits, net=net
    )
    obs.phase_end()
    if net is not None:  # (weights, bias, shift) of each layer with parameters
        return finetune.integer_params(model), temp
    return [(L.weights, L.bias, L.shift) for L in model.layers], temp


def init_rows(n: int, samples: int, seed: int) -> np.ndarray:
    """The training samples (of ``n``) the hybrid init reads: ``samples`` of
    them drawn by the seed, in order, or all (``samples`` 0 or >= n)."""
    if samples <= 0 or samples >= n:
        return np.arange(n)
    rng = np.random.default_rng([seed, INIT_ROWS_STREAM])
    return np.sort(rng.choice(n, samples, replace=False))


def hybrid_init_memory(split, batch=None) -> Memory:
    """Peak memory of ``hybrid_init``: a QAT run without a best-model copy
    that converts each batch from the int8 codes (no float copy of the data)."""
    batch, _ = float_defaults(len(split.y), batch, None)
    if split.layers is not None:
        n_w = sum(L.weights.size for L in split.layers if L.has_params)
        p = mem.FLOAT32 * (n_w + sum(L.bias.size for L in split.layers if L.has_params))
        n_train, n_val, n_in = len(split.y), len(split.y_val), split.sizes[0]
        return Memory(
            parameters=p + (mem.FLOAT32 + 1) * n_w,
            optimizer=3 * p,
            activations=max(
                mem.conv_batch_activations(split.layers, split.input_shape, batch),
                mem.conv_to_integer_activations(
                    split.layers, split.input_shape, min(n_train, 5000)
                ),
            ),
            data=mem.code_data(n_train, n_val, n_in) + 8 * n_train + mem.batch_data(batch, n_in),
            phase="hybrid init",
        )
    n_w, _ = mem.layer_params(split.sizes)
    p = mem.FLOAT32 * sum(a * b + b for a, b in zip(split.sizes[:-1], split.sizes[1:], strict=True))
    n_train, n_val, n_in = len(split.y), len(split.y_val), split.sizes[0]
    data = mem.code_data(n_train, n_val, n_in)
    passes = Memory(  # the QAT passes: a permutation and one float batch at a time
        parameters=p + (mem.FLOAT32 + 1) * n_w,
        optimizer=3 * p,  # Adam's two moments and one set of gradients
        activations=mem.float_batch_activations(split.sizes, batch),
        data=data + 8 * n_train + mem.batch_data(batch, n_in),
        phase="hybrid init",
    )
    ternarise = Memory(  # then to_integer, after the copies are gone
        parameters=passes.parameters,
        optimizer=passes.optimizer,
        activations=mem.to_integer_activations(split.sizes, min(n_train, 5000)),
        data=data,
        phase="hybrid init",
    )
    return mem.peak(passes, ternarise)


def random_init(split, *, seed, act_bits=None):
    """A random ternary network and its logits' spread as the temperature
    (an architecture's: the template ``conntra.arch.random_layers`` drew)."""
    if split.layers is not None:
        model = TernaryModel(split.layers, split.input_quant)
        return finetune.integer_params(model), finetune.logits_spread(model, split.xq)
    model = TernaryModel.random(split.sizes, split.input_quant, seed=seed, act_bits=act_bits)
    params = [(L.weights, L.bias, L.shift) for L in model.layers]
    return params, finetune.logits_spread(model, split.xq)


def train(
    dataset,
    hidden,
    trainer="conntra",
    *,
    epochs=10,
    seed=0,
    config=None,
    val_fraction=0.1,
    max_train=None,
    checkpoint_dir=None,
    resume=False,
    observer=None,
    split=None,
    patience=None,
    lr=None,
    float_batch=None,
    monitor=None,
    act_bits=None,
    init_model=None,
    arch=None,
    distributed=None,
) -> TrainResult:
    """Train one model on ``dataset`` (a conntra.datasets.Dataset).

    Every argument is checked here, once (InputError naming the parameter);
    ``split`` is what ``prepare`` returned for the same arguments. ``observer``
    (conntra.events.Observer) hears the phases ("hybrid init", "epoch e/E" with
    one advance per batch), each epoch's record (also in the history) and an
    early stop. A KeyboardInterrupt propagates; with ``checkpoint_dir`` the last
    checkpoint stays intact and ``resume=True`` continues from it.

    Every trainer stops by the same rule: ``patience`` epochs (default: the
    config's) without a strict gain in validation error, at least 16 batches,
    and returns the model of its best validation epoch. ``lr`` and
    ``float_batch`` set Adam's learning rate and batch of the float trainers
    (backprop, qat, torch; default ``float_defaults``). ``monitor(model) ->
    dict`` is called with each epoch's model and its result added to the
    epoch's record; its time is not training time. The result carries the
    peak training memory by accounting (conntra.train.memory).

    ``act_bits``: the activation bits of the hidden layers (docs/format.md),
    one integer in {1, 2, 4, 7} for all or one per hidden layer; None is 7.
    CoNNTrA and QAT train for them and their models carry them; backprop and
    torch (float baselines) ignore them.

    ``init_model``: a TernaryModel, or the path of its file, to fine-tune
    (docs/finetune.md): CoNNTrA starts from its integer parameters exactly,
    QAT from float shadow weights that ternarise to its codes. The run takes
    the model's input quantization, layer sizes and activation bits
    (``hidden`` and ``act_bits`` may be None; given, they must agree), and
    ``config.init`` is not used. backprop and torch cannot start from it.

    ``arch``: an architecture (conntra.arch, e.g. ``"c16k3,p2,c32k3,p2,d10"``,
    or ``"cnn"`` for the dataset's default) instead of ``hidden``, for data
    with an image shape; without either, image data other than MNIST takes
    its CNN default. ``act_bits`` then counts the hidden conv2d and dense
    layers; None takes the architecture's ``a<bits>`` tokens (7 elsewhere).

    ``distributed``: True (the ranks of the MPI job that launched this
    process, or this process alone) or a conntra.train.comm.Comm trains
    data-parallel CoNNTrA (conntra.train.dataparallel, docs/distributed.md):
    every rank calls ``train`` with the same arguments, holds 1/N of every
    batch, and returns the same model, whatever N divides the batch.
    """
    if trainer not in TRAINERS:
        raise InputError(f"unknown trainer {trainer!r} (one of {', '.join(TRAINERS)})")
    if distributed and trainer != "conntra":
        raise InputError(f"distributed trains with trainer 'conntra' only, not {trainer!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise InputError(f"epochs must be >= 1, got {epochs}")
    seed = _check_seed(seed)
    if observer is not None and not isinstance(observer, events.Observer):
        raise InputError(f"observer must be a conntra.events.Observer, got {observer!r}")
    if resume and checkpoint_dir is None:
        raise InputError("resume needs checkpoint_dir")
    if config is not None and not isinstance(config, coordinate.ConntraConfig):
        raise InputError(f"config must be a ConntraConfig, got {config!r}")
    cfg = config or coordinate.ConntraConfig()
    if trainer == "conntra":
        cfg.check()
    patience = _check_patience(cfg.patience if patience is None else patience)
    if monitor is not None and not callable(monitor):
        raise InputError(f"monitor must be callable, got {monitor!r}")
    start = None
    if split is not None:
        arch = split.arch
        hidden = None if arch is not None else hidden
    else:
        arch = resolve_arch(dataset, hidden, arch)  # before the data is read: fail fast
    if init_model is not None and arch is not None:
        raise InputError(
            "init_model: fine-tuning trains chains of dense layers; it cannot take an arch"
        )
    if init_model is not None:
        if trainer not in ("conntra", "qat"):
            raise InputError(
                f"init_model: trainer {trainer!r} cannot start from a ternary model "
                "(only conntra and qat can fine-tune one)"
            )
        start, where = finetune.load_init_model(init_model)
        finetune.check_data(start, where, dataset)
        hidden = finetune.resolve_hidden(start, None if hidden is None else _check_hidden(hidden))
        if split is not None:
            finetune.check_split(start, split)
    if split is not None:
        n_hidden = split.n_hidden
    elif arch is not None:
        n_hidden = (
            sum(
                spec.kind != "maxpool2d" and spec.kind != "flatten" for spec in arch_mod.parse(arch)
            )
            - 1
        )
    else:
        n_hidden = len(_check_hidden(hidden))
    if act_bits is None and arch is not None:  # the architecture's a<bits> tokens
        specs = [sp for sp in arch_mod.parse(arch) if sp.kind not in ("maxpool2d", "flatten")]
        act_bits = [sp.act_bits or ACT_BITS_DEFAULT for sp in specs[:-1]]
    bits = check_act_bits(act_bits, n_hidden)  # before the data is read: fail fast
    if start is not None:
        bits = finetune.resolve_act_bits(start, None if act_bits is None else bits)
    comm = None
    if distributed:  # each rank prepares and reads its own share
        from conntra.train import dataparallel, shards

        comm = dataparallel.connect(distributed)
        if split is not None:
            shards.check_share(split, comm)
    split = split or (prepare if comm is None else functools.partial(shards.prepare, comm=comm))(
        dataset,
        hidden,
        val_fraction=val_fraction,
        seed=seed,
        max_train=max_train,
        input_quant=None if start is None else start.input_quant,
        arch=arch,
    )
    meta = {
        "trainer": trainer,
        "dataset": dataset.name,
        "seed": seed,
        "sizes": "-".join(str(s) for s in split.sizes),
    }
    if split.arch is not None:
        meta["arch"] = split.arch
    if getattr(dataset, "class_names", None):  # image folders: label i is classes[i]
        meta["classes"] = list(dataset.class_names)
    if start is not None:
        meta["init"] = "model"
        meta[finetune.FINETUNED_FROM] = finetune.model_hash(start)
    if trainer != "conntra":
        batch_used, lr_used = float_defaults(len(split.y), float_batch, lr)
        used = {"lr": lr_used, "batch": batch_used, "patience": patience}
    else:
        used = {
            "batch": min(cfg.batch, split.n_train),
            "rounds": cfg.rounds,
            "budget": cfg.budget,
            "init": cfg.init,
            "patience": patience,
        }
    clock = Clock(monitor)
    if trainer == "torch":
        from conntra.train import torch_backprop

        if not torch_backprop.available():
            raise InputError("trainer 'torch' needs PyTorch (pip install conntra[torch])")
        params, history, memory = torch_backprop.train(
            split,
            epochs=epochs,
            seed=seed,
            batch=float_batch,
            lr=lr,
            patience=patience,
            observer=observer,
            on_epoch=clock.on_epoch,
        )
        return TrainResult(
            floatnet.float_model(params, split.input_quant, meta, net=split.net),
            history,
            clock.elapsed(),
            trainer,
            memory,
            used,
        )
    if trainer in ("backprop", "qat"):
        shadow = None
        if start is not None:  # the baseline: shadow weights that ternarise to the codes
            temp = finetune.best_fit_temperature(start, split.xq, split.y)
            shadow = finetune.shadow_params(start, temp)
            used.update(init="model", temperature=temp)
        model, history, memory = _float_run(
            split,
            epochs=epochs,
            seed=seed,
            ternary=trainer == "qat",
            batch=float_batch,
            lr=lr,
            patience=patience,
            observer=observer,
            on_epoch=clock.on_epoch,
            act_bits=bits,
            init_params=shadow,
        )
        model.metadata.update(meta)
        if start is not None:
            memory = memory + mem.Memory(parameters=finetune.model_bytes(start))
        return TrainResult(model, history, clock.elapsed(), trainer, memory, used)
    if patience != cfg.patience:
        cfg = dataclasses.replace(cfg, patience=patience)
    if comm is not None:
        dataparallel.launch(comm, split, cfg, seed=seed, epochs=int(epochs), bits=bits)
        meta["data_parallel"] = True
    has_checkpoint = resume and _has_checkpoint(checkpoint_dir, comm)
    init_memory = None
    # what a starting point reads (in a data-parallel run, on rank 0): the
    # hybrid init's samples, or the first ones for a temperature
    whole = split
    if start is not None or not has_checkpoint:
        if start is None and cfg.init == "hybrid":
            rows = init_rows(split.n_train, cfg.init_samples, seed)
        else:
            rows = np.arange(min(split.n_train, finetune.SAMPLES_FOR_TEMPERATURE))
        if comm is not None:
            whole = shards.gather_training(comm, split, rows)
        elif len(rows) < split.n_train:
            whole = dataclasses.replace(split, xq=split.xq[rows], y=split.y[rows])
    if start is not None:
        # the start model's hash rides in the config, which the checkpoint
        # stores and check_same_run compares: resume refuses another start
        cfg = finetune.FinetuneConfig(**{**vars(cfg), "init_model": meta[finetune.FINETUNED_FROM]})
        used["init"] = "model"
        params = finetune.integer_params(start)
        temp = _on_rank0(comm, lambda: finetune.logits_spread(start, whole.xq))
    elif has_checkpoint and split.layers is not None:
        params, temp = finetune.integer_params(TernaryModel(split.layers, split.input_quant)), 1.0
    elif has_checkpoint:
        # the checkpoint holds everything (fit reads it); init is not recomputed
        params, temp = (
            [
                (np.zeros((b, a), np.int8), np.zeros(b, np.int32), 0)
                for a, b in zip(split.sizes[:-1], split.sizes[1:], strict=True)
            ],
            1.0,
        )
    elif cfg.init == "hybrid":
        params, temp = _on_rank0(
            comm,
            lambda: hybrid_init(
                whole, seed=seed, epochs=cfg.init_epochs, observer=observer, act_bits=bits
            ),
        )
        init_memory = None if whole is None else hybrid_init_memory(whole)
    else:
        params, temp = _on_rank0(comm, lambda: random_init(whole, seed=seed, act_bits=bits))
    best, history = coordinate.fit(
        split.xq,
        split.y,
        split.xq_val,
        split.y_val,
        split.sizes if split.layers is None else split.layers,
        split.input_quant,
        params,
        temp,
        cfg,
        epochs=epochs,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        observer=observer,
        on_epoch=clock.on_epoch,
        act_bits=bits,
        comm=comm,
    )
    meta.setdefault("init", cfg.init)
    if split.layers is None:
        model = coordinate.to_model(best, split.input_quant, meta, bits)
    else:
        model = coordinate.to_model(best, split.input_quant, meta, bits, template=split.layers)
    memory = conntra_memory(split, cfg, init_memory)
    if start is not None:
        memory = memory + mem.Memory(parameters=finetune.model_bytes(start))
    return TrainResult(model, history, clock.elapsed(), trainer, memory, used)
