"""Errors of CoNNTrA's starting point alone: the hybrid init (a short QAT run
converted onto the integer contract) that ``conntra compare`` trains from,
on the same split and seed, before any coordinate descent.

    python benchmarks/hybrid_start.py --dataset cifar10 --seed 0 [--data-dir DIR]

Prints the training, validation and test error of the converted model; set
``CONNTRA_DATA`` or pass ``--data-dir`` as for ``conntra compare``.
"""

from __future__ import annotations

import argparse

import numpy as np

from conntra import events
from conntra.cli.train import load_dataset
from conntra.train import api, floatnet


def error(model, xq: np.ndarray, y: np.ndarray, chunk: int = 1000) -> float:
    pred = np.concatenate(
        [model.predict_quantized(xq[i : i + chunk]) for i in range(0, len(xq), chunk)]
    )
    return float(np.mean(pred != y))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--epochs", type=float, default=3.0, help="QAT epochs of the init")
    args = ap.parse_args()
    data = load_dataset(args.dataset, args.data_dir, events.NULL)
    split = api.prepare(data, None, val_fraction=0.1, seed=args.seed, arch="cnn")
    # hybrid_init returns the parameters; the model it converted them from is
    # caught on its way out of floatnet.to_integer
    seen = {}
    convert = floatnet.to_integer

    def keep(*a, **k):
        out = convert(*a, **k)
        seen["model"] = out[0]
        return out

    floatnet.to_integer = keep
    try:
        api.hybrid_init(split, seed=args.seed, epochs=args.epochs)
    finally:
        floatnet.to_integer = convert
    model = seen["model"]
    print(
        f"{args.dataset} seed {args.seed}: hybrid init "
        f"training {100 * error(model, split.xq, split.y):.2f} %, "
        f"validation {100 * error(model, split.xq_val, split.y_val):.2f} %, "
        f"test {100 * error(model, model.quantize(data.x_test), data.y_test):.2f} %"
    )


if __name__ == "__main__":
    main()
