"""``conntra quickstart``: the README's main job on the built-in Iris data.

Today it builds a random ternary 4-16-3 network on the integer contract, runs
it through the C core and the numpy reference, reports its errors and memory
and saves it: the trainer and the firmware generator plug in here as they land.
"""

from __future__ import annotations

import json
import os

import numpy as np

from conntra.cli.info import describe
from conntra.datasets import load
from conntra.model import TernaryModel
from conntra.quant import InputQuant


def run(args) -> int:
    data = load("iris")
    quant = InputQuant.fit_affine(data.x_train)
    model = TernaryModel.random([4, 16, 3], quant, seed=args.seed, shifts=(3,),
                                metadata={"dataset": "iris", "trainer": "random"})
    c = model.logits(data.x_test)
    same = bool((c == model.logits(data.x_test, backend="numpy")).all())
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "iris.ctm")
    model.save(path)
    report = {
        "model": path,
        "train_error": model.error_rate(data.x_train, data.y_train),
        "test_error": model.error_rate(data.x_test, data.y_test),
        "c_equals_numpy": same,
        "file_bytes": describe(path)["file_bytes"],
        "float32_bytes": 4 * model.n_params,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("untrained random ternary 4-16-3 network on Iris (the trainer is not built yet)")
        for key, value in report.items():
            print(f"{key:<15} {value:.3f}" if isinstance(value, float) else
                  f"{key:<15} {value}")
    return 0 if same and np.isfinite(report["test_error"]) else 1


def register(sub) -> None:
    p = sub.add_parser("quickstart", help="the README's main job on the built-in Iris data")
    p.add_argument("--out", default="conntra-out", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)
