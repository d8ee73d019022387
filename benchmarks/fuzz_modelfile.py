"""Longer fuzzing of model files than the test suite does.

With atheris installed (``pip install atheris``) this is coverage-guided: the
fuzzer's bytes pick a seed file and a mutation seed for the JSON-aware mutator
of tests/test_modelfile_fuzz.py, and are also tried as a whole file. Without
it the same mutator runs in a plain seeded loop. Either way a failure is an
exception other than ModelFormatError, or a file that loads but does not run,
save and load back to equal bytes.

    python benchmarks/fuzz_modelfile.py --seconds 300
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def plain_loop(seconds: float, start: int) -> None:
    from test_modelfile_fuzz import check_one, mutate, seed_files

    files = seed_files()
    runs = loaded = 0
    deadline = time.monotonic() + seconds
    seed = start
    while time.monotonic() < deadline:
        for k, data in enumerate(files):
            try:
                loaded += check_one(mutate(data, seed))
            except Exception:
                print(f"FAILED: seed file {k}, seed {seed}", flush=True)
                raise
            runs += 1
        seed += 1
    print(f"runs: {runs}, loaded: {loaded}, seeds {start}..{seed - 1}")


def atheris_loop(seconds: float) -> None:
    import atheris

    # imported under instrumentation, so that coverage of conntra guides the fuzzer
    with atheris.instrument_imports():
        from test_modelfile_fuzz import check_one, mutate, seed_files
    files = seed_files()
    runs = [0, 0]

    def one(buf: bytes) -> None:
        runs[0] += 1
        if len(buf) >= 5:
            data = files[buf[0] % len(files)]
            runs[1] += check_one(mutate(data, int.from_bytes(buf[1:5], "little")))
        check_one(buf)  # raw bytes too: the header and JSON checks
        if runs[0] % 20000 == 0:
            print(f"runs: {runs[0]}, loaded: {runs[1]}", flush=True)

    atheris.Setup([sys.argv[0], f"-max_total_time={int(seconds)}", "-print_final_stats=1"], one)
    import atexit

    atexit.register(lambda: print(f"runs: {runs[0]}, loaded: {runs[1]}"))
    atheris.Fuzz()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=1_000_000, help="first seed of the plain loop")
    ap.add_argument("--plain", action="store_true", help="skip atheris even if installed")
    args = ap.parse_args()
    try:
        import atheris  # noqa: F401
    except ImportError:
        args.plain = True
    if args.plain:
        plain_loop(args.seconds, args.seed)
    else:
        atheris_loop(args.seconds)


if __name__ == "__main__":
    main()
