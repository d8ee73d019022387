"""``conntra quickstart``: the README's main job on the built-in Iris data.

Trains a 4-8-3 network with CoNNTrA and the same architecture with float32
backpropagation, each with the comparison protocol's Iris defaults and
stopping rule (conntra.train.protocol), prints both errors and both parameter memories (counted from
the saved files), saves the ternary model, exports it as a standalone C header
and checks that header on the host against the Python model, logit for logit.
"""

from __future__ import annotations

import json
import os
import shutil

from conntra.cli import options
from conntra.cli.info import describe
from conntra.datasets import load
from conntra.train import protocol

HIDDEN = [8]


def _row(result, data, path) -> dict:
    model = result.model
    model.save(path)
    return {
        "trainer": result.trainer,
        "train_error": model.error_rate(data.x_train, data.y_train),
        "test_error": model.error_rate(data.x_test, data.y_test),
        "parameter_bytes": describe(path)["parameter_bytes"],
        "seconds": round(result.seconds, 2),
        "model": path,
    }


def run(args) -> int:
    data = load("iris")
    os.makedirs(args.out, exist_ok=True)
    setting = protocol.Setting(
        hidden=HIDDEN,
        max_epochs=protocol.MAX_EPOCHS["iris"],
        val_fraction=protocol.VAL_FRACTION["iris"],
    )
    rows = []
    for trainer in ("conntra", "backprop"):
        config = protocol.DEFAULTS[("iris", trainer)]
        result, _ = protocol.train_run(data, trainer, config, args.seed, setting, record_test=False)
        rows.append(_row(result, data, os.path.join(args.out, f"iris-{trainer}.ctm")))
    report = {"dataset": "iris", "architecture": "4-8-3", "results": rows}
    if shutil.which("gcc"):
        from conntra import codegen

        model_path = rows[0]["model"]
        header = codegen.export(model_path, args.out, "iris", report=False)
        check = codegen.verify(
            model_path, "host", data.x_test, prefix="iris", count_instructions=False
        )
        report["header"] = header["header"]
        report["host_check"] = f"{check['identical']}/{check['n']} identical"
        ok = check["identical"] == check["n"]
    else:
        report["header"] = None
        report["host_check"] = "skipped: no gcc to compile the generated C"
        ok = True
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if ok else 1
    print("Iris, 4-8-3, the same split for both trainers:")
    print(f"{'trainer':<10} {'train err':>9} {'test err':>9} {'param bytes':>11} {'time':>7}")
    for r in rows:
        print(
            f"{r['trainer']:<10} {100 * r['train_error']:>8.2f}% {100 * r['test_error']:>8.2f}%"
            f" {r['parameter_bytes']:>11} {r['seconds']:>6.2f}s"
        )
    ratio = rows[1]["parameter_bytes"] / rows[0]["parameter_bytes"]
    print(f"ternary parameters: {ratio:.1f}x smaller than float32")
    print(f"saved {rows[0]['model']} and {rows[1]['model']}")
    if report["header"]:
        print(f"C header {report['header']}: {report['host_check']} on the host")
    else:
        print(f"C header: {report['host_check']}")
    return 0 if ok else 1


def register(sub) -> None:
    p = sub.add_parser("quickstart", help="the README's main job: train on Iris, compare, export C")
    p.add_argument(
        "--out",
        default="conntra-out",
        help="folder for the two models and the C header (created if missing)",
    )
    p.add_argument("--seed", type=options.SEED, default=0, help="random seed of both trainings")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)
