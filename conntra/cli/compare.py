"""``conntra compare``: every trainer on the same architecture, under one protocol.

The protocol (conntra.train.protocol, docs/comparison.md): the same stopping
rule and held-out validation split for every trainer, hyperparameters chosen
on the validation split only with the same grid size per trainer
(``--tune``, else the documented defaults), results as mean +- sample std
over seeds (Iris: over repeated splits too), peak training memory by
accounting. ``--json`` writes every run with its validation/test error
against wall time; docs/comparison.md documents the keys.
"""

from __future__ import annotations

import json
import math
import os
import tempfile

from conntra import datasets, machine
from conntra.cli import options
from conntra.cli.info import describe
from conntra.cli.progress import TqdmObserver
from conntra.cli.train import (
    DEFAULT_HIDDEN,
    arch_act_bits,
    arch_option,
    errors_of,
    load_dataset,
    parse_hidden,
)
from conntra.errors import InputError, OutputPathError, UsageError
from conntra.fileio import atomic_write
from conntra.train import api, protocol, torch_backprop
from conntra.train.coordinate import ConntraConfig

SCHEMA = "conntra-compare/2"


def _list(text, allowed, what):
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise UsageError(
            f"--{what} takes a comma-separated subset of {', '.join(allowed)}; got {text!r}"
        )
    return items


def parse_seeds(text: str) -> list:
    try:
        seeds = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"--seeds must be comma-separated integers >= 0; got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds must be distinct integers >= 0; got {text!r}")
    return seeds


def call_train(dataset, trainer, config, seed, setting, observer, record_test=True):
    """protocol.train_run (tests replace it to check that nothing trains early)."""
    return protocol.train_run(
        dataset, trainer, config, seed, setting, observer=observer, record_test=record_test
    )


def curve_of(history) -> list:
    """Validation and test error of each epoch's model against training time."""
    return [
        {
            "epoch": r["epoch"],
            "seconds": r.get("elapsed"),
            "train_error": _num(r.get("train_error")),
            "val_error": _num(r.get("val_error")),
            "test_error": _num(r.get("test_error")),
        }
        for r in history
    ]


def _num(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def run_one(dataset, trainer, config, seed, split_index, setting, args, folder) -> dict:
    label = f"{dataset.name} {trainer} seed {seed}" + (
        f" split {split_index}" if split_index is not None else ""
    )
    observer = TqdmObserver(f"{label}: ", enabled=not args.quiet)
    result, split = call_train(dataset, trainer, config, seed, setting, observer)
    observer.close()
    tag = f"s{seed}" + (f"-split{split_index}" if split_index is not None else "")
    path = os.path.join(folder, f"{dataset.name}-{trainer}-{tag}.ctm")
    result.model.save(path)
    info = describe(path)
    errs = errors_of(result.model, split, dataset)
    row = {
        "dataset": dataset.name,
        "trainer": trainer,
        "seed": seed,
        "split": split_index,
        "sizes": "-".join(str(s) for s in split.sizes),
        "arch": split.arch,
        "samples": {"train": len(split.y), "val": len(split.y_val), "test": len(dataset.y_test)},
        "config": result.config,
        "epochs": len(result.history),
        "best_epoch": result.history[-1].get("best_epoch"),
        "seconds": round(result.seconds, 3),
        "parameter_bytes": info["parameter_bytes"],
        "file_bytes": info["file_bytes"],
        "kind": info["kind"],
        "float64_bytes": None if info["kind"] == "ternary" else 2 * info["parameter_bytes"],
        "memory": result.memory.as_dict(),
        "model": path,
        "curve": curve_of(result.history),
        **{k: _num(v) for k, v in errs.items()},
    }
    return row


def summarize(runs) -> list:
    groups: dict = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["trainer"]), []).append(r)
    out = []
    for (ds, trainer), rs in groups.items():
        peak = max(rs, key=lambda r: r["memory"]["total"])["memory"]
        out.append(
            {
                "dataset": ds,
                "trainer": trainer,
                "sizes": rs[0]["sizes"],
                "arch": rs[0].get("arch"),
                "runs": len(rs),
                "seeds": sorted({r["seed"] for r in rs}),
                "splits": sorted({r["split"] for r in rs if r["split"] is not None}),
                "config": rs[0]["config"],
                "train_error": protocol.summary(r["train_error"] for r in rs),
                "val_error": protocol.summary(r["val_error"] for r in rs),
                "test_error": protocol.summary(r["test_error"] for r in rs),
                "epochs": protocol.summary(r["epochs"] for r in rs),
                "seconds": protocol.summary(r["seconds"] for r in rs),
                "parameter_bytes": rs[0]["parameter_bytes"],
                "float64_bytes": rs[0]["float64_bytes"],
                "memory": peak,
            }
        )
    return out


