"""``conntra export`` and ``conntra verify``: firmware for microcontrollers.

export MODEL --out DIR [--prefix NAME] [--target T ...]
    writes DIR/NAME.h and prints what it costs on each Cortex-M target.
verify MODEL --target T --dataset D [--limit N]
    compiles the header and a test program for T, runs it (natively or under
    qemu-system-arm), compares every logit with the Python model, prints
    ``N/N identical`` and exits 1 on any difference.
"""

from __future__ import annotations

import json
import shutil

from conntra.codegen import TARGETS
from conntra.codegen.api import DEFAULT_REPORT_TARGETS, export, load_model, verify
from conntra.codegen.report import format_report

CORTEX_TARGETS = [t for t in TARGETS if t != "host"]


def add_export_arguments(p) -> None:
    p.add_argument("model", help="path of a ternary .ctm model file")
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument(
        "--prefix", default="model", help="C identifier every generated name starts with"
    )
    p.add_argument(
        "--target",
        action="append",
        choices=CORTEX_TARGETS,
        default=None,
        help="Cortex-M target to report sizes and instructions for (repeatable; "
        f"default: {', '.join(DEFAULT_REPORT_TARGETS)} when "
        "arm-none-eabi-gcc and qemu-system-arm are installed)",
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="only write the header: no cross-compiled size and instruction report",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run_export(args) -> int:
    targets, note = args.target, None
    if args.no_report:
        targets = []
    elif targets is None:
        tools = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
        missing = [t for t in tools if shutil.which(t) is None]
        targets = [] if missing else list(DEFAULT_REPORT_TARGETS)
        if missing:
            note = f"size report skipped: {', '.join(missing)} not found"
    result = export(args.model, args.out, args.prefix, targets)
    if note:
        result["note"] = note
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(f"wrote {result['header']} ({result['bytes']} bytes)")
    for r in result["reports"]:
        print(format_report(r))
    if note:
        print(note)
    return 0


def run_verify(args) -> int:
    from conntra import datasets

    model = load_model(args.model)
    ds = datasets.load(args.dataset, data_dir=args.data_dir)
    x = ds.x_test if args.limit is None else ds.x_test[: args.limit]
    r = verify(model, args.target, x, prefix=args.prefix, workdir=args.keep)
    r["dataset"] = ds.name
    if args.json:
        print(json.dumps(r, indent=2, sort_keys=True))
    else:
        where = (
            f" ({r['board']}, {r['kernels']} kernels)"
            if r["board"]
            else f" ({r['kernels']} kernels)"
        )
        print(
            f"{args.model} on {r['target']}{where}: {r['n']} {ds.name} test inputs, "
            f"{r['seconds']:.1f} s"
        )
        if "instructions_per_inference" in r:
            per_mac = r["instructions_per_mac"]
            reuse = f", {per_mac:.3f} per MAC" if per_mac != r["instructions_per_weight"] else ""
            print(
                f"instructions per inference {r['instructions_per_inference']:.0f} "
                f"({r['instructions_per_weight']:.3f} per weight{reuse})"
            )
        if r["mismatches"]:
            print(f"first differing inputs: {r['mismatches']}")
        print(f"{r['identical']}/{r['n']} identical")
    return 0 if r["identical"] == r["n"] else 1


def _positive(text: str) -> int:
    import argparse

    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def register(sub) -> None:
    p = sub.add_parser("export", help="write a model as a standalone C99 header")
    add_export_arguments(p)
    p.set_defaults(func=run_export)

    p = sub.add_parser("verify", help="run the generated C on a target and compare logits")
    p.add_argument("model", help="path of a ternary .ctm model file")
    p.add_argument(
        "--target",
        required=True,
        choices=list(TARGETS),
        help="where to run the header: the host compiler, or a Cortex-M core "
        "under qemu-system-arm (required)",
    )
    p.add_argument(
        "--dataset",
        required=True,
        help="dataset whose test inputs to run: iris, mnist or cifar10 (required)",
    )
    p.add_argument(
        "--limit", type=_positive, default=None, help="only the first N test inputs (default: all)"
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="directory of the MNIST files (default: $CONNTRA_DATA, else ~/.cache/conntra)",
    )
    p.add_argument("--prefix", default="model", help="C prefix of the generated names")
    p.add_argument(
        "--keep",
        default=None,
        metavar="DIR",
        help="build in DIR and keep the sources, binaries and results "
        "(default: a temporary directory, removed afterwards)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_verify)
