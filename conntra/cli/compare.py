"""``conntra compare``: the paper's table, every trainer on the same architecture.

For each dataset, each trainer trains on the same split; the table gives the
training, validation and test errors, the parameter memory counted from the
saved model file (ternary T3 payload against float32; float64 is the float32
payload doubled), and the wall time of training.
"""

from __future__ import annotations

import json
import os
import tempfile

from conntra import datasets, machine
from conntra.cli import options
from conntra.cli.info import describe
from conntra.cli.progress import TqdmObserver
from conntra.cli.train import (
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    call_train,
    errors_of,
    load_dataset,
    parse_hidden,
)
from conntra.errors import InputError, OutputPathError, UsageError
from conntra.fileio import atomic_write
from conntra.train import api, torch_backprop
from conntra.train.coordinate import ConntraConfig


def _list(text, allowed, what):
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise UsageError(
            f"--{what} takes a comma-separated subset of {', '.join(allowed)}; got {text!r}"
        )
    return items


def run_one(dataset, trainer, hidden, epochs, args, folder, cfg) -> dict:
    split = api.prepare(
        dataset,
        hidden,
        val_fraction=args.val_fraction,
        seed=args.seed,
        max_train=args.mnist_max_train if dataset.name == "mnist" else None,
    )
    observer = TqdmObserver(f"{dataset.name} {trainer}: ", enabled=not args.quiet)
    result = call_train(
        dataset,
        hidden,
        trainer,
        observer,
        epochs,
        seed=args.seed,
        config=cfg,
        split=split,
        act_bits=options.check_act_bits(args.act_bits, len(hidden)),
    )
    observer.close()
    path = os.path.join(folder, f"{dataset.name}-{trainer}.ctm")
    result.model.save(path)
    info = describe(path)
    row = {
        "dataset": dataset.name,
        "trainer": trainer,
        "sizes": "-".join(str(s) for s in split.sizes),
        "epochs": len(result.history),
        "seconds": round(result.seconds, 2),
        "parameter_bytes": info["parameter_bytes"],
        "file_bytes": info["file_bytes"],
        "kind": info["kind"],
        "model": path,
        **errors_of(result.model, split, dataset),
    }
    if info["kind"] != "ternary":
        row["float64_bytes"] = 2 * info["parameter_bytes"]
    return row


