"""Data-parallel CoNNTrA on 8 to 256 ranks, on paper (docs/distributed.md).

The model of one epoch's time on N ranks:

    T(N) = P / N + R + M * ceil(log2 N) * a + G * (2 ceil(log2 N) a + 2 (N - 1) / N * S / b)

- P: the work the ranks split (every check, application, forward pass and
  gradient is a sum over samples), R: the work every rank repeats (picking
  candidates from the summed gradient, Python's walk over the blocks), both
  in seconds per epoch, solved from two measured runs: compute seconds
  c1 = P + R at N = 1 and c2 = P / 2 + R at N = 2;
- M: the small messages per epoch (screens, chunks of full checks, loss sums,
  error counts), each an allreduce of a few hundred bytes at most: latency
  bound, ceil(log2 N) steps of recursive doubling;
- G: the gradient allreduces per epoch (one per round), of S bytes each
  (8 bytes per parameter), Rabenseifner's reduce-scatter and allgather;
- a, b: the network's latency per message and bandwidth per link.

M, G and S do not depend on N: every rank makes the same decisions.

    python benchmarks/distributed_scale.py n1.json n2.json [--repeated-share F]

reads two ``conntra train --distributed --json`` reports of the same run on
1 and 2 ranks and prints the model for MNIST from them and for the
ImageNet-sized run that docs/images.md sizes (its compute from there, its
messages per check from these measurements). The two-point solve charges to
R whatever did not halve from 1 to 2 ranks, on a shared 2-vCPU machine
contention included (and R = 0 when 2 ranks took less than half the time of
one, as a smaller share of the batch can fit the caches better: the model's
upper bound); ``--repeated-share F`` takes R = F * c1 instead (from a
profile: the share of a rank's time outside the C calls that run over
samples).
"""

from __future__ import annotations

import json
import math

NETWORKS = {  # latency per message (s), bandwidth per link (bytes/s)
    "25 Gb Ethernet": (25e-6, 25e9 / 8 * 0.9),
    "InfiniBand HDR": (1.5e-6, 200e9 / 8 * 0.9),
}
RANKS = (1, 2, 8, 16, 64, 256)


def epoch_time(n, par, rep, small, grads, grad_bytes, latency, bandwidth):
    steps = math.ceil(math.log2(n)) if n > 1 else 0
    comm = small * steps * latency
    if n > 1:
        comm += grads * (2 * steps * latency + 2 * (n - 1) / n * grad_bytes / bandwidth)
    return par / n + rep + comm, comm


def measured(path):
    report = json.load(open(path))
    epochs = len(report["history"])
    ranks = report["distributed"]["per_rank"]
    worst = max(ranks, key=lambda r: r["compute_seconds"])
    return report, epochs, worst


def table(title, par, rep, small, grads, grad_bytes) -> None:
    print(f"\n{title}: P = {par:,.1f} s, R = {rep:,.1f} s, M = {small:,.0f} messages,")
    print(f"G = {grads:,} gradient allreduces of S = {grad_bytes / 1e6:,.2f} MB per epoch")
    print("| network | " + " | ".join(f"N = {n}" for n in RANKS) + " |")
    print("| --- |" + " --- |" * len(RANKS))
    for name, (lat, bw) in NETWORKS.items():
        base, _ = epoch_time(1, par, rep, small, grads, grad_bytes, lat, bw)
        cells = []
        for n in RANKS:
            t, comm = epoch_time(n, par, rep, small, grads, grad_bytes, lat, bw)
            cells.append(f"{t:,.1f} s ({base / t:.1f}x, comm {100 * comm / t:.0f} %)")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(one: str, two: str, share: float | None = None) -> None:
    r1, e1, w1 = measured(one)
    r2, e2, w2 = measured(two)
    c1, c2 = w1["compute_seconds"] / e1, w2["compute_seconds"] / e2
    par, rep = 2 * (c1 - c2), 2 * c2 - c1
    if share is not None:
        par, rep = c1 * (1 - share), c1 * share
    elif rep < 0:
        print(
            f"2 ranks computed in less than half the time of one ({c2:.1f} s against "
            f"{c1:.1f} s: each rank's half of the batch fits its caches better), so the "
            "two-point solve has no repeated work to find: R = 0 here, the model's upper "
            "bound; --repeated-share takes a profile's share instead"
        )
        par, rep = c1, 0.0
    sizes = r1["sizes"]
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    batches = r1["samples"]["train"] // 8192  # the default batch
    grads = batches * 4  # the default rounds
    messages = w2["messages"] / e2
    small = messages - grads
    checks = w2["checked"] / e2
    print(f"measured: compute {c1:.1f} s per epoch on 1 rank, {c2:.1f} s per rank on 2;")
    print(f"{messages:,.0f} messages per epoch, {small / checks:.3f} small ones per check")
    table("MNIST 784-256-10, batch 8192", par, rep, small, grads, 8 * params)
    # ImageNet at 64x64 with c32k3,p2,c64k3,p2,d1000 (docs/images.md): ~19 h of
    # one thread per epoch; batch 4096, 2 rounds of 2,048 checks and the shifts
    n_img, batch, rounds, checks_round = 1_281_167, 4096, 2, 2048 + 4
    params_img = (3 * 3 * 3 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (16 * 16 * 64 * 1000 + 1000)
    batches_img = n_img // batch
    small_img = small / checks * checks_round * rounds * batches_img
    rep_img = rep / c1 * 19 * 3600  # the repeated share as measured on MNIST
    table(
        "ImageNet 64x64x3, c32k3,p2,c64k3,p2,d1000, batch 4096",
        19 * 3600 - rep_img,
        rep_img,
        small_img,
        batches_img * rounds,
        8 * params_img,
    )


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("one", help="--json report of the run on 1 rank")
    ap.add_argument("two", help="--json report of the same run on 2 ranks")
    ap.add_argument("--repeated-share", type=float, default=None)
    args = ap.parse_args()
    main(args.one, args.two, args.repeated_share)
