"""NEON popcount kernels against the NEON int8 kernels, as executed instruction
counts under qemu-aarch64 (counts, not timings: this machine has no aarch64
CPU, and qemu's user mode runs the NEON code through its translator, whose
timing says nothing about a real core).

    .venv/bin/python benchmarks/popcount_icount.py [--sizes 256,1024]

Builds the C core and benchmarks/popcount_icount.c statically with
aarch64-linux-gnu-gcc -O2, runs it under ``qemu-aarch64 -cpu max`` with the
instruction-count plugin of conntra.codegen (built with the host gcc), and takes
(count with R calls - count with 0 calls) / R as the instructions of one call
of the kernel on an n x n layer (same weights, activations of a bits; the int8
kernels read the same values as int8). Instructions are not cycles: vcnt,
vmull and vdot have different costs on each core.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from conntra.codegen import toolchain

REPO = Path(__file__).resolve().parent.parent
REPS = 5


def build(out: Path) -> Path:
    exe = out / "popcount_icount"
    sources = sorted(str(p) for p in (REPO / "native" / "src").rglob("*.c"))
    cmd = ["aarch64-linux-gnu-gcc", "-std=c99", "-O2", "-static"]
    cmd += [f"-I{REPO / 'native' / 'include'}", f"-I{REPO / 'native' / 'src'}"]
    cmd += [*sources, str(REPO / "benchmarks" / "popcount_icount.c"), "-lpthread", "-lm"]
    subprocess.run([*cmd, "-o", str(exe)], check=True)
    return exe


def count(exe: Path, plugin: Path, out: Path, args: list[str]) -> int:
    counts = out / "counts.txt"
    cmd = ["qemu-aarch64", "-cpu", "max", "-plugin", f"{plugin},out={counts}", str(exe), *args]
    subprocess.run(cmd, check=True, capture_output=True)
    fields = dict(line.split() for line in counts.read_text().splitlines())
    return int(fields["total"])


def per_call(exe, plugin, out, kernel: str, n: int, batch: int, bits: int) -> float:
    base = count(exe, plugin, out, [kernel, str(n), str(batch), str(bits), "0"])
    runs = count(exe, plugin, out, [kernel, str(n), str(batch), str(bits), str(REPS)])
    return (runs - base) / REPS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,1024")
    sizes = [int(s) for s in ap.parse_args().sizes.split(",")]
    plugin = toolchain.icount_plugin()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        exe = build(out)
        for n in sizes:
            for batch in (1, 64):
                fam = "gemv" if batch < 4 else "gemm"
                i8 = per_call(exe, plugin, out, f"ct_t2_s8_{fam}__neon", n, batch, 1)
                dot = per_call(exe, plugin, out, f"ct_t2_s8_{fam}__neondot", n, batch, 1)
                row = f"{n}x{n} batch {batch:<3} int8 neon {i8 / (n * n * batch):.3f}"
                row += f"  neondot {dot / (n * n * batch):.3f}"
                for bits in (1, 2, 4):
                    pc = per_call(exe, plugin, out, "ct_tm_bp_mm__neon", n, batch, bits)
                    row += (
                        f"  pc{bits} {pc / (n * n * batch):.3f} ({i8 / pc:.2f}x, {dot / pc:.2f}x)"
                    )
                print(row + "   instructions per weight and sample", flush=True)


if __name__ == "__main__":
    main()
