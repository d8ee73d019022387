"""``conntra compare``: the paper's table, every trainer on the same architecture.

For each dataset, each trainer trains on the same split; the table gives the
training, validation and test errors, the parameter memory counted from the
saved model file (ternary T3 payload against float32; float64 is the float32
payload doubled), and the wall time of training.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile

from conntra import datasets
from conntra.cli.info import describe
from conntra.cli.progress import Progress
from conntra.cli.train import (
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    ProgressObserver,
    errors_of,
    parse_hidden,
)
from conntra.errors import InputError
from conntra.train import api, torch_backprop
from conntra.train.coordinate import ConntraConfig


def _list(text, allowed, what):
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise InputError(f"--{what} takes a comma-separated subset of {', '.join(allowed)}; "
                         f"got {text!r}")
    return items


def run_one(dataset, trainer, hidden, epochs, args, folder, cfg) -> dict:
    split = api.prepare(dataset, hidden, val_fraction=args.val_fraction, seed=args.seed,
                        max_train=args.mnist_max_train if dataset.name == "mnist" else None)
    bar = Progress(epochs, f"{dataset.name} {trainer} ", enabled=not args.quiet)
    result = api.train(dataset, hidden, trainer, epochs=epochs, seed=args.seed, config=cfg,
                       observer=ProgressObserver(bar), split=split)
    bar.close()
    path = os.path.join(folder, f"{dataset.name}-{trainer}.ctm")
    result.model.save(path)
    info = describe(path)
    row = {"dataset": dataset.name, "trainer": trainer,
           "sizes": "-".join(str(s) for s in split.sizes), "epochs": len(result.history),
           "seconds": round(result.seconds, 2), "parameter_bytes": info["parameter_bytes"],
           "file_bytes": info["file_bytes"], "kind": info["kind"], "model": path,
           **errors_of(result.model, split, dataset)}
    if info["kind"] != "ternary":
        row["float64_bytes"] = 2 * info["parameter_bytes"]
    return row


def to_markdown(rows, machine) -> str:
    lines = ["| dataset | trainer | architecture | epochs | training error | validation error "
             "| test error | parameter bytes | training time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f} %"

    for r in rows:
        mem = f"{r['parameter_bytes']:,}"
        if "float64_bytes" in r:
            mem += f" (float64: {r['float64_bytes']:,})"
        lines.append(f"| {r['dataset']} | {r['trainer']} | {r['sizes']} | {r['epochs']} | "
                     f"{pct(r['train_error'])} | {pct(r['val_error'])} | "
                     f"{pct(r['test_error'])} | {mem} | {r['seconds']:.1f} s |")
    by = {(r["dataset"], r["trainer"]): r for r in rows}
    notes = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        t, f = by.get((ds, "conntra")), by.get((ds, "backprop"))
        if t and f:
            notes.append(f"- {ds}: ternary parameters take {t['parameter_bytes']:,} bytes, "
                         f"{f['parameter_bytes'] / t['parameter_bytes']:.1f}x less than "
                         f"float32 and {f['float64_bytes'] / t['parameter_bytes']:.1f}x less "
                         f"than float64.")
    return "\n".join(lines + [""] + notes + ["", f"Machine: {machine}."]) + "\n"


def machine_name() -> str:
    """CPU model (from /proc/cpuinfo where there is one), architecture, CPU count."""
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model or 'unknown CPU'}, {platform.machine()}, {os.cpu_count()} CPUs"


def run(args) -> int:
    names = _list(args.datasets, datasets.KNOWN_DATASETS, "datasets")
    allowed = list(api.TRAINERS)
    trainers = _list(args.trainers, allowed, "trainers") if args.trainers else \
        ["conntra", "backprop", "qat"] + (["torch"] if torch_backprop.available() else [])
    if "torch" in trainers and not torch_backprop.available():
        raise InputError("trainer 'torch' needs PyTorch (pip install conntra[torch])")
    cfg = ConntraConfig()
    if args.budget:
        cfg.budget = args.budget
    folder = args.models_dir or tempfile.mkdtemp(prefix="conntra-compare-")
    os.makedirs(folder, exist_ok=True)
    rows = []
    for name in names:
        dataset = datasets.load(name, data_dir=args.data_dir)
        hidden = parse_hidden(getattr(args, f"{name}_hidden") or DEFAULT_HIDDEN[name])
        for trainer in trainers:
            epochs = getattr(args, f"{name}_epochs") or DEFAULT_EPOCHS[(name, trainer)]
            rows.append(run_one(dataset, trainer, hidden, epochs, args, folder, cfg))
    machine = machine_name()
    if args.json:
        text = json.dumps({"rows": rows, "machine": machine}, indent=2, sort_keys=True) + "\n"
    else:
        text = to_markdown(rows, machine)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text, end="")
    return 0


def register(sub) -> None:
    p = sub.add_parser("compare", help="every trainer on Iris and MNIST: the paper's table")
    p.add_argument("--datasets", default="iris,mnist")
    p.add_argument("--trainers", default=None,
                   help="subset of conntra,backprop,qat,torch (default: all available)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iris-hidden", default=None)
    p.add_argument("--mnist-hidden", default=None)
    p.add_argument("--iris-epochs", type=int, default=None, help="epochs of every trainer")
    p.add_argument("--mnist-epochs", type=int, default=None, help="epochs of every trainer")
    p.add_argument("--mnist-max-train", type=int, default=None,
                   help="train on at most this many MNIST samples (quick runs)")
    p.add_argument("--budget", type=int, default=None, help="CoNNTrA checks per round")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--models-dir", default=None, help="keep the trained models here")
    p.add_argument("--out", default=None, help="write the table to this file")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)
