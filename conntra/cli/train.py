"""``conntra train`` and ``conntra eval``."""

from __future__ import annotations

import argparse
import json
import sys

from conntra import datasets
from conntra.cli.progress import Progress
from conntra.errors import InputError, ShapeError
from conntra.events import Observer
from conntra.train import api
from conntra.train.coordinate import ConntraConfig

# Epochs when --epochs is not given: enough for each trainer to settle.
DEFAULT_EPOCHS = {("iris", "conntra"): 30, ("iris", "backprop"): 200, ("iris", "qat"): 200,
                  ("iris", "torch"): 200, ("mnist", "conntra"): 16, ("mnist", "backprop"): 10,
                  ("mnist", "qat"): 5, ("mnist", "torch"): 10}
DEFAULT_HIDDEN = {"iris": "8", "mnist": "256"}


class ProgressObserver(Observer):
    """Shows the trainer's epoch phases on a Progress bar (a stand-in until the
    command line gets its own observer)."""

    def __init__(self, bar: Progress):
        self.bar, self.epoch, self.done, self.total = bar, None, 0, 1

    def phase_start(self, name, total=None, unit="it"):
        self.done, self.total = 0, total or 1
        self.epoch = int(name.split()[1].split("/")[0]) - 1 if name.startswith("epoch ") \
            else None

    def phase_advance(self, n=1, **info):
        self.done += n
        if self.epoch is not None:
            self.bar(self.epoch, self.done, self.total, info.get("loss", float("nan")))


def parse_hidden(text: str) -> list:
    try:
        sizes = [int(p) for p in str(text).split(",") if p.strip()]
    except ValueError:
        raise InputError(f"--hidden must be comma-separated integers like 256,128; "
                         f"got {text!r}") from None
    if not sizes or any(s < 1 or s > 1 << 20 for s in sizes):
        raise InputError(f"--hidden sizes must be 1..1048576, got {text!r}")
    return sizes


def config_from(args) -> ConntraConfig:
    cfg = ConntraConfig()
    for name in ("batch", "budget", "rounds", "init", "split", "mode", "patience",
                 "checkpoint_every", "init_epochs"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(cfg, name, value)
    if getattr(args, "exhaustive", None) is not None:
        cfg.exhaustive = args.exhaustive
    cfg.check()
    return cfg


def add_common(p) -> None:
    p.add_argument("--dataset", required=True, choices=datasets.KNOWN_DATASETS)
    p.add_argument("--data-dir", default=None, help="folder holding the MNIST files")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_training(p) -> None:
    p.add_argument("--hidden", default=None, help="hidden layer sizes, e.g. 256 or 256,128")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train", type=int, default=None,
                   help="use at most this many training samples (quick runs)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="held-out share of the training set for early stopping")
    g = p.add_argument_group("CoNNTrA options")
    g.add_argument("--batch", type=int)
    g.add_argument("--budget", type=int, help="exact checks per gradient round")
    g.add_argument("--rounds", type=int, help="gradient rounds per batch")
    g.add_argument("--init", choices=["hybrid", "random"])
    g.add_argument("--init-epochs", type=float, help="QAT epochs of the hybrid init")
    g.add_argument("--split", choices=["equal", "params", "global"])
    g.add_argument("--mode", choices=["sequential", "scored"])
    g.add_argument("--patience", type=int)
    g.add_argument("--exhaustive", action=argparse.BooleanOptionalAction, default=None,
                   help="check every parameter and value each round (default: only for "
                        "models of at most 5000 parameters)")


def errors_of(model, split, dataset) -> dict:
    def err(xq, y):
        if len(y) == 0:
            return None
        import numpy as np

        if hasattr(model, "logits_quantized"):
            pred = np.argmax(model.logits_quantized(np.ascontiguousarray(xq)), axis=1)
        else:
            from conntra.train.floatnet import forward

            params = [[L.weights, L.bias] for L in model.layers]
            pred = np.argmax(forward(params, xq.astype(np.float32) / np.float32(127))[0], 1)
        return float(np.mean(pred != y))

    return {"train_error": err(split.xq, split.y), "val_error": err(split.xq_val, split.y_val),
            "test_error": model.error_rate(dataset.x_test, dataset.y_test)}


def run_train(args) -> int:
    dataset = datasets.load(args.dataset, data_dir=args.data_dir)
    hidden = parse_hidden(args.hidden or DEFAULT_HIDDEN[args.dataset])
    epochs = args.epochs if args.epochs is not None else \
        DEFAULT_EPOCHS[(args.dataset, args.trainer)]
    if epochs < 1:
        raise InputError(f"--epochs must be >= 1, got {epochs}")
    if not 0.0 <= args.val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    if args.resume and not args.checkpoint_dir:
        raise InputError("--resume needs --checkpoint-dir")
    cfg = config_from(args)
    split = api.prepare(dataset, hidden, val_fraction=args.val_fraction, seed=args.seed,
                        max_train=args.max_train)
    bar = Progress(epochs, f"{args.trainer} ", enabled=not args.quiet)
    result = api.train(dataset, hidden, args.trainer, epochs=epochs, seed=args.seed,
                       config=cfg, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                       observer=ProgressObserver(bar), split=split)
    bar.close()
    result.model.save(args.out)
    errs = errors_of(result.model, split, dataset)
    out = {"model": args.out, "trainer": args.trainer, "dataset": args.dataset,
           "sizes": split.sizes, "epochs": len(result.history), "seconds": result.seconds,
           "history": result.history, **errs}
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    for h in result.history:
        val = "n/a" if h["val_error"] != h["val_error"] else f"{100 * h['val_error']:.2f} %"
        print(f"epoch {h['epoch']:3d}  training error {100 * h['train_error']:6.2f} %  "
              f"validation error {val}")
    val = "n/a" if errs["val_error"] is None else f"{100 * errs['val_error']:.2f} %"
    print(f"final ({args.trainer}, {'-'.join(map(str, split.sizes))}): training error "
          f"{100 * errs['train_error']:.2f} %, validation error {val}, test error "
          f"{100 * errs['test_error']:.2f} %, {result.seconds:.1f} s")
    print(f"model written to {args.out}")
    return 0


def run_eval(args) -> int:
    from conntra.modelfile import load

    model = load(args.model)
    dataset = datasets.load(args.dataset, data_dir=args.data_dir)
    if model.sizes[0] != dataset.n_features or model.n_classes != dataset.n_classes:
        raise ShapeError(f"model {args.model} takes {model.sizes[0]} features and has "
                         f"{model.n_classes} classes; dataset {args.dataset} has "
                         f"{dataset.n_features} features and {dataset.n_classes} classes")
    out = {"model": args.model, "dataset": args.dataset,
           "kind": "ternary" if hasattr(model, "logits_quantized") else "float32",
           "train_error": model.error_rate(dataset.x_train, dataset.y_train),
           "test_error": model.error_rate(dataset.x_test, dataset.y_test)}
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        print(f"{args.model} on {args.dataset}: training error "
              f"{100 * out['train_error']:.2f} %, test error {100 * out['test_error']:.2f} %")
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model (CoNNTrA, backprop or ternary QAT)")
    add_common(p)
    add_training(p)
    p.add_argument("--trainer", default="conntra", choices=list(api.TRAINERS))
    p.add_argument("--out", default="model.ctm", help="model file to write")
    p.add_argument("--checkpoint-dir", default=None, help="write checkpoints here")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="batches between checkpoints (default: each epoch)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)

    e = sub.add_parser("eval", help="error of a saved model on a dataset")
    e.add_argument("model", help="path of a model file")
    add_common(e)
    e.set_defaults(func=run_eval)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
