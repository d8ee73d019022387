"""``conntra bench``: the kernel benchmarks as a table of ratios to numpy float32.

Runs conntra.bench (the same code as benchmarks/bench_kernels.py): interleaved
rounds in one process, median of paired ratios, with the machine, the BLAS,
the dispatched kernels and the read bandwidth measured in the same run.
"""

from __future__ import annotations

import json
import sys

from conntra.cli import options


def run(args) -> int:
    from conntra import bench, engine
    from conntra.errors import UsageError

    known = [c.name for c in bench.CASES]
    unknown = [n for n in args.case or [] if n not in known]
    if unknown:  # a bad --case is a usage error (2), found before any case runs
        raise UsageError(f"--case: unknown benchmark case(s) {unknown}; known: {sorted(known)}")
    if args.threads is not None:
        engine.set_num_threads(args.threads)
    threads = engine.num_threads()

    def progress(name: str) -> None:
        if not args.json:
            print(f"running {name} ...", file=sys.stderr, flush=True)

    report = bench.run(
        quick=args.quick, threads=threads, names=args.case, rounds=args.rounds, progress=progress
    )
    report["command"] = " ".join(["conntra bench", *sys.argv[2:]])
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else bench.format_table(report))
    return 0


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the ternary kernels against numpy float32")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--quick", action="store_true", help="small shapes, few rounds (seconds)")
    p.add_argument(
        "--threads",
        type=options.POSITIVE,
        default=None,
        help="thread count for conntra, numpy's BLAS and torch (default: CONNTRA_NUM_THREADS or 1)",
    )
    p.add_argument(
        "--rounds",
        type=options.POSITIVE,
        default=None,
        help="interleaved rounds per case (default: 7, or 3 with --quick)",
    )
    p.add_argument(
        "--case",
        action="append",
        default=None,
        metavar="NAME",
        help="run only this case (repeatable), e.g. 'gemv 16384x16384' (default: every case)",
    )
    p.set_defaults(func=run)