def _pct(s) -> str:
    if s["mean"] is None:
        return "n/a"
    std = "" if s["std"] is None else f" ± {100 * s['std']:.2f}"
    return f"{100 * s['mean']:.2f}{std} %"


def _range(s) -> str:
    return "n/a" if s["mean"] is None else f"{100 * s['min']:.2f}..{100 * s['max']:.2f} %"


def human_bytes(n: int) -> str:
    if n < 10_000:
        return f"{n:,} B"
    if n < 10_000 * 1024:
        return f"{n / 1024:,.1f} KiB"
    return f"{n / 1024**2:,.1f} MiB"


def to_markdown(summary, where, tuning=None) -> str:
    lines = [
        "| dataset | trainer | architecture | runs | epochs | training error | validation error "
        "| test error (mean ± std) | test min..max | parameter bytes "
        "| peak training memory | training time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in summary:
        mem = f"{r['parameter_bytes']:,}"
        if r["float64_bytes"] is not None:
            mem += f" (float64: {r['float64_bytes']:,})"
        lines.append(
            f"| {r['dataset']} | {r['trainer']} | {r.get('arch') or r['sizes']} | {r['runs']} | "
            f"{r['epochs']['mean']:.1f} | {_pct(r['train_error'])} | {_pct(r['val_error'])} | "
            f"{_pct(r['test_error'])} | "
            f"{_range(r['test_error'])} | {mem} | {human_bytes(r['memory']['total'])} | "
            f"{r['seconds']['mean']:.1f} s |"
        )
    lines += [
        "",
        "Peak training memory by accounting (bytes; the phase that holds the most):",
        "",
        "| dataset | trainer | parameters | optimizer / ranking state | activation caches "
        "| data | total | phase |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in summary:
        m = r["memory"]
        lines.append(
            f"| {r['dataset']} | {r['trainer']} | {m['parameters']:,} | {m['optimizer']:,} | "
            f"{m['activations']:,} | {m['data']:,} | {m['total']:,} | {m['phase']} |"
        )
    lines += [
        "",
        "Configurations: "
        + "; ".join(
            f"{r['dataset']} {r['trainer']} "
            + ", ".join(f"{k} {v}" for k, v in r["config"].items())
            for r in summary
        )
        + ("" if not tuning else " (chosen by --tune on the validation split)")
        + ".",
    ]
    return "\n".join(lines + ["", f"Machine: {where}."]) + "\n"


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
    names = _list(args.datasets, protocol.DATASETS, "datasets")
    allowed = list(api.TRAINERS)
    trainers = (
        _list(args.trainers, allowed, "trainers")
        if args.trainers
        else ["conntra", "backprop", "qat"] + (["torch"] if torch_backprop.available() else [])
    )
    if "torch" in trainers and not torch_backprop.available():
        raise InputError("trainer 'torch' needs PyTorch (pip install conntra[torch])")
    seeds = parse_seeds(args.seeds)
    arch_text = arch_option(args, any(getattr(args, f"{n}_hidden", None) for n in names))
    # photographs train convolutional networks: CIFAR-10 takes its default CNN
    arch_of = {n: arch_text or ("cnn" if n in datasets.IMAGE_DATASETS else None) for n in names}
    hidden = {
        name: None
        if arch_of[name] is not None
        else parse_hidden(
            getattr(args, f"{name}_hidden") or DEFAULT_HIDDEN[name], f"--{name}-hidden"
        )
        for name in names
    }
    settings = {
        name: protocol.Setting(
            hidden=hidden[name],
            max_epochs=getattr(args, f"{name}_epochs") or protocol.MAX_EPOCHS[name],
            val_fraction=(
                protocol.VAL_FRACTION[name] if args.val_fraction is None else args.val_fraction
            ),
            patience=args.patience,
            max_train=getattr(args, f"{name}_max_train", None),
            budget=args.budget,
            act_bits=arch_act_bits(args.act_bits)
            if arch_of[name] is not None
            else options.check_act_bits(args.act_bits, len(hidden[name])),
            arch=arch_of[name],
        )
        for name in names
    }
    if args.tune and any(s.val_fraction == 0 for s in settings.values()):
        raise UsageError("--tune chooses by validation error: --val-fraction must be > 0")
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
            val_fraction=settings[name].val_fraction,
            seed=seeds[0],
            max_train=settings[name].max_train,
            arch=arch_of[name],
        )
    tuning: dict = {}
    configs = {}
    for name in names:
        for trainer in trainers:
            if args.tune:

                def observer_for(config, name=name, trainer=trainer):
                    text = ", ".join(f"{k} {v}" for k, v in config.items())
                    return TqdmObserver(
                        f"tuning {name} {trainer} ({text}): ", enabled=not args.quiet
                    )

                # tuning sees no test set: the choice is final before any test error
                found = protocol.tune(
                    loaded[name], trainer, settings[name], observer_for=observer_for
                )
                tuning.setdefault(name, {})[trainer] = found
                configs[(name, trainer)] = found["chosen"]
            else:
                configs[(name, trainer)] = protocol.default_config(name, trainer, settings[name])
    runs = []
    for name in names:
        for seed, split in protocol.runs(name, seeds, args.iris_splits):
            dataset = protocol.dataset_for(name, loaded[name], split)
            for trainer in trainers:
                runs.append(
                    run_one(
                        dataset,
                        trainer,
                        configs[(name, trainer)],
                        seed,
                        split,
                        settings[name],
                        args,
                        folder,
                    )
                )
    where = machine.describe()
    summary = summarize(runs)
    if args.json:
        doc = {
            "schema": SCHEMA,
            "machine": where,
            "protocol": {
                "seeds": seeds,
                "iris_splits": args.iris_splits if "iris" in names else None,
                "patience": args.patience,
                "min_patience_batches": protocol.MIN_PATIENCE_BATCHES,
                "max_epochs": {n: settings[n].max_epochs for n in names},
                "val_fraction": {n: settings[n].val_fraction for n in names},
                "mnist_max_train": args.mnist_max_train if "mnist" in names else None,
                "cifar10_max_train": args.cifar10_max_train if "cifar10" in names else None,
                "tuned": bool(args.tune),
                "tuning_seed": protocol.TUNING_SEED,
            },
            "tuning": tuning or None,
            "summary": summary,
            "runs": runs,
        }
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    else:
        text = to_markdown(summary, where, tuning)
    if args.out:
        atomic_write(args.out, text.encode("utf-8"))
    else:
        print(text, end="")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="every trainer on Iris and MNIST under one protocol: the paper's table",
        description="Train every trainer on the same splits and architecture, stopped by "
        "the same rule, over several seeds (Iris: over repeated splits too), and print "
        "mean ± std of the errors, memory and time. --tune chooses each trainer's "
        "hyperparameters on the validation split first. All inputs are checked before "
        "anything trains. docs/comparison.md describes the protocol and the JSON.",
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
        "--seeds",
        default=",".join(str(s) for s in protocol.SEEDS),
        help="comma-separated seeds of the reported runs (validation split, "
        "initialisation, batch order)",
    )
    p.add_argument(
        "--iris-splits",
        type=options.POSITIVE,
        default=protocol.IRIS_SPLITS,
        help="stratified 120/30 Iris splits per seed",
    )
    p.add_argument(
        "--tune",
        action="store_true",
        help="choose each trainer's hyperparameters from its grid on the validation "
        "split (one tuning seed) before the runs; default: the documented defaults",
    )
    p.add_argument(
        "--patience",
        type=options.POSITIVE,
        default=protocol.PATIENCE,
        help="every trainer stops after this many epochs without a better "
        "validation error (at least 16 batches)",
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
            help=f"maximum epochs of every trainer on {name} (default: "
            f"{protocol.MAX_EPOCHS[name]})",
        )
    p.add_argument(
        "--cifar10-epochs",
        type=options.POSITIVE,
        default=None,
        help=f"maximum epochs of every trainer on cifar10 (default: "
        f"{protocol.MAX_EPOCHS['cifar10']}); it trains its --arch, default its CNN",
    )
    for name in ("mnist", "cifar10"):
        p.add_argument(
            f"--{name}-max-train",
            type=options.POSITIVE,
            default=None,
            help=f"train on at most this many {name} samples, for quick runs (default: all)",
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
        default=None,
        help="share of each training set held out for the validation error, in [0, 1) "
        "(default: " + ", ".join(f"{k} {v}" for k, v in protocol.VAL_FRACTION.items()) + ")",
    )
    p.add_argument(
        "--arch",
        default=None,
        metavar="TEXT",
        help="train this architecture (conntra.arch, e.g. c16k3,p2,c32k3,p2,d10, or cnn for "
        "each dataset's default) instead of the dense hidden sizes, on every dataset; "
        "they must be image data (docs/architectures.md)",
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
    p.add_argument(
        "--json",
        action="store_true",
        help="every run, with its errors against time, as JSON (docs/comparison.md)",
    )
    p.set_defaults(func=run)