def to_markdown(rows, machine) -> str:
    lines = [
        "| dataset | trainer | architecture | epochs | training error | validation error "
        "| test error | parameter bytes | training time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f} %"

    for r in rows:
        mem = f"{r['parameter_bytes']:,}"
        if "float64_bytes" in r:
            mem += f" (float64: {r['float64_bytes']:,})"
        lines.append(
            f"| {r['dataset']} | {r['trainer']} | {r['sizes']} | {r['epochs']} | "
            f"{pct(r['train_error'])} | {pct(r['val_error'])} | "
            f"{pct(r['test_error'])} | {mem} | {r['seconds']:.1f} s |"
        )
    by = {(r["dataset"], r["trainer"]): r for r in rows}
    notes = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        t, f = by.get((ds, "conntra")), by.get((ds, "backprop"))
        if t and f:
            notes.append(
                f"- {ds}: ternary parameters take {t['parameter_bytes']:,} bytes, "
                f"{f['parameter_bytes'] / t['parameter_bytes']:.1f}x less than "
                f"float32 and {f['float64_bytes'] / t['parameter_bytes']:.1f}x less "
                f"than float64."
            )
    return "\n".join(lines + [""] + notes + ["", f"Machine: {machine}."]) + "\n"


def check_output_file(path: str) -> None:
    """Fails now, before hours of training, if ``path`` cannot be written."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise OutputPathError(f"--out {path} is a directory, not a file")
    if not os.path.isdir(folder):
        raise OutputPathError(f"--out {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OutputPathError(f"--out {path} is not writable")


def check_output_dir(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"--models-dir {folder} cannot be created: {exc.strerror or exc}"
        ) from exc
    if not os.access(folder, os.W_OK):
        raise OutputPathError(f"--models-dir {folder} is not writable")


def run(args) -> int:
    # Every input is checked before the first model trains: a typo in the
    # last dataset or an unwritable --out must not cost the runs before it.
    names = _list(args.datasets, datasets.KNOWN_DATASETS, "datasets")
    allowed = list(api.TRAINERS)
    trainers = (
        _list(args.trainers, allowed, "trainers")
        if args.trainers
        else ["conntra", "backprop", "qat"] + (["torch"] if torch_backprop.available() else [])
    )
    if "torch" in trainers and not torch_backprop.available():
        raise InputError("trainer 'torch' needs PyTorch (pip install conntra[torch])")
    hidden = {
        name: parse_hidden(
            getattr(args, f"{name}_hidden") or DEFAULT_HIDDEN[name], f"--{name}-hidden"
        )
        for name in names
    }
    for name in names:  # one --act-bits value per hidden layer of every dataset
        options.check_act_bits(args.act_bits, len(hidden[name]))
    if args.out:
        check_output_file(args.out)
    folder = args.models_dir or tempfile.mkdtemp(prefix="conntra-compare-")
    check_output_dir(folder)
    observer = TqdmObserver(enabled=not args.quiet)
    loaded = {name: load_dataset(name, args.data_dir, observer) for name in names}
    observer.close()
    for name in names:  # --mnist-max-train too small for two samples per class, ...
        api.prepare(
            loaded[name],
            hidden[name],
            val_fraction=args.val_fraction,
            seed=args.seed,
            max_train=args.mnist_max_train if name == "mnist" else None,
        )
    cfg = ConntraConfig()
    if args.budget is not None:
        cfg.budget = args.budget
    rows = []
    for name in names:
        for trainer in trainers:
            epochs = getattr(args, f"{name}_epochs") or DEFAULT_EPOCHS[(name, trainer)]
            rows.append(run_one(loaded[name], trainer, hidden[name], epochs, args, folder, cfg))
    where = machine.describe()
    if args.json:
        text = json.dumps({"rows": rows, "machine": where}, indent=2, sort_keys=True) + "\n"
    else:
        text = to_markdown(rows, where)
    if args.out:
        atomic_write(args.out, text.encode("utf-8"))
    else:
        print(text, end="")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="every trainer on Iris and MNIST: the paper's table",
        description="Train every trainer on the same split and architecture "
        "and print the table of errors, memory and time. All "
        "inputs are checked before anything trains.",
    )
    p.add_argument(
        "--datasets", default="iris,mnist", help="comma-separated datasets to compare on"
    )
    p.add_argument(
        "--trainers",
        default=None,
        help="comma-separated subset of conntra,backprop,qat,torch (default: all "
        "available; torch needs PyTorch)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the MNIST files (default: $CONNTRA_DATA, else ~/.cache/conntra)",
    )
    p.add_argument(
        "--seed",
        type=options.SEED,
        default=0,
        help="random seed of the splits, initialisations and batch orders",
    )
    for name in datasets.KNOWN_DATASETS:
        p.add_argument(
            f"--{name}-hidden",
            default=None,
            help=f"hidden layer sizes on {name}, comma-separated (default: {DEFAULT_HIDDEN[name]})",
        )
        p.add_argument(
            f"--{name}-epochs",
            type=options.POSITIVE,
            default=None,
            help=f"maximum epochs of every trainer on {name} (default: per "
            "trainer, "
            + ", ".join(f"{t} {e}" for (d, t), e in DEFAULT_EPOCHS.items() if d == name)
            + ")",
        )
    p.add_argument(
        "--mnist-max-train",
        type=options.POSITIVE,
        default=None,
        help="train on at most this many MNIST samples, for quick runs (default: all)",
    )
    p.add_argument(
        "--budget",
        type=options.NON_NEGATIVE,
        default=None,
        help=f"CoNNTrA exact checks per gradient round (default: {ConntraConfig().budget})",
    )
    p.add_argument(
        "--val-fraction",
        type=options.real(0.0, 1.0, hi_open=True),
        default=0.1,
        help="share of each training set held out for the validation error, in [0, 1)",
    )
    p.add_argument(
        "--act-bits",
        type=options.act_bits,
        default=None,
        help="activation bits of the hidden layers (1, 2, 4 or 7; one value or one per "
        "hidden layer) for conntra and qat; the float baselines ignore them (default: 7)",
    )
    p.add_argument(
        "--models-dir",
        default=None,
        help="keep the trained models in this folder (default: a new temporary folder)",
    )
    p.add_argument(
        "--out", default=None, help="write the table to this file (default: print it on stdout)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true", help="JSON rows instead of a Markdown table")
    p.set_defaults(func=run)
